package plots

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// TrainRun is one run of a TrainingCurves figure.
type TrainRun struct {
	Label string // legend text, e.g. "mpformer seed 1"
	Log   TrainLog
}

// TrainingSettings configures TrainingCurves. The zero value draws the
// loss, PQ, mask AP and mIoU panels.
type TrainingSettings struct {
	// Size defaults to 4.2 × 3.1 inches per panel.
	Size
	Title string
	// Panels lists the panels, two per row up to four panels and three
	// per row beyond; nil means DefaultPanels. Step panels: "loss",
	// "class", "bce", "dice", "mp", "lr", "grad_norm", "images_per_s";
	// validation panels (in percent): "pq", "pq_things", "pq_stuff", "ap",
	// "ap50", "miou".
	Panels []string
	// Smooth is the window, in step records, of the trailing moving
	// average drawn over the raw (faint) step values; 0 picks 1/50 of the
	// longest log, and 1 draws the raw values only.
	Smooth int
	// LogLoss draws the step panels on a logarithmic y axis (values ≤ 0
	// are left out).
	LogLoss bool
}

// DefaultPanels are the panels TrainingCurves draws by default.
var DefaultPanels = []string{"loss", "pq", "ap", "miou"}

type panelSpec struct {
	label string
	step  func(StepRecord) float64
	eval  func(EvalRecord) float64
}

