package plots

import (
	"fmt"
	"image/color"
	"math"

	"github.com/mpanalyze/mpanalyze/metrics"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// StageSeries is one model's (or run's) values of a per-stage metric,
// one slice per seed. With several seeds the figure shows their mean and a
// band of ± one sample standard deviation.
type StageSeries struct {
	// Label names the series in the legend, e.g. "Mask2Former" or
	// "MP-Former (σ = 0.2)". With several seeds " (n seeds)" is appended.
	Label string
	// Seeds[i] holds seed i's values: one per stage, or one per stage pair
	// (s, s+1) when StageSettings.Pairs is set. Values are fractions; NaN
	// (nothing to average) is left out of the mean, and a stage where no
	// seed has a value breaks the line. All seeds have the same length.
	Seeds [][]float64
	// StageLayers[s] is the number of decoder layers applied before stage
	// s (probes.RunInfo.StageLayers), which places stage s on the x axis.
	// It has one entry per stage: len(Seeds[i]) entries, or len(Seeds[i])+1
	// with Pairs. Nil means StageLayers[s] = s.
	StageLayers []int
}

// Reference is a dashed horizontal line, e.g. the value of a baseline.
type Reference struct {
	Value float64 // in the data's unit (a fraction; shown ×100 with Percent)
	Label string  // legend text; empty leaves it out of the legend
}

// StageSettings configures StageCurves. The zero value plots per-stage
// fractions with an automatic y range.
type StageSettings struct {
	// Style: the size defaults to 6.4 × 4 inches.
	Style
	Title  string
	YLabel string // the metric, e.g. "consecutive-stage IoU"; " (%)" is appended with Percent
	// XLabel defaults to "stage (decoder layers applied)", or
	// "stage pair (decoder layers applied)" with Pairs.
	XLabel string
	// Pairs says the values are per stage pair (s, s+1), as consecutive
	// IoU and matching change are: point s sits between stages s and s+1
	// and is labelled "L_s→L_{s+1}".
	Pairs bool
	// Percent shows the values ×100.
	Percent bool
	// YMin and YMax fix the y range, in the data's unit (fractions, before
	// ×100). When both are 0 the range is fitted to the data, the bands and
	// the references, with a margin, and kept within [0, 1] when the data
	// are.
	YMin, YMax float64
	// References are drawn as dashed grey lines.
	References []Reference
}

// StageCurves plots a per-stage metric (consecutive-stage IoU, Util-A/B/C,
// IoU to the last stage, …) of several models or runs: one line with
// markers per series, its seeds' mean ± sample sd as a shaded band when it
// has several seeds. A nil s means the zero StageSettings.
//
// It panics if series is empty, a series has no seed or no value, seeds
// differ in length, or StageLayers has the wrong length.
func StageCurves(series []StageSeries, s *StageSettings) *Figure {
	if s == nil {
		s = &StageSettings{}
	}
	if len(series) == 0 {
		panic("plots: StageCurves: no series")
	}
	scale := 1.0
	ylabel := s.YLabel
	if s.Percent {
		scale = 100
		ylabel += " (%)"
	}
	xlabel := s.XLabel
	if xlabel == "" {
		xlabel = "stage (decoder layers applied)"
		if s.Pairs {
			xlabel = "stage pair (decoder layers applied)"
		}
	}
	t := s.Style.text()
	p := newPlot(t, s.Style.title(s.Title), xlabel, ylabel)
	leg := newLegend(t)
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	grid.Horizontal.Color = gridColor
	p.Add(grid)

	d := prepareStages(series, s.Pairs)
	lo, hi := d.lo, d.hi
	for _, r := range s.References {
		lo, hi = math.Min(lo, r.Value), math.Max(hi, r.Value)
	}
	if math.IsInf(lo, 1) { // nothing defined at all
		lo, hi = 0, 1
	}

	xmin, xmax := math.Inf(1), math.Inf(-1)
	var tk []plot.Tick
	for x, label := range d.ticks {
		xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		tk = append(tk, plot.Tick{Value: x, Label: label})
	}
	sortTicks(tk)
	p.X.Tick.Marker = plot.ConstantTicks(tk)
	p.X.Min, p.X.Max = xmin-0.4, xmax+0.4
	ymin, ymax := stageYRange(s, lo, hi)

	// Bands first, then references, lines and markers on top.
	addStageBands(p, d.prep, scale)
	refs := addReferences(p, leg, s.References, scale)
	addStageLines(p, leg, series, d.prep, scale)
	for _, add := range refs {
		add()
	}
	p.Y.Min, p.Y.Max = scale*ymin, scale*ymax

	size := s.Size.or(6.4*vg.Inch, 4*vg.Inch)
	p.Title.Text, p.Title.TextStyle.Font = t.fitTitle(p.Title.Text, size.Width-t.pt(10))
	leg.place(d.all, xmin-0.4, xmax+0.4, ymin, ymax, size.Width-vg.Inch, size.Height-vg.Inch)
	return &Figure{size: size, draw: func(c draw.Canvas, _ string) {
		p.Draw(c)
		leg.draw(p.DataCanvas(c))
	}}
}

// preparedStage is one series of StageCurves reduced over its seeds: per
// point its x position, the seeds' mean and sample sd, and how many seeds
// have a value there.
type preparedStage struct {
	xs, mean, sd []float64
	n            []int
	seeds        int
}

// stageData is what StageCurves draws: the prepared series, the x tick
// labels by position, the plotted means in data units (to place the
// legend), and the lowest and highest mean ∓ sd (+Inf and −Inf when no
// value is defined).
type stageData struct {
	prep   []preparedStage
	ticks  map[float64]string
	all    []vg.Point
	lo, hi float64
}

// prepareStages checks and reduces every series (see prepareStage),
// collecting the x tick labels (the first series to use a position names
// it) and the range of the means ± sd.
func prepareStages(series []StageSeries, pairs bool) stageData {
	d := stageData{
		prep:  make([]preparedStage, len(series)),
		ticks: map[float64]string{},
		lo:    math.Inf(1),
		hi:    math.Inf(-1),
	}
	for i, ser := range series {
		layers := stageLayers(i, ser, pairs)
		n := len(ser.Seeds[0])
		pr := preparedStage{xs: make([]float64, n), mean: make([]float64, n), sd: make([]float64, n), n: make([]int, n), seeds: len(ser.Seeds)}
		for k := range n {
			if pairs {
				pr.xs[k] = float64(layers[k]+layers[k+1]) / 2
				if _, ok := d.ticks[pr.xs[k]]; !ok {
					d.ticks[pr.xs[k]] = fmt.Sprintf("%d→%d", layers[k], layers[k+1])
				}
			} else {
				pr.xs[k] = float64(layers[k])
				if _, ok := d.ticks[pr.xs[k]]; !ok {
					d.ticks[pr.xs[k]] = fmt.Sprint(layers[k])
				}
			}
			vals := make([]float64, 0, len(ser.Seeds))
			for _, seed := range ser.Seeds {
				if !math.IsNaN(seed[k]) {
					vals = append(vals, seed[k])
				}
			}
			pr.mean[k], pr.sd[k], pr.n[k] = metrics.MeanSD(vals)
			if pr.n[k] > 0 {
				d.lo = math.Min(d.lo, pr.mean[k]-nanZero(pr.sd[k]))
				d.hi = math.Max(d.hi, pr.mean[k]+nanZero(pr.sd[k]))
				d.all = append(d.all, vg.Point{X: vg.Length(pr.xs[k]), Y: vg.Length(pr.mean[k])})
			}
		}
		d.prep[i] = pr
	}
	return d
}

// stageLayers checks series i (at least one seed, values, seeds of equal
// length, StageLayers of one entry per stage) and returns its stage
// layers, 0, 1, … when StageLayers is nil.
func stageLayers(i int, ser StageSeries, pairs bool) []int {
	if len(ser.Seeds) == 0 {
		panic(fmt.Sprintf("plots: StageCurves: series %d (%q) has no seed", i, ser.Label))
	}
	n := len(ser.Seeds[0])
	if n == 0 {
		panic(fmt.Sprintf("plots: StageCurves: series %q has no values", ser.Label))
	}
	for j, v := range ser.Seeds {
		if len(v) != n {
			panic(fmt.Sprintf("plots: StageCurves: series %q: seed %d has %d values, seed 0 has %d", ser.Label, j, len(v), n))
		}
	}
	stages := n
	if pairs {
		stages = n + 1
	}
	layers := ser.StageLayers
	if layers == nil {
		layers = make([]int, stages)
		for k := range layers {
			layers[k] = k
		}
	}
	if len(layers) != stages {
		panic(fmt.Sprintf("plots: StageCurves: series %q: %d StageLayers for %d stages", ser.Label, len(layers), stages))
	}
	return layers
}

// stageYRange is the y range of StageCurves in the data's unit: s.YMin and
// s.YMax when either is set, else [lo, hi] widened by 8 % of its span (at
// least 0.02) and kept within [0, 1] when the data are. It panics on an
// empty range.
func stageYRange(s *StageSettings, lo, hi float64) (ymin, ymax float64) {
	ymin, ymax = s.YMin, s.YMax
	if ymin == 0 && ymax == 0 {
		span := hi - lo
		if span < 0.02 {
			span = 0.02
		}
		ymin, ymax = lo-0.08*span, hi+0.08*span
		if lo >= 0 && ymin < 0 {
			ymin = 0
		}
		if hi <= 1 && ymax > 1 {
			ymax = 1
		}
	}
	if !(ymin < ymax) {
		panic(fmt.Sprintf("plots: StageCurves: empty y range [%g, %g]", ymin, ymax))
	}
	return ymin, ymax
}

// addStageBands adds, for each series of several seeds, a shaded band of
// mean ± sd over each run of points where at least two seeds have a value
// (a thin bar for a lone point).
func addStageBands(p *plot.Plot, prep []preparedStage, scale float64) {
	for i, pr := range prep {
		if pr.seeds < 2 {
			continue
		}
		for _, run := range runs(len(pr.xs), func(k int) bool { return pr.n[k] >= 2 }) {
			var ring plotter.XYs
			for k := run[0]; k < run[1]; k++ {
				ring = append(ring, plotter.XY{X: pr.xs[k], Y: scale * (pr.mean[k] + pr.sd[k])})
			}
			for k := run[1] - 1; k >= run[0]; k-- {
				ring = append(ring, plotter.XY{X: pr.xs[k], Y: scale * (pr.mean[k] - pr.sd[k])})
			}
			if run[1]-run[0] == 1 { // a lone point: a thin bar
				x := pr.xs[run[0]]
				ring = plotter.XYs{{X: x - 0.06, Y: ring[0].Y}, {X: x + 0.06, Y: ring[0].Y}, {X: x + 0.06, Y: ring[1].Y}, {X: x - 0.06, Y: ring[1].Y}}
			}
			poly := mustPolygon(ring)
			poly.Color = withAlpha(seriesColor(i), 0.18)
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
	}
}

// addReferences adds the references as dashed grey lines across the x
// range and returns the functions that add the labelled ones to the
// legend, to be called after the series' entries.
func addReferences(p *plot.Plot, leg *legendBox, references []Reference, scale float64) []func() {
	var refs []func()
	for _, r := range references {
		l := mustLine(plotter.XYs{{X: p.X.Min, Y: scale * r.Value}, {X: p.X.Max, Y: scale * r.Value}})
		l.LineStyle = draw.LineStyle{Color: color.Gray{0x60}, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
		p.Add(l)
		if r.Label != "" {
			refs = append(refs, func() { leg.add(r.Label, l) })
		}
	}
	return refs
}

// addStageLines adds each series' mean as a line with markers over each
// run of defined points, and its legend entry (" (n seeds)" appended with
// several seeds).
func addStageLines(p *plot.Plot, leg *legendBox, series []StageSeries, prep []preparedStage, scale float64) {
	for i, pr := range prep {
		style := draw.LineStyle{Color: seriesColor(i), Width: vg.Points(1.8), Dashes: seriesDashes(i)}
		glyph := draw.GlyphStyle{Color: seriesColor(i), Shape: seriesGlyph(i), Radius: vg.Points(3)}
		for _, run := range runs(len(pr.xs), func(k int) bool { return pr.n[k] > 0 }) {
			var xy plotter.XYs
			for k := run[0]; k < run[1]; k++ {
				xy = append(xy, plotter.XY{X: pr.xs[k], Y: scale * pr.mean[k]})
			}
			l := mustLine(xy)
			l.LineStyle = style
			sc := mustScatter(xy)
			sc.GlyphStyle = glyph
			p.Add(l, sc)
		}
		label := series[i].Label
		if pr.seeds > 1 {
			label = fmt.Sprintf("%s (%d seeds)", label, pr.seeds)
		}
		leg.add(label, &plotter.Line{LineStyle: style}, &plotter.Scatter{GlyphStyle: glyph})
	}
}

func nanZero(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// runs returns the maximal half-open index ranges [a, b) of 0..n−1 where ok
// holds.
func runs(n int, ok func(int) bool) [][2]int {
	var out [][2]int
	for k := 0; k < n; {
		if !ok(k) {
			k++
			continue
		}
		a := k
		for k < n && ok(k) {
			k++
		}
		out = append(out, [2]int{a, k})
	}
	return out
}

func sortTicks(t []plot.Tick) {
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && t[j].Value < t[j-1].Value; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}

func mustLine(xy plotter.XYs) *plotter.Line {
	l, err := plotter.NewLine(xy)
	if err != nil {
		panic("plots: " + err.Error())
	}
	return l
}

func mustScatter(xy plotter.XYs) *plotter.Scatter {
	sc, err := plotter.NewScatter(xy)
	if err != nil {
		panic("plots: " + err.Error())
	}
	return sc
}

func mustPolygon(xy plotter.XYs) *plotter.Polygon {
	pg, err := plotter.NewPolygon(xy)
	if err != nil {
		panic("plots: " + err.Error())
	}
	return pg
}
