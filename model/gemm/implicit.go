package gemm

import "fmt"

// Implicit-GEMM convolution support. A 3×3 stride-1 convolution with
// padding 1 multiplies its weights by the im2col matrix of its input, whose
// row (c, i, j) is input channel c shifted by tap (i, j). With the input
// zero-padded to planes of (H+2)×(W+2) and the outputs numbered "wide", with
// W+2 per row (two throw-away columns per row), row (c, i, j) is a
// contiguous run of the padded input starting at c·(H+2)(W+2) + i·(W+2) + j.
// SgemmOffsetB (the forward product) and SgemmTaps3x3 (the weight
// gradient's) read those runs where they are, so the matrix is never
// written; each C element gets the same operations as from Sgemm on the
// written matrix, so the results are bit-identical (TestImplicitConv*).

// ImplicitConv reports whether SgemmOffsetB and SgemmTaps3x3 are available
// and compute the bits Sgemm does on the written matrices: the "asm"
// kernel has the AVX-512 direct kernels and the implementation in use is
// "asm" or one with its own versions of both ("amx-bf16"). Otherwise
// callers write the im2col matrix and call Sgemm.
func ImplicitConv() bool {
	k := asmImpl.k
	if k.offsetB == nil || k.taps == nil {
		return false
	}
	cur := Current()
	_, own := cur.(implicitImpl)
	return own || cur.Name() == asmImpl.Name()
}

// implicitImpl is an implementation with its own SgemmOffsetB and
// SgemmTaps3x3, which report false (doing nothing) for the products they
// leave to "asm"'s kernels, as its Sgemm does.
type implicitImpl interface {
	sgemmOffsetB(m, n int, offs []int, alpha float32, a []float32, lda int, b []float32, beta float32, c []float32, ldc int) bool
	sgemmTaps3x3(planes, n, k int, alpha float32, a []float32, cs, rs int, b []float32, bs int, beta float32, c []float32, ldc int) bool
	sgemmTapsT3x3(m, planes, k int, alpha float32, a []float32, lda int, b []float32, cs, rs int, beta float32, c []float32, ldc int) bool
	sgemmConv3x3(m, planes, n int, alpha float32, a []float32, lda int, abf []uint16, b []float32, cs, rs int, beta float32, c []float32, ldc int) bool
	sgemmConvGradT3x3(planes, n, k int, alpha float32, b []float32, cs, rs int, g []float32, ldg int, beta float32, c []float32, ldc int) bool
}

// KBlock returns the length of the k blocks Sgemm splits an inner
// dimension of k into on this machine ("asm"): each C element is one
// accumulator chain per block, the blocks added in order. Callers that
// split a product themselves (SgemmTaps3x3) use it to keep Sgemm's bits.
func KBlock(k int) int { return blockLen(k, asmImpl.k.kc, 1) }

