package model

import (
	"math"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/model/engine"
)

func TestAttentionMaskHand(t *testing.T) {
	// Two queries with 4×4 logits, next level 2×2. Bilinear 4→2 with
	// align_corners=False samples at src = 2d + 0.5, i.e. the mean of each
	// 2×2 block. Query 0: block (0,0) has mean +0.5, block (0,1) mean
	// −0.25, block (1,0) exactly 0 (sigmoid 0.5 is not < 0.5: attendable),
	// block (1,1) −2. Query 1 is negative everywhere: fully blocked, so it
	// is unblocked.
	q0 := []float32{
		1, 1, -1, 0,
		0, 0, 0, 0,
		2, -2, -2, -2,
		-1, 1, -2, -2,
	}
	q1 := make([]float32, 16)
	for i := range q1 {
		q1[i] = -3
	}
	logits := append(append([]float32{}, q0...), q1...)
	blocked, unblocked := attentionMask(logits, 4, 4, 2, 2, nil, 0, make([]float32, 16))
	want := []bool{false, true, false, true, false, false, false, false}
	for i := range want {
		if blocked[i] != want[i] {
			t.Fatalf("blocked = %v, want %v", blocked, want)
		}
	}
	if unblocked[0] || !unblocked[1] {
		t.Fatalf("unblocked = %v, want [false true]", unblocked)
	}

	// A pilot replaces the first P rows before the unblocking rule: pilot
	// row 0 attends only at cell 3; an all-blocked pilot row is unblocked.
	pilot := []bool{true, true, true, false}
	blocked, unblocked = attentionMask(logits, 4, 4, 2, 2, pilot, 1, make([]float32, 16))
	want = []bool{true, true, true, false, false, false, false, false}
	for i := range want {
		if blocked[i] != want[i] {
			t.Fatalf("piloted blocked = %v, want %v", blocked, want)
		}
	}
	if unblocked[0] {
		t.Fatal("a pilot row that attends at cell 3 was unblocked")
	}
	_, unblocked = attentionMask(logits, 4, 4, 2, 2, []bool{true, true, true, true}, 1, make([]float32, 16))
	if !unblocked[0] {
		t.Fatal("an empty pilot row was not unblocked")
	}
}

func TestAnyDownTouchedCells(t *testing.T) {
	// 8×8 mask with one pixel at (5, 2): at 2×2 (4×4 windows) only cell
	// (1, 0) is touched; at 4×4 (2×2 windows) only cell (2, 1).
	m := mask.New(8, 8)
	m.Set(5*8+2, true)
	d := anyDown(m, 2, 2)
	if d.Area() != 1 || !d.At(1, 0) {
		t.Fatalf("2×2: %v", d.Bools())
	}
	d = anyDown(m, 4, 4)
	if d.Area() != 1 || !d.At(2, 1) {
		t.Fatalf("4×4: %v", d.Bools())
	}
}

// TestAnyDownMatchesPixelLoop: anyDown (word tests per window row) keeps
// exactly the cells that a loop over every pixel of the window finds
// touched, for random masks of several densities, sizes that do and do not
// divide, and odd widths that put windows across word boundaries.
func TestAnyDownMatchesPixelLoop(t *testing.T) {
	r := rng.New(3)
	for _, s := range [][4]int{{96, 96, 3, 3}, {96, 96, 12, 12}, {100, 70, 7, 9}, {33, 129, 5, 4}, {8, 8, 8, 8}, {5, 7, 10, 3}} {
		H, W, h, w := s[0], s[1], s[2], s[3]
		for _, p := range []float64{0, 0.001, 0.02, 0.5} {
			m := mask.FromFunc(H, W, func(int) bool { return r.Bernoulli(p) })
			got := anyDown(m, h, w)
			for cy := 0; cy < h; cy++ {
				for cx := 0; cx < w; cx++ {
					want := false
					for y := cy * H / h; y < ((cy+1)*H+h-1)/h; y++ {
						for x := cx * W / w; x < ((cx+1)*W+w-1)/w; x++ {
							want = want || m.At(y, x)
						}
					}
					if got.At(cy, cx) != want {
						t.Fatalf("%dx%d → %dx%d, p=%v: cell (%d, %d) = %v, want %v", H, W, h, w, p, cy, cx, got.At(cy, cx), want)
					}
				}
			}
		}
	}
}

// TestNonFiniteStage: the first stage with a NaN or ±Inf in its class or
// mask logits is reported, wherever in the slice the value sits; all-finite
// stages give −1.
func TestNonFiniteStage(t *testing.T) {
	g := engine.NewGraph[float32]()
	mk := func() []StageOutput {
		st := make([]StageOutput, 4)
		for i := range st {
			st[i] = StageOutput{ClassLogits: g.Const(make([]float32, 3*5), 3, 5), MaskLogits: g.Const(make([]float32, 3*37), 3, 37)}
		}
		return st
	}
	if s := NonFiniteStage(mk()); s != -1 {
		t.Fatalf("finite stages: %d", s)
	}
	for _, c := range []struct {
		stage, at int
		cls       bool
		v         float64
	}{{2, 110, false, math.NaN()}, {1, 0, true, math.Inf(1)}, {3, 17, false, math.Inf(-1)}, {0, 14, true, math.NaN()}} {
		st := mk()
		d := st[c.stage].MaskLogits.Data
		if c.cls {
			d = st[c.stage].ClassLogits.Data
		}
		d[c.at] = float32(c.v)
		if s := NonFiniteStage(st); s != c.stage {
			t.Fatalf("%v at %d of stage %d: got stage %d", c.v, c.at, c.stage, s)
		}
	}
}
