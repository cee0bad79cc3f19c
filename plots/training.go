package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Points are the (x, y) points of a series; points whose y is NaN or ±Inf
// are left out when drawn.
type Points struct{ X, Y []float64 }

// Add appends one point.
func (p *Points) Add(x, y float64) {
	p.X = append(p.X, x)
	p.Y = append(p.Y, y)
}

// TrainRun is one run of a TrainingCurves figure: its series by panel
// name (PanelNames), x being the training step. Step panels hold one point
// per logged step; validation panels one point per evaluation, as
// fractions.
type TrainRun struct {
	Label  string // legend text, e.g. "mpformer seed 1"
	Series map[string]Points
}

// TrainingSettings configures TrainingCurves. The zero value draws the
// DefaultPanels.
type TrainingSettings struct {
	// Style: the size defaults to TextWidth wide (up to three panels a
	// row) and 2.2 inches a row of panels.
	Style
	Title string
	// Panels lists the panels, as many per row as there are up to three,
	// two per row for four, three per row beyond; nil means DefaultPanels, plus "mp" when a run has MP
	// losses. Step panels: "loss" (the matching queries' loss), "mp" (the
	// MP queries' loss terms), "total" (their sum, what the optimiser
	// minimises), "class", "bce", "dice", "lr", "grad_norm"; validation
	// panels (in percent): "pq", "pq_things", "pq_stuff", "ap", "ap50",
	// "miou".
	Panels []string
	// Smooth is the window, in step records, of the trailing moving
	// average drawn over the raw (faint) step values; 0 picks 1/50 of the
	// longest series, and 1 draws the raw values only.
	Smooth int
	// LogLoss draws the step panels on a logarithmic y axis (values ≤ 0
	// are left out).
	LogLoss bool
}

// DefaultPanels are the panels TrainingCurves draws by default.
var DefaultPanels = []string{"loss", "pq", "ap", "miou"}

type panelSpec struct {
	label string
	eval  bool // a validation panel: percent, markers
}

var panelSpecs = map[string]panelSpec{
	"loss":      {label: "loss, matching queries"},
	"mp":        {label: "loss, MP queries"},
	"total":     {label: "total loss (matching + MP)"},
	"class":     {label: "class loss"},
	"bce":       {label: "mask BCE loss"},
	"dice":      {label: "mask dice loss"},
	"lr":        {label: "learning rate"},
	"grad_norm": {label: "gradient norm"},
	"pq":        {label: "PQ (%)", eval: true},
	"pq_things": {label: "PQ things (%)", eval: true},
	"pq_stuff":  {label: "PQ stuff (%)", eval: true},
	"ap":        {label: "mask AP (%)", eval: true},
	"ap50":      {label: "mask AP50 (%)", eval: true},
	"miou":      {label: "mIoU (%)", eval: true},
}

