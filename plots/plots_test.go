package plots

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/mpanalyze/mpanalyze/mask"
)

var nan = math.NaN()

// stageSeries: Mask2Former with 3 seeds, MP-Former with 2 (one NaN),
// MaskFormer with one seed and stages after 1..6 layers (no stage 0).
func stageSeries() []StageSeries {
	return []StageSeries{
		{Label: "Mask2Former", Seeds: [][]float64{
			{0.31, 0.52, 0.66, 0.74, 0.81, 0.86, 0.90, 0.93, 0.95},
			{0.35, 0.55, 0.63, 0.77, 0.80, 0.88, 0.91, 0.92, 0.96},
			{0.28, 0.50, 0.69, 0.72, 0.83, 0.85, 0.89, 0.94, 0.955},
		}},
		{Label: "MP-Former", Seeds: [][]float64{
			{0.61, 0.72, 0.80, 0.84, 0.88, 0.90, 0.93, 0.95, 0.97},
			{0.64, 0.75, 0.78, nan, 0.87, 0.91, 0.92, 0.96, 0.97},
		}},
		{Label: "MaskFormer", StageLayers: []int{1, 2, 3, 4, 5, 6}, Seeds: [][]float64{{0.70, 0.75, 0.80, 0.82, 0.85}}},
	}
}

func stageMatrix(n int) [][]float64 {
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		for j := range m[i] {
			m[i][j] = math.Exp(-math.Abs(float64(i-j)) / (1 + float64(min(i, j))))
		}
	}
	return m
}

// trainRuns are two made-up runs of 100 steps validated every 20 steps:
// a Mask2Former whose loss falls as 120·(0.35 + 0.65·e^(−s/25)) + 3·sin(1.7s)
// and an MP-Former 10 % lower with MP losses of a quarter of that.
func trainRuns(t *testing.T) []TrainRun {
	t.Helper()
	run := func(label string, scale float64, mp bool) TrainRun {
		r := TrainRun{Label: label, Series: map[string]Points{}}
		add := func(name string, x, y float64) {
			pts := r.Series[name]
			pts.Add(x, y)
			r.Series[name] = pts
		}
		for s := 0; s < 100; s++ {
			x := float64(s)
			loss := scale * (120*(0.35+0.65*math.Exp(-x/25)) + 3*math.Sin(1.7*x))
			add("loss", x, loss)
			add("class", x, 0.45*loss)
			add("bce", x, 0.25*loss)
			add("dice", x, 0.3*loss)
			add("lr", x, 3e-4)
			add("grad_norm", x, 70*math.Exp(-x/40))
			if mp {
				add("mp", x, 0.25*loss)
				add("total", x, 1.25*loss)
			} else {
				add("total", x, loss)
			}
		}
		for e := 20; e <= 100; e += 20 {
			f := 1 - math.Exp(-float64(e)/40)
			add("pq", float64(e), 0.4*f/scale)
			add("ap", float64(e), 0.3*f/scale)
			add("miou", float64(e), 0.6*f/scale)
		}
		return r
	}
	return []TrainRun{run("mask2former seed 1", 1, false), run("mpformer seed 1", 0.9, true)}
}

// TestGolden compares every figure with its golden rendering; small sizes
// at 96 dpi keep the files small, the figures meant for a 7-inch text
// width are drawn at that width.
func TestGolden(t *testing.T) {
	small := Style{Size: Size{Width: 5 * vg.Inch, Height: 3.2 * vg.Inch, DPI: 96}}
	img, rows := evoFixture()
	util := stageSeries()[:1]
	util[0].Seeds = [][]float64{{0.2, 0.3, 0.45, 0.6, 0.7, 0.8, 0.87, 0.93, 0.97, 1}}
	figs := []struct {
		name, format string
		f            *Figure
	}{
		{"stage_pairs", "png", StageCurves(stageSeries(), &StageSettings{Style: small, Title: "Consecutive-stage IoU",
			YLabel: "IoU with next stage", Pairs: true, Percent: true, References: []Reference{{Value: 0.9, Label: "90 %"}}})},
		{"stage_util", "svg", StageCurves(util, &StageSettings{Style: small, Title: "Util-A", YLabel: "Util-A", YMin: 0, YMax: 1})},
		{"heatmap", "png", Heatmap(twoPanels(), &HeatmapSettings{Style: Style{Size: Size{DPI: 96}},
			Title: "Mean IoU between stages (final checkpoint)"})},
		{"heatmap_diff", "png", Heatmap(diffPanel(), &HeatmapSettings{Style: Style{Size: Size{DPI: 96}}, Diff: true,
			Title: "Mean IoU between stages: difference from Mask2Former"})},
		{"heatmap_small", "svg", Heatmap([]HeatmapPanel{{M: stageMatrix(4), StageLayers: []int{1, 2, 3, 4}}}, nil)},
		{"evolution", "png", MaskEvolution(img, rows, &MaskSettings{Style: Style{Size: Size{DPI: 96}},
			Title: "Three queries through the decoder", StageLayers: []int{0, 1, 2, 3, 4, 5}})},
		{"training", "png", TrainingCurves(trainRuns(t), &TrainingSettings{Style: Style{Size: Size{DPI: 96}},
			Title: "Training", Smooth: 5})},
	}
	for _, c := range figs {
		checkGolden(t, c.f, c.name, c.format)
	}
}

