package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// TestIm2colSame checks the shifted-plane im2col and col2im of stride-1
// "same" convolutions against the general row-by-row loops, element for
// element (bit-identical: the same values are copied, and each input
// element receives the same additions in the same order).
func TestIm2colSame(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ C, H, W, KH, KW, pad int }{
		{2, 5, 7, 3, 3, 1}, {1, 4, 4, 1, 1, 0}, {3, 6, 5, 5, 5, 2}, {1, 1, 1, 3, 3, 1},
		{2, 2, 3, 3, 3, 1}, {1, 3, 8, 5, 3, 2} /* not same: 3 columns, pad 2 */, {1, 9, 2, 3, 3, 1},
	} {
		OH := convOut(tc.H, tc.KH, 1, tc.pad)
		OW := convOut(tc.W, tc.KW, 1, tc.pad)
		x := make([]float32, tc.C*tc.H*tc.W)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		n := tc.C * tc.KH * tc.KW * OH * OW
		want, got := make([]float32, n), make([]float32, n)
		for i := range got {
			got[i] = 99 // im2col must overwrite everything
		}
		im2colGeneral(want, x, tc.C, tc.H, tc.W, tc.KH, tc.KW, 1, tc.pad, OH, OW)
		im2col(got, x, tc.C, tc.H, tc.W, tc.KH, tc.KW, 1, tc.pad, OH, OW)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: im2col[%d] = %v, want %v", tc, i, got[i], want[i])
			}
		}
		col := make([]float32, n)
		for i := range col {
			col[i] = r.Float32()*2 - 1
		}
		col2 := append([]float32(nil), col...)
		dxWant, dxGot := make([]float32, len(x)), make([]float32, len(x))
		for i := range dxWant {
			dxWant[i] = float32(i) / 7
			dxGot[i] = dxWant[i]
		}
		col2imGeneral(dxWant, col, tc.C, tc.H, tc.W, tc.KH, tc.KW, 1, tc.pad, OH, OW)
		col2im(dxGot, col2, tc.C, tc.H, tc.W, tc.KH, tc.KW, 1, tc.pad, OH, OW)
		for i := range dxWant {
			if dxGot[i] != dxWant[i] {
				t.Fatalf("%+v: col2im[%d] = %v, want %v", tc, i, dxGot[i], dxWant[i])
			}
		}
	}
}

// TestIm2colStride2 checks the vector im2col and col2im of stride-2
// convolutions (fmath.Gather2, fmath.AddStride2) against the element
// loops that define them, bit for bit, at even and odd sizes, paddings 0–2
// and kernels 1–4 wide (where a tap may read no column at all).
func TestIm2colStride2(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ C, H, W, KH, KW, pad int }{
		{2, 8, 8, 3, 3, 1}, {1, 7, 9, 3, 3, 1}, {3, 96, 96, 3, 3, 1}, {2, 5, 6, 1, 1, 0},
		{1, 9, 41, 4, 4, 2}, {1, 3, 3, 3, 3, 2}, {2, 2, 2, 3, 3, 1}, {1, 35, 70, 2, 3, 0},
	} {
		OH := convOut(tc.H, tc.KH, 2, tc.pad)
		OW := convOut(tc.W, tc.KW, 2, tc.pad)
		x := make([]float32, tc.C*tc.H*tc.W)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		n := tc.C * tc.KH * tc.KW * OH * OW
		got := make([]float32, n)
		for i := range got {
			got[i] = 99 // im2col must overwrite everything
		}
		im2col(got, x, tc.C, tc.H, tc.W, tc.KH, tc.KW, 2, tc.pad, OH, OW)
		dxWant, dxGot := make([]float32, len(x)), make([]float32, len(x))
		for i := range dxWant {
			dxWant[i] = float32(i%13) / 7
			dxGot[i] = dxWant[i]
		}
		col := make([]float32, n)
		for i := range col {
			col[i] = r.Float32()*2 - 1
		}
		i := 0
		for c := 0; c < tc.C; c++ {
			for ki := 0; ki < tc.KH; ki++ {
				for kj := 0; kj < tc.KW; kj++ {
					for oy := 0; oy < OH; oy++ {
						for ox := 0; ox < OW; ox++ {
							iy, ix := 2*oy-tc.pad+ki, 2*ox-tc.pad+kj
							var want float32
							if iy >= 0 && iy < tc.H && ix >= 0 && ix < tc.W {
								want = x[(c*tc.H+iy)*tc.W+ix]
								dxWant[(c*tc.H+iy)*tc.W+ix] += col[i]
							}
							if got[i] != want {
								t.Fatalf("%+v: im2col[%d] (c %d, tap %d,%d, out %d,%d) = %v, want %v", tc, i, c, ki, kj, oy, ox, got[i], want)
							}
							i++
						}
					}
				}
			}
		}
		col2im(dxGot, col, tc.C, tc.H, tc.W, tc.KH, tc.KW, 2, tc.pad, OH, OW)
		for i := range dxWant {
			if dxGot[i] != dxWant[i] {
				t.Fatalf("%+v: col2im[%d] = %v, want %v", tc, i, dxGot[i], dxWant[i])
			}
		}
	}
}

