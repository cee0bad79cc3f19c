package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
	"github.com/mpanalyze/mpanalyze/internal/testenv"
	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// BenchmarkMaskedCrossAttention is one masked cross-attention block of
// the decoder, forward and backward: q/k/v/out projections, a boolean mask
// blocking about half the keys, gradients for every input and weight. At
// shape=coco 100 queries attend to 1024 keys of width 256 with 8 heads
// (Mask2Former's decoder on a 32×32 map); at shape=default96 the default
// config's MP-Former at 96 px, one image: 27 rows (20 queries and 7
// pilots) attending to the 144 keys of the 12×12 level, width 128, 8
// heads of 16 channels — products small enough for gemm's per-call costs
// to show.
func BenchmarkMaskedCrossAttention(b *testing.B) {
	for _, s := range []struct {
		name       string
		Q, L, D, H int
	}{{"coco", 100, 1024, 256, 8}, {"default96", 27, 144, 128, 8}} {
		b.Run("shape="+s.name, func(b *testing.B) { benchMaskedCrossAttention(b, s.Q, s.L, s.D, s.H) })
	}
}

func benchMaskedCrossAttention(b *testing.B, Q, L, D, H int) {
	r := rand.New(rand.NewPCG(1, 2))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.1)
		}
		return v
	}
	query, qpos := randn(Q*D), randn(Q*D)
	mem, pos := randn(L*D), randn(L*D)
	ws := make([][]float32, 8)
	for i := range ws {
		if i%2 == 0 {
			ws[i] = randn(D * D)
		} else {
			ws[i] = randn(D)
		}
	}
	mask := make([]bool, Q*L)
	for i := range mask {
		mask[i] = r.IntN(2) == 0
	}
	g := NewGraph[float32]()
	step := func() {
		g.Reset()
		leaf := func(v []float32, shape ...int) *Tensor[float32] { return g.Leaf(v, shape...) }
		w := AttnWeights[float32]{
			leaf(ws[0], D, D), leaf(ws[1], D), leaf(ws[2], D, D), leaf(ws[3], D),
			leaf(ws[4], D, D), leaf(ws[5], D), leaf(ws[6], D, D), leaf(ws[7], D),
		}
		out := g.Attention(leaf(query, Q, D), leaf(mem, L, D), leaf(mem, L, D), leaf(qpos, Q, D), g.Const(pos, L, D), w, H, mask)
		g.Backward(g.SumAll(out))
	}
	timeSteps(b, step)
}