// twoPanels are two made-up 10-stage matrices: the second more
// consistent (its off-diagonal cells decay more slowly).
func twoPanels() []HeatmapPanel {
	b := stageMatrix(10)
	c := make([][]float64, 10)
	for i := range c {
		c[i] = make([]float64, 10)
		for j := range c[i] {
			c[i][j] = math.Exp(-math.Abs(float64(i-j)) / (2 + float64(min(i, j))))
		}
	}
	c[3][7], c[7][3] = nan, nan
	return []HeatmapPanel{{Title: "Mask2Former", M: b}, {Title: "MP-Former (3 seeds)", M: c}}
}

// diffPanel is the second of twoPanels minus the first.
func diffPanel() []HeatmapPanel {
	p := twoPanels()
	d := make([][]float64, 10)
	for i := range d {
		d[i] = make([]float64, 10)
		for j := range d[i] {
			d[i][j] = p[1].M[i][j] - p[0].M[i][j]
		}
	}
	d[9][0] = -0.04
	return []HeatmapPanel{{Title: "MP-Former − Mask2Former", M: d}}
}

func TestDeterministic(t *testing.T) {
	img, rows := evoFixture()
	for _, f := range []*Figure{
		StageCurves(stageSeries(), &StageSettings{Pairs: true}),
		Heatmap([]HeatmapPanel{{M: stageMatrix(6)}}, nil),
		Heatmap(diffPanel(), &HeatmapSettings{Diff: true}),
		MaskEvolution(img, rows, nil),
		TrainingCurves(trainRuns(t), nil),
	} {
		for _, format := range Formats {
			var a, b bytes.Buffer
			if err := f.Write(&a, format); err != nil {
				t.Fatal(err)
			}
			if err := f.Write(&b, format); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Errorf("two %s renderings of one figure differ", format)
			}
		}
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	f := StageCurves(stageSeries(), &StageSettings{Pairs: true, Style: Style{Size: Size{Width: 4 * vg.Inch, Height: 3 * vg.Inch, DPI: 50}}})
	path := filepath.Join(dir, "curves.PNG") // the extension is case-insensitive
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	cfg, err := png.DecodeConfig(file)
	if err != nil {
		t.Fatalf("saved file is not a PNG: %v", err)
	}
	if cfg.Width != 200 || cfg.Height != 150 { // 4 in × 3 in at 50 dpi
		t.Errorf("PNG is %d×%d, want 200×150", cfg.Width, cfg.Height)
	}
	svg := filepath.Join(dir, "curves.svg")
	if err := f.Save(svg); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(svg)
	if !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("%s is not an SVG", svg)
	}
	pdf := filepath.Join(dir, "curves.pdf")
	if err := f.Save(pdf); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(pdf)
	if !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("%s is not a PDF", pdf)
	}
	bad := filepath.Join(dir, "curves.jpg")
	if err := f.Save(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Save(%s) error %v, want one naming the file", bad, err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("Save of an unsupported format left %s", bad)
	}
	if err := f.Save(filepath.Join(dir, "missing", "x.png")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Save into a missing directory: error %v", err)
	}
}

func TestStageGrid(t *testing.T) {
	m := [][]float64{{1, 2}, {3, 4}}
	g := stageGrid{m: m, k: 2}
	if c, r := g.Dims(); c != 4 || r != 4 {
		t.Fatalf("Dims = %d, %d; want 4, 4", c, r)
	}
	// Grid row 3 (top) is matrix row 0; column 2 is matrix column 1.
	for _, c := range []struct {
		c, r int
		want float64
	}{{0, 3, 1}, {2, 3, 2}, {3, 2, 2}, {0, 0, 3}, {3, 0, 4}} {
		if got := g.Z(c.c, c.r); got != c.want {
			t.Errorf("Z(%d, %d) = %v, want %v", c.c, c.r, got, c.want)
		}
	}
	// Cells of size 1/2 centred so that stage i spans [i−0.5, i+0.5].
	if g.X(0) != -0.25 || g.X(3) != 1.25 || g.Y(1) != 0.25 {
		t.Errorf("X(0), X(3), Y(1) = %v, %v, %v; want -0.25, 1.25, 0.25", g.X(0), g.X(3), g.Y(1))
	}
}

