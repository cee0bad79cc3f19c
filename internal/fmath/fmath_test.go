package fmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// relErr is |got − want| / max(|want|, tiny).
func relErr(got float32, want float64) float64 {
	d := math.Abs(float64(got) - want)
	if w := math.Abs(want); w > 1e-30 {
		return d / w
	}
	return d
}

func TestExp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	for i := 0; i < 1_000_000; i++ {
		x := float32(r.Float64()*175 - 87)
		worst = math.Max(worst, relErr(Exp(x), math.Exp(float64(x))))
	}
	// The bound documented on Exp; float32 rounding alone is ≤ 6e-8.
	if worst > 4e-7 {
		t.Fatalf("max relative error of Exp %.3g > 4e-7", worst)
	}
	for _, c := range []struct {
		x    float32
		want float64
	}{{0, 1}, {1, math.E}, {-100, 0}, {-87.5, 0}} {
		if got := Exp(c.x); relErr(got, c.want) > 4e-7 {
			t.Errorf("Exp(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if !math.IsInf(float64(Exp(100)), 1) {
		t.Error("Exp(100) is not +Inf")
	}
}

func TestSigmoidSoftplus(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var ws, wp float64
	for i := 0; i < 1_000_000; i++ {
		x := float32(r.NormFloat64() * 12)
		xf := float64(x)
		wantS := 1 / (1 + math.Exp(-xf))
		wantP := math.Max(xf, 0) + math.Log1p(math.Exp(-math.Abs(xf)))
		s, p := SigmoidSoftplus(x)
		if s != Sigmoid(x) || p != Softplus(x) {
			t.Fatalf("SigmoidSoftplus(%v) = %v, %v; Sigmoid, Softplus give %v, %v", x, s, p, Sigmoid(x), Softplus(x))
		}
		ws = math.Max(ws, relErr(s, wantS))
		wp = math.Max(wp, relErr(p, wantP))
	}
	// A few ulps of float32 (ulp 6e-8 relative).
	if ws > 5e-7 || wp > 5e-7 {
		t.Fatalf("max relative error: sigmoid %.3g, softplus %.3g; want ≤ 5e-7", ws, wp)
	}
}

func BenchmarkExp(b *testing.B) {
	x := float32(0.37)
	var s float32
	for i := 0; i < b.N; i++ {
		s += Exp(x)
		x = -x
	}
	_ = s
}

func BenchmarkMathExp(b *testing.B) {
	x := 0.37
	var s float64
	for i := 0; i < b.N; i++ {
		s += math.Exp(x)
		x = -x
	}
	_ = s
}
