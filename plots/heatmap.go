package plots

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// viridisAnchors are viridis at 0, 1/9, …, 1 (matplotlib's colormap, as
// R's viridisLite::viridis(10) lists it); Viridis interpolates them with
// luminance linear in the value.
var viridisAnchors = []color.Color{
	color.RGBA{0x44, 0x01, 0x54, 0xFF}, color.RGBA{0x48, 0x28, 0x78, 0xFF},
	color.RGBA{0x3E, 0x4A, 0x89, 0xFF}, color.RGBA{0x31, 0x68, 0x8E, 0xFF},
	color.RGBA{0x26, 0x82, 0x8E, 0xFF}, color.RGBA{0x1F, 0x9E, 0x89, 0xFF},
	color.RGBA{0x35, 0xB7, 0x79, 0xFF}, color.RGBA{0x6D, 0xCD, 0x59, 0xFF},
	color.RGBA{0xB4, 0xDE, 0x2C, 0xFF}, color.RGBA{0xFD, 0xE7, 0x25, 0xFF},
}

// Viridis returns the viridis colour map over [min, max]: perceptually
// uniform, readable in grey and by colour-blind readers.
func Viridis(min, max float64) palette.ColorMap {
	cm, err := moreland.NewLuminance(viridisAnchors)
	if err != nil {
		panic("plots: viridis: " + err.Error())
	}
	cm.SetMin(min)
	cm.SetMax(max)
	return cm
}

// rdBuAnchors are ColorBrewer's 11-class RdBu (Brewer, colorbrewer2.org,
// where it is marked colour-blind safe), from dark red to dark blue
// through a light grey.
var rdBuAnchors = []color.RGBA{
	{0x67, 0x00, 0x1F, 0xFF}, {0xB2, 0x18, 0x2B, 0xFF}, {0xD6, 0x60, 0x4D, 0xFF},
	{0xF4, 0xA5, 0x82, 0xFF}, {0xFD, 0xDB, 0xC7, 0xFF}, {0xF7, 0xF7, 0xF7, 0xFF},
	{0xD1, 0xE5, 0xF0, 0xFF}, {0x92, 0xC5, 0xDE, 0xFF}, {0x43, 0x93, 0xC3, 0xFF},
	{0x21, 0x66, 0xAC, 0xFF}, {0x05, 0x30, 0x61, 0xFF},
}

// Diverging returns the red–blue diverging colour map over [−lim, lim]:
// negative values red, 0 a light grey, positive values blue (ColorBrewer
// RdBu, linearly interpolated in sRGB as matplotlib does).
func Diverging(lim float64) palette.ColorMap {
	if !(lim > 0) {
		panic(fmt.Sprintf("plots: Diverging: limit %g, want > 0", lim))
	}
	return &linearMap{anchors: rdBuAnchors, min: -lim, max: lim, alpha: 1}
}

// linearMap interpolates equally spaced anchor colours linearly.
type linearMap struct {
	anchors  []color.RGBA
	min, max float64
	alpha    float64
}

func (m *linearMap) At(v float64) (color.Color, error) {
	if math.IsNaN(v) || v < m.min || v > m.max {
		return nil, palette.ErrOverflow
	}
	f := (v - m.min) / (m.max - m.min) * float64(len(m.anchors)-1)
	i := min(int(f), len(m.anchors)-2)
	t := f - float64(i)
	a, b := m.anchors[i], m.anchors[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round((1-t)*float64(x) + t*float64(y))) }
	return color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), uint8(math.Round(255 * m.alpha))}, nil
}

func (m *linearMap) Max() float64       { return m.max }
func (m *linearMap) SetMax(v float64)   { m.max = v }
func (m *linearMap) Min() float64       { return m.min }
func (m *linearMap) SetMin(v float64)   { m.min = v }
func (m *linearMap) Alpha() float64     { return m.alpha }
func (m *linearMap) SetAlpha(a float64) { m.alpha = a }

func (m *linearMap) Palette(n int) palette.Palette {
	cols := make([]color.Color, n)
	for i := range cols {
		v := m.min
		if n > 1 {
			v += (m.max - m.min) * float64(i) / float64(n-1)
		}
		cols[i], _ = m.At(v)
	}
	return plainPalette(cols)
}

type plainPalette []color.Color

func (p plainPalette) Colors() []color.Color { return p }

// HeatmapPanel is one stage × stage matrix of a Heatmap figure.
type HeatmapPanel struct {
	// Title names the panel, e.g. "Mask2Former (3 seeds)".
	Title string
	// M is a square matrix, row i and column j being stages i and j:
	// values in [0, 1], or differences in [−1, 1] with
	// HeatmapSettings.Diff. NaN cells are grey.
	M [][]float64
	// StageLayers[s] labels row and column s by the number of decoder
	// layers applied before stage s (probes.RunInfo.StageLayers); nil
	// means s.
	StageLayers []int
}

