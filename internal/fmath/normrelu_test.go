package fmath

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNormReLUFused: the fused GroupNorm+ReLU kernels give, with every
// kernel set, the bits of the unfused pair they replace — NormAffine64
// then ReLU forward; ReLUGradSet (mask from the forward's pre-activation)
// then RowSumDots8 and NormGradX64(Set) backward — on values with ±0,
// ±Inf, NaN and subnormals, γ of both signs and zero, at lengths around
// the vector widths, and leave the elements past n alone.
func TestNormReLUFused(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	val := func() float32 { return edgeValue(r, 40, 3) }
	vec := func(n int) []float32 { return edgeVec(r, n) }
	same := func(what string, n int, got, want []float32) { t.Helper(); sameBits(t, what, n, got, want) }
	same64 := func(what string, n int, got, want float64) {
		t.Helper()
		if math.Float64bits(got) != math.Float64bits(want) && !(got != got && want != want) {
			t.Fatalf("%s n=%d: %v, want %v", what, n, got, want)
		}
	}
	// a channel's γ and β: mostly ordinary, sometimes zero, negative or
	// an edge value (γ = 0 makes every pre-activation β; γ = β = 0 makes
	// it ±0, where > 0 and ≥ 0 differ)
	affine := func() (gm, bt float32) {
		gm, bt = float32(r.NormFloat64()), float32(r.NormFloat64()*0.5)
		switch r.IntN(8) {
		case 0:
			gm = 0
		case 1:
			gm, bt = val(), val()
		case 2:
			gm, bt = 0, 0
		}
		return gm, bt
	}
	for _, k := range allKernels() {
		for _, n := range []int{1, 5, 8, 15, 16, 17, 33, 128, 1000} {
			x, g := vec(n), vec(n)
			mu, rs := r.NormFloat64(), r.Float64()*3
			gm, bt := affine()
			// forward: the fused kernel against NormAffine64 then ReLU
			xh, pre := vec(n+2), vec(n+2)
			k.normAffine64(xh[:n], pre[:n], x, mu, rs, gm, bt)
			wantY := slices.Clone(pre)
			k.relu(wantY[:n], pre[:n])
			xh2, y := vec(n+2), vec(n+2)
			copy(xh2[n:], xh[n:])
			copy(y[n:], wantY[n:])
			k.normAffine64ReLU(xh2[:n], y[:n], x, mu, rs, gm, bt)
			same(k.name+" normAffine64ReLU xh", n, xh2, xh)
			same(k.name+" normAffine64ReLU y", n, y, wantY)
			// backward, one channel: mask written, then the plain kernels
			masked := make([]float32, n)
			k.reluGradSet(masked, pre[:n], g)
			mg, mgx := r.NormFloat64(), r.NormFloat64()
			for _, set := range []bool{false, true} {
				want := vec(n + 2)
				got := slices.Clone(want)
				if set {
					k.normGradX64Set(want[:n], masked, xh[:n], float64(gm), mg, mgx, rs)
				} else {
					k.normGradX64(want[:n], masked, xh[:n], float64(gm), mg, mgx, rs)
				}
				k.normGradX64ReLU(got[:n], g, xh[:n], gm, bt, mg, mgx, rs, set)
				same(k.name+" normGradX64ReLU", n, got, want)
			}
		}
		// eight channels, each its own γ, β, statistics
		for _, n := range []int{0, 8, 9, 16, 24, 128, 576} {
			n8 := n &^ 7
			stride := n + 1 + r.IntN(4)
			g, xh, pre := vec(7*stride+n), vec(7*stride+n), vec(7*stride+n)
			masked := make([]float32, len(g))
			var gm, bt [8]float32
			for j := range gm {
				gm[j], bt[j] = affine()
				lo, hi := j*stride, j*stride+n
				if n == 0 {
					continue
				}
				k.normAffine64(xh[lo:hi], pre[lo:hi], vec(n), r.NormFloat64(), r.Float64()*3, gm[j], bt[j])
				k.reluGradSet(masked[lo:hi], pre[lo:hi], g[lo:hi])
			}
			var sg, sgh [8]float64
			for j := range sg {
				sg[j], sgh[j] = r.NormFloat64(), r.NormFloat64()
			}
			wg, wgh := sg, sgh
			k.rowSumDots8(&wg, &wgh, masked, xh, stride, n8)
			k.rowSumDots8ReLU(&sg, &sgh, g, xh, stride, n8, &gm, &bt)
			for j := range sg {
				same64(k.name+" rowSumDots8ReLU sg", n8, sg[j], wg[j])
				same64(k.name+" rowSumDots8ReLU sgh", n8, sgh[j], wgh[j])
			}
			if k != &goKernels {
				continue
			}
			// the public functions: vector part and tail, one chain per row
			var a, b, c, d [8]float64
			RowSumDots8(&a, &b, masked, xh, stride, n)
			RowSumDots8ReLU(&c, &d, g, xh, stride, n, &gm, &bt)
			for j := range a {
				same64("RowSumDots8ReLU sg", n, c[j], a[j])
				same64("RowSumDots8ReLU sgh", n, d[j], b[j])
			}
		}
	}
}

// TestNormReLUPublic: the exported wrappers reach the kernels (set and
// add variants distinct) and refuse mismatched lengths.
func TestNormReLUPublic(t *testing.T) {
	x := []float32{-2, -1, 0, 1, 2, 3}
	xh, y := make([]float32, 6), make([]float32, 6)
	NormAffine64ReLU(xh, y, x, 0.5, 2, 1, -1) // x̂ = 2x − 1, y = max(x̂ − 1, 0)
	if want := []float32{0, 0, 0, 0, 2, 4}; !slices.Equal(y, want) {
		t.Fatalf("NormAffine64ReLU y = %v, want %v", y, want)
	}
	if want := []float32{-5, -3, -1, 1, 3, 5}; !slices.Equal(xh, want) {
		t.Fatalf("NormAffine64ReLU x̂ = %v, want %v", xh, want)
	}
	// only x̂ = 3, 5 pass (pre-activation 2, 4): with γ = 1, mg = mgx = 0
	// and r = 1, dx = masked g
	g := []float32{1, 1, 1, 1, 1, 1}
	dx := []float32{10, 10, 10, 10, 10, 10}
	NormGradX64SetReLU(dx, g, xh, 1, -1, 0, 0, 1)
	if want := []float32{0, 0, 0, 0, 1, 1}; !slices.Equal(dx, want) {
		t.Fatalf("NormGradX64SetReLU = %v, want %v", dx, want)
	}
	NormGradX64ReLU(dx, g, xh, 1, -1, 0, 0, 1)
	if want := []float32{0, 0, 0, 0, 2, 2}; !slices.Equal(dx, want) {
		t.Fatalf("NormGradX64ReLU = %v, want %v", dx, want)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("NormGradX64ReLU with a short dx did not panic")
		}
	}()
	NormGradX64ReLU(dx[:5], g, xh, 1, -1, 0, 0, 1)
}
