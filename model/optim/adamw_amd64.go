//go:build amd64 && !purego

package optim

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// adamwAVX2 runs adamwKernel's arithmetic on n elements (n a multiple of
// 8), eight at a time (adamw_amd64.s). It uses the same float32
// operations in the same order, each correctly rounded (VMULPS, VADDPS,
// VSQRTPS, VDIVPS; no fused multiply-add), so every element comes out
// bit-identical to adamwScalar's (the gradient scale included: VMULPS is
// the correctly rounded float32 product).
//
//go:noescape
func adamwAVX2(p, grad, mom, vel *float32, n int, c *coeffs)

var hasAVX2 = cpu.X86.HasAVX2

// The assembly reads the coefficients at fixed offsets.
var _ = [1]struct{}{}[unsafe.Offsetof(coeffs{}.decay)+unsafe.Offsetof(coeffs{}.eps)-28]
var _ = [1]struct{}{}[unsafe.Offsetof(coeffs{}.gscale)-32]
var _ = [1]struct{}{}[unsafe.Offsetof(coeffs{}.clear)-36]

// adamwVector updates the longest prefix of whole vectors it can and
// returns its length (0 without AVX2).
func adamwVector(c *coeffs, p, g, m, v []float32) int {
	n := len(p) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_, _, _ = g[n-1], m[n-1], v[n-1]
	adamwAVX2(&p[0], &g[0], &m[0], &v[0], n, c)
	return n
}
