package fmath

import (
	"fmt"
	"math"
)

//go:generate go run gen_amd64.go

// The slice functions below apply Exp, Sigmoid and Softplus to whole
// slices. On amd64 they run AVX-512F (16 lanes) or AVX2+FMA (8 lanes)
// assembly, chosen once at init with golang.org/x/sys/cpu; with the purego
// build tag, on other architectures or without those features they loop
// over the scalar functions. Kernel reports which is in use.
//
// The vector kernels have the accuracy of the scalar functions (relative
// error ≤ 5e-7, same ranges: e^x is 0 below −87.3 and +Inf above 88.7,
// sigmoid and softplus never overflow, NaN gives NaN) but not always the
// same bits: they use FMA, and the scalar code does not. Each element's
// result depends only on its value and on the kernel — not on its position
// in the slice, the slice length or the goroutine — and both assembly
// kernels give the same bits (see gen_amd64.go).
//
// dst (sig, sp) and src must have the same length, or the functions panic;
// an output may be the same slice as src (in place) but must not overlap
// it otherwise.

// Kernel names the implementation of the slice functions: "avx512",
// "avx2" or "go".
func Kernel() string { return impl.name }

// ExpSlice sets dst[i] = e^src[i].
func ExpSlice(dst, src []float32) {
	checkLen(len(dst), len(src))
	if len(src) > 0 {
		impl.expSub(dst, src, 0)
	}
}

// ExpSubSum sets dst[i] = e^(src[i]−sub) (src[i]−sub rounded to float32
// first) and returns Σ dst[i] accumulated in float64 — the numerator and
// denominator of a softmax with sub = max(src).
//
// The sum is deterministic: element i is added, in index order, to partial
// sum i mod 16, and the 16 partial sums are added pairwise (s[j] += s[j+8],
// then +4, +2, +1). Every kernel uses this order, so the sum differs
// between kernels only through the dst values.
func ExpSubSum(dst, src []float32, sub float32) float64 {
	checkLen(len(dst), len(src))
	if len(src) == 0 {
		return 0
	}
	return impl.expSubSum(dst, src, sub)
}

// SigmoidSlice sets dst[i] = σ(src[i]) = 1/(1+e^−src[i]).
func SigmoidSlice(dst, src []float32) {
	checkLen(len(dst), len(src))
	if len(src) > 0 {
		impl.sigmoid(dst, src)
	}
}

// SoftplusSlice sets dst[i] = ln(1+e^src[i]).
func SoftplusSlice(dst, src []float32) {
	checkLen(len(dst), len(src))
	if len(src) > 0 {
		impl.softplus(dst, src)
	}
}

// SigmoidSoftplusSlice sets sig[i] = σ(src[i]) and sp[i] =
// softplus(src[i]) with one exponential per element. sig and sp must not
// be the same slice.
func SigmoidSoftplusSlice(sig, sp, src []float32) {
	checkLen(len(sig), len(src))
	checkLen(len(sp), len(src))
	if len(src) > 0 {
		impl.sigmoidSoftplus(sig, sp, src)
	}
}

// Dot2 returns Σ x[i]·t[i] and Σ y[i]·t[i] in float64: two dot products
// sharing t (the matcher's BCE and dice terms). The products of float32
// values are exact in float64; the sums use ExpSubSum's fixed order (16
// partial sums, element i in sum i mod 16, added pairwise), the same for
// every kernel, so the results are the same bits with every kernel and
// deterministic. x, y and t must have the same length.
func Dot2(x, y, t []float32) (xt, yt float64) {
	checkLen(len(x), len(t))
	checkLen(len(y), len(t))
	if len(t) == 0 {
		return 0, 0
	}
	return impl.dot2(x, y, t)
}

// AddTo sets dst[i] += src[i]. Each element is one float32 addition, so
// every kernel gives the bits of the plain Go loop.
func AddTo(dst, src []float32) {
	checkLen(len(dst), len(src))
	if len(src) > 0 {
		impl.add(dst, src)
	}
}

// Sum sets dst[i] = x[i] + y[i], one float32 addition per element (the
// bits of the plain Go loop). dst may be x or y.
func Sum(dst, x, y []float32) {
	checkLen(len(dst), len(x))
	checkLen(len(dst), len(y))
	if len(dst) > 0 {
		impl.sum(dst, x, y)
	}
}