// SgemmOffsetB computes C = alpha·A·B + beta·C where A is m×k row-major
// (rows lda apart), k = len(offs), and row p of B is b[offs[p]:offs[p]+n];
// C is m×n with rows ldc apart. It equals Sgemm(false, false, …) on the
// matrix of those rows bit for bit, with the implementation in use. It panics unless ImplicitConv() and on
// inconsistent arguments.
func SgemmOffsetB(m, n int, offs []int, alpha float32, a []float32, lda int, b []float32, beta float32, c []float32, ldc int) {
	k := len(offs)
	if !ImplicitConv() {
		panic("gemm: SgemmOffsetB without the AVX-512 kernels (check ImplicitConv)")
	}
	if m < 0 || n < 0 || lda < max(k, 1) || ldc < max(n, 1) || (m > 0 && (len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n)) {
		panic(fmt.Sprintf("gemm: SgemmOffsetB: bad arguments m=%d n=%d k=%d lda=%d ldc=%d len(a)=%d len(c)=%d", m, n, k, lda, ldc, len(a), len(c)))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	maxOff := 0
	for _, o := range offs {
		if o < 0 || o+n > len(b) {
			panic(fmt.Sprintf("gemm: SgemmOffsetB: B row at %d of %d floats outside b (%d)", o, n, len(b)))
		}
		maxOff = max(maxOff, o)
	}
	if ob, ok := Current().(implicitImpl); ok && ob.sgemmOffsetB(m, n, offs, alpha, a, lda, b, beta, c, ldc) {
		return
	}
	kr := asmImpl.k
	mr, nr := kr.mr, kr.nr
	kcb := KBlock(k)
	for pc := 0; pc < k; pc += kcb {
		kc := min(kcb, k-pc)
		bet := beta
		if pc > 0 {
			bet = 1
		}
		for ir := 0; ir < m; ir += mr {
			rows := min(mr, m-ir)
			for jr := 0; jr < n; jr += nr {
				cols := min(nr, n-jr)
				kr.offsetB(rows, cols, kc, a[ir*lda+pc:], lda, b[jr:], offs[pc:pc+kc], maxOff, c[ir*ldc+jr:], ldc, alpha, bet)
			}
		}
	}
}

// SgemmTaps3x3 computes C = alpha·A·B + beta·C where A has 9 rows per
// plane, row 9q+3i+j being A(9q+3i+j, p) = a[q·cs + i·rs + j + p] (tap
// (i, j) of plane q of a padded input with rows rs apart, planes cs apart),
// B is k×n with rows bs apart, and C is (9·planes)×n with rows ldc apart.
// Unlike Sgemm it does not split k: each element is one accumulator chain
// over all k (callers split at KBlock boundaries), and alpha 0 is not
// special (A and B are read). It panics unless
// ImplicitConv() and on inconsistent arguments. It equals Sgemm on the
// written rows bit for bit, with the implementation in use.
func SgemmTaps3x3(planes, n, k int, alpha float32, a []float32, cs, rs int, b []float32, bs int, beta float32, c []float32, ldc int) {
	if !ImplicitConv() {
		panic("gemm: SgemmTaps3x3 without the AVX-512 kernels (check ImplicitConv)")
	}
	if planes < 0 || n < 0 || k < 1 || rs < 3 || cs < 3*rs || bs < max(n, 1) || ldc < max(n, 1) ||
		(planes > 0 && (len(a) < (planes-1)*cs+2*rs+2+k || len(b) < (k-1)*bs+n || len(c) < (9*planes-1)*ldc+n)) {
		panic(fmt.Sprintf("gemm: SgemmTaps3x3: bad arguments planes=%d n=%d k=%d cs=%d rs=%d bs=%d ldc=%d", planes, n, k, cs, rs, bs, ldc))
	}
	if tp, ok := Current().(implicitImpl); ok && tp.sgemmTaps3x3(planes, n, k, alpha, a, cs, rs, b, bs, beta, c, ldc) {
		return
	}
	asmTaps3x3(planes, n, k, alpha, a, cs, rs, b, bs, beta, c, ldc)
}

// asmTaps3x3 is SgemmTaps3x3 with "asm"'s FP32 kernels.
func asmTaps3x3(planes, n, k int, alpha float32, a []float32, cs, rs int, b []float32, bs int, beta float32, c []float32, ldc int) {
	kr := asmImpl.k
	nr := kr.nr
	for q := 0; q < planes; q++ {
		for jr := 0; jr < n; jr += nr {
			cols := min(nr, n-jr)
			kr.taps(cols, k, a[q*cs:], rs, b[jr:], bs, c[9*q*ldc+jr:], ldc, alpha, beta)
		}
	}
}

// SgemmConv3x3 computes C = alpha·A·T + beta·C, the forward product of a
// 3×3 convolution with the taps outermost: A is m×(9·planes) (rows lda
// apart) whose column t·planes+q multiplies tap t = 3i+j of plane q, and
// row t·planes+q of T is b[q·cs + i·rs + j:][:n]. C is m×n with rows ldc
// apart. b must hold planes·cs floats and each tap row must stay inside
// its plane, n + 2·rs + 2 ≤ cs (a padded (H+2)×(W+2) plane read in the wide
// layout: n = H·(W+2) − 2).
//
// The result is that of Sgemm(false, false, …) on the written T with the
// implementation in use, bit for bit (SgemmOffsetB's for the tap-major
// offsets). amx-bf16, for planes a multiple of 32, gets there converting
// each float of b once (pairs of neighbouring planes) instead of once per
// tap. It panics unless ImplicitConv() and on inconsistent arguments.
func SgemmConv3x3(m, planes, n int, alpha float32, a []float32, lda int, b []float32, cs, rs int, beta float32, c []float32, ldc int) {
	sgemmConv3x3(m, planes, n, alpha, a, lda, nil, b, cs, rs, beta, c, ldc)
}

// SgemmConv3x3Prepared is SgemmConv3x3 with A from pa (PrepareLeft of the
// m×(9·planes) tap-major kernel), bit for bit, without converting A again
// for each product. If the implementation has changed since PrepareLeft,
// A is read from the floats pa was prepared from.
func SgemmConv3x3Prepared(pa *Prepared, planes, n int, alpha float32, b []float32, cs, rs int, beta float32, c []float32, ldc int) {
	if !pa.left || pa.k != 9*planes {
		panic(fmt.Sprintf("gemm: SgemmConv3x3Prepared: operand is not a prepared left operand with k = 9·%d (left %v, k %d)", planes, pa.left, pa.k))
	}
	var abf []uint16
	if Current() == pa.impl {
		abf = pa.rows
	}
	sgemmConv3x3(pa.m, planes, n, alpha, pa.b, pa.ldb, abf, b, cs, rs, beta, c, ldc)
}

// sgemmConv3x3 is SgemmConv3x3 with A converted (abf) or not (nil).
func sgemmConv3x3(m, planes, n int, alpha float32, a []float32, lda int, abf []uint16, b []float32, cs, rs int, beta float32, c []float32, ldc int) {
	if !ImplicitConv() {
		panic("gemm: SgemmConv3x3 without the AVX-512 kernels (check ImplicitConv)")
	}
	k := 9 * planes
	if m < 0 || planes < 0 || n < 0 || lda < max(k, 1) || rs < 3 || cs < 3*rs || n+2*rs+2 > cs || ldc < max(n, 1) ||
		(m > 0 && planes > 0 && n > 0 && (len(a) < (m-1)*lda+k || len(b) < planes*cs || len(c) < (m-1)*ldc+n)) {
		panic(fmt.Sprintf("gemm: SgemmConv3x3: bad arguments m=%d planes=%d n=%d lda=%d cs=%d rs=%d ldc=%d", m, planes, n, lda, cs, rs, ldc))
	}
	if m == 0 || n == 0 {
		return
	}
	if planes > 0 {
		if cv, ok := Current().(implicitImpl); ok && cv.sgemmConv3x3(m, planes, n, alpha, a, lda, abf, b, cs, rs, beta, c, ldc) {
			return
		}
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	offs := ws.offs[:0]
	for t := 0; t < 9; t++ {
		for q := 0; q < planes; q++ {
			offs = append(offs, q*cs+t/3*rs+t%3)
		}
	}
	ws.offs = offs
	SgemmOffsetB(m, n, offs, alpha, a, lda, b, beta, c, ldc)
}

// SgemmTapsT3x3 computes C = alpha·A·Tᵀ + beta·C where A is m×k (rows lda
// apart) and T is SgemmTaps3x3's tap matrix over b: (9·planes)×k, row
// 9q+3i+j being T(9q+3i+j, p) = b[q·cs + i·rs + j + p]. C is m×(9·planes)
// with rows ldc apart. With A the output gradient of a 3×3 convolution (in
// the wide layout, zero in the two extra columns) and b its padded input,
// C is the weight gradient in the weights' own layout, [O][C·9].
//
// An implementation that converts its operands (ConvertsOperands) reads
// the tap rows where they are: the result is then that of Sgemm(false,
// true, …) on the written tap matrix, bit for bit. Otherwise (or for a
// product the implementation leaves to FP32 kernels) it is computed in
// FP32 as (SgemmTaps3x3 on Aᵀ)ᵀ with "asm"'s kernels, through scratch, one
// accumulator chain over all k.
// It panics unless ImplicitConv() and on inconsistent arguments.
func SgemmTapsT3x3(m, planes, k int, alpha float32, a []float32, lda int, b []float32, cs, rs int, beta float32, c []float32, ldc int) {
	if !ImplicitConv() {
		panic("gemm: SgemmTapsT3x3 without the AVX-512 kernels (check ImplicitConv)")
	}
	n := 9 * planes
	if m < 0 || planes < 0 || k < 1 || lda < k || rs < 3 || cs < 3*rs || ldc < max(n, 1) ||
		(m > 0 && planes > 0 && (len(a) < (m-1)*lda+k || len(b) < (planes-1)*cs+2*rs+2+k || len(c) < (m-1)*ldc+n)) {
		panic(fmt.Sprintf("gemm: SgemmTapsT3x3: bad arguments m=%d planes=%d k=%d lda=%d cs=%d rs=%d ldc=%d", m, planes, k, lda, cs, rs, ldc))
	}
	if m == 0 || planes == 0 {
		return
	}
	if tp, ok := Current().(implicitImpl); ok && tp.sgemmTapsT3x3(m, planes, k, alpha, a, lda, b, cs, rs, beta, c, ldc) {
		return
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	at := aligned(&ws.aBuf, k*m) // Aᵀ, k×m
	if !Transpose(at, m, a, lda, m, k) {
		for i := 0; i < m; i++ {
			for p, v := range a[i*lda : i*lda+k] {
				at[p*m+i] = v
			}
		}
	}
	dT := aligned(&ws.bBuf, n*m) // T·Aᵀ = (A·Tᵀ)ᵀ
	asmTaps3x3(planes, m, k, 1, b, cs, rs, at, m, 0, dT, m)
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		for j := range ci {
			v := alpha * dT[j*m+i]
			if beta != 0 {
				v += beta * ci[j]
			}
			ci[j] = v
		}
	}
}

// SgemmConvGradT3x3 computes C = alpha·T·Gᵀ + beta·C where T is the
// tap-major tap matrix over b, (9·planes)×k with row t·planes+q being
// b[q·cs + i·rs + j:][:k] for tap t = 3i+j, and G is n×k with rows ldg
// apart. C is (9·planes)×n with rows ldc apart. With G the output
// gradient of a 3×3 convolution in the wide layout (zero in the two extra
// columns of each row and past the last pixel) and b its padded input, C
// is the weight gradient transposed and tap-major: C[t·planes+q][o] =
// dw[o][q][t]. Rows of T may run past their plane (into the next, or past
// the last one while inside b): k can be rounded up, with G zero there.
//
// The result is that of Sgemm(false, true, …) on the written T with the
// implementation in use, bit for bit. amx-bf16, for planes and k
// multiples of 32, converts each float of b once (BF16 planes, each strip
// of 32 rows of T — one tap, 32 planes — read from them at the tap's
// offset) instead of converting and transposing every tap row as
// SgemmTapsT3x3 does. It panics unless ImplicitConv() and on inconsistent
// arguments.
func SgemmConvGradT3x3(planes, n, k int, alpha float32, b []float32, cs, rs int, g []float32, ldg int, beta float32, c []float32, ldc int) {
	if !ImplicitConv() {
		panic("gemm: SgemmConvGradT3x3 without the AVX-512 kernels (check ImplicitConv)")
	}
	m := 9 * planes
	if planes < 0 || n < 0 || k < 1 || rs < 3 || cs < 3*rs || ldg < k || ldc < max(n, 1) ||
		(planes > 0 && n > 0 && (len(b) < (planes-1)*cs+2*rs+2+k || len(g) < (n-1)*ldg+k || len(c) < (m-1)*ldc+n)) {
		panic(fmt.Sprintf("gemm: SgemmConvGradT3x3: bad arguments planes=%d n=%d k=%d cs=%d rs=%d ldg=%d ldc=%d", planes, n, k, cs, rs, ldg, ldc))
	}
	if planes == 0 || n == 0 {
		return
	}
	if cv, ok := Current().(implicitImpl); ok && cv.sgemmConvGradT3x3(planes, n, k, alpha, b, cs, rs, g, ldg, beta, c, ldc) {
		return
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	tm := aligned(&ws.bBuf, m*k)
	for t := 0; t < 9; t++ {
		for q := 0; q < planes; q++ {
			copy(tm[(t*planes+q)*k:(t*planes+q+1)*k], b[q*cs+t/3*rs+t%3:])
		}
	}
	Sgemm(false, true, m, n, k, alpha, tm, k, g, ldg, beta, c, ldc)
}

// ConvertsOperands reports whether the implementation in use converts
// the operands of its products before multiplying ("amx-bf16", which
// prepares B: Prepare): an operand stored transposed then costs what a
// stored one does (the conversion transposes on the way), and
// SgemmTapsT3x3 reads its tap rows where they are. Callers may then
// orient a product by the layout of its result instead of its operands'.
func ConvertsOperands() bool {
	_, ok := Current().(preparer)
	return ok
}

// LayoutIndependent reports whether Sgemm's results depend only on the
// values of op(A) and op(B), not on whether an operand is stored
// transposed: true for the "asm" implementation, whose packing (or direct
// reading) feeds every kernel the same values in the same order either
// way, and for "amx-bf16", which converts a transposed operand to the
// same BF16 values in the same layout (CvtT16, PairsT16) and hands small
// products to "asm". Callers may then keep a transposed copy of an
// operand and multiply by it untransposed.
func LayoutIndependent() bool {
	name := Current().Name()
	return name == asmImpl.Name() || name == "amx-bf16"
}

// Transpose sets dst[j·ldd+i] = src[i·lds+j] for the r×c matrix at src
// (rows lds apart), zeroing dst[j·ldd+i] for r ≤ i < ldd, with the AVX
// helpers of the packing and reports true, or reports false (doing
// nothing) where there are none.
func Transpose(dst []float32, ldd int, src []float32, lds, r, c int) bool {
	pf := asmImpl.k.pack
	if pf == nil {
		return false
	}
	if r < 0 || c < 0 || ldd < r || lds < c || (r > 0 && c > 0 && (len(src) < (r-1)*lds+c || len(dst) < c*ldd)) {
		panic(fmt.Sprintf("gemm: Transpose: bad arguments r=%d c=%d ldd=%d lds=%d len(dst)=%d len(src)=%d", r, c, ldd, lds, len(dst), len(src)))
	}
	// dst is c rows of ldd: transpose src's rows four at a time, eight
	// columns at a time (transposeInto's panels with width ldd)
	transposeInto(pf, dst, ldd, src, lds, r, c)
	return true
}
