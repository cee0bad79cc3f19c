package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// TestConvImplicitBitIdentical: a 3×3 stride-1 padding-1 Conv2d gives the
// same output and the same input, weight and bias gradients, bit for bit,
// whether it takes the implicit path or writes the im2col matrix — over
// map sizes that give one and several GEMM k blocks (up to 40×40 = 1600
// pixels), batches of 1 and 2, with and without bias, channel counts that
// leave row and column edges in the tiles, and a second use of the
// gradients (accumulation into existing values).
func TestConvImplicitBitIdentical(t *testing.T) {
	if !gemm.ImplicitConv() {
		t.Skipf("no implicit-convolution kernels on %s", gemm.Describe())
	}
	rng := rand.New(rand.NewPCG(21, 22))
	randn := func(n int) []float32 { return normals32(rng, n) }
	for _, tc := range []struct{ N, C, O, H, W int }{
		{1, 1, 1, 1, 1}, {1, 3, 5, 4, 7}, {2, 16, 32, 9, 9}, {1, 13, 37, 12, 5},
		{2, 8, 64, 24, 24}, {1, 5, 17, 40, 40}, {1, 2, 3, 3, 50},
	} {
		for _, withBias := range []bool{false, true} {
			name := fmt.Sprintf("%+v/bias=%v", tc, withBias)
			x, w, b := randn(tc.N*tc.C*tc.H*tc.W), randn(tc.O*tc.C*9), randn(tc.O)
			up := randn(tc.N * tc.O * tc.H * tc.W)
			run := func(implicit bool) [][]float32 {
				noImplicitConv = !implicit
				defer func() { noImplicitConv = false }()
				g := NewGraph[float32]()
				xt := g.Leaf(x, tc.N, tc.C, tc.H, tc.W)
				wt := g.Leaf(w, tc.O, tc.C, 3, 3)
				var bt *Tensor[float32]
				if withBias {
					bt = g.Leaf(b, tc.O)
				}
				y := g.Conv2d(xt, wt, bt, ConvSpec{Stride: 1, Pad: 1})
				// use the output twice so the gradients accumulate
				l := g.AddN(g.SumAll(g.Mul(y, g.Const(up, y.Shape...))), g.SumAll(y))
				g.Backward(l)
				if took := g.convOffs != nil; took != implicit {
					t.Fatalf("%s: implicit path taken %v, want %v", name, took, implicit)
				}
				res := [][]float32{y.Data, xt.Grad, wt.Grad}
				if withBias {
					res = append(res, bt.Grad)
				}
				return res
			}
			want, got := run(false), run(true)
			for k, what := range []string{"output", "input gradient", "weight gradient", "bias gradient"}[:len(want)] {
				for i := range want[k] {
					if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
						t.Fatalf("%s: %s[%d] = %v implicit, %v with im2col", name, what, i, got[k][i], want[k][i])
					}
				}
			}
		}
	}
}
