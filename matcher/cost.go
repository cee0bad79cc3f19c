package matcher

import (
	"fmt"
	"sync"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
)

// Weights are the matching cost weights. DefaultWeights returns
// Mask2Former's (CLASS_WEIGHT 2, MASK_WEIGHT 5, DICE_WEIGHT 5).
type Weights struct {
	Class float64 // weight of −p_q(c_g)
	Mask  float64 // weight of the mean binary cross entropy
	Dice  float64 // weight of the dice cost
}

// DefaultWeights returns Weights{Class: 2, Mask: 5, Dice: 5}.
func DefaultWeights() Weights { return Weights{Class: 2, Mask: 5, Dice: 5} }

// Cost fills dst, a row-major nq×G matrix with G = len(classes), with the
// Mask2Former matching cost (see the package documentation):
//
//	dst[q·G + g] = w.Class·(−softmax(z_q)[c_g]) + w.Mask·BCE(q, g) + w.Dice·Dice(q, g)
//
// classLogits holds nq×(k+1) class logits (the last column is "no object"),
// maskLogits nq×p mask logits, targets G×p target values in [0, 1] sampled
// at the same p points, and classes the class of each GT segment in
// [0, k). If dst is nil a new slice is allocated; otherwise it must have
// length nq·G. A nil w means DefaultWeights. The result is returned.
//
// Cost panics on mismatched lengths, p ≤ 0 or a class out of range.
func Cost(dst []float64, classLogits, maskLogits, targets []float32, classes []int, nq, k, p int, w *Weights) []float64 {
	g := len(classes)
	checkInputs(classLogits, maskLogits, targets, classes, nq, k, p)
	if dst == nil {
		dst = make([]float64, nq*g)
	} else if len(dst) != nq*g {
		panic(fmt.Sprintf("matcher: dst length %d, want %d×%d", len(dst), nq, g))
	}
	wt := DefaultWeights()
	if w != nil {
		wt = *w
	}
	if nq == 0 || g == 0 {
		return dst
	}

	// Per-GT target sums Σ_p t_gp.
	tSum := make([]float64, g)
	for j := 0; j < g; j++ {
		s := 0.0
		for _, t := range targets[j*p : (j+1)*p] {
			s += float64(t)
		}
		tSum[j] = s
	}

	prob := make([]float64, k+1)
	sc := getScratch(p)
	defer scratchPool.Put(sc)
	sig, sp, ones := sc.sig[:p], sc.sp[:p], sc.ones[:p]
	invP := 1 / float64(p)
	for q := 0; q < nq; q++ {
		fmath.Softmax64(prob, classLogits[q*(k+1):(q+1)*(k+1)])
		x := maskLogits[q*p : (q+1)*p]
		// float32 sigmoid and softplus from one exponential per element
		// (fmath's vector kernels: ≤ 5e-7 relative error). The sums are
		// float64, in fmath.Dot2's fixed order (exact float64 products,
		// 16 partial sums): Σ_p softplus(x_qp) and Σ_p σ(x_qp), shared by
		// all GT, as dot products with ones, then Σ_p x·t and Σ_p σ·t.
		fmath.SigmoidSoftplusSlice(sig, sp, x)
		spSum, sigSum := fmath.Dot2(sp, sig, ones)
		for j := 0; j < g; j++ {
			xt, st := fmath.Dot2(x, sig, targets[j*p:(j+1)*p])
			bce := (spSum - xt) * invP
			dice := 1 - (2*st+1)/(sigSum+tSum[j]+1)
			dst[q*g+j] = -wt.Class*prob[classes[j]] + wt.Mask*bce + wt.Dice*dice
		}
	}
	return dst
}

// Match returns the Hungarian matching of one image at one stage under the
// Mask2Former cost: gtToQuery[g] is the query matched to GT segment g, or −1
// when there are fewer queries than segments. The arguments are those of
// Cost.
func Match(classLogits, maskLogits, targets []float32, classes []int, nq, k, p int, w *Weights) (gtToQuery []int) {
	c := Cost(nil, classLogits, maskLogits, targets, classes, nq, k, p, w)
	return Invert(Assign(c, nq, len(classes)), len(classes))
}

func checkInputs(classLogits, maskLogits, targets []float32, classes []int, nq, k, p int) {
	if nq < 0 || k < 1 || p <= 0 {
		panic(fmt.Sprintf("matcher: bad sizes queries=%d classes=%d points=%d", nq, k, p))
	}
	if len(classLogits) != nq*(k+1) {
		panic(fmt.Sprintf("matcher: class logits length %d, want %d×%d", len(classLogits), nq, k+1))
	}
	if len(maskLogits) != nq*p {
		panic(fmt.Sprintf("matcher: mask logits length %d, want %d×%d", len(maskLogits), nq, p))
	}
	if len(targets) != len(classes)*p {
		panic(fmt.Sprintf("matcher: targets length %d, want %d×%d", len(targets), len(classes), p))
	}
	for j, c := range classes {
		if c < 0 || c >= k {
			panic(fmt.Sprintf("matcher: GT %d has class %d, want [0, %d)", j, c, k))
		}
	}
}

// costScratch holds Cost's per-call buffers of p floats: the sigmoid and
// softplus of a query's mask logits, and ones (for their sums). Cost runs
// for every image and stage of a training step (p is in the thousands),
// so the buffers are reused rather than allocated and zeroed each time.
type costScratch struct {
	sig, sp, ones []float32
}

var scratchPool sync.Pool // *costScratch

// getScratch returns a costScratch with room for p points; its ones are 1.
func getScratch(p int) *costScratch {
	sc, _ := scratchPool.Get().(*costScratch)
	if sc == nil || len(sc.ones) < p {
		sc = &costScratch{sig: make([]float32, p), sp: make([]float32, p), ones: make([]float32, p)}
		for i := range sc.ones {
			sc.ones[i] = 1
		}
	}
	return sc
}