// Axpy sets dst[i] += alpha·src[i], the product rounded to float32 before
// the sum (no fused multiply-add), as the plain Go loop computes it on
// amd64, so every kernel gives its bits.
func Axpy(dst []float32, alpha float32, src []float32) {
	checkLen(len(dst), len(src))
	if len(src) > 0 {
		impl.axpy(dst, alpha, src)
	}
}

// ReLU sets dst[i] = max(src[i], 0) with Go's max (NaN stays NaN, −0
// gives +0), so every kernel gives the bits of the plain Go loop.
func ReLU(dst, src []float32) {
	checkLen(len(dst), len(src))
	if len(src) > 0 {
		impl.relu(dst, src)
	}
}

// ReLUGrad sets dst[i] += g[i] where x[i] > 0 (not NaN) and dst[i] += +0
// elsewhere: ReLU's backward pass, the gradient masked rather than
// branched on (the sign of an activation is unpredictable), with the bits
// of the plain Go loop.
func ReLUGrad(dst, x, g []float32) {
	checkLen(len(dst), len(x))
	checkLen(len(dst), len(g))
	if len(dst) > 0 {
		impl.reluGrad(dst, x, g)
	}
}

// ReLUGradSet is ReLUGrad for a new gradient buffer: it sets dst[i] =
// g[i] where x[i] > 0 and +0 elsewhere, the bits ReLUGrad leaves in a
// zeroed dst (except that a −0 gradient stays −0).
func ReLUGradSet(dst, x, g []float32) {
	checkLen(len(dst), len(x))
	checkLen(len(dst), len(g))
	if len(dst) > 0 {
		impl.reluGradSet(dst, x, g)
	}
}

// Gather2 sets dst[i] = src[2i] for i < len(dst): one tap row of a
// stride-2 convolution's im2col. src must hold at least 2·len(dst)−1
// elements (it is read no further), or Gather2 panics.
func Gather2(dst, src []float32) {
	if n := len(dst); n > 0 {
		if len(src) < 2*n-1 {
			panic(fmt.Sprintf("fmath: Gather2: src has %d elements, need %d", len(src), 2*n-1))
		}
		impl.gather2(dst, src, n)
	}
}

// AddStride2 sets dst[2i] += src[i] for i < len(src): one tap row of a
// stride-2 convolution's col2im. dst must hold at least 2·len(src)−1
// elements (no other element is read or written), or AddStride2 panics.
func AddStride2(dst, src []float32) {
	if n := len(src); n > 0 {
		if len(dst) < 2*n-1 {
			panic(fmt.Sprintf("fmath: AddStride2: dst has %d elements, need %d", len(dst), 2*n-1))
		}
		impl.addStride2(dst, src, n)
	}
}

// The passes of a softmax row (engine's masked attention).

// MaxBlocked is the maximum of a masked softmax row: it sets ys[i] = −Inf
// where bm[i] is set and ys[i] = xs[i] elsewhere, and returns the largest
// unblocked xs[i] by the loop rule "if v > mx { mx = v }" from mx = −Inf —
// a NaN never wins, and −Inf means no entry is larger. With bm nil, ys is
// not written (it may be nil) and every entry counts. ys gets the loop's
// bits; so does the maximum, except that a zero maximum may come back
// with the other sign (the vector kernel combines its lanes in another
// order), which changes no difference x − max but that of −0 − ±0, and no
// e^(x − max) at all. ys (unless bm is nil) and bm must have xs's length.
func MaxBlocked(ys, xs []float32, bm []bool) float32 {
	if bm != nil {
		checkLen(len(ys), len(xs))
		checkLen(len(bm), len(xs))
	}
	return impl.maxBlocked(ys, xs, bm)
}

// Scale sets x[i] *= s (the bits of the Go loop).
func Scale(x []float32, s float32) {
	if len(x) > 0 {
		impl.scale(x, s)
	}
}

// SubMul sets g[i] = y[i]·(g[i] − d), the difference rounded to float32
// before the product as in the Go loop (whose bits every kernel gives): the
// softmax backward step dx = y ⊙ (g − ⟨y, g⟩). y must have g's length.
func SubMul(g, y []float32, d float32) {
	checkLen(len(g), len(y))
	if len(g) > 0 {
		impl.subMul(g, y, d)
	}
}