// TestMaskPaths: a 2×3 mask in a 30 × 20 pt cell (10 pt pixels),
//
//	■ ■ □
//	□ ■ □
//
// fills two runs (3 pixels, 300 pt²) and outlines the L's perimeter: 8
// pixel edges (3 + 2 + 3 by pixel) = 80 pt, merged into 6 straight
// segments (top 20, left 10, step 10, inner 10, right 20, bottom 10).
func TestMaskPaths(t *testing.T) {
	m := mask.FromBools(2, 3, []bool{true, true, false, false, true, false})
	fill, outline := maskPaths(m, vg.Rectangle{Max: vg.Point{X: 30, Y: 20}})
	area, runs := 0.0, 0
	var ring []vg.Point
	for _, c := range fill {
		switch c.Type {
		case vg.MoveComp:
			ring = []vg.Point{c.Pos}
		case vg.LineComp:
			ring = append(ring, c.Pos)
		case vg.CloseComp:
			a := 0.0 // shoelace
			for i := range ring {
				p, q := ring[i], ring[(i+1)%len(ring)]
				a += float64(p.X*q.Y - q.X*p.Y)
			}
			area += math.Abs(a) / 2
			runs++
		}
	}
	if runs != 2 || area != 300 {
		t.Errorf("fill: %d runs of %v pt², want 2 of 300", runs, area)
	}
	var length float64
	segs := 0
	var from vg.Point
	for _, c := range outline {
		switch c.Type {
		case vg.MoveComp:
			from = c.Pos
		case vg.LineComp:
			length += math.Hypot(float64(c.Pos.X-from.X), float64(c.Pos.Y-from.Y))
			segs++
		}
	}
	if segs != 6 || length != 80 {
		t.Errorf("outline: %d segments, %v pt long; want 6, 80", segs, length)
	}
	// The top edge runs along y = 20 (the cell's top) from x = 0 to 20.
	if outline[0].Pos != (vg.Point{X: 0, Y: 20}) || outline[1].Pos != (vg.Point{X: 20, Y: 20}) {
		t.Errorf("first segment %v → %v, want (0, 20) → (20, 20)", outline[0].Pos, outline[1].Pos)
	}
	if f, o := maskPaths(mask.New(2, 3), vg.Rectangle{Max: vg.Point{X: 3, Y: 2}}); len(f) != 0 || len(o) != 0 {
		t.Errorf("empty mask: paths of %d and %d components", len(f), len(o))
	}
}

// TestGreyImage: luma y = 0.2126 R + 0.7152 G + 0.0722 B (Rec. 709) mapped
// to 120 + 135·y: black 120, white 255, pure red 120 + 135·0.2126 = 148.7
// → 149, pure green 120 + 135·0.7152 = 216.6 → 217. Shrunk to 2 pixels
// wide, pixels average in pairs: (120 + 255)/2 = 187.5 → 188 (black and
// white), (149 + 217)/2 → the mean luma (0.2126 + 0.7152)/2 → 182.6 → 183.
func TestGreyImage(t *testing.T) {
	img := ImageFromRGB(1, 4, []uint8{0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0})
	g := greyImage(img, 0)
	if got := g.Pix; !bytes.Equal(got, []uint8{120, 255, 149, 217}) {
		t.Errorf("grey %v, want [120 255 149 217]", got)
	}
	g = greyImage(img, 2)
	if got := g.Pix; g.Bounds().Dx() != 2 || !bytes.Equal(got, []uint8{188, 183}) {
		t.Errorf("shrunk grey %v (%v), want [188 183]", got, g.Bounds())
	}
}