// PanelNames returns the panel names TrainingCurves accepts, sorted.
func PanelNames() []string {
	var names []string
	for k := range panelSpecs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// TrainingCurves draws training curves of several runs: step panels plot a
// logged value against the step (the raw values faint, a trailing moving
// average on top), validation panels plot a score in percent with markers
// (undefined scores — NaN, or AP −1 — are left out). Each run has one
// colour in every panel; the legend is in the first panel. A nil s means
// the zero settings.
//
// It panics if runs is empty or a panel name is unknown.
func TrainingCurves(runs []TrainRun, s *TrainingSettings) *Figure {
	if s == nil {
		s = &TrainingSettings{}
	}
	if len(runs) == 0 {
		panic("plots: TrainingCurves: no runs")
	}
	panels := trainingPanels(runs, s.Panels)
	cols := min(len(panels), 3)
	if len(panels) == 4 {
		cols = 2
	}
	rows := (len(panels) + cols - 1) / cols
	t := s.Style.text()
	title := s.Style.title(s.Title)
	h := vg.Length(rows) * 2.2 * vg.Inch
	if title != "" {
		h += t.pt(titleSize + 10)
	}
	size := s.Size.or(TextWidth, h)
	tr := trainingRange(runs, s.Smooth)
	grid := make([][]*plot.Plot, rows)
	for j := range grid {
		grid[j] = make([]*plot.Plot, cols)
	}
	leg := newLegend(t)
	var first panelPoints
	for k, name := range panels {
		p, pts := trainingPanel(t, runs, name, s.LogLoss, tr, leg, k == 0)
		if k == 0 {
			first = pts
		}
		grid[k/cols][k%cols] = p
	}
	// The legend goes into a free tile when the last row has one, else
	// into the first panel, in its emptiest corner.
	free := len(panels) < rows*cols
	if !free {
		panelW := (size.Width - vg.Length(cols-1)*t.pt(16)) / vg.Length(cols)
		panelH := (size.Height - vg.Length(rows-1)*t.pt(10)) / vg.Length(rows)
		leg.place(first.pts, first.x[0], first.x[1], first.y[0], first.y[1], panelW-t.pt(45), panelH-t.pt(35))
	}
	return &Figure{size: size, draw: func(c draw.Canvas, _ string) { drawPanels(c, t, title, grid, rows, cols, leg, free) }}
}

// TrainingPanels returns the panels TrainingCurves draws for runs with s
// (nil: the zero settings), in order. It panics on an unknown panel name.
func TrainingPanels(runs []TrainRun, s *TrainingSettings) []string {
	var panels []string
	if s != nil {
		panels = s.Panels
	}
	return trainingPanels(runs, panels)
}

// trainingPanels resolves the panel list and checks the names.
func trainingPanels(runs []TrainRun, panels []string) []string {
	if panels == nil {
		panels = DefaultPanels
		for _, r := range runs {
			if len(r.Series["mp"].X) > 0 {
				panels = append(slices.Clone(DefaultPanels[:1]), append([]string{"mp"}, DefaultPanels[1:]...)...)
				break
			}
		}
	}
	if len(panels) == 0 {
		panic("plots: TrainingCurves: no panels")
	}
	for _, name := range panels {
		if _, ok := panelSpecs[name]; !ok {
			panic(fmt.Sprintf("plots: TrainingCurves: unknown panel %q (want one of %s)", name, strings.Join(PanelNames(), ", ")))
		}
	}
	return panels
}

// trainRange is what all panels share: the x range and the smoothing
// window.
type trainRange struct {
	lastStep float64
	window   int
}

func trainingRange(runs []TrainRun, smooth int) trainRange {
	var r trainRange
	longest := 0
	for _, run := range runs {
		for _, pts := range run.Series {
			for _, x := range pts.X {
				r.lastStep = math.Max(r.lastStep, x)
			}
			longest = max(longest, len(pts.X))
		}
	}
	r.window = smooth
	if r.window == 0 {
		r.window = max(1, longest/50)
	}
	return r
}

// panelPoints are a panel's data points in data coordinates, for placing
// the legend where it hides the fewest.
type panelPoints struct {
	pts  []vg.Point
	x, y [2]float64
}

// trainingPanel draws one panel; with withLegend set it also fills leg.
func trainingPanel(t textStyle, runs []TrainRun, name string, logLoss bool, tr trainRange, leg *legendBox, withLegend bool) (*plot.Plot, panelPoints) {
	spec := panelSpecs[name]
	p := newPlot(t, "", "step", spec.label)
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = gridColor, gridColor
	p.Add(g)
	logY := !spec.eval && logLoss
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	var pts []vg.Point
	for i, run := range runs {
		style := draw.LineStyle{Color: seriesColor(i), Width: vg.Points(1.5), Dashes: seriesDashes(i)}
		glyph := draw.GlyphStyle{Color: seriesColor(i), Shape: seriesGlyph(i), Radius: vg.Points(2.6)}
		xy := seriesXY(run.Series[name], spec.eval, logY)
		if spec.eval {
			if len(xy) > 0 {
				l, sc := mustLine(xy), mustScatter(xy)
				l.LineStyle, sc.GlyphStyle = style, glyph
				p.Add(l, sc)
			}
		} else {
			xy = addStepLines(p, xy, style, withAlpha(seriesColor(i), 0.22), tr.window)
		}
		if withLegend {
			leg.add(run.Label, &plotter.Line{LineStyle: style}, &plotter.Scatter{GlyphStyle: glyph})
		}
		stride := max(1, len(xy)/200)
		for q := 0; q < len(xy); q += stride {
			pts = append(pts, vg.Point{X: vg.Length(xy[q].X), Y: vg.Length(xy[q].Y)})
		}
	}
	if len(pts) == 0 { // no data: keep a sensible empty frame
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		if logY {
			p.Y.Min, p.Y.Max = 1, 10
		}
		p.Add(noData{})
	} else if spec.eval {
		p.Y.Min, p.Y.Max = 0, math.Max(1, 1.06*p.Y.Max)
	}
	if tr.lastStep > 0 {
		p.X.Min, p.X.Max = 0, tr.lastStep
	}
	out := panelPoints{pts: pts, x: [2]float64{p.X.Min, p.X.Max}, y: [2]float64{p.Y.Min, p.Y.Max}}
	if logY {
		for q := range out.pts {
			out.pts[q].Y = vg.Length(math.Log(float64(out.pts[q].Y)))
		}
		out.y = [2]float64{math.Log(p.Y.Min), math.Log(p.Y.Max)}
	}
	return p, out
}

// seriesXY keeps the drawable points of a series: finite, ≥ 0 for scores
// (AP −1 is "undefined") shown in percent, > 0 on a log axis.
func seriesXY(pts Points, percent, logY bool) plotter.XYs {
	var xy plotter.XYs
	for k, x := range pts.X {
		v := pts.Y[k]
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0), percent && v < 0, logY && v <= 0:
			continue
		case percent:
			v *= 100
		}
		xy = append(xy, plotter.XY{X: x, Y: v})
	}
	return xy
}