// HeatmapSettings configures Heatmap. The zero value gives stage × stage
// IoU panels on viridis from 0 to 100 %.
type HeatmapSettings struct {
	// Style: the width defaults to 5 inches for one panel and to
	// TextWidth for several; the height to what makes the panels square.
	Style
	Title string
	// Label names the values on the colour bar; default "IoU (%)", or
	// "difference of IoU (pp)" with Diff.
	Label string
	// AxisLabel names both axes; default "stage (decoder layers applied)".
	AxisLabel string
	// NoAnnotate turns off the cell values, which are otherwise written
	// (in percent, or percentage points with Diff) when a matrix has at
	// most 12 rows.
	NoAnnotate bool
	// Diff says the values are differences (candidate − baseline): the
	// colours diverge from a light grey at 0 (ColorBrewer RdBu: red below,
	// blue above) over a range symmetric about 0, and annotations carry a
	// sign.
	Diff bool
	// Min and Max fix the colour range, in the data's unit. When both are
	// 0 it is [0, 1], or with Diff ±(the largest |value| of all panels,
	// rounded up to a whole percentage point up to 10 pp, to a multiple of
	// 5 pp up to 50 pp, else to a multiple of 10 pp).
	Min, Max float64
}

// annotateMax is the largest matrix whose cells carry their value.
const annotateMax = 12

// Heatmap draws stage × stage matrices, such as metrics.LayerReport.Matrix
// (the mean IoU between the masks of stages i and j), side by side (three
// panels a row at most) on one colour scale with one colour bar: row i
// from the top and column j from the left are stage i and j; up to
// 12 × 12 each cell is annotated with its value. The colour map is viridis
// from 0 to 100 % (perceptually uniform, colour-blind safe), or the
// diverging RdBu centred on 0 with Diff. PNG output rasterises the cells
// (plotter.HeatMap.Rasterized); SVG and PDF keep them as vector
// rectangles. A nil s means the zero settings.
//
// It panics if panels is empty, a matrix is empty or not square,
// StageLayers has the wrong length, or the colour range is empty.
func Heatmap(panels []HeatmapPanel, s *HeatmapSettings) *Figure {
	if s == nil {
		s = &HeatmapSettings{}
	}
	if len(panels) == 0 {
		panic("plots: Heatmap: no panels")
	}
	layers, maxAbs := heatmapLayers(panels)
	lo, hi := heatmapRange(s, maxAbs)
	label := s.Label
	if label == "" {
		label = "IoU (%)"
		if s.Diff {
			label = "difference of IoU (pp)"
		}
	}
	axis := s.AxisLabel
	if axis == "" {
		axis = "stage (decoder layers applied)"
	}
	t := s.Style.text()
	cols := min(len(panels), 3)
	if len(panels) == 4 {
		cols = 2
	}
	rows := (len(panels) + cols - 1) / cols
	barW := t.pt(58)
	title := s.Style.title(s.Title)
	w := s.Size.Width
	if w == 0 {
		w = TextWidth
		if len(panels) == 1 {
			w = 5 * vg.Inch
		}
	}
	// Tiles about as high as wide, plus the panel title.
	tileW := (w - barW - vg.Length(cols-1)*t.pt(10)) / vg.Length(cols)
	h := vg.Length(rows)*(tileW+t.pt(12)) + vg.Length(rows-1)*t.pt(8) + titleHeight(t, title, w-barW)
	size := s.Size.or(w, h)

	hm := &heatmapFigure{
		panels: panels, s: s, layers: layers, lo: lo, hi: hi,
		label: label, axis: axis, t: t, cols: cols, rows: rows, barW: barW,
	}
	return &Figure{size: size, draw: func(c draw.Canvas, format string) {
		c = drawTitle(c, t, title, c.Max.X-c.Min.X-barW)
		hm.draw(c, format)
	}}
}