// The norm layers' element-wise passes (engine's LayerNorm and GroupNorm).
// Each function is defined by its Go loop (goKernels); the AVX-512 kernels
// give the same bits (TestNormKernelsBitIdentical), other CPUs run the
// loops. All slices have x's (g's) length, or the functions panic.

// NormAffine sets h = (x[i]−mu)·r, xh[i] = h and y[i] = h·gm[i] + bt[i],
// all in float32: LayerNorm's forward for one row.
func NormAffine(xh, y, x []float32, mu, r float32, gm, bt []float32) {
	checkLens(len(x), len(xh), len(y), len(gm), len(bt))
	if len(x) > 0 {
		impl.normAffine(xh, y, x, mu, r, gm, bt)
	}
}

// NormAffine64 sets h = float32((float64(x[i])−mu)·r), xh[i] = h and
// y[i] = h·gm + bt: GroupNorm's forward for one channel.
func NormAffine64(xh, y, x []float32, mu, r float64, gm, bt float32) {
	checkLens(len(x), len(xh), len(y))
	if len(x) > 0 {
		impl.normAffine64(xh, y, x, mu, r, gm, bt)
	}
}

// LayerNormGrad adds g[i]·xh[i] to dg[i], g[i] to db[i] and
// (g[i]·gm[i] − mg − xh[i]·mgx)·rs to dx[i], in float32: LayerNorm's
// backward for one row (after its two sums).
func LayerNormGrad(dx, dg, db, g, xh, gm []float32, mg, mgx, rs float32) {
	checkLens(len(g), len(dx), len(dg), len(db), len(xh), len(gm))
	if len(g) > 0 {
		impl.layerNormGrad(dx, dg, db, g, xh, gm, mg, mgx, rs)
	}
}

// AllFinite reports whether no element of x is NaN or ±Inf (x − x is +0
// exactly for finite x, NaN otherwise: the ORed bits of the differences
// are zero exactly when all are finite).
func AllFinite(x []float32) bool {
	return len(x) == 0 || impl.allFinite(x)
}

// LayerNormGradSet is LayerNormGrad that sets dx[i] instead of adding
// to it (dg and db are added to as by LayerNormGrad).
func LayerNormGradSet(dx, dg, db, g, xh, gm []float32, mg, mgx, rs float32) {
	checkLens(len(g), len(dx), len(dg), len(db), len(xh), len(gm))
	if len(g) > 0 {
		impl.layerNormGradSet(dx, dg, db, g, xh, gm, mg, mgx, rs)
	}
}

// NormGradX64Set is NormGradX64 that sets dx[i] instead of adding to it.
func NormGradX64Set(dx, g, xh []float32, gm, mg, mgx, r float64) {
	checkLens(len(g), len(dx), len(xh))
	if len(g) > 0 {
		impl.normGradX64Set(dx, g, xh, gm, mg, mgx, r)
	}
}

// NormGradX64 adds float32((float64(g[i])·gm − mg − float64(xh[i])·mgx)·r)
// to dx[i]: GroupNorm's input gradient for one channel.
func NormGradX64(dx, g, xh []float32, gm, mg, mgx, r float64) {
	checkLens(len(g), len(dx), len(xh))
	if len(g) > 0 {
		impl.normGradX64(dx, g, xh, gm, mg, mgx, r)
	}
}

// GroupNorm followed by ReLU, fused: the forward stores only the
// activation, and the backward recomputes ReLU's mask from x̂ — the
// pre-activation float32(x̂·gm) + bt, as NormAffine64 computed it — where
// the unfused backward would first write the masked gradient to memory.
// Each gives the bits of the unfused pair: NormAffine64 then ReLU, and
// ReLUGradSet then RowSumDots8, NormGradX64(Set).

// NormAffine64ReLU is NormAffine64 that sets y[i] = max(h·gm + bt, 0)
// (Go's max, as ReLU: NaN stays, −0 gives +0).
func NormAffine64ReLU(xh, y, x []float32, mu, r float64, gm, bt float32) {
	checkLens(len(x), len(xh), len(y))
	if len(x) > 0 {
		impl.normAffine64ReLU(xh, y, x, mu, r, gm, bt)
	}
}