// TestConvBatchWeightGradBits: a Conv2d on a batch of N images adds the
// same weight gradient, bit for bit, as N convolutions of one image each
// whose backward passes run in image order, onto a weight gradient that
// already holds values — for N = 3 and 4, where the batch accumulates the
// transposed gradient and transposes it back once, and N = 2, where it
// adds each image's transposed gradient; for the implicit 3×3, the im2col
// (stride 2) and the direct 1×1 paths.
func TestConvBatchWeightGradBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	randn := func(n int) []float32 { return normals32(rng, n) }
	for _, spec := range []struct {
		k, stride, pad int
	}{{3, 1, 1}, {3, 2, 1}, {1, 1, 0}} {
		for _, N := range []int{2, 3, 4} {
			const C, O, H, W = 5, 7, 9, 8
			x, w, init := randn(N*C*H*W), randn(O*C*spec.k*spec.k), randn(O*C*spec.k*spec.k)
			var up []float32
			run := func(batched bool) []float32 {
				g := NewGraph[float32]()
				wt := g.Leaf(w, O, C, spec.k, spec.k)
				wt.Grad = append([]float32(nil), init...)
				cs := ConvSpec{Stride: spec.stride, Pad: spec.pad}
				var loss []*Tensor[float32]
				if batched {
					y := g.Conv2d(g.Const(x, N, C, H, W), wt, nil, cs)
					if up == nil {
						up = randn(len(y.Data))
					}
					loss = append(loss, g.SumAll(g.Mul(y, g.Const(up, y.Shape...))))
				} else {
					// recorded last to first, so the backward meets image 0 first
					for n := N - 1; n >= 0; n-- {
						y := g.Conv2d(g.Const(x[n*C*H*W:(n+1)*C*H*W], 1, C, H, W), wt, nil, cs)
						m := len(y.Data)
						loss = append(loss, g.SumAll(g.Mul(y, g.Const(up[n*m:(n+1)*m], y.Shape...))))
					}
				}
				g.Backward(g.AddN(loss...))
				return wt.Grad
			}
			want := run(true)
			got := run(false)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%d×%d stride %d, %d images: dw[%d] = %v batched, %v one image at a time", spec.k, spec.k, spec.stride, N, i, want[i], got[i])
				}
			}
		}
	}
}

