package optim

import (
	"math"

	"github.com/mpanalyze/mpanalyze/model/engine"
)

// GradNorm returns the L2 norm of all gradients taken together,
// √(Σ_p Σ_i g_pi²), accumulated in float64 in parameter order (within a
// parameter, four interleaved partial sums combined as (s0+s1)+(s2+s3), a
// fixed order independent of GOMAXPROCS). It is +Inf or NaN exactly when
// some gradient element is: squares of finite float32 values cannot
// overflow float64.
func GradNorm(ps []*engine.Param[float32]) float64 {
	var total float64
	for _, p := range ps {
		total += sumSquares(p.Grad)
	}
	return math.Sqrt(total)
}

func sumSquares(g []float32) float64 {
	var s0, s1, s2, s3 float64
	for len(g) >= 4 {
		a, b, c, d := float64(g[0]), float64(g[1]), float64(g[2]), float64(g[3])
		s0 += float64(a * a) // conversion: no fused multiply-add on any arch
		s1 += float64(b * b)
		s2 += float64(c * c)
		s3 += float64(d * d)
		g = g[4:]
	}
	for _, v := range g {
		a := float64(v)
		s0 += float64(a * a) // conversion: no fused multiply-add on any arch
	}
	return (s0 + s1) + (s2 + s3)
}

// ClipGradNorm scales all gradients in place so that their global L2 norm
// is at most maxNorm, and returns the norm before clipping, as
// torch.nn.utils.clip_grad_norm_(params, maxNorm) does: the coefficient is
// maxNorm/(norm+1e-6), applied (rounded to float32) only when it is below 1.
// The norm is computed by GradNorm (float64; PyTorch uses float32, which
// differs in the last bits).
//
// If the norm is NaN or ±Inf the gradients are left unchanged (PyTorch
// would multiply them all by NaN); check the result with IsFinite and skip
// the update. It panics if maxNorm is not positive.
func ClipGradNorm(ps []*engine.Param[float32], maxNorm float64) float64 {
	if !(maxNorm > 0) {
		panic("optim: ClipGradNorm: maxNorm must be > 0")
	}
	norm := GradNorm(ps)
	if !IsFinite(norm) {
		return norm
	}
	coef := maxNorm / (norm + 1e-6)
	if coef < 1 {
		c := float32(coef)
		for _, p := range ps {
			g := p.Grad
			for i := range g {
				g[i] *= c
			}
		}
	}
	return norm
}

// IsFinite reports whether x is neither NaN nor ±Inf.
func IsFinite(x float64) bool { return x-x == 0 }

// NonFiniteGrad returns the name of the first parameter (in ps order) whose
// gradient holds a NaN or ±Inf, and whether there is one.
func NonFiniteGrad(ps []*engine.Param[float32]) (name string, found bool) {
	for _, p := range ps {
		if !allFinite(p.Grad) {
			return p.Name, true
		}
	}
	return "", false
}

// allFinite reports whether every element of x is finite. x−x is 0 for a
// finite x and NaN for NaN or ±Inf; OR-ing the bits of the differences
// keeps the loop free of branches.
func allFinite(x []float32) bool {
	var acc uint32
	for _, v := range x {
		acc |= math.Float32bits(v - v)
	}
	// 0−0 = +0 (bits 0); any NaN sets exponent bits.
	return acc&0x7f800000 == 0
}
