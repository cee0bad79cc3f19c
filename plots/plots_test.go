package plots

import (
	"bytes"
	"image"
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
// at 96 dpi keep the files small.
func TestGolden(t *testing.T) {
	small := Size{Width: 5 * vg.Inch, Height: 3.2 * vg.Inch, DPI: 96}
	img, rows := evoFixture()
	util := stageSeries()[:1]
	util[0].Seeds = [][]float64{{0.2, 0.3, 0.45, 0.6, 0.7, 0.8, 0.87, 0.93, 0.97, 1}}
	figs := []struct {
		name, format string
		f            *Figure
	}{
		{"stage_pairs", "png", StageCurves(stageSeries(), &StageSettings{Size: small, Title: "Consecutive-stage IoU",
			YLabel: "IoU with next stage", Pairs: true, Percent: true, References: []Reference{{Value: 0.9, Label: "90 %"}}})},
		{"stage_util", "svg", StageCurves(util, &StageSettings{Size: small, Title: "Util-A", YLabel: "Util-A", YMin: 0, YMax: 1})},
		{"heatmap", "png", Heatmap(stageMatrix(10), &HeatmapSettings{Size: Size{Width: 5.4 * vg.Inch, Height: 4.4 * vg.Inch, DPI: 96},
			Title: "Stage × stage IoU"})},
		{"heatmap_small", "svg", Heatmap(stageMatrix(4), &HeatmapSettings{StageLayers: []int{1, 2, 3, 4}})},
		{"evolution", "png", MaskEvolution(img, rows, &MaskSettings{Title: "Three queries through the decoder", CellPixels: 72, DPI: 96})},
		{"training", "png", TrainingCurves(trainRuns(t), &TrainingSettings{Size: Size{Width: 7 * vg.Inch, Height: 5 * vg.Inch, DPI: 96},
			Title: "Training", Smooth: 5})},
	}
	for _, c := range figs {
		checkGolden(t, c.f, c.name, c.format)
	}
}

func TestDeterministic(t *testing.T) {
	img, rows := evoFixture()
	for _, f := range []*Figure{
		StageCurves(stageSeries(), &StageSettings{Pairs: true}),
		Heatmap(stageMatrix(6), nil),
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
	f := StageCurves(stageSeries(), &StageSettings{Pairs: true, Size: Size{Width: 4 * vg.Inch, Height: 3 * vg.Inch, DPI: 50}})
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
	bad := filepath.Join(dir, "curves.pdf")
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

func TestPaintCell(t *testing.T) {
	// A 4×4 grey image (100) shown in a 4×4 cell with a 2×2 mask whose
	// top-left quarter is set: upsampled, pixels (0..1, 0..1) are in the
	// mask. Washed out: (100+255)/2 = 177.
	src := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range src.Pix {
		src.Pix[i] = 100
	}
	base := washedOut(src, 4, 4)
	if got := base.RGBAAt(3, 3); got != (color.RGBA{177, 177, 177, 255}) {
		t.Fatalf("washed-out pixel %v, want 177 grey", got)
	}
	m := mask.FromBools(2, 2, []bool{true, false, false, false})
	dst := image.NewRGBA(image.Rect(0, 0, 6, 6))
	col := color.RGBA{200, 0, 0, 255}
	paintCell(dst, 1, 1, base, m, col)
	// Every mask pixel is within 2 pixels of an outside pixel: outlined.
	if got := dst.RGBAAt(1, 1); got != col {
		t.Errorf("mask pixel %v, want the outline colour %v", got, col)
	}
	if got := dst.RGBAAt(4, 4); got != (color.RGBA{177, 177, 177, 255}) {
		t.Errorf("pixel outside the mask %v, want the washed-out image", got)
	}
	if got := dst.RGBAAt(0, 0); got != (color.RGBA{0xB0, 0xB0, 0xB0, 255}) {
		t.Errorf("frame pixel %v, want grey", got)
	}
	// A full mask of a 8×8 cell: the interior (away from the border,
	// which does not count as outside) is blended 45 % image, 55 % colour:
	// (45·177 + 55·200 + 50)/100 = 190, (45·177 + 50)/100 = 80.
	base8 := washedOut(src, 8, 8)
	full := mask.FromFunc(2, 2, func(int) bool { return true })
	dst8 := image.NewRGBA(image.Rect(0, 0, 10, 10))
	paintCell(dst8, 1, 1, base8, full, col)
	if got := dst8.RGBAAt(1, 1); got != (color.RGBA{190, 80, 80, 255}) {
		t.Errorf("blended pixel %v, want {190 80 80 255}", got)
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
		{func() { Heatmap([][]float64{{1, 2}}, nil) }, "plots: Heatmap: row 0 has 2 entries, want 1 (square matrix)"},
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
		Heatmap([][]float64{{1}}, nil),
		Heatmap(allNaN, nil),
		Heatmap(stageMatrix(13), nil), // not annotated
		MaskEvolution(img, one, nil),
		MaskEvolution(ImageFromRGB(2, 300, make([]uint8, 2*300*3)), one, nil), // a very flat image
		TrainingCurves([]TrainRun{{Label: "empty"}}, &TrainingSettings{LogLoss: true}),
	} {
		for _, format := range Formats {
			if err := f.Write(&bytes.Buffer{}, format); err != nil {
				t.Errorf("case %d: %s: %v", i, format, err)
			}
		}
	}
}