// heatmapLayers checks that every panel holds a non-empty square matrix
// with as many StageLayers as stages, and returns each panel's stage
// labels (0, 1, … when StageLayers is nil) and the largest |value| of all
// non-NaN cells.
func heatmapLayers(panels []HeatmapPanel) (layers [][]int, maxAbs float64) {
	layers = make([][]int, len(panels))
	for k, pn := range panels {
		n := len(pn.M)
		if n == 0 {
			panic(fmt.Sprintf("plots: Heatmap: panel %d: empty matrix", k))
		}
		for i, row := range pn.M {
			if len(row) != n {
				panic(fmt.Sprintf("plots: Heatmap: panel %d: row %d has %d entries, want %d (square matrix)", k, i, len(row), n))
			}
			for _, v := range row {
				if !math.IsNaN(v) {
					maxAbs = math.Max(maxAbs, math.Abs(v))
				}
			}
		}
		layers[k] = pn.StageLayers
		if layers[k] == nil {
			layers[k] = make([]int, n)
			for i := range n {
				layers[k][i] = i
			}
		}
		if len(layers[k]) != n {
			panic(fmt.Sprintf("plots: Heatmap: panel %d: %d StageLayers for %d stages", k, len(layers[k]), n))
		}
	}
	return layers, maxAbs
}

// heatmapRange is the colour range of a Heatmap: s.Min and s.Max when
// either is set, else [0, 1], or with Diff ±diffLimit of the largest
// |value| maxAbs (at least 1 pp). It panics on an empty range.
func heatmapRange(s *HeatmapSettings, maxAbs float64) (lo, hi float64) {
	lo, hi = s.Min, s.Max
	if lo == 0 && hi == 0 {
		lo, hi = 0, 1
		if s.Diff {
			hi = diffLimit(math.Max(maxAbs, 0.01))
			lo = -hi
		}
	}
	if !(lo < hi) {
		panic(fmt.Sprintf("plots: Heatmap: empty colour range [%g, %g]", lo, hi))
	}
	return lo, hi
}

// heatmapFigure holds what Heatmap resolved from its panels and settings
// for drawing: the stage labels, the colour range, the texts and the
// grid of panels.
type heatmapFigure struct {
	panels     []HeatmapPanel
	s          *HeatmapSettings
	layers     [][]int
	lo, hi     float64
	label      string
	axis       string
	t          textStyle
	cols, rows int
	barW       vg.Length
}

// cmap is the colour map over [a, b]: diverging with Diff, else viridis.
func (hm *heatmapFigure) cmap(a, b float64) palette.ColorMap {
	if hm.s.Diff {
		m := Diverging(math.Max(-a, b))
		m.SetMin(a)
		m.SetMax(b)
		return m
	}
	return Viridis(a, b)
}

// panel builds the plot of panel k for format: the heat map (rasterised
// for PNG), the lines between cells, stage ticks (at most 12 on each
// axis) and, with withYLabel, the y axis label.
func (hm *heatmapFigure) panel(format string, k int, withYLabel bool) *plot.Plot {
	t, lo, hi := hm.t, hm.lo, hm.hi
	pn := hm.panels[k]
	n := len(pn.M)
	ylabel := ""
	if withYLabel {
		ylabel = hm.axis
	}
	p := newPlot(t, pn.Title, hm.axis, ylabel)
	p.Title.TextStyle.Font = t.bold(labelSize)
	pal := hm.cmap(lo, hi).Palette(256)
	g := stageGrid{m: pn.M, k: 1}
	if format == "png" {
		// Rasterised cells are drawn with bilinear interpolation;
		// repeating each cell 16 × 16 times keeps them crisp.
		g.k = 16
	}
	h := plotter.NewHeatMap(g, pal)
	h.Min, h.Max = lo, hi
	h.NaN = color.Gray{0xC8}
	h.Underflow, h.Overflow = pal.Colors()[0], pal.Colors()[255]
	h.Rasterized = format == "png"
	p.Add(h, cellLines{n: n})

	var tk, ytk []plot.Tick
	step := 1
	if n > 12 {
		step = (n + 11) / 12
	}
	for i := 0; i < n; i += step {
		tk = append(tk, plot.Tick{Value: float64(i), Label: fmt.Sprint(hm.layers[k][i])})
		ytk = append(ytk, plot.Tick{Value: float64(n - 1 - i), Label: fmt.Sprint(hm.layers[k][i])})
	}
	p.X.Tick.Marker = plot.ConstantTicks(tk)
	p.Y.Tick.Marker = plot.ConstantTicks(ytk)
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.X.Padding, p.Y.Padding = 0, 0
	return p
}

// draw draws the panels into c (below the figure title) and the colour
// bar to their right.
func (hm *heatmapFigure) draw(c draw.Canvas, format string) {
	grid, canvases := hm.layout(c, format)
	top, bottom, right := hm.drawPanels(grid, canvases)
	hm.drawBar(c, top, bottom, right)
}

