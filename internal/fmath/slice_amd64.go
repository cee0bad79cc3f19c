//go:build amd64 && !purego

package fmath

import (
	"math"

	"golang.org/x/sys/cpu"
)

// The assembly kernels (slice_amd64.s, from gen_amd64.go). The callers
// guarantee non-empty slices of equal lengths.

var avx512Kernels = kernels{
	name: "avx512",
	expSub: func(dst, src []float32, sub float32) {
		expSubAVX512(&dst[0], &src[0], len(src), sub)
	},
	expSubSum: func(dst, src []float32, sub float32) float64 {
		return expSubSumAVX512(&dst[0], &src[0], len(src), sub)
	},
	sigmoid: func(dst, src []float32) {
		sigmoidAVX512(&dst[0], &src[0], len(src))
	},
	softplus: func(dst, src []float32) {
		softplusAVX512(&dst[0], &src[0], len(src))
	},
	sigmoidSoftplus: func(sig, sp, src []float32) {
		sigmoidSoftplusAVX512(&sig[0], &sp[0], &src[0], len(src))
	},
	dot2: func(x, y, t []float32) (xt, yt float64) {
		return dot2AVX512(&x[0], &y[0], &t[0], len(t))
	},
	add: func(dst, src []float32) {
		addAVX512(&dst[0], &src[0], len(src))
	},
	sum: func(dst, x, y []float32) {
		sumAVX512(&dst[0], &x[0], &y[0], len(dst))
	},
	axpy: func(dst []float32, alpha float32, src []float32) {
		axpyAVX512(&dst[0], alpha, &src[0], len(src))
	},
	relu: func(dst, src []float32) {
		reluAVX512(&dst[0], &src[0], len(src))
	},
	normAffine: func(xh, y, x []float32, mu, r float32, gm, bt []float32) {
		normAffineAVX512(&xh[0], &y[0], &x[0], len(x), mu, r, &gm[0], &bt[0])
	},
	normAffine64: func(xh, y, x []float32, mu, r float64, gm, bt float32) {
		normAffine64AVX512(&xh[0], &y[0], &x[0], len(x), mu, r, gm, bt)
	},
	layerNormGrad: func(dx, dg, db, g, xh, gm []float32, mg, mgx, rs float32) {
		layerNormGradAVX512(&dx[0], &dg[0], &db[0], &g[0], &xh[0], &gm[0], len(g), mg, mgx, rs)
	},
	normGradX64: func(dx, g, xh []float32, gm, mg, mgx, r float64) {
		normGradX64AVX512(&dx[0], &g[0], &xh[0], len(g), gm, mg, mgx, r)
	},
	allFinite: func(x []float32) bool {
		return allFiniteAVX512(&x[0], len(x)) == 0
	},
	layerNormGradSet: func(dx, dg, db, g, xh, gm []float32, mg, mgx, rs float32) {
		layerNormGradSetAVX512(&dx[0], &dg[0], &db[0], &g[0], &xh[0], &gm[0], len(g), mg, mgx, rs)
	},
	normGradX64Set: func(dx, g, xh []float32, gm, mg, mgx, r float64) {
		normGradX64SetAVX512(&dx[0], &g[0], &xh[0], len(g), gm, mg, mgx, r)
	},
	normAffine64ReLU: func(xh, y, x []float32, mu, r float64, gm, bt float32) {
		normAffine64ReLUAVX512(&xh[0], &y[0], &x[0], len(x), mu, r, gm, bt)
	},
	normGradX64ReLU: func(dx, g, xh []float32, gm, bt float32, mg, mgx, r float64, set bool) {
		if set {
			normGradX64SetReLUAVX512(&dx[0], &g[0], &xh[0], len(g), float64(gm), mg, mgx, r, gm, bt)
		} else {
			normGradX64ReLUAVX512(&dx[0], &g[0], &xh[0], len(g), float64(gm), mg, mgx, r, gm, bt)
		}
	},
	rowSumDots8ReLU: func(sg, sgh *[8]float64, g, h []float32, stride, n int, gm, bt *[8]float32) {
		rowSumDots8ReLUAVX512(&sg[0], &sgh[0], &g[0], &h[0], stride, n, &gm[0], &bt[0])
	},
	rowSums8: func(acc *[8]float64, x []float32, stride, n int) {
		rowSums8AVX512(&acc[0], &x[0], stride, n)
	},
	rowSqDevs8: func(acc *[8]float64, x []float32, stride, n int, mu *[8]float64) {
		rowSqDevs8AVX512(&acc[0], &x[0], stride, n, &mu[0])
	},
	rowSumDots8: func(sg, sgh *[8]float64, g, h []float32, stride, n int) {
		rowSumDots8AVX512(&sg[0], &sgh[0], &g[0], &h[0], stride, n)
	},
	rowDots8: func(acc *[8]float64, x, y []float32, stride, n int) {
		rowDots8AVX512(&acc[0], &x[0], &y[0], stride, n)
	},
	reluGrad: func(dst, x, g []float32) {
		reluGradAVX512(&dst[0], &x[0], &g[0], len(dst))
	},
	reluGradSet: func(dst, x, g []float32) {
		reluGradSetAVX512(&dst[0], &x[0], &g[0], len(dst))
	},
	gather2: func(dst, src []float32, n int) {
		gather2AVX512(&dst[0], &src[0], n)
	},
	addStride2: func(dst, src []float32, n int) {
		addStride2AVX512(&dst[0], &src[0], n)
	},
	addRows: func(dst, src []float32, rows, stride int) {
		addRowsAVX512(&dst[0], &src[0], len(dst), rows, stride)
	},
	copyRows: func(dst []float32, ds int, src []float32, ss, rows, n int) {
		copyRowsAVX512(&dst[0], ds, &src[0], ss, rows, n)
	},
	// the maxima take whole vectors; the Go loop finishes
	maxBlocked: func(ys, xs []float32, bm []bool) float32 {
		n := len(xs) &^ 15
		mx := float32(math.Inf(-1))
		if n > 0 {
			if bm == nil {
				mx = max16AVX512(&xs[0], n)
			} else {
				mx = maxBlockedAVX512(&ys[0], &xs[0], &bm[0], n)
				ys, bm = ys[n:], bm[n:]
			}
		}
		return maxBlockedFrom(mx, ys, xs[n:], bm)
	},
	scale: func(x []float32, s float32) {
		scaleAVX512(&x[0], len(x), s)
	},
	subMul: func(g, y []float32, d float32) {
		subMulAVX512(&g[0], &y[0], len(g), d)
	},
}

