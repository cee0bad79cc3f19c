package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
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

// HeatmapSettings configures Heatmap. The zero value gives a stage × stage
// IoU figure.
type HeatmapSettings struct {
	// Size defaults to 6.4 × 5.2 inches.
	Size
	Title string
	// StageLayers[s] labels row and column s by the number of decoder
	// layers applied before stage s (probes.RunInfo.StageLayers); nil
	// means s.
	StageLayers []int
	// Label names the values on the colour bar; default "IoU (%)".
	Label string
	// AxisLabel names both axes; default "stage (decoder layers applied)".
	AxisLabel string
	// NoAnnotate turns off the cell values, which are otherwise written
	// (in percent) when the matrix has at most 12 rows.
	NoAnnotate bool
}

// annotateMax is the largest matrix whose cells carry their value.
const annotateMax = 12

// Heatmap draws a stage × stage matrix of values in [0, 1], such as
// metrics.LayerReport.Matrix (the mean IoU between the masks of stages i and
// j): row i from the top and column j from the left are stage i and j, the
// colour is viridis from 0 to 1 with a colour bar in percent, and up to
// 12 × 12 each cell is annotated with its value in percent. NaN cells are
// grey. PNG output rasterises the cells (plotter.HeatMap.Rasterized); SVG
// keeps them as vector rectangles. A nil s means the zero settings.
//
// It panics if m is empty or not square, or StageLayers has the wrong
// length.
func Heatmap(m [][]float64, s *HeatmapSettings) *Figure {
	if s == nil {
		s = &HeatmapSettings{}
	}
	n := len(m)
	if n == 0 {
		panic("plots: Heatmap: empty matrix")
	}
	for i, row := range m {
		if len(row) != n {
			panic(fmt.Sprintf("plots: Heatmap: row %d has %d entries, want %d (square matrix)", i, len(row), n))
		}
	}
	layers := s.StageLayers
	if layers == nil {
		layers = make([]int, n)
		for i := range layers {
			layers[i] = i
		}
	}
	if len(layers) != n {
		panic(fmt.Sprintf("plots: Heatmap: %d StageLayers for %d stages", len(layers), n))
	}
	size := s.Size.or(6.4*vg.Inch, 5.2*vg.Inch)
	return &Figure{size: size, draw: func(c draw.Canvas, format string) {
		p := heatmapPlot(m, layers, s, format)
		label := s.Label
		if label == "" {
			label = "IoU (%)"
		}
		bar := newPlot("", "", label)
		bar.HideX()
		bar.Add(&plotter.ColorBar{ColorMap: Viridis(0, 100), Vertical: true, Colors: 256})
		bar.Y.Tick.Marker = plot.ConstantTicks(percentTicks())
		barW := vg.Points(62)
		main := draw.Crop(c, 0, -barW-vg.Points(8), 0, -vg.Points(4))
		p.Draw(main)
		// The bar spans the heat map's data area vertically.
		dc := p.DataCanvas(main)
		bc := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: c.Max.X - barW, Y: dc.Min.Y},
			Max: vg.Point{X: c.Max.X - vg.Points(4), Y: dc.Max.Y},
		}}
		bar.Draw(bc)
	}}
}

// heatmapPlot is the heat map itself for an output format: the cells
// (rasterised for PNG), the cell lines, stage ticks on both axes (stage 0
// at the top) and, unless turned off, each cell's value in percent.
func heatmapPlot(m [][]float64, layers []int, s *HeatmapSettings, format string) *plot.Plot {
	n := len(m)
	axis := s.AxisLabel
	if axis == "" {
		axis = "stage (decoder layers applied)"
	}
	p := newPlot(s.Title, axis, axis)
	pal := Viridis(0, 1).Palette(256)
	g := stageGrid{m: m, k: 1}
	if format == "png" {
		// Rasterised cells are drawn with bilinear interpolation;
		// repeating each cell 16 × 16 times keeps them crisp.
		g.k = 16
	}
	h := plotter.NewHeatMap(g, pal)
	h.Min, h.Max = 0, 1
	h.NaN = color.Gray{0xC8}
	h.Underflow, h.Overflow = pal.Colors()[0], pal.Colors()[255]
	h.Rasterized = format == "png"
	p.Add(h, cellLines{n: n})

	var tk []plot.Tick
	for i := range n {
		tk = append(tk, plot.Tick{Value: float64(i), Label: fmt.Sprint(layers[i])})
	}
	p.X.Tick.Marker = plot.ConstantTicks(tk)
	ytk := make([]plot.Tick, n)
	for i := range n {
		ytk[i] = plot.Tick{Value: float64(n - 1 - i), Label: fmt.Sprint(layers[i])}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ytk)
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.X.Padding, p.Y.Padding = 0, 0
	if n <= annotateMax && !s.NoAnnotate {
		p.Add(cellValueLabels(m, pal, p.TextHandler))
	}
	return p
}

// cellValueLabels writes each cell's value in percent ("–" for NaN) in a
// colour that contrasts with the cell's.
func cellValueLabels(m [][]float64, pal palette.Palette, handler text.Handler) *plotter.Labels {
	n := len(m)
	var xys plotter.XYs
	var labels []string
	var styles []text.Style
	fsize := 9.0
	if n > 9 {
		fsize = 8
	}
	for i := range n {
		for j := range n {
			v := m[i][j]
			xys = append(xys, plotter.XY{X: float64(j), Y: float64(n - 1 - i)})
			st := text.Style{Font: sans(fsize), XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: handler}
			if math.IsNaN(v) {
				labels = append(labels, "–")
				st.Color = textColor
			} else {
				labels = append(labels, fmt.Sprintf("%.0f", 100*v))
				st.Color = contrastText(pal.Colors()[int(math.Max(0, math.Min(1, v))*255+0.5)])
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
