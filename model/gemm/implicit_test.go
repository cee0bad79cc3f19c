package gemm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: C[%d] = %v, Sgemm on the written matrix %v", what, i, got[i], want[i])
		}
	}
}

// TestImplicitOffsetB: SgemmOffsetB equals Sgemm on the matrix of its B
// rows bit for bit: random row offsets (overlapping, repeated), every row
// and column edge, one and several k blocks, beta 0, 1 and 0.25, padded
// strides.
//
// It runs with each implementation that has the implicit path.
func TestImplicitOffsetB(t *testing.T) { withImplicitImpls(t, testImplicitOffsetB) }

// withImplicitImpls runs test as a subtest under each registered
// implementation with which ImplicitConv holds (restoring the one in use
// after each), skipping t if there is none.
func withImplicitImpls(t *testing.T, test func(*testing.T)) {
	defer Use(Current().Name())
	var names []string
	for _, name := range Names() {
		if Use(name) == nil && ImplicitConv() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Skipf("no implicit-convolution kernels on %s", Describe())
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if err := Use(name); err != nil {
				t.Fatal(err)
			}
			test(t)
		})
	}
}

func testImplicitOffsetB(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for i := 0; i < 200; i++ {
		m, n, k := 1+rng.IntN(30), 1+rng.IntN(70), 1+rng.IntN(40)
		if i%20 == 0 {
			k = 385 + rng.IntN(600)
		}
		if i%4 == 1 {
			n = 17 + rng.IntN(100) // wide enough for the BF16 tile path
		}
		lda, ldc := k+rng.IntN(3), n+rng.IntN(3)
		alpha, beta := alphas[rng.IntN(3)], []float32{0, 1, 0.25}[rng.IntN(3)]
		src := randMat(rng, 1, 3*n+50)
		offs := make([]int, k)
		bm := make([]float32, k*n)
		for p := range offs {
			offs[p] = rng.IntN(len(src) - n + 1)
			copy(bm[p*n:(p+1)*n], src[offs[p]:])
		}
		a := randMat(rng, m, lda)
		c0 := randMat(rng, m, ldc)
		want, got := slices.Clone(c0), slices.Clone(c0)
		Sgemm(false, false, m, n, k, alpha, a, lda, bm, n, beta, want, ldc)
		SgemmOffsetB(m, n, offs, alpha, a, lda, src, beta, got, ldc)
		sameBits(t, "SgemmOffsetB", got, want)
	}
}

// TestImplicitTaps: SgemmTaps3x3 equals Sgemm on the written tap rows
// (single k block, as callers use it) bit for bit.
//
// It runs with each implementation that has the implicit path.
func TestImplicitTaps(t *testing.T) { withImplicitImpls(t, testImplicitTaps) }

func testImplicitTaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for i := 0; i < 100; i++ {
		planes, n, k := 1+rng.IntN(5), 1+rng.IntN(70), 1+rng.IntN(300)
		rs := 3 + rng.IntN(20)
		cs := 3*rs + k + rng.IntN(10)
		a := randMat(rng, 1, (planes-1)*cs+2*rs+2+k)
		am := make([]float32, 9*planes*k)
		for q := 0; q < planes; q++ {
			for r := 0; r < 9; r++ {
				copy(am[(9*q+r)*k:(9*q+r+1)*k], a[q*cs+(r/3)*rs+r%3:])
			}
		}
		bs, ldc := n+rng.IntN(3), n+rng.IntN(3)
		b := randMat(rng, k, bs)
		alpha, beta := alphas[rng.IntN(3)], []float32{0, 1, 0.25}[rng.IntN(3)]
		c0 := randMat(rng, 9*planes, ldc)
		want, got := slices.Clone(c0), slices.Clone(c0)
		Sgemm(false, false, 9*planes, n, k, alpha, am, k, b, bs, beta, want, ldc)
		SgemmTaps3x3(planes, n, k, alpha, a, cs, rs, b, bs, beta, got, ldc)
		sameBits(t, "SgemmTaps3x3", got, want)
	}
}