// TestConvConverted: under an implementation that converts its operands
// (amx-bf16, where the CPU has it), Conv2d takes its BF16 routes
// (convConverted): each image's weight gradient added straight into dw
// (gemm.SgemmTapsT3x3 for the implicit 3×3, G·colᵀ otherwise), and for
// the implicit 3×3 with 32·k input channels tap-major forward products
// (gemm.SgemmConv3x3), with 32·k output channels the input gradient as a
// convolution of G with the flipped kernel (convInputGradFlip). Over the
// implicit 3×3, the im2col (stride 2) and the direct 1×1 paths, 1 to 4
// images, the output, the input gradient (written fresh, and added to a
// gradient x already has from a second use) and the weight gradient (added
// to values already there) must equal their float64 definitions within
// BF16's rounding of the operands, 2⁻⁷ of Σ|terms| — a term in the wrong
// place, a wrong flip or a missing image is off by whole terms. Shapes:
// channel counts on and off the tap-major multiples of 32, tile edges and
// whole 32×32 blocks, a 3×3 map (narrow products amx-bf16 leaves to FP32).
func TestConvConverted(t *testing.T) {
	useAMXBF16(t)
	if !convConverted[float32]() || !tapMajor[float32](32) {
		t.Fatal("amx-bf16 in use but the converted routes are off")
	}
	rng := rand.New(rand.NewPCG(33, 34))
	randn := func(n int) []float32 { return normals32(rng, n) }
	within := func(name, what string, i int, got float32, want, abs float64) {
		t.Helper()
		if d := math.Abs(float64(got) - want); !(d <= 0x1p-7*abs) {
			t.Fatalf("%s: %s[%d] = %v, want %v (|diff| %.3g > %.3g)", name, what, i, got, want, d, 0x1p-7*abs)
		}
	}
	for _, spec := range []struct{ k, stride, pad int }{{3, 1, 1}, {3, 2, 1}, {1, 1, 0}} {
		for _, sh := range []struct{ N, C, O, H, W int }{
			{1, 5, 7, 9, 8}, {4, 32, 64, 12, 12}, {3, 64, 32, 3, 3}, {2, 20, 40, 24, 24}, {2, 32, 32, 7, 11}, {1, 64, 40, 6, 6}, {2, 32, 80, 5, 6},
		} {
			for _, twice := range []bool{false, true} {
				name := fmt.Sprintf("%d×%d stride %d %+v x used twice %v", spec.k, spec.k, spec.stride, sh, twice)
				N, C, O, H, W, K := sh.N, sh.C, sh.O, sh.H, sh.W, spec.k
				x, w, init := randn(N*C*H*W), randn(O*C*K*K), randn(O*C*K*K)
				g := NewGraph[float32]()
				xt := g.Leaf(x, N, C, H, W)
				wt := g.Leaf(w, O, C, K, K)
				wt.Grad = slices.Clone(init)
				y := g.Conv2d(xt, wt, nil, ConvSpec{Stride: spec.stride, Pad: spec.pad})
				up := randn(len(y.Data))
				loss := g.SumAll(g.Mul(y, g.Const(up, y.Shape...)))
				if twice { // x's gradient exists before the convolution's backward adds to it
					loss = g.AddN(loss, g.SumAll(xt))
				}
				g.Backward(loss)
				OH, OW := y.Shape[2], y.Shape[3]
				// in maps output (o, oy, ox) and tap (c, i, j) to the input
				// index, or −1 outside the image
				in := func(n, c, oy, ox, i, j int) int {
					iy, ix := oy*spec.stride-spec.pad+i, ox*spec.stride-spec.pad+j
					if iy < 0 || iy >= H || ix < 0 || ix >= W {
						return -1
					}
					return ((n*C+c)*H+iy)*W + ix
				}
				dx := make([]float64, len(x))
				dxAbs := make([]float64, len(x))
				if twice {
					for i := range dx {
						dx[i], dxAbs[i] = 1, 1
					}
				}
				for n := 0; n < N; n++ {
					for o := 0; o < O; o++ {
						for oy := 0; oy < OH; oy++ {
							for ox := 0; ox < OW; ox++ {
								yi := ((n*O+o)*OH+oy)*OW + ox
								var s, abs float64
								for c := 0; c < C; c++ {
									for i := 0; i < K; i++ {
										for j := 0; j < K; j++ {
											if xi := in(n, c, oy, ox, i, j); xi >= 0 {
												wv := float64(w[((o*C+c)*K+i)*K+j])
												s += wv * float64(x[xi])
												abs += math.Abs(wv * float64(x[xi]))
												v := wv * float64(up[yi])
												dx[xi] += v
												dxAbs[xi] += math.Abs(v)
											}
										}
									}
								}
								within(name, "output", yi, y.Data[yi], s, abs)
							}
						}
					}
				}
				for i := range dx {
					within(name, "input gradient", i, xt.Grad[i], dx[i], dxAbs[i])
				}
				for o := 0; o < O; o++ {
					for c := 0; c < C; c++ {
						for i := 0; i < K; i++ {
							for j := 0; j < K; j++ {
								idx := ((o*C+c)*K+i)*K + j
								s, abs := float64(init[idx]), math.Abs(float64(init[idx]))
								for n := 0; n < N; n++ {
									for oy := 0; oy < OH; oy++ {
										for ox := 0; ox < OW; ox++ {
											if xi := in(n, c, oy, ox, i, j); xi >= 0 {
												v := float64(up[((n*O+o)*OH+oy)*OW+ox]) * float64(x[xi])
												s += v
												abs += math.Abs(v)
											}
										}
									}
								}
								within(name, "weight gradient", idx, wt.Grad[idx], s, abs)
							}
						}
					}
				}
			}
		}
	}
}