// NormGradX64ReLU is NormGradX64 with g[i] taken as +0 unless
// float32(xh[i]·gm) + bt > 0 (gm is the channel's γ, bt its β).
func NormGradX64ReLU(dx, g, xh []float32, gm, bt float32, mg, mgx, r float64) {
	checkLens(len(g), len(dx), len(xh))
	if len(g) > 0 {
		impl.normGradX64ReLU(dx, g, xh, gm, bt, mg, mgx, r, false)
	}
}

// NormGradX64SetReLU is NormGradX64ReLU that sets dx[i] instead of adding
// to it.
func NormGradX64SetReLU(dx, g, xh []float32, gm, bt float32, mg, mgx, r float64) {
	checkLens(len(g), len(dx), len(xh))
	if len(g) > 0 {
		impl.normGradX64ReLU(dx, g, xh, gm, bt, mg, mgx, r, true)
	}
}

// RowSumDots8ReLU is RowSumDots8 with g_j[i] taken as +0 unless
// float32(h_j[i]·gm[j]) + bt[j] > 0: the sums of a fused GroupNorm and
// ReLU's masked gradient over eight channels.
func RowSumDots8ReLU(sg, sgh *[8]float64, g, h []float32, stride, n int, gm, bt *[8]float32) {
	checkRows(len(g), stride, n)
	checkRows(len(h), stride, n)
	n8 := n &^ 7
	if n8 > 0 {
		impl.rowSumDots8ReLU(sg, sgh, g, h, stride, n8, gm, bt)
	}
	for j := range sg {
		sg[j], sgh[j] = sumDotsReLU(sg[j], sgh[j], g[j*stride+n8:j*stride+n], h[j*stride+n8:j*stride+n], gm[j], bt[j])
	}
}

// reluPass is ReLU's backward mask recomputed from x̂: g where the
// pre-activation float32(h·gm) + bt is > 0 (not NaN), else +0.
func reluPass(g, h, gm, bt float32) float32 {
	if float32(h*gm)+bt > 0 { // the conversion forbids fusing
		return g
	}
	return 0
}

// Row statistics: float64 sums over eight rows of n elements, row j
// starting at j·stride, one chain per row that adds the elements in index
// order — the bits of the plain loop of each row, eight rows at once (the
// AVX-512 kernels hold one row per lane). They panic unless the rows fit
// the slices.

// AddRows adds the rows of src (rows of len(dst) floats, stride apart)
// to dst in row order: dst[j] += src[r·stride+j] for r < rows, the bits of
// AddTo(dst, row) for each row in turn (a bias gradient: the column sums
// of an output gradient).
func AddRows(dst, src []float32, rows, stride int) {
	n := len(dst)
	if rows < 0 || stride < n || (rows > 0 && len(src) < (rows-1)*stride+n) {
		panic(fmt.Sprintf("fmath: AddRows: %d rows of %d, %d apart, in %d floats", rows, n, stride, len(src)))
	}
	if rows > 0 && n > 0 {
		impl.addRows(dst, src, rows, stride)
	}
}

// CopyRows copies rows rows of n floats from src (rows ss apart) to dst
// (rows ds apart): the padding and unpadding of image planes, whose rows
// are too short for copy's per-call cost.
func CopyRows(dst []float32, ds int, src []float32, ss, rows, n int) {
	if rows < 0 || n < 0 || ds < n || ss < n || (rows > 0 && n > 0 && (len(dst) < (rows-1)*ds+n || len(src) < (rows-1)*ss+n)) {
		panic(fmt.Sprintf("fmath: CopyRows: %d rows of %d, %d apart in %d floats, from %d apart in %d", rows, n, ds, len(dst), ss, len(src)))
	}
	if rows > 0 && n > 0 {
		impl.copyRows(dst, ds, src, ss, rows, n)
	}
}

// RowSums8 adds Σ_i float64(x[j·stride+i]) to acc[j] for j < 8.
func RowSums8(acc *[8]float64, x []float32, stride, n int) {
	checkRows(len(x), stride, n)
	n8 := n &^ 7
	if n8 > 0 {
		impl.rowSums8(acc, x, stride, n8)
	}
	for j := range acc {
		acc[j] = sums(acc[j], x[j*stride+n8:j*stride+n])
	}
}