// timeSteps runs step once untimed (the graph's pool fills), then b.N
// times, and reports the CPU time per step next to the wall time.
func timeSteps(b *testing.B, step func()) {
	step()
	b.ResetTimer()
	c0 := testenv.CPUTime()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64((testenv.CPUTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkConv3x3 is a 3×3 "same" convolution (stride 1, padding 1, with
// bias) forward and backward with gradients for the input, the weights and
// the bias, four images at a time, at shapes of the default config's 96 px
// training step (read off its GEMM calls): 64 channels in and out on the
// 24×24 and 12×12 maps, 32 on the 24×24 map, 128 on the 3×3 map; in each
// precision this machine has (fp32, and bf16 where the CPU has AMX-BF16).
func BenchmarkConv3x3(b *testing.B) {
	precs := []string{gemm.FP32}
	if slices.Contains(gemm.Names(), "amx-bf16") {
		precs = append(precs, gemm.BF16)
	}
	defer gemm.SetPrecision(gemm.Precision())
	for _, prec := range precs {
		for _, s := range []struct{ N, C, O, H int }{{4, 64, 64, 24}, {4, 64, 64, 12}, {4, 32, 32, 24}, {4, 128, 128, 3}} {
			b.Run(fmt.Sprintf("precision=%s/N=%d/C=%d/O=%d/HW=%dx%d", prec, s.N, s.C, s.O, s.H, s.H), func(b *testing.B) {
				if err := gemm.SetPrecision(prec); err != nil {
					b.Fatal(err)
				}
				r := rand.New(rand.NewPCG(3, 4))
				x, w, bias := normals32(r, s.N*s.C*s.H*s.H), normals32(r, s.O*s.C*9), normals32(r, s.O)
				g := NewGraph[float32]()
				timeSteps(b, func() {
					g.Reset()
					xt := g.Leaf(x, s.N, s.C, s.H, s.H)
					y := g.Conv2d(xt, g.Leaf(w, s.O, s.C, 3, 3), g.Leaf(bias, s.O), ConvSpec{Stride: 1, Pad: 1})
					g.Backward(g.SumAll(g.Mul(y, y)))
				})
			})
		}
	}
}

// BenchmarkMSDeformSample is the sampling core of one encoder layer of
// the default msdeform pixel decoder, forward and backward: the 336 tokens
// of the 4×4, 8×8 and 16×16 levels of a 128-pixel image, 8 heads of 8
// channels, 3 levels × 4 points, locations spread over the maps (some
// outside). It reports CPU ns per sample (query × head × level × point).
func BenchmarkMSDeformSample(b *testing.B) {
	levels := [][2]int{{4, 4}, {8, 8}, {16, 16}}
	const Lq, M, Dh, L, P = 336, 8, 8, 3, 4
	r := rand.New(rand.NewPCG(1, 2))
	value := make([]float32, Lq*M*Dh)
	for i := range value {
		value[i] = float32(r.NormFloat64())
	}
	loc := make([]float32, Lq*M*L*P*2)
	for i := range loc {
		loc[i] = float32(r.Float64()*1.2 - 0.1)
	}
	attn := make([]float32, Lq*M*L*P)
	for i := range attn {
		attn[i] = float32(r.Float64())
	}
	g := NewGraph[float32]()
	step := func() {
		g.Reset()
		out := g.MSDeformSample(g.Leaf(value, Lq, M, Dh), levels, g.Leaf(loc, Lq, M, L, P, 2), g.Leaf(attn, Lq, M, L, P))
		g.Backward(g.SumAll(out))
	}
	step()
	b.ResetTimer()
	c0 := testenv.CPUTime()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64((testenv.CPUTime()-c0).Nanoseconds())/float64(b.N*Lq*M*L*P), "cpu-ns/sample")
}

// BenchmarkAddTransposed is the conv weight gradient's transposed add
// (dst O×ckk += srcᵀ) at the backbone's and FPN's 3×3 shapes, by the eight-
// row loops (scratch=no) and by transpose + vector add (scratch=yes).
func BenchmarkAddTransposed(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][2]int{{64, 576}, {96, 864}, {128, 1152}} {
		m, n := s[0], s[1]
		src, dst, tmp := make([]float32, m*n), make([]float32, m*n), make([]float32, m*n)
		for i := range src {
			src[i] = r.Float32()
		}
		for _, scratch := range []bool{false, true} {
			t := tmp
			name := "no"
			if !scratch {
				t = nil
			} else {
				name = "yes"
			}
			b.Run(fmt.Sprintf("%dx%d/scratch=%s", m, n, name), func(b *testing.B) {
				c0 := testenv.CPUTime()
				for b.Loop() {
					addTransposed(dst, src, t, m, n)
				}
				b.ReportMetric(float64((testenv.CPUTime()-c0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/op")
			})
		}
	}
}

// BenchmarkReLU is ReLU forward and backward (fmath.ReLU, ReLUGrad) on a
// 64-channel 24×24 map, the FPN's largest at 96 px.
func BenchmarkReLU(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 64 * 24 * 24
	x, out, g, dx := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	c0 := testenv.CPUTime()
	for b.Loop() {
		fmath.ReLU(out, x)
		reluBackward(dx, x, g, false)
	}
	b.ReportMetric(float64((testenv.CPUTime()-c0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/op")
}

// BenchmarkAddTapMajorT: adding a tap-major transposed weight gradient to
// dw, for 64 and 128 channels, cold (40 kernels in turn, 12 MB or more)
// and hot (one kernel again and again).
func BenchmarkAddTapMajorT(b *testing.B) {
	for _, ch := range []int{64, 128} {
		O, C := ch, ch
		const nk = 40
		dw, dt := make([][]float32, nk), make([][]float32, nk)
		for i := range dw {
			dw[i], dt[i] = make([]float32, O*C*9), make([]float32, O*C*9)
		}
		b.Run(fmt.Sprintf("cold/%d", ch), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				addTapMajorT(dw[i%nk], dt[i%nk], O, C)
			}
		})
		b.Run(fmt.Sprintf("hot/%d", ch), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				addTapMajorT(dw[0], dt[0], O, C)
			}
		})
	}
}

// BenchmarkTapOrders: reordering a 3×3 kernel for its implicit
// convolutions (FreezeConverted), forward and flipped, cold as
// BenchmarkAddTapMajorT.
func BenchmarkTapOrders(b *testing.B) {
	for _, ch := range []int{64, 128} {
		O, C := ch, ch
		const nk = 40
		ws, fw, fl := make([][]float32, nk), make([][]float32, nk), make([][]float32, nk)
		for i := range ws {
			ws[i], fw[i], fl[i] = make([]float32, O*C*9), make([]float32, O*C*9), make([]float32, O*C*9)
		}
		b.Run(fmt.Sprintf("forward/%d", ch), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				tapMajorWeights(fw[i%nk], ws[i%nk], O, C)
			}
		})
		b.Run(fmt.Sprintf("flip/%d", ch), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				flipTapMajor(fl[i%nk], ws[i%nk], O, C)
			}
		})
	}
}