// addStepLines draws a step series: the raw values faint and a trailing
// moving average over window points on top. It returns the drawn curve.
func addStepLines(p *plot.Plot, raw plotter.XYs, style draw.LineStyle, faint color.Color, window int) plotter.XYs {
	xy := raw
	if window > 1 && len(raw) > 1 {
		l := mustLine(raw)
		l.LineStyle = draw.LineStyle{Color: faint, Width: vg.Points(0.6)}
		p.Add(l)
		xy = movingAverage(raw, window)
	}
	if len(xy) > 0 {
		l := mustLine(xy)
		l.LineStyle = style
		p.Add(l)
	}
	return xy
}

// drawPanels draws the title, the panels and the legend: in the last
// (free) tile with free, else in the first panel.
func drawPanels(c draw.Canvas, t textStyle, title string, grid [][]*plot.Plot, rows, cols int, leg *legendBox, free bool) {
	c = drawTitle(c, t, title, c.Max.X-c.Min.X)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: t.pt(16), PadY: t.pt(10),
		PadTop: t.pt(3), PadBottom: t.pt(2), PadLeft: t.pt(2), PadRight: t.pt(6)}
	canvases := plot.Align(grid, tiles, c)
	for j := range grid {
		for i, p := range grid[j] {
			if p != nil {
				p.Draw(canvases[j][i])
			}
		}
	}
	if !free {
		leg.draw(grid[0][0].DataCanvas(canvases[0][0]))
		return
	}
	// The free tile: the legend at the top left of where a data area
	// would be, aligned with the panels' data areas of that row.
	dc := grid[rows-1][0].DataCanvas(canvases[rows-1][0])
	fc := canvases[rows-1][cols-1]
	fc.Rectangle = vg.Rectangle{Min: vg.Point{X: fc.Min.X + t.pt(10), Y: dc.Min.Y}, Max: vg.Point{X: fc.Max.X, Y: dc.Max.Y}}
	leg.Top, leg.Left = true, true
	leg.XOffs, leg.YOffs = 0, 0
	leg.draw(fc)
}

// movingAverage returns the trailing mean of the last w points (fewer at
// the start) at each point.
func movingAverage(xy plotter.XYs, w int) plotter.XYs {
	out := make(plotter.XYs, len(xy))
	var sum float64
	for i := range xy {
		sum += xy[i].Y
		if i >= w {
			sum -= xy[i-w].Y
		}
		out[i] = plotter.XY{X: xy[i].X, Y: sum / float64(min(i+1, w))}
	}
	return out
}

// noData writes "no data" in the middle of an empty panel.
type noData struct{}

func (noData) Plot(c draw.Canvas, p *plot.Plot) {
	st := text.Style{Font: p.X.Label.TextStyle.Font, Color: textColor, XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: p.TextHandler}
	c.FillText(st, c.Center(), "no data")
}

// logTicks marks m·10^k for m = 1..9, labelling m = 1, 2, 5 (all m when
// that leaves fewer than three labels in the range).
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) {
		return nil
	}
	var ts []plot.Tick
	labelled := 0
	for k := math.Floor(math.Log10(min)); k <= math.Ceil(math.Log10(max)); k++ {
		for m := 1.0; m <= 9; m++ {
			v := m * math.Pow(10, k)
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 6, 64)
				labelled++
			}
			ts = append(ts, t)
		}
	}
	if labelled < 3 {
		for i := range ts {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 6, 64)
		}
	}
	return ts
}