var avx2Kernels = kernels{
	name: "avx2",
	expSub: func(dst, src []float32, sub float32) {
		expSubAVX2(&dst[0], &src[0], len(src), sub)
	},
	expSubSum: func(dst, src []float32, sub float32) float64 {
		return expSubSumAVX2(&dst[0], &src[0], len(src), sub)
	},
	sigmoid: func(dst, src []float32) {
		sigmoidAVX2(&dst[0], &src[0], len(src))
	},
	softplus: func(dst, src []float32) {
		softplusAVX2(&dst[0], &src[0], len(src))
	},
	sigmoidSoftplus: func(sig, sp, src []float32) {
		sigmoidSoftplusAVX2(&sig[0], &sp[0], &src[0], len(src))
	},
	dot2: func(x, y, t []float32) (xt, yt float64) {
		return dot2AVX2(&x[0], &y[0], &t[0], len(t))
	},
	add: func(dst, src []float32) {
		addAVX2(&dst[0], &src[0], len(src))
	},
	sum: func(dst, x, y []float32) {
		sumAVX2(&dst[0], &x[0], &y[0], len(dst))
	},
	axpy: func(dst []float32, alpha float32, src []float32) {
		axpyAVX2(&dst[0], alpha, &src[0], len(src))
	},
	relu: func(dst, src []float32) {
		reluAVX2(&dst[0], &src[0], len(src))
	},
	// no AVX2 norm kernels: the Go loops
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
	reluGrad: func(dst, x, g []float32) {
		reluGradAVX2(&dst[0], &x[0], &g[0], len(dst))
	},
	reluGradSet: func(dst, x, g []float32) {
		reluGradSetAVX2(&dst[0], &x[0], &g[0], len(dst))
	},
}

// asmKernels lists the assembly kernels this CPU can run, best first
// (x/sys/cpu also checks that the OS saves the ymm/zmm state).
func asmKernels() []*kernels {
	var ks []*kernels
	if cpu.X86.HasAVX512F {
		ks = append(ks, &avx512Kernels)
	}
	if cpu.X86.HasAVX && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &avx2Kernels)
	}
	return ks
}