func TestTexts(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{layersText(0), "0 layers"}, {layersText(1), "1 layer"}, {layersText(9), "9 layers"},
		{cellText(0.126, true), "+13"}, {cellText(-0.004, true), "0"}, {cellText(-0.2, true), "−20"}, {cellText(0.996, false), "100"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
	a := mask.FromBools(1, 4, []bool{true, true, true, false})
	b := mask.FromBools(1, 4, []bool{false, true, false, false})
	e := mask.New(1, 4)
	for _, c := range []struct {
		a, b *mask.Bits
		want string
		low  bool
	}{
		{a, a, "IoU 100 %", false},
		{a, b, "IoU 33 %", true}, // 1 of 3 pixels
		{a, e, "IoU 0 %", true},
		{e, e, "both empty", false},
	} {
		if got, low := iouText(c.a, c.b); got != c.want || low != c.low {
			t.Errorf("iouText = %q, %v; want %q, %v", got, low, c.want, c.low)
		}
	}
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{{-20, 20, "−20 −15 −10 −5 0 +5 +10 +15 +20"}, {-45, 45, "−40 −20 0 +20 +40"}, {-7, 7, "−6 −4 −2 0 +2 +4 +6"}, {-1, 1, "−1 0 +1"}} {
		var got []string
		for _, tk := range diffTicks(c.lo, c.hi) {
			got = append(got, tk.Label)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("diffTicks(%v, %v) = %v, want %s", c.lo, c.hi, got, c.want)
		}
	}
	for _, c := range []struct{ v, want float64 }{{0.013, 0.02}, {0.07, 0.07}, {0.071, 0.08}, {0.1, 0.1}, {0.101, 0.15}, {0.24, 0.25}, {0.5, 0.5}, {0.61, 0.7}} {
		if got := diffLimit(c.v); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("diffLimit(%v) = %v, want %v", c.v, got, c.want)
		}
	}
}

// TestDiverging: RdBu's centre anchor (#F7F7F7) at 0, its ends at ±lim,
// and halfway between the last two anchors (#2166AC, #053061) their mean
// per channel: (0x21+0x05)/2 = 19, (0x66+0x30)/2 = 75, (0xAC+0x61)/2 =
// 134.5 → 135 (rounded half away from zero).
func TestDiverging(t *testing.T) {
	m := Diverging(0.2)
	for _, c := range []struct {
		v    float64
		want color.NRGBA
	}{
		{0, color.NRGBA{0xF7, 0xF7, 0xF7, 0xFF}},
		{-0.2, color.NRGBA{0x67, 0x00, 0x1F, 0xFF}},
		{0.2, color.NRGBA{0x05, 0x30, 0x61, 0xFF}},
		{0.18, color.NRGBA{19, 75, 135, 0xFF}}, // f = (0.18 + 0.2)/0.4 · 10 = 9.5
	} {
		got, err := m.At(c.v)
		if err != nil || got != c.want {
			t.Errorf("At(%v) = %v, %v; want %v", c.v, got, err, c.want)
		}
	}
	if _, err := m.At(0.21); err == nil {
		t.Error("At(0.21) beyond the range: no error")
	}
}

func TestImageFromRGB(t *testing.T) {
	img := ImageFromRGB(1, 2, []uint8{1, 2, 3, 4, 5, 6})
	if got := img.RGBAAt(1, 0); got != (color.RGBA{4, 5, 6, 255}) {
		t.Errorf("pixel (0, 1) = %v, want {4 5 6 255}", got)
	}
}

func TestPanics(t *testing.T) {
	img, rows := evoFixture()
	badRows := append([]MaskRow(nil), rows...)
	badRows[1].Masks = append([]*mask.Bits{mask.New(3, 3)}, rows[1].Masks[1:]...)
	for i, c := range []struct {
		f    func()
		want string
	}{
		{func() { StageCurves(nil, nil) }, "plots: StageCurves: no series"},
		{func() {
			StageCurves([]StageSeries{{Label: "a", Seeds: [][]float64{{1, 2}, {1}}}}, nil)
		}, `plots: StageCurves: series "a": seed 1 has 1 values, seed 0 has 2`},
		{func() {
			StageCurves([]StageSeries{{Label: "a", StageLayers: []int{0, 1}, Seeds: [][]float64{{1, 2}}}}, &StageSettings{Pairs: true})
		}, `plots: StageCurves: series "a": 2 StageLayers for 3 stages`},
		{func() { Heatmap([]HeatmapPanel{{M: [][]float64{{1, 2}}}}, nil) }, "plots: Heatmap: panel 0: row 0 has 2 entries, want 1 (square matrix)"},
		{func() { Heatmap(nil, nil) }, "plots: Heatmap: no panels"},
		{func() { MaskEvolution(img, badRows, nil) }, "plots: MaskEvolution: row 1: mask of 3×3, others 24×32"},
		{func() { MaskEvolution(img, nil, nil) }, "plots: MaskEvolution: no rows"},
		{func() { TrainingCurves([]TrainRun{{}}, &TrainingSettings{Panels: []string{"loss", "accuracy"}}) },
			`plots: TrainingCurves: unknown panel "accuracy" (want one of ap, ap50, bce, class, dice, grad_norm, loss, lr, miou, mp, pq, pq_stuff, pq_things, total)`},
		{func() { ImageFromRGB(2, 2, make([]uint8, 5)) }, "plots: ImageFromRGB: 5 bytes for 2×2×3"},
	} {
		if msg := panics(c.f); msg != c.want {
			t.Errorf("case %d: panic %q, want %q", i, msg, c.want)
		}
	}
}