// RowSqDevs8 adds Σ_i d·d with d = float64(x[j·stride+i]) − mu[j] (the
// product rounded before the sum) to acc[j] for j < 8.
func RowSqDevs8(acc *[8]float64, x []float32, stride, n int, mu *[8]float64) {
	checkRows(len(x), stride, n)
	n8 := n &^ 7
	if n8 > 0 {
		impl.rowSqDevs8(acc, x, stride, n8, mu)
	}
	for j := range acc {
		acc[j] = sqDevs(acc[j], x[j*stride+n8:j*stride+n], mu[j])
	}
}

// RowSumDots8 adds Σ_i float64(g_j[i]) to sg[j] and Σ_i
// float64(g_j[i])·float64(h_j[i]) to sgh[j] for j < 8, with
// g_j = g[j·stride:] and h_j = h[j·stride:].
func RowSumDots8(sg, sgh *[8]float64, g, h []float32, stride, n int) {
	checkRows(len(g), stride, n)
	checkRows(len(h), stride, n)
	n8 := n &^ 7
	if n8 > 0 {
		impl.rowSumDots8(sg, sgh, g, h, stride, n8)
	}
	for j := range sg {
		sg[j], sgh[j] = sumDots(sg[j], sgh[j], g[j*stride+n8:j*stride+n], h[j*stride+n8:j*stride+n])
	}
}

// RowDots8 adds Σ_i float64(x_j[i])·float64(y_j[i]) to acc[j] for j < 8,
// with x_j = x[j·stride:] and y_j = y[j·stride:]: one chain per row in
// index order, as RowSumDots8's second sums.
func RowDots8(acc *[8]float64, x, y []float32, stride, n int) {
	checkRows(len(x), stride, n)
	checkRows(len(y), stride, n)
	n8 := n &^ 7
	if n8 > 0 {
		impl.rowDots8(acc, x, y, stride, n8)
	}
	for j := range acc {
		acc[j] = dots(acc[j], x[j*stride+n8:j*stride+n], y[j*stride+n8:j*stride+n])
	}
}

func sumDotsReLU(sg, sgh float64, g, h []float32, gm, bt float32) (float64, float64) {
	h = h[:len(g)]
	for i, v := range g {
		v = reluPass(v, h[i], gm, bt)
		sg += float64(v)
		sgh += float64(float64(v) * float64(h[i]))
	}
	return sg, sgh
}

func checkRows(l, stride, n int) {
	if n < 0 || stride < n || 7*stride+n > l {
		panic("fmath: eight rows do not fit the slice")
	}
}

// sums, sqDevs and sumDots are the chains of one row, continued from s.
func sums(s float64, x []float32) float64 {
	for _, v := range x {
		s += float64(v)
	}
	return s
}

func sqDevs(s float64, x []float32, mu float64) float64 {
	for _, v := range x {
		d := float64(v) - mu
		s += float64(d * d) // the conversion forbids fusing
	}
	return s
}

func dots(s float64, x, y []float32) float64 {
	y = y[:len(x)]
	for i, v := range x {
		s += float64(float64(v) * float64(y[i]))
	}
	return s
}

func sumDots(sg, sgh float64, g, h []float32) (float64, float64) {
	h = h[:len(g)]
	for i, v := range g {
		sg += float64(v)
		sgh += float64(float64(v) * float64(h[i]))
	}
	return sg, sgh
}

func checkLens(n int, others ...int) {
	for _, o := range others {
		checkLen(o, n)
	}
}

func checkLen(dst, src int) {
	if dst != src {
		panic("fmath: slices of different lengths")
	}
}

// reduce16 adds the 16 partial sums pairwise in a fixed order.
func reduce16(s *[16]float64) float64 {
	for w := 8; w > 0; w /= 2 {
		for j := 0; j < w; j++ {
			s[j] += s[j+w]
		}
	}
	return s[0]
}

