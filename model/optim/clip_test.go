package optim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/engine"
)

func gradParams(grads ...[]float32) []*engine.Param[float32] {
	ps := make([]*engine.Param[float32], len(grads))
	for i, g := range grads {
		ps[i] = engine.NewParam[float32]("g"+string(rune('0'+i)), len(g))
		copy(ps[i].Grad, g)
	}
	return ps
}

func TestClipGradNorm(t *testing.T) {
	// Hand-computed: ‖(3, 4, 12)‖ = √(9+16+144) = √169 = 13.
	ps := gradParams([]float32{3, 4}, []float32{12})
	if n := ClipGradNorm(ps, 20); n != 13 {
		t.Fatalf("norm = %v, want 13", n)
	}
	// 20/(13+1e-6) > 1: gradients unchanged.
	if ps[0].Grad[0] != 3 || ps[0].Grad[1] != 4 || ps[1].Grad[0] != 12 {
		t.Fatalf("grads changed without clipping: %v %v", ps[0].Grad, ps[1].Grad)
	}
	// Clip to 6.5: coefficient 6.5/(13+1e-6) = 0.4999999615…, so the
	// grads become (1.5, 2, 6)·(1 − 7.7e-8).
	if n := ClipGradNorm(ps, 6.5); n != 13 {
		t.Fatalf("norm = %v, want 13", n)
	}
	coef := 6.5 / (13 + 1e-6)
	for i, want := range []float64{3 * coef, 4 * coef} {
		if !withinRel(float64(ps[0].Grad[i]), want, 1e-7) {
			t.Errorf("g0[%d] = %v, want %v", i, ps[0].Grad[i], want)
		}
	}
	if !withinRel(float64(ps[1].Grad[0]), 12*coef, 1e-7) {
		t.Errorf("g1[0] = %v, want %v", ps[1].Grad[0], 12*coef)
	}
	if n := GradNorm(ps); !withinRel(n, 6.5, 1e-6) {
		t.Errorf("norm after clipping = %v, want 6.5", n)
	}
}

func TestGradNormOrderAndTail(t *testing.T) {
	// 1..9 over lengths not divisible by 4 (exercises the tail loop):
	// Σk² for k=1..9 = 285.
	ps := gradParams([]float32{1, 2, 3, 4, 5}, []float32{6, 7}, []float32{8, 9})
	if n := GradNorm(ps); n != math.Sqrt(285) {
		t.Errorf("norm = %v, want √285 = %v", n, math.Sqrt(285))
	}
	// A float32 whose square overflows float32 but not float64.
	big := gradParams([]float32{3e38, 4e38 / 2})
	if n := GradNorm(big); !IsFinite(n) {
		t.Errorf("norm of finite large grads = %v, want finite", n)
	}
}

func TestNonFinite(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	ps := gradParams([]float32{1, 2}, []float32{3, nan, 4, 5, 6}, []float32{inf})
	// the trainer finds the offending parameter by its sum of squares
	if s := SumSquares(ps[1].Grad); IsFinite(s) {
		t.Errorf("SumSquares with a NaN = %v", s)
	}
	if s := SumSquares(ps[2].Grad); IsFinite(s) {
		t.Errorf("SumSquares with −Inf = %v", s)
	}
	if s := SumSquares(ps[0].Grad); s != 5 {
		t.Errorf("SumSquares(1, 2) = %v, want 5", s)
	}
	if c, clip := ClipCoef(math.NaN(), 1); clip || c != 1 {
		t.Errorf("ClipCoef(NaN) = %v, %v; want no clipping", c, clip)
	}
	if c, clip := ClipCoef(4, 0); clip || c != 1 {
		t.Errorf("ClipCoef with clipping off = %v, %v", c, clip)
	}
	// hand: 2/(4+1e-6) = 0.49999987…, rounded to float32
	if c, clip := ClipCoef(4, 2); !clip || c != float32(2/(4+1e-6)) {
		t.Errorf("ClipCoef(4, 2) = %v, %v", c, clip)
	}
	n := ClipGradNorm(ps, 1)
	if IsFinite(n) {
		t.Errorf("norm with NaN grad = %v, want non-finite", n)
	}
	if ps[0].Grad[0] != 1 || ps[1].Grad[0] != 3 {
		t.Error("ClipGradNorm changed grads when the norm is not finite")
	}
	for _, c := range []struct {
		x    float64
		want bool
	}{{0, true}, {-1e308, true}, {math.NaN(), false}, {math.Inf(1), false}, {math.Inf(-1), false}} {
		if IsFinite(c.x) != c.want {
			t.Errorf("IsFinite(%v) = %v", c.x, !c.want)
		}
	}
}

// TestSumSquares4: each of the four sums has SumSquares' bits, for slices
// of equal and unequal lengths (one nil), values spanning three orders of
// magnitude (so that the order of the additions shows in the last bits:
// checked below), and NaN and ±Inf.
func TestSumSquares4(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	vec := func(n int) []float32 {
		if n < 0 {
			return nil
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(4))))
		}
		return v
	}
	for c, lens := range [][4]int{{1000, 1000, 1000, 1000}, {5, 700, 0, 33}, {-1, 64, 64, 9}, {3, 2, 1, 0}, {40, 40, 40, 40}} {
		g := [4][]float32{vec(lens[0]), vec(lens[1]), vec(lens[2]), vec(lens[3])}
		if c == 4 { // non-finite values in the last case only
			g[1][7] = float32(math.Inf(-1))
			g[2][39] = float32(math.NaN())
		}
		var got [4]float64
		got[0], got[1], got[2], got[3] = SumSquares4(g[0], g[1], g[2], g[3])
		for k := range g {
			want := SumSquares(g[k])
			if math.Float64bits(got[k]) != math.Float64bits(want) && !(math.IsNaN(got[k]) && math.IsNaN(want)) {
				t.Errorf("lengths %v: sum %d = %v, want SumSquares' %v", lens, k, got[k], want)
			}
		}
	}
	// the data can tell orders apart: the same values summed backwards
	// give other bits
	v := vec(1000)
	rev := make([]float32, len(v))
	for i, x := range v {
		rev[len(v)-1-i] = x
	}
	if SumSquares(v) == SumSquares(rev) {
		t.Fatal("reversed order gives the same sum: the test values cannot show a wrong order")
	}
}