func panics(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = r.(string)
		}
	}()
	f()
	return "(no panic)"
}

func TestLogTicks(t *testing.T) {
	label := func(ts []plot.Tick) string {
		var s []string
		for _, x := range ts {
			if x.Label != "" {
				s = append(s, x.Label)
			}
		}
		return strings.Join(s, " ")
	}
	for i, c := range []struct {
		min, max float64
		ticks    int
		labels   string
	}{
		{0.8, 300, 23, "1 2 5 10 20 50 100 200"}, // 0.8, 0.9, 1..9, 10..90, 100, 200, 300 marked
		{38, 120, 7, "40 50 60 70 80 90 100"},    // only 50 and 100 of 1-2-5: all labelled
		{-1, 10, 0, ""},                          // not a log range
	} {
		ts := logTicks{}.Ticks(c.min, c.max)
		if len(ts) != c.ticks || label(ts) != c.labels {
			t.Errorf("case %d: %d ticks labelled %q, want %d labelled %q", i, len(ts), label(ts), c.ticks, c.labels)
		}
	}
}

// TestDegenerate renders edge cases that must not panic: nothing defined,
// one stage, empty logs.
func TestDegenerate(t *testing.T) {
	img, rows := evoFixture()
	one := []MaskRow{{Label: "q", Masks: rows[0].Masks[:1]}}
	allNaN := [][]float64{{nan, nan}, {nan, nan}}
	for i, f := range []*Figure{
		StageCurves([]StageSeries{{Label: "a", Seeds: [][]float64{{nan, nan}, {nan, nan}}}}, nil),
		StageCurves([]StageSeries{{Label: "a", Seeds: [][]float64{{0.5}}}}, &StageSettings{Pairs: true}),
		Heatmap([]HeatmapPanel{{M: [][]float64{{1}}}}, nil),
		Heatmap([]HeatmapPanel{{M: allNaN}}, nil),
		Heatmap([]HeatmapPanel{{M: allNaN}}, &HeatmapSettings{Diff: true}),
		Heatmap([]HeatmapPanel{{M: stageMatrix(13)}, {M: stageMatrix(3)}, {M: stageMatrix(2)}, {M: stageMatrix(20)}, {M: stageMatrix(1)}}, nil), // 13, 20: not annotated
		MaskEvolution(img, one, nil),
		MaskEvolution(ImageFromRGB(2, 300, make([]uint8, 2*300*3)), one, nil), // a very flat image
		MaskEvolution(img, rows, &MaskSettings{Style: Style{NoTitle: true, FontScale: 2, Size: Size{Width: 3 * vg.Inch}}, Title: "x", NoIoU: true}),
		TrainingCurves([]TrainRun{{Label: "empty"}}, &TrainingSettings{LogLoss: true}),
	} {
		for _, format := range Formats {
			if err := f.Write(&bytes.Buffer{}, format); err != nil {
				t.Errorf("case %d: %s: %v", i, format, err)
			}
		}
	}
}

// TestEvolutionSize: the grid fills the width it is given, and its height
// follows from the cells whatever Height says.
func TestEvolutionSize(t *testing.T) {
	img, rows := evoFixture()
	a := MaskEvolution(img, rows, nil).Size()
	b := MaskEvolution(img, rows, &MaskSettings{Style: Style{Size: Size{Height: 9 * vg.Inch}}}).Size()
	if a.Width != TextWidth || a != b {
		t.Errorf("sizes %v and %v; want TextWidth wide and equal", a, b)
	}
	// Half the width: the cells (and so the rows) shrink, not the text.
	c := MaskEvolution(img, rows, &MaskSettings{Style: Style{Size: Size{Width: 3.5 * vg.Inch}}}).Size()
	if c.Width != 3.5*vg.Inch || !(c.Height < a.Height) {
		t.Errorf("3.5-inch grid %v, 7-inch %v", c, a)
	}
}
