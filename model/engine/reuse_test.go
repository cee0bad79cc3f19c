package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// TestReuseBitIdentical: a right operand marked with Reuse gives the same
// products and gradients, bit for bit, as the same graph without the mark,
// under the default GEMM and under amx-bf16 (where the mark changes the
// path: each batch item converted once per orientation), in both
// orientations of the operand, over two passes of one graph (the
// conversions are released by Reset and made again).
func TestReuseBitIdentical(t *testing.T) {
	defer gemm.Use(gemm.Current().Name())
	impls := []string{gemm.Current().Name()}
	if slices.Contains(gemm.Names(), "amx-bf16") {
		impls = append(impls, "amx-bf16")
	}
	const batch, m, k, n, stages = 2, 20, 64, 300, 3
	for _, name := range impls {
		if err := gemm.Use(name); err != nil {
			t.Fatal(err)
		}
		for _, tb := range []bool{false, true} {
			run := func(reuse bool) (bits []uint32) {
				g := NewGraph[float32]()
				for pass := 0; pass < 2; pass++ {
					rng := rand.New(rand.NewPCG(41, uint64(pass)))
					rnd := func(size int) []float32 {
						d := make([]float32, size)
						for i := range d {
							d[i] = float32(rng.NormFloat64())
						}
						return d
					}
					bs := []int{batch, k, n}
					if tb {
						bs = []int{batch, n, k}
					}
					b := g.Leaf(rnd(batch*k*n), bs...)
					if reuse {
						g.Reuse(b)
					}
					var as, outs []*Tensor[float32]
					var loss *Tensor[float32]
					for s := 0; s < stages; s++ {
						a := g.Leaf(rnd(batch*m*k), batch, m, k)
						out := g.BatchedMatMul(a, b, false, tb, 1)
						l := g.SumAll(g.Mul(out, g.Const(rnd(batch*m*n), batch, m, n)))
						if loss == nil {
							loss = l
						} else {
							loss = g.Add(loss, l)
						}
						as, outs = append(as, a), append(outs, out)
					}
					g.Backward(loss)
					for s := range outs {
						for _, v := range slices.Concat(outs[s].Data, as[s].Grad) {
							bits = append(bits, math.Float32bits(v))
						}
					}
					for _, v := range b.Grad {
						bits = append(bits, math.Float32bits(v))
					}
					g.Reset()
				}
				return bits
			}
			plain, reused := run(false), run(true)
			if len(plain) != len(reused) {
				t.Fatalf("%s tb=%v: %d values with Reuse, %d without", name, tb, len(reused), len(plain))
			}
			for i := range plain {
				if plain[i] != reused[i] {
					t.Fatalf("%s tb=%v: value %d differs with Reuse: %g, without %g", name, tb, i, math.Float32frombits(reused[i]), math.Float32frombits(plain[i]))
				}
			}
		}
	}
}