// TestTransposeStrided: Transpose with row strides on both sides (a
// block of a wider matrix into rows longer than the block), over shapes
// with and without whole 4×8 panels: the block transposed, the rest of
// each destination row zeroed, nothing past the last row touched.
func TestTransposeStrided(t *testing.T) {
	if asmImpl.k.pack == nil {
		t.Skip("no assembly packing helpers")
	}
	rng := rand.New(rand.NewPCG(33, 34))
	for _, s := range [][4]int{{1, 1, 0, 0}, {3, 5, 2, 1}, {4, 8, 0, 3}, {5, 9, 4, 0}, {64, 32, 0, 1024 - 32}, {17, 33, 3, 7}, {128, 24, 0, 0}} {
		r, c, padD, padS := s[0], s[1], s[2], s[3]
		ldd, lds := r+padD, c+padS
		src := randMat(rng, r, lds)
		dst := make([]float32, c*ldd+5)
		for i := range dst {
			dst[i] = -7
		}
		if !Transpose(dst, ldd, src, lds, r, c) {
			t.Fatal("Transpose reported no AVX helpers")
		}
		for j := 0; j < c; j++ {
			for i := 0; i < ldd; i++ {
				want := float32(0)
				if i < r {
					want = src[i*lds+j]
				}
				if got := dst[j*ldd+i]; got != want {
					t.Fatalf("%d×%d ldd=%d lds=%d: dst[%d·%d+%d] = %g, want %g", r, c, ldd, lds, j, ldd, i, got, want)
				}
			}
		}
		for i := c * ldd; i < len(dst); i++ {
			if dst[i] != -7 {
				t.Fatalf("%d×%d: dst[%d] written past the last row", r, c, i)
			}
		}
	}
}

// TestImplicitTapsT: SgemmTapsT3x3 against the written tap matrix T. An
// implementation that converts its operands must give Sgemm(false, true,
// …)'s bits on T for every product it converts (Prepare tells which);
// every other product (FP32 kernels, the transposing fallback) must equal
// the float64 A·Tᵀ within (k+2)·eps of Σ|terms|. Shapes: one to five
// planes (the tap rows of neighbouring planes share CvtT16Rows' 16-row
// blocks), k from 1 to 300 across the 32-wide blocks, m from 1 to 70,
// beta 0, 1 and 0.25, padded strides.
//
// It runs with each implementation that has the implicit path.
func TestImplicitTapsT(t *testing.T) { withImplicitImpls(t, testImplicitTapsT) }

func testImplicitTapsT(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	converted, fallback := 0, 0
	for i := 0; i < 150; i++ {
		planes, m, k := 1+rng.IntN(5), 1+rng.IntN(70), 1+rng.IntN(300)
		if i%10 == 0 {
			planes, k = 1, 1+rng.IntN(16) // narrow and shallow: FP32 kernels even under amx-bf16
		}
		n := 9 * planes
		rs := 3 + rng.IntN(20)
		cs := 3*rs + k + rng.IntN(10)
		b := randMat(rng, 1, (planes-1)*cs+2*rs+2+k)
		tm := make([]float32, n*k)
		for q := 0; q < planes; q++ {
			for r := 0; r < 9; r++ {
				copy(tm[(9*q+r)*k:(9*q+r+1)*k], b[q*cs+(r/3)*rs+r%3:])
			}
		}
		lda, ldc := k+rng.IntN(3), n+rng.IntN(3)
		a := randMat(rng, m, lda)
		alpha, beta := alphas[rng.IntN(3)], betas[rng.IntN(3)]
		c0 := randMat(rng, m, ldc)
		got := slices.Clone(c0)
		SgemmTapsT3x3(m, planes, k, alpha, a, lda, b, cs, rs, beta, got, ldc)
		if p := Prepare(nil, true, k, n, tm, k); p != nil {
			p.Release()
			want := slices.Clone(c0)
			Sgemm(false, true, m, n, k, alpha, a, lda, tm, k, beta, want, ldc)
			sameBits(t, "SgemmTapsT3x3", got, want)
			converted++
			continue
		}
		fallback++
		c := gemmCase{m: m, n: n, k: k, tB: true, alpha: alpha, beta: beta}
		want, scale := c.want(a, lda, tm, k, c0, ldc)
		for r := 0; r < m; r++ {
			for j := 0; j < ldc; j++ {
				g := got[r*ldc+j]
				if j >= n {
					if math.Float32bits(g) != math.Float32bits(c0[r*ldc+j]) {
						t.Fatalf("%v: C[%d][%d] in the ldc padding was written", c, r, j)
					}
					continue
				}
				w, tol := want[r*n+j], float64(k+2)*0x1p-23*scale[r*n+j]+1e-30
				if d := math.Abs(float64(g) - w); !(d <= tol) {
					t.Fatalf("%v planes=%d: C[%d][%d] = %g, want %g (|diff| %.3g > %.3g)", c, planes, r, j, g, w, d, tol)
				}
			}
		}
	}
	if ConvertsOperands() && converted == 0 || fallback == 0 {
		t.Fatalf("%d converted and %d fallback products: a path went untested", converted, fallback)
	}
}