// kernels is one implementation of the slice functions. The slices are
// non-empty and of equal lengths.
type kernels struct {
	name            string
	expSub          func(dst, src []float32, sub float32)
	expSubSum       func(dst, src []float32, sub float32) float64
	sigmoid         func(dst, src []float32)
	softplus        func(dst, src []float32)
	sigmoidSoftplus func(sig, sp, src []float32)
	dot2            func(x, y, t []float32) (xt, yt float64)
	add             func(dst, src []float32)
	sum             func(dst, x, y []float32)
	axpy            func(dst []float32, alpha float32, src []float32)
	relu            func(dst, src []float32)
	reluGrad        func(dst, x, g []float32)
	reluGradSet     func(dst, x, g []float32)
	allFinite       func(x []float32) bool
	normAffine      func(xh, y, x []float32, mu, r float32, gm, bt []float32)
	normAffine64    func(xh, y, x []float32, mu, r float64, gm, bt float32)
	layerNormGrad   func(dx, dg, db, g, xh, gm []float32, mg, mgx, rs float32)
	normGradX64     func(dx, g, xh []float32, gm, mg, mgx, r float64)
	// the same with dx (dst) set instead of added to
	layerNormGradSet func(dx, dg, db, g, xh, gm []float32, mg, mgx, rs float32)
	normGradX64Set   func(dx, g, xh []float32, gm, mg, mgx, r float64)
	// GroupNorm fused with ReLU (set: dx written, not added to)
	normAffine64ReLU func(xh, y, x []float32, mu, r float64, gm, bt float32)
	normGradX64ReLU  func(dx, g, xh []float32, gm, bt float32, mg, mgx, r float64, set bool)
	rowSumDots8ReLU  func(sg, sgh *[8]float64, g, h []float32, stride, n int, gm, bt *[8]float32)
	// row statistics of eight rows, n a multiple of 8
	rowSums8    func(acc *[8]float64, x []float32, stride, n int)
	rowSqDevs8  func(acc *[8]float64, x []float32, stride, n int, mu *[8]float64)
	rowSumDots8 func(sg, sgh *[8]float64, g, h []float32, stride, n int)
	rowDots8    func(acc *[8]float64, x, y []float32, stride, n int)
	// stride-2 moves: dst[i] = src[2i] and dst[2i] += src[i], i < n
	gather2    func(dst, src []float32, n int)
	addStride2 func(dst, src []float32, n int)
	// column sums: dst[j] += src[r·stride+j], rows in order
	addRows func(dst, src []float32, rows, stride int)
	// strided row copies: dst[r·ds+j] = src[r·ss+j]
	copyRows func(dst []float32, ds int, src []float32, ss, rows, n int)
	// softmax rows (see MaxBlocked, Scale, SubMul); bm may be nil
	maxBlocked func(ys, xs []float32, bm []bool) float32
	scale      func(x []float32, s float32)
	subMul     func(g, y []float32, d float32)
}

// impl is the best implementation for this CPU.
var impl = func() *kernels {
	if ks := asmKernels(); len(ks) > 0 {
		return ks[0]
	}
	return &goKernels
}()

