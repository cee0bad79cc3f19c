package optim

import (
	"math"
	"math/rand/v2"
	"testing"
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
		for _, decay := range []float32{1, 1 - 3e-4*0.05} {
			c := coeffs{decay: decay, negStep: -3e-4 / 0.1, bc2Sqrt: float32(math.Sqrt(1 - math.Pow(0.999, 3))),
				b1: 0.9, c1: 1 - 0.9, b2: 0.999, c2: 1 - 0.999, eps: 1e-8}
			p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range p {
				p[i], g[i], m[i], v[i] = val(), val(), val(), float32(math.Abs(float64(val())))
			}
			p2, m2, v2 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamwKernel(&c, p, g, m, v)
			adamwScalar(&c, p2, g, m2, v2)
			for i := range p {
				if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || math.Float32bits(m[i]) != math.Float32bits(m2[i]) || math.Float32bits(v[i]) != math.Float32bits(v2[i]) {
					t.Fatalf("n=%d decay=%v element %d: kernel p,m,v = %v %v %v, scalar %v %v %v", n, decay, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
				}
			}
		}
	}
}
