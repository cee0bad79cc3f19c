package model

import (
	"math"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// TestMPQueriesLearnGTMasks: with pilots on every layer and no noise, the
// MP queries' last-stage masks reach IoU > 0.9 with their GT on a fixed
// training batch within a few hundred steps.
func TestMPQueriesLearnGTMasks(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few hundred steps")
	}
	ex, k := tinyExamples(t, 2, 4)
	cfg := TinyConfig(ArchMPFormer, k)
	cfg.MP.LabelNoise = 0
	m, err := New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	tc := DefaultTrainConfig(300)
	tc.Batch = len(ex)
	tc.Schedule.BaseLR = 1e-3
	tr, err := NewTrainer(m, tc)
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < tc.Steps; s++ {
		if _, err := tr.TrainStep(ex); err != nil {
			t.Fatal(err)
		}
	}
	// Score at stride 4 against the cells a GT covers at least half
	// (Masks4). Objects under 4 cells are below the resolution where one
	// cell of disagreement is not already IoU ≤ 0.75; they enter the
	// pooled IoU (Σ∩/Σ∪) but not the per-object mean.
	norms := ComputeNorms(&m.Cfg, ex)
	var sum, inter, union float64
	var n int
	for _, e := range ex {
		mp := buildMP(&m.Cfg, e.Classes, e.Full, norms.MaxGT, m.levels, rng.New(1))
		g := NewGraph()
		g.SetGrad(false)
		stages := m.forward(g, e.Input, mp)
		last := stages[len(stages)-1].MaskLogits.Data
		hw := m.h4 * m.w4
		for j := range e.Classes {
			pred := metrics.FromLogits(m.h4, m.w4, last[j*hw:(j+1)*hw])
			gt := mask.FromFunc(m.h4, m.w4, func(i int) bool { return e.Cover4[j][i] >= 0.5 })
			in, un := mask.InterUnion(pred, gt)
			inter += float64(in)
			union += float64(un)
			if gt.Area() >= 4 {
				sum += metrics.IoU(pred, gt)
				n++
			}
		}
	}
	iou, pooled := sum/float64(n), inter/union
	t.Logf("after %d steps: mean IoU of %d MP queries with their GT %.3f, pooled %.3f", tc.Steps, n, iou, pooled)
	if !(iou > 0.9) || !(pooled > 0.9) {
		t.Fatalf("MP queries' IoU with their GT: mean %.3f, pooled %.3f; want both > 0.9", iou, pooled)
	}
}

// squareMask is an h×w mask with the square [y0, y0+s) × [x0, x0+s) set.
func squareMask(h, w, y0, x0, s int) *mask.Bits {
	return mask.FromFunc(h, w, func(i int) bool {
		y, x := i/w, i%w
		return y >= y0 && y < y0+s && x >= x0 && x < x0+s
	})
}

func TestPointNoiseFlipRate(t *testing.T) {
	// 16×16 map, object of A = 64 cells, ratio 0.2: p = 0.2·64/256 = 0.05
	// per cell; over 2000 draws of 256 cells the flip share has standard
	// error √(0.05·0.95/512000) ≈ 3e-4.
	r := rng.New(3)
	m := squareMask(16, 16, 4, 4, 8)
	const draws = 2000
	flips := 0
	for d := 0; d < draws; d++ {
		row := make([]bool, 256)
		for i := range row {
			row[i] = !m.Get(i)
		}
		pointNoise(row, m.Area(), 0.2, r)
		for i, b := range row {
			if b == m.Get(i) { // blocked where the object is, or attendable outside
				flips++
			}
		}
	}
	rate := float64(flips) / (draws * 256)
	if math.Abs(rate-0.05) > 0.0015 {
		t.Fatalf("flip rate %.5f, want 0.05 ± 0.0015", rate)
	}
}