// layout builds the panels' plots for format and aligns them in a grid
// left of the colour bar, each tile trimmed so that its data area is
// square.
func (hm *heatmapFigure) layout(c draw.Canvas, format string) ([][]*plot.Plot, [][]draw.Canvas) {
	t, rows, cols := hm.t, hm.rows, hm.cols
	grid := make([][]*plot.Plot, rows)
	for j := range rows {
		grid[j] = make([]*plot.Plot, cols)
		for i := range cols {
			if k := j*cols + i; k < len(hm.panels) {
				grid[j][i] = hm.panel(format, k, i == 0)
			}
		}
	}
	main := draw.Crop(c, 0, -hm.barW-t.pt(6), 0, 0)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: t.pt(10), PadY: t.pt(8), PadTop: t.pt(2), PadRight: t.pt(2)}
	canvases := plot.Align(grid, tiles, main)
	// Square cells: trim every tile by what makes its data area
	// square (the same for all, since Align made them equal).
	dc0 := grid[0][0].DataCanvas(canvases[0][0])
	dw, dh := dc0.Max.X-dc0.Min.X, dc0.Max.Y-dc0.Min.Y
	for j := range rows {
		for i := range cols {
			cv := &canvases[j][i]
			switch {
			case dw > dh: // keep the left (y axis), trim the right
				*cv = draw.Crop(*cv, 0, -(dw - dh), 0, 0)
			case dh > dw: // keep the top (title), trim the bottom
				*cv = draw.Crop(*cv, 0, 0, dh-dw, 0)
			}
		}
	}
	return grid, canvases
}

// drawPanels annotates (unless turned off or too large) and draws each
// panel, and returns the top and bottom of the data areas and the right
// edge of the panels.
func (hm *heatmapFigure) drawPanels(grid [][]*plot.Plot, canvases [][]draw.Canvas) (top, bottom, right vg.Length) {
	top, bottom = vg.Length(math.Inf(-1)), vg.Length(math.Inf(1))
	for j := range hm.rows {
		for i := range hm.cols {
			p := grid[j][i]
			if p == nil {
				continue
			}
			dc := p.DataCanvas(canvases[j][i])
			m := hm.panels[j*hm.cols+i].M
			if !hm.s.NoAnnotate && len(m) <= annotateMax {
				p.Add(annotations(hm.t, m, dc, p, hm.cmap(hm.lo, hm.hi).Palette(256), hm.lo, hm.hi, hm.s.Diff))
			}
			p.Draw(canvases[j][i])
			top, bottom = max(top, dc.Max.Y), min(bottom, dc.Min.Y)
			right = max(right, canvases[j][i].Max.X)
		}
	}
	return top, bottom, right
}

// drawBar draws the colour bar right of the panels, its colour strip
// spanning the data areas from bottom to top.
func (hm *heatmapFigure) drawBar(c draw.Canvas, top, bottom, right vg.Length) {
	t, lo, hi := hm.t, hm.lo, hm.hi
	bar := newPlot(t, "", "", hm.label)
	bar.HideX()
	scale := 100.0
	bar.Add(&plotter.ColorBar{ColorMap: hm.cmap(scale*lo, scale*hi), Vertical: true, Colors: 256})
	switch {
	case !hm.s.Diff && lo == 0 && hi == 1:
		bar.Y.Tick.Marker = plot.ConstantTicks(percentTicks())
	case hm.s.Diff:
		bar.Y.Tick.Marker = plot.ConstantTicks(diffTicks(scale*lo, scale*hi))
	}
	// The bar's colour strip spans the data areas vertically: its
	// canvas reaches beyond them by the bar plot's own margins.
	bc := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: right + t.pt(8), Y: bottom},
		Max: vg.Point{X: min(c.Max.X, right+t.pt(8)+hm.barW), Y: top},
	}}
	strip := bar.DataCanvas(bc)
	bc.Min.Y -= strip.Min.Y - bottom
	bc.Max.Y += top - strip.Max.Y
	bar.Draw(bc)
}

// annotations writes each cell's value (in percent; with a sign for
// differences), sized to the cell and in black or white, whichever reads
// better on the cell's colour.
func annotations(t textStyle, m [][]float64, dc draw.Canvas, p *plot.Plot, pal palette.Palette, lo, hi float64, diff bool) plot.Plotter {
	n := len(m)
	cell := (dc.Max.X - dc.Min.X) / vg.Length(n)
	probe := "100"
	if diff {
		probe = "−100"
	}
	fsize := noteSize
	for fsize > 4 && textWidth(t.sans(fsize), probe) > 0.9*cell {
		fsize -= 0.25
	}
	var xys plotter.XYs
	var labels []string
	var styles []text.Style
	colors := pal.Colors()
	for i := range n {
		for j := range n {
			v := m[i][j]
			xys = append(xys, plotter.XY{X: float64(j), Y: float64(n - 1 - i)})
			st := text.Style{Font: t.sans(fsize), XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: p.TextHandler}
			if math.IsNaN(v) {
				labels = append(labels, "–")
				st.Color = textColor
			} else {
				labels = append(labels, cellText(v, diff))
				f := (math.Max(lo, math.Min(hi, v)) - lo) / (hi - lo)
				st.Color = contrastText(colors[int(f*float64(len(colors)-1)+0.5)])
			}
			styles = append(styles, st)
		}
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		panic("plots: " + err.Error())
	}
	lab.TextStyle = styles
	return lab
}

