package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/engine"
)

// TestAdamWVectorBitIdentical: the vector kernel (where the CPU has one)
// plus its scalar tail gives exactly adamwScalar's bits, for lengths around
// the vector width and values spanning many magnitudes, zeros included.
func TestAdamWVectorBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	val := func() float32 {
		if r.IntN(10) == 0 {
			return 0
		}
		return float32((r.Float64()*2 - 1) * math.Pow(10, float64(r.IntN(12)-8)))
	}
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 64, 1000, 1003} {
		for k, decay := range []float32{1, 1 - 3e-4*0.05, 1, 1 - 3e-4*0.05} {
			scale, clear := float32(1), int32(0)
			if k >= 2 { // a clipping coefficient, and the gradient cleared
				scale, clear = 0.0123, 1
			}
			c := coeffs{decay: decay, negStep: -3e-4 / 0.1, bc2Sqrt: float32(math.Sqrt(1 - math.Pow(0.999, 3))),
				b1: 0.9, c1: 1 - 0.9, b2: 0.999, c2: 1 - 0.999, eps: 1e-8, gscale: scale, clear: clear}
			p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range p {
				p[i], g[i], m[i], v[i] = val(), val(), val(), float32(math.Abs(float64(val())))
			}
			p2, g2, m2, v2 := append([]float32(nil), p...), append([]float32(nil), g...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamwKernel(&c, p, g, m, v)
			adamwScalar(&c, p2, g2, m2, v2)
			for i := range p {
				if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || math.Float32bits(m[i]) != math.Float32bits(m2[i]) || math.Float32bits(v[i]) != math.Float32bits(v2[i]) {
					t.Fatalf("n=%d decay=%v scale=%v element %d: kernel p,m,v = %v %v %v, scalar %v %v %v", n, decay, scale, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
				}
				if clear != 0 && (g[i] != 0 || g2[i] != 0) {
					t.Fatalf("n=%d element %d: gradient %v (kernel), %v (scalar) not cleared", n, i, g[i], g2[i])
				}
			}
		}
	}
}

// TestStepScaledIsClipThenStep: StepScaled(lr, c, clear) leaves the
// parameters and moments of g *= c followed by Step(lr), bit for bit, over
// three steps (long parameters take the parallel path), and zeroes the
// gradients when asked.
func TestStepScaledIsClipThenStep(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	mk := func() []*engine.Param[float32] {
		var ps []*engine.Param[float32]
		for k, n := range []int{3, 17, 1 << 17} {
			p := engine.NewParam[float32](fmt.Sprintf("p%d", k), n)
			ps = append(ps, p)
		}
		return ps
	}
	a, b := mk(), mk()
	for i, p := range a {
		for j := range p.Data {
			p.Data[j] = float32(r.NormFloat64())
			b[i].Data[j] = p.Data[j]
		}
	}
	oa, ob := NewAdamW(a, DefaultAdamWConfig()), NewAdamW(b, DefaultAdamWConfig())
	for step := 0; step < 3; step++ {
		for i, p := range a {
			for j := range p.Grad {
				p.Grad[j] = float32(r.NormFloat64())
				b[i].Grad[j] = p.Grad[j]
			}
		}
		const c = float32(0.0371)
		for _, p := range a {
			for j := range p.Grad {
				p.Grad[j] *= c
			}
		}
		oa.Step(1e-3)
		ob.StepScaled(1e-3, c, step%2 == 0)
		for i, p := range a {
			for j := range p.Data {
				if math.Float32bits(p.Data[j]) != math.Float32bits(b[i].Data[j]) || math.Float32bits(oa.m[i][j]) != math.Float32bits(ob.m[i][j]) {
					t.Fatalf("step %d %s[%d]: clip then Step %v, StepScaled %v", step, p.Name, j, p.Data[j], b[i].Data[j])
				}
				if step%2 == 0 && b[i].Grad[j] != 0 {
					t.Fatalf("step %d %s[%d]: gradient %v not cleared", step, p.Name, j, b[i].Grad[j])
				}
			}
		}
	}
}
