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
		mp := buildMP(&m.Cfg, e.Classes, e.Full, norms.MaxGT, m.levels, rng.New(1), nil)
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
		pointNoise(row, m.Area(), 0.2, r, nil)
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

// TestShiftNoiseHand follows prepare_for_dn_v6 of the official MP decoder
// (with its x/y swap undone) by hand. The GT is rows 40–55, columns 32–63
// of a 128×128 image: normalised box w = 32/128 = 0.25, h = 16/128 =
// 0.125. At stride 8 (16×16, nearest) it is rows 5–6, columns 4–7. With
// ns = 1 and the draws ux = 0.95, uy = 0.1 (float32, as torch.rand):
//
//	dx = (2·0.95 − 1)·(0.25/2)·1·16 = 0.9·0.125·16 = 1.8
//	dy = (2·0.1 − 1)·(0.125/2)·1·16 = −0.8·0.0625·16 = −0.8
//
// and each cell lands on ⌊y + dy⌋, ⌊x + dx⌋: rows 4–5, columns 5–8. With
// ns = 4 (and uy = 0.5, dy = 0) dx = 7.2 moves columns 4–7 to 11–14; with
// ns = 8 and ux = 0.05, dx = −14.4 pushes every column past the left
// border, where clamping stacks them on column 0.
func TestShiftNoiseHand(t *testing.T) {
	full := mask.FromFunc(128, 128, func(i int) bool {
		y, x := i/128, i%128
		return y >= 40 && y < 56 && x >= 32 && x < 64
	})
	m := nearestDown(full, 16, 16)
	if m.Area() != 8 || !m.At(5, 4) || !m.At(6, 7) {
		t.Fatalf("stride-8 GT: area %d", m.Area())
	}
	box := func(b *mask.Bits) [4]int { x0, y0, x1, y1, _ := b.BBox(); return [4]int{y0, y1, x0, x1} }
	if got, want := box(shiftMask(m, full, 1, 0.95, 0.1)), [4]int{4, 6, 5, 9}; got != want {
		t.Errorf("shift: rows [%d,%d) columns [%d,%d), want %v", got[0], got[1], got[2], got[3], want)
	}
	// ns = 4: dx = 7.2, columns 4–7 → 11–14
	if got, want := box(shiftMask(m, full, 4, 0.95, 0.5)), [4]int{5, 7, 11, 15}; got != want {
		t.Errorf("shift right: %v, want %v", got, want)
	}
	// ns = 8, ux = 0.05: dx = (0.1 − 1)·0.125·8·16 = −14.4: every column
	// lands left of 0 and is clamped onto it
	sh := shiftMask(m, full, 8, 0.05, 0.5)
	if got, want := box(sh), [4]int{5, 7, 0, 1}; got != want || sh.Area() != 2 {
		t.Errorf("shift left: %v area %d, want %v area 2", got, sh.Area(), want)
	}
}

// TestScaleNoiseHand follows prepare_for_dn_v7 of the official MP decoder
// (with its axis swap undone) by hand. An 8×8 map with the object at rows
// 2–3, columns 4–5 (its own full-resolution mask): cx = 5/8 = 0.625,
// cy = 3/8 = 0.375. With ns = 0.5 the map is nearest-resized to
// ⌊8·1.5⌋ + 1 = 13 (source index ⌊i·8/13⌋), where the object covers rows
// 4–6 (⌊4·0.615⌋ = 2 … ⌊6·0.615⌋ = 3) and columns 7–9 (⌊7·0.615⌋ = 4 …
// ⌊9·0.615⌋ = 5); the offsets are trunc((8 − 13)·0.375) = −1 for rows and
// trunc((8 − 13)·0.625) = −3 for columns: rows 3–5, columns 4–6.
func TestScaleNoiseHand(t *testing.T) {
	m := squareMask(8, 8, 2, 4, 2)
	sc := scaleMask(m, m, 0.5)
	x0, y0, x1, y1, _ := sc.BBox()
	if y0 != 3 || y1 != 6 || x0 != 4 || x1 != 7 || sc.Area() != 9 {
		t.Fatalf("scaled: rows [%d,%d) columns [%d,%d) area %d, want rows [3,6) columns [4,7) area 9", y0, y1, x0, x1, sc.Area())
	}
	// a larger case keeps the centre within a cell and the size near 1.5×
	full := squareMask(128, 128, 50, 30, 20)
	sc = scaleMask(full, full, 0.5)
	x0, y0, x1, y1, _ = sc.BBox()
	if w, h := x1-x0, y1-y0; w < 29 || w > 31 || h < 29 || h > 31 {
		t.Errorf("scaled 20-square is %d×%d, want ≈ 30×30", w, h)
	}
	if cx, cy := float64(x0+x1)/2, float64(y0+y1)/2; math.Abs(cx-40) > 1 || math.Abs(cy-60) > 1 {
		t.Errorf("scaled centre (%.1f, %.1f), want (40, 60) ± 1", cx, cy)
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
	mp := buildMP(&c, e.Classes, e.Full, len(e.Classes), m.levels, rng.New(2), nil)
	if equalBools(mp.pilots[0], mp.pilots[3]) {
		t.Fatal("point noise was not redrawn for layer 3")
	}
	// without noise every layer of a level has the same pilot, the GT
	c.MP.Noise, c.MP.NoiseRatio = "none", 0
	mp = buildMP(&c, e.Classes, e.Full, len(e.Classes), m.levels, rng.New(2), nil)
	if !equalBools(mp.pilots[0], mp.pilots[3]) || !equalBools(mp.pilots[2], mp.pilots[8]) {
		t.Fatal("noise-free pilots differ between layers of one level")
	}
	// piloting only the first 4 layers leaves the others to the MP queries' own masks
	c.MP.PilotLayers = 4
	mp = buildMP(&c, e.Classes, e.Full, len(e.Classes), m.levels, rng.New(2), nil)
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
		mp = buildMP(&c, []int{0}, []*mask.Bits{sq}, 1, levels, r, nil)
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