// TestConvFrozenTaps: under amx-bf16, a 3×3 kernel frozen with
// FreezeConverted carries its tap-major orders (forward for 32·k input
// channels, flipped for 32·k output channels) and Conv2d with it gives the
// output and the input and weight gradients of the unfrozen kernel, which
// reorders per call, bit for bit; Thaw drops them.
func TestConvFrozenTaps(t *testing.T) {
	useAMXBF16(t)
	rng := rand.New(rand.NewPCG(35, 36))
	for _, sh := range []struct{ N, C, O, H, W int }{{2, 32, 64, 6, 7}, {1, 64, 20, 5, 5}, {2, 20, 32, 4, 9}} {
		w := NewParam[float32]("w", sh.O, sh.C, 3, 3)
		copy(w.Data, normals32(rng, len(w.Data)))
		x := normals32(rng, sh.N*sh.C*sh.H*sh.W)
		up := normals32(rng, sh.N*sh.O*sh.H*sh.W)
		run := func(frozen bool) [][]float32 {
			if frozen {
				w.FreezeConverted()
				defer w.Thaw()
				if w.taps == nil || (w.taps.w[0] != nil) != (sh.C%32 == 0) || (w.taps.w[1] != nil) != (sh.O%32 == 0) || (w.taps.conv[0] != nil) != (sh.C%32 == 0) || (w.taps.conv[1] != nil) != (sh.O%32 == 0) {
					t.Fatalf("%+v: frozen taps %v", sh, w.taps)
				}
			}
			w.ZeroGrad()
			g := NewGraph[float32]()
			xt := g.Leaf(x, sh.N, sh.C, sh.H, sh.W)
			y := g.Conv2d(xt, g.Param(w), nil, ConvSpec{Stride: 1, Pad: 1})
			g.Backward(g.SumAll(g.Mul(y, g.Const(up, y.Shape...))))
			g.AccumulateParamGrads()
			return [][]float32{slices.Clone(y.Data), slices.Clone(xt.Grad), slices.Clone(w.Grad)}
		}
		want, got := run(false), run(true)
		if w.taps != nil {
			t.Fatalf("%+v: Thaw left the taps", sh)
		}
		for k, what := range []string{"output", "input gradient", "weight gradient"} {
			for i := range want[k] {
				if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
					t.Fatalf("%+v: %s[%d] = %v frozen, %v not", sh, what, i, got[k][i], want[k][i])
				}
			}
		}
	}
}

// useAMXBF16 switches the GEMM to amx-bf16 for the rest of t (restoring
// the one in use afterwards), or skips t where the CPU lacks it.
func useAMXBF16(t *testing.T) {
	t.Helper()
	if !slices.Contains(gemm.Names(), "amx-bf16") {
		t.Skip("no amx-bf16 on this machine")
	}
	prev := gemm.Current().Name()
	t.Cleanup(func() { gemm.Use(prev) })
	if err := gemm.Use("amx-bf16"); err != nil {
		t.Fatal(err)
	}
}

// TestConvNoChannels: 3×3 convolutions with no output channels, frozen or
// not, under amx-bf16 (whose tap-major routes took 0 as a multiple of 32
// and panicked): an empty output and a zero input gradient. (No input
// channels is refused by every path's GEMM, FP32 included.)
func TestConvNoChannels(t *testing.T) {
	useAMXBF16(t)
	for _, sh := range [][2]int{{32, 0}, {64, 0}} {
		C, O := sh[0], sh[1]
		for _, frozen := range []bool{false, true} {
			w := NewParam[float32]("w", O, C, 3, 3)
			if frozen {
				w.FreezeConverted()
			}
			g := NewGraph[float32]()
			x := g.Leaf(make([]float32, 2*C*5*6), 2, C, 5, 6)
			y := g.Conv2d(x, g.Param(w), nil, ConvSpec{Stride: 1, Pad: 1})
			g.Backward(g.SumAll(y))
			if len(y.Data) != 0 {
				t.Fatalf("C=%d O=%d frozen %v: %d outputs", C, O, frozen, len(y.Data))
			}
			for i, v := range x.Grad {
				if v != 0 {
					t.Fatalf("C=%d O=%d frozen %v: dx[%d] = %v", C, O, frozen, i, v)
				}
			}
			w.Thaw()
		}
	}
}