func TestShiftNoiseRange(t *testing.T) {
	// A 16×16 square at (40, 40) in a 128×128 map: normalised box sides
	// 0.125, ratio 0.4, so |dx|, |dy| ≤ 0.4·0.0625·128 = 3.2 cells, drawn
	// uniformly: E[dx] = 0, E[dx²] = 3.2²/3 ≈ 3.41 (rounding adds ≈ 1/12).
	full := squareMask(128, 128, 40, 40, 16)
	r := rng.New(9)
	var s1, s2 float64
	const draws = 4000
	for d := 0; d < draws; d++ {
		sh := shiftMask(full, full, 0.4, r)
		x0, y0, _, _, ok := sh.BBox()
		if !ok || sh.Area() != full.Area() {
			t.Fatal("shift changed the area (the object is far from the border)")
		}
		dx, dy := float64(x0-40), float64(y0-40)
		if math.Abs(dx) > 3 || math.Abs(dy) > 3 {
			t.Fatalf("offset (%v, %v) beyond ±3.2 rounded", dx, dy)
		}
		s1 += dx
		s2 += dx * dx
	}
	mean, sq := s1/draws, s2/draws
	if math.Abs(mean) > 0.1 || math.Abs(sq-(3.2*3.2/3+1.0/12)) > 0.3 {
		t.Fatalf("dx mean %.3f, mean square %.3f; want 0 and ≈ 3.5", mean, sq)
	}
}

func TestScaleNoiseGeometry(t *testing.T) {
	// Enlarging a 20×20 square by 1.5 about its centre gives a 30×30
	// square with the same centre.
	full := squareMask(128, 128, 50, 30, 20)
	sc := scaleMask(full, full, 1.5)
	x0, y0, x1, y1, _ := sc.BBox()
	if x1-x0 != 30 || y1-y0 != 30 || x0+x1 != 80 || y0+y1 != 120 {
		t.Fatalf("scaled box [%d,%d)×[%d,%d), want a 30-square centred at (40, 60)", x0, x1, y0, y1)
	}
	if sc.Area() != 900 {
		t.Fatalf("scaled area %d, want 900", sc.Area())
	}
}

func TestBuildMPNoiseSchedules(t *testing.T) {
	ex, k := tinyExamples(t, 1, 3)
	e := ex[0]
	base := TinyConfig(ArchMPFormer, k)
	m, err := New(base, 1)
	if err != nil {
		t.Fatal(err)
	}
	// point noise is drawn afresh for every layer: layers 0 and 3 share a
	// level but not their noise
	c := base
	c.MP.Noise, c.MP.NoiseRatio = "point", 0.5
	mp := buildMP(&c, e.Classes, e.Full, len(e.Classes), m.levels, rng.New(2))
	if equalBools(mp.pilots[0], mp.pilots[3]) {
		t.Fatal("point noise was not redrawn for layer 3")
	}
	// without noise every layer of a level has the same pilot, the GT
	c.MP.Noise, c.MP.NoiseRatio = "none", 0
	mp = buildMP(&c, e.Classes, e.Full, len(e.Classes), m.levels, rng.New(2))
	if !equalBools(mp.pilots[0], mp.pilots[3]) || !equalBools(mp.pilots[2], mp.pilots[8]) {
		t.Fatal("noise-free pilots differ between layers of one level")
	}
	// piloting only the first 4 layers leaves the others to the MP queries' own masks
	c.MP.PilotLayers = 4
	mp = buildMP(&c, e.Classes, e.Full, len(e.Classes), m.levels, rng.New(2))
	for i, p := range mp.pilots {
		if (p != nil) != (i < 4) {
			t.Fatalf("layer %d piloted = %v", i, p != nil)
		}
	}
	// scale noise enlarges a GT in about ScaleProb of the draws: a 40-px
	// square in a 128-px image is 5 cells wide at 1/8 and 7–8 once
	// enlarged by 1.5, so every enlargement shows.
	c = DefaultConfig(ArchMPFormer, 1)
	c.MP.Noise, c.MP.NoiseRatio = "scale", 0.5
	levels := [3][2]int{{4, 4}, {8, 8}, {16, 16}}
	sq := squareMask(128, 128, 44, 44, 40)
	plain := nearestDown(sq, 16, 16)
	r := rng.New(4)
	scaled := 0
	const draws = 1000
	for d := 0; d < draws; d++ {
		mp = buildMP(&c, []int{0}, []*mask.Bits{sq}, 1, levels, r)
		if got := attendable(mp.pilots[2]); got > plain.Area() {
			scaled++
		} else if got != plain.Area() {
			t.Fatalf("unscaled pilot has %d attendable cells, want %d", got, plain.Area())
		}
	}
	// 0.5 ± 3 standard errors (√(0.25/1000) ≈ 0.016)
	if share := float64(scaled) / draws; math.Abs(share-0.5) > 0.048 {
		t.Fatalf("scale applied to %.3f of the draws, want 0.5", share)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func attendable(row []bool) int {
	n := 0
	for _, b := range row {
		if !b {
			n++
		}
	}
	return n
}