// goKernels loop over the scalar functions.
var goKernels = kernels{
	name: "go",
	expSub: func(dst, src []float32, sub float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = Exp(v - sub)
		}
	},
	expSubSum: func(dst, src []float32, sub float32) float64 {
		dst = dst[:len(src)]
		var s [16]float64
		for i, v := range src {
			e := Exp(v - sub)
			dst[i] = e
			s[i&15] += float64(e)
		}
		return reduce16(&s)
	},
	sigmoid: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = Sigmoid(v)
		}
	},
	softplus: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = Softplus(v)
		}
	},
	sigmoidSoftplus: func(sig, sp, src []float32) {
		sig, sp = sig[:len(src)], sp[:len(src)]
		for i, v := range src {
			sig[i], sp[i] = SigmoidSoftplus(v)
		}
	},
	add: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] += v
		}
	},
	sum: func(dst, x, y []float32) {
		x, y = x[:len(dst)], y[:len(dst)]
		for i := range dst {
			dst[i] = x[i] + y[i]
		}
	},
	axpy: func(dst []float32, alpha float32, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] += float32(alpha * v) // the explicit conversion forbids fusing
		}
	},
	normAffine:       goNormAffine,
	normAffine64:     goNormAffine64,
	layerNormGrad:    goLayerNormGrad,
	normGradX64:      goNormGradX64,
	layerNormGradSet: goLayerNormGradSet,
	normGradX64Set:   goNormGradX64Set,
	normAffine64ReLU: goNormAffine64ReLU,
	normGradX64ReLU:  goNormGradX64ReLU,
	rowSumDots8ReLU:  goRowSumDots8ReLU,
	allFinite:        goAllFinite,
	rowSums8:         goRowSums8,
	rowSqDevs8:       goRowSqDevs8,
	rowSumDots8:      goRowSumDots8,
	rowDots8:         goRowDots8,
	gather2:          goGather2,
	addStride2:       goAddStride2,
	addRows:          goAddRows,
	copyRows:         goCopyRows,
	maxBlocked:       goMaxBlocked,
	scale:            goScale,
	subMul:           goSubMul,
	relu: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = max(v, 0)
		}
	},
	reluGrad: func(dst, x, g []float32) {
		x, g = x[:len(dst)], g[:len(dst)]
		for i, v := range x {
			dst[i] += reluMasked(v, g[i])
		}
	},
	reluGradSet: func(dst, x, g []float32) {
		x, g = x[:len(dst)], g[:len(dst)]
		for i, v := range x {
			dst[i] = reluMasked(v, g[i])
		}
	},
	dot2: func(x, y, t []float32) (xt, yt float64) {
		x, y = x[:len(t)], y[:len(t)]
		var sx, sy [16]float64
		for i, tv := range t {
			tf := float64(tv)
			sx[i&15] += float64(x[i]) * tf
			sy[i&15] += float64(y[i]) * tf
		}
		return reduce16(&sx), reduce16(&sy)
	},
}

// goMaxBlocked is MaxBlocked's loop, continuing from mx.
func goMaxBlocked(ys, xs []float32, bm []bool) float32 {
	return maxBlockedFrom(float32(math.Inf(-1)), ys, xs, bm)
}

func maxBlockedFrom(mx float32, ys, xs []float32, bm []bool) float32 {
	if bm == nil {
		for _, v := range xs {
			if v > mx {
				mx = v
			}
		}
		return mx
	}
	negInf := float32(math.Inf(-1))
	ys, bm = ys[:len(xs)], bm[:len(xs)]
	for j, v := range xs {
		if bm[j] {
			v = negInf
		} else if v > mx {
			mx = v
		}
		ys[j] = v
	}
	return mx
}

func goScale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

func goSubMul(g, y []float32, d float32) {
	y = y[:len(g)]
	for i, v := range y {
		g[i] = v * (g[i] - d)
	}
}

func goGather2(dst, src []float32, n int) {
	dst, src = dst[:n], src[:2*n-1]
	for i := range dst {
		dst[i] = src[2*i]
	}
}

func goAddStride2(dst, src []float32, n int) {
	dst, src = dst[:2*n-1], src[:n]
	for i, v := range src {
		dst[2*i] += v
	}
}

// reluMasked is g where x > 0 (not NaN), else +0. x > 0 and not NaN ⇔
// its bits, read as a signed integer, lie in [1, 0x7f800000]: compared on
// the bits, without a branch on the (unpredictable) sign.
func reluMasked(x, g float32) float32 {
	var keep uint32
	if uint32(int64(int32(math.Float32bits(x)))-1) < 0x7f800000 {
		keep = ^uint32(0)
	}
	return math.Float32frombits(math.Float32bits(g) & keep)
}

func goAllFinite(x []float32) bool {
	var acc uint32
	for _, v := range x {
		acc |= math.Float32bits(v - v)
	}
	return acc == 0
}

func goNormAffine(xh, y, x []float32, mu, r float32, gm, bt []float32) {
	xh, y, gm, bt = xh[:len(x)], y[:len(x)], gm[:len(x)], bt[:len(x)]
	for i, v := range x {
		h := (v - mu) * r
		xh[i] = h
		y[i] = float32(h*gm[i]) + bt[i] // the conversion forbids fusing
	}
}

func goNormAffine64(xh, y, x []float32, mu, r float64, gm, bt float32) {
	xh, y = xh[:len(x)], y[:len(x)]
	for i, v := range x {
		h := float32((float64(v) - mu) * r)
		xh[i] = h
		y[i] = float32(h*gm) + bt
	}
}