var panelSpecs = map[string]panelSpec{
	"loss":         {label: "training loss", step: func(r StepRecord) float64 { return r.Loss }},
	"class":        {label: "class loss", step: func(r StepRecord) float64 { return r.Class }},
	"bce":          {label: "mask BCE loss", step: func(r StepRecord) float64 { return r.BCE }},
	"dice":         {label: "mask dice loss", step: func(r StepRecord) float64 { return r.Dice }},
	"mp":           {label: "MP loss", step: func(r StepRecord) float64 { return r.MP }},
	"lr":           {label: "learning rate", step: func(r StepRecord) float64 { return r.LR }},
	"grad_norm":    {label: "gradient norm", step: func(r StepRecord) float64 { return r.GradNorm }},
	"images_per_s": {label: "images / s", step: func(r StepRecord) float64 { return r.ImagesPerS }},
	"pq":           {label: "PQ (%)", eval: func(r EvalRecord) float64 { return r.PQ }},
	"pq_things":    {label: "PQ things (%)", eval: func(r EvalRecord) float64 { return r.PQThings }},
	"pq_stuff":     {label: "PQ stuff (%)", eval: func(r EvalRecord) float64 { return r.PQStuff }},
	"ap":           {label: "mask AP (%)", eval: func(r EvalRecord) float64 { return r.AP }},
	"ap50":         {label: "mask AP50 (%)", eval: func(r EvalRecord) float64 { return r.AP50 }},
	"miou":         {label: "mIoU (%)", eval: func(r EvalRecord) float64 { return r.MIoU }},
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
// average on top), validation panels plot a score of the eval events in
// percent with markers (undefined scores — NaN, or AP −1 — are left out).
// Each run has one colour in every panel; the legend is in the first panel.
// A nil s means the zero settings.
//
// It panics if runs is empty or a panel name is unknown.
func TrainingCurves(runs []TrainRun, s *TrainingSettings) *Figure {
	if s == nil {
		s = &TrainingSettings{}
	}
	if len(runs) == 0 {
		panic("plots: TrainingCurves: no runs")
	}
	panels := s.Panels
	if panels == nil {
		panels = DefaultPanels
	}
	if len(panels) == 0 {
		panic("plots: TrainingCurves: no panels")
	}
	for _, name := range panels {
		if _, ok := panelSpecs[name]; !ok {
			panic(fmt.Sprintf("plots: TrainingCurves: unknown panel %q (want one of %s)", name, strings.Join(PanelNames(), ", ")))
		}
	}
	cols := min(len(panels), 2)
	if len(panels) > 4 {
		cols = 3
	}
	rows := (len(panels) + cols - 1) / cols
	size := s.Size.or(vg.Length(cols)*4.2*vg.Inch, vg.Length(rows)*3.1*vg.Inch)

	window := s.Smooth
	if window == 0 {
		longest := 0
		for _, r := range runs {
			longest = max(longest, len(r.Log.Steps))
		}
		window = max(1, longest/50)
	}

	lastStep := 0 // all panels share the x range 0..lastStep
	for _, r := range runs {
		if n := len(r.Log.Steps); n > 0 {
			lastStep = max(lastStep, r.Log.Steps[n-1].Step)
		}
		if n := len(r.Log.Evals); n > 0 {
			lastStep = max(lastStep, r.Log.Evals[n-1].Step)
		}
	}

	grid := make([][]*plot.Plot, rows)
	for j := range grid {
		grid[j] = make([]*plot.Plot, cols)
	}
	leg := newLegend()
	var legPts []vg.Point
	var legX, legY [2]float64
	for k, name := range panels {
		spec := panelSpecs[name]
		p := newPlot("", "step", spec.label)
		p.Title.TextStyle.Font = sans(10.5)
		g := plotter.NewGrid()
		g.Vertical.Color, g.Horizontal.Color = gridColor, gridColor
		p.Add(g)
		logY := spec.step != nil && s.LogLoss
		if logY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = logTicks{}
		}
		var pts []vg.Point
		for i, run := range runs {
			style := draw.LineStyle{Color: seriesColor(i), Width: vg.Points(1.5), Dashes: seriesDashes(i)}
			glyph := draw.GlyphStyle{Color: seriesColor(i), Shape: seriesGlyph(i), Radius: vg.Points(2.6)}
			var xy plotter.XYs
			if spec.step != nil {
				var raw plotter.XYs
				for _, r := range run.Log.Steps {
					if v := spec.step(r); !math.IsNaN(v) && !math.IsInf(v, 0) && (!logY || v > 0) {
						raw = append(raw, plotter.XY{X: float64(r.Step), Y: v})
					}
				}
				xy = raw
				if window > 1 && len(raw) > 1 {
					l := mustLine(raw)
					l.LineStyle = draw.LineStyle{Color: withAlpha(seriesColor(i), 0.22), Width: vg.Points(0.6)}
					p.Add(l)
					xy = movingAverage(raw, window)
				}
				if len(xy) > 0 {
					l := mustLine(xy)
					l.LineStyle = style
					p.Add(l)
				}
			} else {
				for _, r := range run.Log.Evals {
					if v := spec.eval(r); !math.IsNaN(v) && v >= 0 {
						xy = append(xy, plotter.XY{X: float64(r.Step), Y: 100 * v})
					}
				}
				if len(xy) > 0 {
					l := mustLine(xy)
					l.LineStyle = style
					sc := mustScatter(xy)
					sc.GlyphStyle = glyph
					p.Add(l, sc)
				}
			}
			if k == 0 {
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
		} else if spec.eval != nil {
			p.Y.Min, p.Y.Max = 0, math.Max(1, 1.06*p.Y.Max)
		}
		if lastStep > 0 {
			p.X.Min, p.X.Max = 0, float64(lastStep)
		}
		if k == 0 {
			legPts = pts
			legX = [2]float64{p.X.Min, p.X.Max}
			legY = [2]float64{p.Y.Min, p.Y.Max}
			if logY {
				for q := range legPts {
					legPts[q].Y = vg.Length(math.Log(float64(legPts[q].Y)))
				}
				legY = [2]float64{math.Log(p.Y.Min), math.Log(p.Y.Max)}
			}
		}
		grid[k/cols][k%cols] = p
	}
	panelW := (size.Width - vg.Length(cols-1)*vg.Points(18)) / vg.Length(cols)
	panelH := (size.Height - vg.Length(rows-1)*vg.Points(12)) / vg.Length(rows)
	leg.place(legPts, legX[0], legX[1], legY[0], legY[1], panelW-vg.Points(50), panelH-vg.Points(40))

	return &Figure{size: size, draw: func(c draw.Canvas, _ string) {
		if s.Title != "" {
			st := text.Style{Font: sansBold(12), Color: textColor, XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
			c.FillText(st, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(4)}, s.Title)
			c = draw.Crop(c, 0, 0, 0, -st.Height(s.Title)-vg.Points(10))
		}
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(18), PadY: vg.Points(12),
			PadTop: vg.Points(4), PadBottom: vg.Points(2), PadLeft: vg.Points(2), PadRight: vg.Points(8)}
		canvases := plot.Align(grid, tiles, c)
		for j := range grid {
			for i, p := range grid[j] {
				if p != nil {
					p.Draw(canvases[j][i])
				}
			}
		}
		leg.draw(grid[0][0].DataCanvas(canvases[0][0]))
	}}
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
	st := text.Style{Font: sans(10), Color: textColor, XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: p.TextHandler}
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