// cellText writes a fraction in percent, differences with a sign ("+3",
// "−12", "0").
func cellText(v float64, diff bool) string {
	r := math.Round(100 * v)
	switch {
	case !diff:
		return fmt.Sprintf("%.0f", r)
	case r > 0:
		return fmt.Sprintf("+%.0f", r)
	case r < 0:
		return fmt.Sprintf("−%.0f", -r)
	}
	return "0"
}

// diffLimit rounds a largest difference v > 0 up to the end of a
// diverging colour range: a whole percentage point up to 10 pp, a
// multiple of 5 pp up to 50 pp, else of 10 pp.
func diffLimit(v float64) float64 {
	pp := 100 * v * (1 - 1e-12)
	switch {
	case pp <= 10:
		pp = math.Ceil(pp)
	case pp <= 50:
		pp = 5 * math.Ceil(pp/5)
	default:
		pp = 10 * math.Ceil(pp/10)
	}
	return pp / 100
}

// textWidth is the width of s in font f.
func textWidth(f font.Font, s string) vg.Length {
	return text.Style{Font: f, Handler: plot.DefaultTextHandler}.Width(s)
}

// percentTicks are 0, 20, …, 100 labelled, with minor ticks every 10.
func percentTicks() []plot.Tick {
	var t []plot.Tick
	for v := 0; v <= 100; v += 10 {
		l := ""
		if v%20 == 0 {
			l = fmt.Sprint(v)
		}
		t = append(t, plot.Tick{Value: float64(v), Label: l})
	}
	return t
}

// diffTicks label multiples of a round step (1, 2, 5, 10, 20, 25 or 50)
// within [lo, hi], at most 4 on each side of 0.
func diffTicks(lo, hi float64) []plot.Tick {
	lim := math.Max(-lo, hi)
	step := 50.0
	for _, st := range []float64{1, 2, 5, 10, 20, 25, 50} {
		if lim/st <= 4 {
			step = st
			break
		}
	}
	var t []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		label := strconv.FormatFloat(v, 'f', -1, 64)
		switch {
		case v > 0:
			label = "+" + label
		case v < 0:
			label = "−" + strconv.FormatFloat(-v, 'f', -1, 64)
		}
		t = append(t, plot.Tick{Value: v, Label: label})
	}
	return t
}

// contrastText returns black or white, whichever reads better on bg.
func contrastText(bg color.Color) color.Color {
	r, g, b, _ := bg.RGBA()
	// Rec. 709 luma of the (gamma-encoded) colour, in [0, 1].
	y := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xFFFF
	if y > 0.5 {
		return color.Black
	}
	return color.White
}

// stageGrid adapts a square matrix to plotter.GridXYZ: column c is stage
// c/k, row r (from the bottom) is stage n−1−r/k, so that stage 0 is at the
// top; each matrix cell covers k × k grid cells of size 1/k centred on
// the integers.
type stageGrid struct {
	m [][]float64
	k int
}

func (g stageGrid) Dims() (c, r int)   { n := len(g.m) * g.k; return n, n }
func (g stageGrid) Z(c, r int) float64 { return g.m[len(g.m)-1-r/g.k][c/g.k] }
func (g stageGrid) X(c int) float64    { return (float64(c)+0.5)/float64(g.k) - 0.5 }
func (g stageGrid) Y(r int) float64    { return (float64(r)+0.5)/float64(g.k) - 0.5 }

// cellLines draws thin white lines between the cells of an n × n heat map.
type cellLines struct{ n int }

func (l cellLines) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ls := draw.LineStyle{Color: color.White, Width: vg.Points(1)}
	for i := 0; i <= l.n; i++ {
		v := float64(i) - 0.5
		c.StrokeLine2(ls, trX(v), trY(-0.5), trX(v), trY(float64(l.n)-0.5))
		c.StrokeLine2(ls, trX(-0.5), trY(v), trX(float64(l.n)-0.5), trY(v))
	}
}
