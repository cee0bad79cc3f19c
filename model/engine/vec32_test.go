package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The float32 Softmax, Sigmoid, BCEWithLogits and DiceLoss use the vector
// kernels of internal/fmath; float64 uses the math package. These tests
// run both on the same values.

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func TestSoftmaxFloat32MatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	negInf := float32(math.Inf(-1))
	for _, L := range []int{1, 2, 7, 15, 16, 17, 33, 64, 100} {
		const R = 12
		x := make([]float32, R*L)
		add := make([]float32, R*L)
		blocked := make([]bool, R*L)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 8)
			if r.IntN(10) == 0 {
				add[i] = negInf
			} else {
				add[i] = float32(r.NormFloat64())
			}
			blocked[i] = r.IntN(3) == 0
		}
		x[3] = negInf // a −∞ input
		for j := 0; j < L; j++ {
			blocked[L+j] = true // row 1 fully blocked
			add[2*L+j] = negInf // row 2 fully −∞
		}
		for _, c := range []struct {
			name    string
			add     bool
			blocked bool
		}{{"plain", false, false}, {"blocked", false, true}, {"additive", true, false}, {"both", true, true}} {
			var a32 []float32
			var b []bool
			if c.add {
				a32 = add
			}
			if c.blocked {
				b = blocked
			}
			g32 := NewGraph[float32]()
			x32 := g32.Leaf(append([]float32(nil), x...), R, L)
			y32 := g32.Softmax(x32, a32, b)
			g64 := NewGraph[float64]()
			var a64 []float64
			if a32 != nil {
				a64 = to64(a32)
			}
			y64 := g64.Softmax(g64.Leaf(to64(x), R, L), a64, b)
			for i, v := range y32.Data {
				masked := (b != nil && b[i]) || x[i] == negInf || (a32 != nil && a32[i] == negInf)
				if masked && v != 0 {
					t.Fatalf("L=%d %s: masked entry %d is %v, want 0", L, c.name, i, v)
				}
				if d := math.Abs(float64(v) - y64.Data[i]); d > 1e-6 || math.IsNaN(float64(v)) {
					t.Fatalf("L=%d %s: entry %d float32 %v, float64 %v", L, c.name, i, v, y64.Data[i])
				}
			}
			// Row 1 is fully blocked when b is set, row 2 fully −∞ with a32.
			for _, row := range []int{1, 2} {
				if (row == 1 && b == nil) || (row == 2 && a32 == nil) {
					continue
				}
				for _, v := range y32.Data[row*L : (row+1)*L] {
					if v != 0 {
						t.Fatalf("L=%d %s: fully masked row %d is %v", L, c.name, row, y32.Data[row*L:(row+1)*L])
					}
				}
			}
		}
	}
}

func TestSigmoidLossesFloat32MatchFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const R, P = 5, 37
	x := make([]float32, R*P)
	tg := make([]float32, R*P)
	gr := make([]float32, R)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 6)
		if r.IntN(2) == 0 {
			tg[i] = 1
		}
	}
	x[0], x[1] = 40, -40 // saturated sigmoid
	for i := range gr {
		gr[i] = float32(r.NormFloat64())
	}
	type result struct{ sig, bce, dice, dx []float64 }
	run32 := func() result {
		g := NewGraph[float32]()
		xl := g.Leaf(append([]float32(nil), x...), R, P)
		s := g.Sigmoid(xl)
		bce := g.BCEWithLogits(xl, tg)
		dice := g.DiceLoss(xl, tg)
		loss := g.Add(g.Add(g.SumAll(g.Mul(bce, g.Const(gr, R))), g.SumAll(g.Mul(dice, g.Const(gr, R)))), g.SumAll(s))
		g.Backward(loss)
		return result{to64(s.Data), to64(bce.Data), to64(dice.Data), to64(xl.Grad)}
	}
	run64 := func() result {
		g := NewGraph[float64]()
		xl := g.Leaf(to64(x), R, P)
		s := g.Sigmoid(xl)
		bce := g.BCEWithLogits(xl, to64(tg))
		dice := g.DiceLoss(xl, to64(tg))
		loss := g.Add(g.Add(g.SumAll(g.Mul(bce, g.Const(to64(gr), R))), g.SumAll(g.Mul(dice, g.Const(to64(gr), R)))), g.SumAll(s))
		g.Backward(loss)
		return result{s.Data, bce.Data, dice.Data, xl.Grad}
	}
	a, b := run32(), run64()
	for _, c := range []struct {
		name     string
		got, ref []float64
	}{{"sigmoid", a.sig, b.sig}, {"BCE", a.bce, b.bce}, {"dice", a.dice, b.dice}, {"gradient", a.dx, b.dx}} {
		for i := range c.ref {
			if d := math.Abs(c.got[i] - c.ref[i]); !(d <= 1e-5*math.Max(1, math.Abs(c.ref[i]))) {
				t.Fatalf("%s[%d]: float32 %v, float64 %v", c.name, i, c.got[i], c.ref[i])
			}
		}
	}
	// Sigmoid outside a graph, float32 slice shorter than dst
	dst := make([]float32, len(x)+3)
	Sigmoid(dst, x)
	for i := range x {
		if math.Abs(float64(dst[i])-b.sig[i]) > 1e-6 {
			t.Fatalf("Sigmoid(dst, src)[%d] = %v, want %v", i, dst[i], b.sig[i])
		}
	}
}