// TestImplicitConv3x3: SgemmConv3x3 equals Sgemm on the written
// tap-major tap matrix bit for bit: plane counts that are multiples of 32
// (amx-bf16's path through pairs of planes and AMXStrip's k-step table) and others,
// n with and without whole 32-column blocks (the last block's padding
// columns read past the last plane), m with row edges, beta 0, 1 and 0.25,
// alpha 1 (C accumulated in place) and others.
//
// It runs with each implementation that has the implicit path.
func TestImplicitConv3x3(t *testing.T) { withImplicitImpls(t, testImplicitConv3x3) }

func testImplicitConv3x3(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for i := 0; i < 60; i++ {
		planes := []int{32, 64, 96, 5, 1}[rng.IntN(5)]
		H, W := 1+rng.IntN(14), 1+rng.IntN(30)
		rs, cs := W+2, (H+2)*(W+2)
		n := H*rs - 2
		if n < 1 {
			continue
		}
		m := 1 + rng.IntN(70)
		k := 9 * planes
		lda, ldc := k+rng.IntN(3), n+rng.IntN(3)
		b := randMat(rng, 1, planes*cs)
		tm := tapMajorRows(b, planes, cs, rs, n)
		a := randMat(rng, m, lda)
		alpha, beta := alphas[rng.IntN(3)], betas[rng.IntN(3)]
		c0 := randMat(rng, m, ldc)
		want, got := slices.Clone(c0), slices.Clone(c0)
		Sgemm(false, false, m, n, k, alpha, a, lda, tm, n, beta, want, ldc)
		SgemmConv3x3(m, planes, n, alpha, a, lda, b, cs, rs, beta, got, ldc)
		sameBits(t, "SgemmConv3x3", got, want)
		// the kernel prepared once (PrepareLeft), used twice: the same
		// bits each time; nil where the implementation converts nothing
		pa := PrepareLeft(nil, m, k, a, lda)
		if (pa != nil) != ConvertsOperands() {
			t.Fatalf("PrepareLeft under %s: got %v, want a Prepared iff ConvertsOperands()", Current().Name(), pa)
		}
		if pa == nil {
			continue
		}
		for range 2 {
			got := slices.Clone(c0)
			SgemmConv3x3Prepared(pa, planes, n, alpha, b, cs, rs, beta, got, ldc)
			sameBits(t, "SgemmConv3x3Prepared", got, want)
		}
		pa.Release()
	}
}

func TestImplicitConvGradT3x3(t *testing.T) { withImplicitImpls(t, testImplicitConvGradT3x3) }

// testImplicitConvGradT3x3: SgemmConvGradT3x3 against Sgemm(false, true, …)
// on the written tap-major matrix, bit for bit, with rows running into the
// next plane and past the last one (k rounded up to 32 over a wide image),
// planes on and off 32·k (amx-bf16's own path and its fallback).
func testImplicitConvGradT3x3(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for i := 0; i < 60; i++ {
		planes := []int{32, 64, 96, 5, 1}[rng.IntN(5)]
		H, W := 1+rng.IntN(14), 1+rng.IntN(30)
		rs, cs := W+2, (H+2)*(W+2)
		k := (H-1)*rs + W
		if i%3 != 0 {
			k = (k + 31) / 32 * 32 // as the engine calls it: G zero past the image
		}
		m, n := 9*planes, 1+rng.IntN(70)
		b := randMat(rng, 1, (planes-1)*cs+2*rs+2+k+rng.IntN(3))
		tm := tapMajorRows(b, planes, cs, rs, k)
		ldg, ldc := k+rng.IntN(3), n+rng.IntN(3)
		g := randMat(rng, n, ldg)
		alpha, beta := alphas[rng.IntN(3)], betas[rng.IntN(3)]
		c0 := randMat(rng, m, ldc)
		want, got := slices.Clone(c0), slices.Clone(c0)
		Sgemm(false, true, m, n, k, alpha, tm, k, g, ldg, beta, want, ldc)
		SgemmConvGradT3x3(planes, n, k, alpha, b, cs, rs, g, ldg, beta, got, ldc)
		sameBits(t, "SgemmConvGradT3x3", got, want)
	}
}

// tapMajorRows writes the tap-major tap matrix over the padded planes in b
// (planes cs floats apart, rows rs apart): 9·planes rows of n, row
// t·planes+q being b[q·cs + (t/3)·rs + t%3:][:n].
func tapMajorRows(b []float32, planes, cs, rs, n int) []float32 {
	tm := make([]float32, 9*planes*n)
	for t := 0; t < 9; t++ {
		for q := 0; q < planes; q++ {
			copy(tm[(t*planes+q)*n:(t*planes+q+1)*n], b[q*cs+t/3*rs+t%3:])
		}
	}
	return tm
}
