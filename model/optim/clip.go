package optim

import (
	"math"

	"github.com/mpanalyze/mpanalyze/model/engine"
)

// GradNorm returns the L2 norm of all gradients taken together,
// √(Σ_p SumSquares(g_p)), the parameters' sums added in parameter order —
// a fixed order independent of GOMAXPROCS. It is +Inf or NaN exactly when
// some gradient element is: squares of finite float32 values cannot
// overflow float64. The trainer computes the same norm with the per-
// parameter sums taken in parallel.
func GradNorm(ps []*engine.Param[float32]) float64 {
	var total float64
	for _, p := range ps {
		total += SumSquares(p.Grad)
	}
	return math.Sqrt(total)
}

// SumSquares is Σ_i g_i² accumulated in float64, one element after the
// other (each square rounded to float64 before it is added: no fused
// multiply-add on any architecture).
func SumSquares(g []float32) float64 {
	return sumSquaresFrom(0, g)
}

// sumSquaresFrom continues SumSquares' chain s over g.
func sumSquaresFrom(s float64, g []float32) float64 {
	for _, v := range g {
		a := float64(v)
		s += float64(a * a)
	}
	return s
}

// SumSquares4 returns SumSquares of four slices. A sum is one chain of
// float64 additions, bound by their latency; four independent chains run
// side by side in the time of one, and each is still its slice's elements
// in index order, so every result has SumSquares' bits. The slices may
// differ in length (what the shortest lacks is summed alone at the end);
// nil counts as empty.
func SumSquares4(g0, g1, g2, g3 []float32) (s0, s1, s2, s3 float64) {
	n := min(len(g0), len(g1), len(g2), len(g3))
	a, b, c, d := g0[:n], g1[:n], g2[:n], g3[:n]
	for i, v := range a {
		x0, x1, x2, x3 := float64(v), float64(b[i]), float64(c[i]), float64(d[i])
		s0 += float64(x0 * x0)
		s1 += float64(x1 * x1)
		s2 += float64(x2 * x2)
		s3 += float64(x3 * x3)
	}
	return sumSquaresFrom(s0, g0[n:]), sumSquaresFrom(s1, g1[n:]), sumSquaresFrom(s2, g2[n:]), sumSquaresFrom(s3, g3[n:])
}

// ClipCoef is the factor clip_grad_norm_ scales gradients by for a global
// norm and a maximum: maxNorm/(norm+1e-6) rounded to float32, and whether
// to apply it (only when it is below 1, and never for a NaN or ±Inf norm).
// maxNorm ≤ 0 means no clipping.
func ClipCoef(norm, maxNorm float64) (coef float32, clip bool) {
	if !(maxNorm > 0) || !IsFinite(norm) {
		return 1, false
	}
	c := maxNorm / (norm + 1e-6)
	return float32(c), c < 1
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
	if c, clip := ClipCoef(norm, maxNorm); clip {
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
