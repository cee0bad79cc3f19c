package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// TestLinearFrozen: Linear on a parameter frozen with its transpose
// (FreezeTransposed, where gemm is layout-independent) or converted for
// the GEMM (FreezeConverted, under amx-bf16 where the CPU has it) gives the
// output and gradients of the unfrozen one bit for bit, and Thaw drops
// what the freeze stored. Shapes with and without bias, inner widths
// below and above one GEMM k block, output widths with column edges, and
// ones amx-bf16 leaves to FP32 kernels.
func TestLinearFrozen(t *testing.T) {
	defer gemm.Use(gemm.Current().Name())
	if gemm.LayoutIndependent() {
		t.Run("transposed", func(t *testing.T) {
			testLinearFrozen(t, (*Param[float32]).FreezeTransposed, func(w *Tensor[float32]) bool { return w.dataT != nil })
		})
	}
	if slices.Contains(gemm.Names(), "amx-bf16") {
		t.Run("converted", func(t *testing.T) {
			if err := gemm.Use("amx-bf16"); err != nil {
				t.Fatal(err)
			}
			testLinearFrozen(t, (*Param[float32]).FreezeConverted, func(w *Tensor[float32]) bool { return w.converted != nil })
		})
	}
}

func testLinearFrozen(t *testing.T, freeze func(*Param[float32]), frozenIn func(*Tensor[float32]) bool) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, tc := range []struct{ rows, in, out int }{{20, 128, 128}, {3, 5, 7}, {20, 256, 33}, {9, 700, 40}, {1, 4, 1}, {80, 128, 256}} {
		w := NewParam[float32]("w", tc.out, tc.in)
		b := NewParam[float32]("b", tc.out)
		for i := range w.Data {
			w.Data[i] = float32(rng.NormFloat64())
		}
		for i := range b.Data {
			b.Data[i] = float32(rng.NormFloat64())
		}
		x := make([]float32, tc.rows*tc.in)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		// both of FreezeConverted's operands are converted when n and k
		// exceed 16 (gemm's amxWorth)
		tiles := tc.in > 16 && tc.out > 16
		for _, withBias := range []bool{false, true} {
			run := func(frozen bool) [][]float32 {
				if frozen {
					freeze(w)
					defer w.Thaw()
				}
				w.ZeroGrad()
				b.ZeroGrad()
				g := NewGraph[float32]()
				g.AccumulateInto(func(p *Param[float32]) []float32 { return p.Grad })
				xt := g.Leaf(x, tc.rows, tc.in)
				var bt *Tensor[float32]
				if withBias {
					bt = g.Param(b)
				}
				y := g.Linear(xt, g.Param(w), bt)
				if got := frozenIn(g.Param(w)); frozen && tiles && !got || !frozen && got {
					t.Fatalf("%+v: bound weight frozen %v, want %v", tc, got, frozen)
				}
				g.Backward(g.SumAll(g.Mul(y, y)))
				return [][]float32{append([]float32(nil), y.Data...), append([]float32(nil), xt.Grad...), append([]float32(nil), w.Grad...), append([]float32(nil), b.Grad...)}
			}
			want, got := run(false), run(true)
			for k := range want {
				for i := range want[k] {
					if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
						t.Fatalf("%+v bias=%v: result %d element %d: frozen %v, plain %v", tc, withBias, k, i, got[k][i], want[k][i])
					}
				}
			}
			if w.dataT != nil || w.converted != nil {
				t.Fatal("Thaw left the frozen operands in place")
			}
		}
	}
}

// TestTranspose: the blocked (and, where available, AVX) transpose of
// FreezeTransposed over shapes with and without whole 4×8 blocks.
func TestTranspose(t *testing.T) {
	for _, s := range [][2]int{{1, 1}, {3, 5}, {4, 8}, {5, 9}, {128, 128}, {17, 33}, {256, 128}} {
		r, c := s[0], s[1]
		src := make([]float32, r*c)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, r*c)
		transpose(dst, src, r, c)
		d64 := make([]float64, r*c)
		s64 := make([]float64, r*c)
		for i := range s64 {
			s64[i] = float64(i)
		}
		transpose(d64, s64, r, c)
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				if dst[j*r+i] != src[i*c+j] || d64[j*r+i] != s64[i*c+j] {
					t.Fatalf("%d×%d: dst[%d] = %v / %v, want %v", r, c, j*r+i, dst[j*r+i], d64[j*r+i], src[i*c+j])
				}
			}
		}
	}
}