func goLayerNormGrad(dx, dg, db, g, xh, gm []float32, mg, mgx, rs float32) {
	dx, dg, db, xh, gm = dx[:len(g)], dg[:len(g)], db[:len(g)], xh[:len(g)], gm[:len(g)]
	for i, v := range g {
		dg[i] += float32(v * xh[i])
		db[i] += v
		dx[i] += (float32(v*gm[i]) - mg - float32(xh[i]*mgx)) * rs
	}
}

func goLayerNormGradSet(dx, dg, db, g, xh, gm []float32, mg, mgx, rs float32) {
	dx, dg, db, xh, gm = dx[:len(g)], dg[:len(g)], db[:len(g)], xh[:len(g)], gm[:len(g)]
	for i, v := range g {
		dg[i] += float32(v * xh[i])
		db[i] += v
		dx[i] = (float32(v*gm[i]) - mg - float32(xh[i]*mgx)) * rs
	}
}

func goNormGradX64(dx, g, xh []float32, gm, mg, mgx, r float64) {
	dx, xh = dx[:len(g)], xh[:len(g)]
	for i, v := range g {
		dx[i] += float32((float64(float64(v)*gm) - mg - float64(float64(xh[i])*mgx)) * r)
	}
}

func goNormAffine64ReLU(xh, y, x []float32, mu, r float64, gm, bt float32) {
	xh, y = xh[:len(x)], y[:len(x)]
	for i, v := range x {
		h := float32((float64(v) - mu) * r)
		xh[i] = h
		y[i] = max(float32(h*gm)+bt, 0)
	}
}

func goNormGradX64ReLU(dx, g, xh []float32, gm, bt float32, mg, mgx, r float64, set bool) {
	dx, xh = dx[:len(g)], xh[:len(g)]
	gm64 := float64(gm)
	for i, v := range g {
		v = reluPass(v, xh[i], gm, bt)
		d := float32((float64(float64(v)*gm64) - mg - float64(float64(xh[i])*mgx)) * r)
		if set {
			dx[i] = d
		} else {
			dx[i] += d
		}
	}
}

func goRowSumDots8ReLU(sg, sgh *[8]float64, g, h []float32, stride, n int, gm, bt *[8]float32) {
	for j := range sg {
		sg[j], sgh[j] = sumDotsReLU(sg[j], sgh[j], g[j*stride:j*stride+n], h[j*stride:j*stride+n], gm[j], bt[j])
	}
}

func goNormGradX64Set(dx, g, xh []float32, gm, mg, mgx, r float64) {
	dx, xh = dx[:len(g)], xh[:len(g)]
	for i, v := range g {
		dx[i] = float32((float64(float64(v)*gm) - mg - float64(float64(xh[i])*mgx)) * r)
	}
}

func goRowSums8(acc *[8]float64, x []float32, stride, n int) {
	for j := range acc {
		acc[j] = sums(acc[j], x[j*stride:j*stride+n])
	}
}

func goRowSqDevs8(acc *[8]float64, x []float32, stride, n int, mu *[8]float64) {
	for j := range acc {
		acc[j] = sqDevs(acc[j], x[j*stride:j*stride+n], mu[j])
	}
}

func goRowDots8(acc *[8]float64, x, y []float32, stride, n int) {
	for j := range acc {
		acc[j] = dots(acc[j], x[j*stride:j*stride+n], y[j*stride:j*stride+n])
	}
}

func goRowSumDots8(sg, sgh *[8]float64, g, h []float32, stride, n int) {
	for j := range sg {
		sg[j], sgh[j] = sumDots(sg[j], sgh[j], g[j*stride:j*stride+n], h[j*stride:j*stride+n])
	}
}

func goAddRows(dst, src []float32, rows, stride int) {
	for r := 0; r < rows; r++ {
		row := src[r*stride : r*stride+len(dst)]
		for j, v := range row {
			dst[j] += v
		}
	}
}

func goCopyRows(dst []float32, ds int, src []float32, ss, rows, n int) {
	for r := 0; r < rows; r++ {
		copy(dst[r*ds:r*ds+n], src[r*ss:r*ss+n])
	}
}
