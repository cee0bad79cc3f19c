package matcher

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// TestCostHand checks the cost on a tiny case worked out by hand:
// K = 1 class (+ no object), P = 2 points, 2 queries, 2 GT of class 0.
//
//	q0: class logits (0, 0) → p(0) = 1/2; mask logits (0, 0) → σ = (1/2, 1/2),
//	    softplus(0) = ln 2, so Σ softplus = 2 ln 2.
//	q1: class logits (ln 3, 0) → p(0) = 3/(3+1) = 3/4; mask logits (ln 3, −ln 3)
//	    → σ = (3/4, 1/4), softplus = (ln 4, ln 4/3), Σ softplus = ln 16/3.
//	g0: t = (1, 0), Σt = 1.    g1: t = (1/2, 1/2), Σt = 1.
//
//	C[q0][g0]: BCE = (2 ln 2 − 0)/2 = ln 2; Dice = 1 − (2·1/2 + 1)/(1+1+1) = 1/3
//	           → 2·(−1/2) + 5 ln 2 + 5/3 = 4.132402569466393
//	C[q0][g1]: x·t = 0, σ·t = 1/2 → same BCE and Dice → 4.132402569466393
//	C[q1][g0]: x·t = ln 3 → BCE = (ln 16/3 − ln 3)/2 = ln 4/3; σ·t = 3/4
//	           → Dice = 1 − (3/2 + 1)/3 = 1/6
//	           → 2·(−3/4) + 5 ln 4/3 + 5/6 = 0.7717436955922376
//	C[q1][g1]: x·t = 0 → BCE = ln(16/3)/2; σ·t = 1/2 → Dice = 1/3
//	           → −3/2 + 2.5 ln 16/3 + 5/3 = 4.351607750595846
func TestCostHand(t *testing.T) {
	ln3 := float32(math.Log(3))
	cls := []float32{0, 0, ln3, 0}
	msk := []float32{0, 0, ln3, -ln3}
	tgt := []float32{1, 0, 0.5, 0.5}
	classes := []int{0, 0}
	got := Cost(nil, cls, msk, tgt, classes, 2, 1, 2, nil)
	want := []float64{4.132402569466393, 4.132402569466393, 0.7717436955922376, 4.351607750595846}
	for i := range want {
		// float32 ln 3 carries a 1e-8 relative error.
		if !near(got[i], want[i], 1e-6) {
			t.Errorf("C[%d][%d] = %.15g, want %.15g", i/2, i%2, got[i], want[i])
		}
	}
	// Pairings: q0→g1, q1→g0 costs 4.1324+0.7717 = 4.904; q0→g0, q1→g1 costs
	// 4.1324+4.3516 = 8.484 → gtToQuery = [1, 0].
	if m := Match(cls, msk, tgt, classes, 2, 1, 2, nil); !slices.Equal(m, []int{1, 0}) {
		t.Errorf("Match = %v, want [1 0]", m)
	}
	// Weights select the terms: class only → C[q1][g0] = −3/4.
	w := Weights{Class: 1}
	if c := Cost(nil, cls, msk, tgt, classes, 2, 1, 2, &w); !near(c[2], -0.75, 1e-7) {
		t.Errorf("class-only cost %v, want −0.75", c[2])
	}
}

// naiveCost evaluates the cost the way Mask2Former's matcher.py writes it:
// BCE through pos = BCE(x, 1) = softplus(−x) and neg = BCE(x, 0) =
// softplus(x), combined as (pos·t + neg·(1−t)) / P; dice on sigmoid
// probabilities; softmax by direct exponentials.
func naiveCost(cls, msk, tgt []float32, classes []int, nq, k, p int, w Weights) []float64 {
	g := len(classes)
	out := make([]float64, nq*g)
	sp := func(x float64) float64 { return math.Log(1 + math.Exp(x)) }
	for q := 0; q < nq; q++ {
		den := 0.0
		for c := 0; c <= k; c++ {
			den += math.Exp(float64(cls[q*(k+1)+c]))
		}
		for j := 0; j < g; j++ {
			bce, num, sx, st := 0.0, 0.0, 0.0, 0.0
			for i := 0; i < p; i++ {
				x, tt := float64(msk[q*p+i]), float64(tgt[j*p+i])
				bce += sp(-x)*tt + sp(x)*(1-tt)
				s := 1 / (1 + math.Exp(-x))
				num += s * tt
				sx += s
				st += tt
			}
			prob := math.Exp(float64(cls[q*(k+1)+classes[j]])) / den
			out[q*g+j] = -w.Class*prob + w.Mask*bce/float64(p) + w.Dice*(1-(2*num+1)/(sx+st+1))
		}
	}
	return out
}

func TestCostAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 50; trial++ {
		nq, k, p, g := 1+rng.IntN(8), 1+rng.IntN(5), 1+rng.IntN(64), rng.IntN(5)
		cls := make([]float32, nq*(k+1))
		msk := make([]float32, nq*p)
		tgt := make([]float32, g*p)
		classes := make([]int, g)
		for i := range cls {
			cls[i] = float32(rng.NormFloat64() * 3)
		}
		for i := range msk {
			msk[i] = float32(rng.NormFloat64() * 5) // |x| up to ~20: naive form still finite
		}
		for i := range tgt {
			if trial%2 == 0 {
				tgt[i] = float32(rng.IntN(2))
			} else {
				tgt[i] = rng.Float32() // fractional point-sampled targets
			}
		}
		for i := range classes {
			classes[i] = rng.IntN(k)
		}
		w := Weights{Class: 2, Mask: 5, Dice: 5}
		got := Cost(make([]float64, nq*g), cls, msk, tgt, classes, nq, k, p, &w)
		want := naiveCost(cls, msk, tgt, classes, nq, k, p, w)
		for i := range want {
			// Cost evaluates sigmoid and softplus in float32 (internal/fmath,
			// ≤ 5e-7 relative error per term) and sums in float64.
			if !near(got[i], want[i], 1e-6) {
				t.Fatalf("trial %d entry %d: %v, naive %v", trial, i, got[i], want[i])
			}
		}
	}
}

// TestCostLargeLogits: logits of ±200 overflow exp in a naive softplus or
// softmax; the stable forms must stay finite. For x = +200 on t = 1 the BCE
// is softplus(200) − 200 ≈ e^−200 ≈ 0 and for x = −200 on t = 0 it is
// softplus(−200) ≈ 0, so a perfect mask has BCE ≈ 0 and Dice = 1 − (2·1+1)/(1+1+1) = 0
// (σ(200) = 1, σ(−200) ≈ 0), and class logits (200, −200) give p(0) ≈ 1:
// C = 2·(−1) + 0 + 0 = −2.
func TestCostLargeLogits(t *testing.T) {
	c := Cost(nil, []float32{200, -200}, []float32{200, -200}, []float32{1, 0}, []int{0}, 1, 1, 2, nil)
	if !near(c[0], -2, 1e-12) {
		t.Errorf("cost %v, want −2", c[0])
	}
}

// TestMatchPicksExactPrediction: among random queries, a query whose class
// and mask reproduce a GT segment (logits ±10 on its binary target, class
// logit 10 on its class) is matched to that segment.
func TestMatchPicksExactPrediction(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const nq, k, p = 10, 4, 64
	classes := []int{2, 0, 3}
	tgt := make([]float32, len(classes)*p)
	for i := range tgt {
		tgt[i] = float32(rng.IntN(2))
	}
	cls := make([]float32, nq*(k+1))
	msk := make([]float32, nq*p)
	for i := range cls {
		cls[i] = float32(rng.NormFloat64())
	}
	for i := range msk {
		msk[i] = float32(rng.NormFloat64())
	}
	owner := []int{7, 2, 4} // query that reproduces GT g
	for g, q := range owner {
		for c := 0; c <= k; c++ {
			cls[q*(k+1)+c] = 0
		}
		cls[q*(k+1)+classes[g]] = 10
		for i := 0; i < p; i++ {
			msk[q*p+i] = 20*tgt[g*p+i] - 10
		}
	}
	if got := Match(cls, msk, tgt, classes, nq, k, p, nil); !slices.Equal(got, owner) {
		t.Errorf("Match = %v, want %v", got, owner)
	}
	// Fewer queries than GT: the first two queries only; one GT stays −1.
	got := Match(cls[:2*(k+1)], msk[:2*p], tgt, classes, 2, k, p, nil)
	n := 0
	for _, q := range got {
		if q >= 0 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("2 queries, 3 GT: %v, want two matched", got)
	}
	// No GT: empty matching.
	if got := Match(cls, msk, nil, nil, nq, k, p, nil); len(got) != 0 {
		t.Errorf("no GT: %v", got)
	}
}

func TestCostPanics(t *testing.T) {
	cls := []float32{0, 0}
	msk := []float32{0, 0}
	tgt := []float32{1, 0}
	for i, f := range []func(){
		func() { Cost(nil, cls[:1], msk, tgt, []int{0}, 1, 1, 2, nil) },
		func() { Cost(nil, cls, msk[:1], tgt, []int{0}, 1, 1, 2, nil) },
		func() { Cost(nil, cls, msk, tgt[:1], []int{0}, 1, 1, 2, nil) },
		func() { Cost(nil, cls, msk, tgt, []int{1}, 1, 1, 2, nil) }, // class K is "no object"
		func() { Cost(make([]float64, 3), cls, msk, tgt, []int{0}, 1, 1, 2, nil) },
		func() { Cost(nil, cls, nil, nil, []int{}, 1, 1, 0, nil) },
	} {
		if !panics(f) {
			t.Errorf("case %d did not panic", i)
		}
	}
}
