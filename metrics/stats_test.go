package metrics

import (
	"math"
	"testing"
)

// sameFloat: equal within 1e-12, or both NaN.
func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-12
}

func TestMeanSD(t *testing.T) {
	for i, c := range []struct {
		v        []float64
		mean, sd float64
		n        int
	}{
		// hand-computed: Σ(x−2.5)² = 5, sd = sqrt(5/3)
		{[]float64{1, 2, 3, 4}, 2.5, math.Sqrt(5.0 / 3), 4},
		{[]float64{1, math.NaN(), 3}, 2, math.Sqrt2, 2}, // NaN left out: sqrt(2/1)
		{[]float64{0.7}, 0.7, math.NaN(), 1},
		{[]float64{math.NaN()}, math.NaN(), math.NaN(), 0},
		{nil, math.NaN(), math.NaN(), 0},
	} {
		m, sd, n := MeanSD(c.v)
		if n != c.n || !sameFloat(m, c.mean) || !sameFloat(sd, c.sd) {
			t.Errorf("case %d: MeanSD(%v) = %v, %v, %d; want %v, %v, %d", i, c.v, m, sd, n, c.mean, c.sd, c.n)
		}
	}
}

func TestTInterval95(t *testing.T) {
	// hand: {1, 2, 3, 4}: mean 2.5, sd √(5/3) = 1.290994; t(0.975, 3) =
	// 3.182446 (tables of Student's t); half-width 3.182446·1.290994/2 =
	// 2.054260.
	iv := TInterval95([]float64{1, 2, 3, 4})
	if iv.Method != "t" || iv.N != 4 || !sameFloat(iv.Mean, 2.5) || math.Abs(iv.Lo-(2.5-2.054260)) > 1e-6 || math.Abs(iv.Hi-(2.5+2.054260)) > 1e-6 {
		t.Errorf("TInterval95 = %+v", iv)
	}
	// two values: t(0.975, 1) = 12.706205, sd of {0, 1} = 1/√2, half-width
	// 12.706205·(1/√2)/√2 = 6.353102
	if iv := TInterval95([]float64{0, 1}); math.Abs(iv.Hi-iv.Mean-6.353102) > 1e-6 {
		t.Errorf("TInterval95(0, 1) = %+v", iv)
	}
	if iv := TInterval95([]float64{0.3}); iv.Method != "" || !math.IsNaN(iv.Lo) || iv.Mean != 0.3 {
		t.Errorf("one value: %+v", iv)
	}
	if !(Interval{Lo: 0.1, Hi: 0.2}).Excludes0() || (Interval{Lo: -0.1, Hi: 0.2}).Excludes0() {
		t.Error("Excludes0")
	}
}

func TestSummarizeImagesAndBootstrap(t *testing.T) {
	// Two images: image 0 has consecutive sums {1/2, 1} over 2 queries
	// per pair, image 1 {1, 1} over 1; Util-A {0 of 2, 2 of 2}, {1 of 1,
	// 1 of 1}.
	a := []ImageValues{
		{Index: 0, Consecutive: []Mean{{0.5, 2}}, UtilA: []Mean{{0, 2}, {2, 2}}},
		{Index: 1, Consecutive: []Mean{{1, 1}}, UtilA: []Mean{{1, 1}, {1, 1}}},
	}
	// pooled: cons (0.5+1)/3 = 0.5; Util-A over the stages before the
	// last: (0+1)/3 = 1/3.
	s := SummarizeImages(a, nil)
	if !sameFloat(s.ConsecutiveIoU, 0.5) || !sameFloat(s.UtilA, 1.0/3) {
		t.Errorf("SummarizeImages = %+v", s)
	}
	// image 1 twice: cons (1+1)/2 = 1, Util-A 2/2 = 1
	if s := SummarizeImages(a, []int{1, 1}); s.ConsecutiveIoU != 1 || s.UtilA != 1 {
		t.Errorf("SummarizeImages(1, 1) = %+v", s)
	}
	// A candidate that is better on every image by construction: the
	// difference and every resample are positive, so the interval is.
	b := []ImageValues{
		{Index: 1, Consecutive: []Mean{{1, 1}}, UtilA: []Mean{{1, 1}, {1, 1}}},
		{Index: 0, Consecutive: []Mean{{1.5, 2}}, UtilA: []Mean{{1, 2}, {2, 2}}},
	}
	cons, util := BootstrapDiff95([]PairedRuns{{Base: a, Cand: b}}, 500, 1)
	// point estimate: cons (1.5+1)/3 − 0.5 = 1/3; Util-A (1+1)/3 − 1/3 = 1/3
	if !sameFloat(cons.Mean, 1.0/3) || !sameFloat(util.Mean, 1.0/3) || cons.Method != "bootstrap" || cons.N != 2 {
		t.Errorf("bootstrap point estimates %+v %+v", cons, util)
	}
	if cons.Lo < 0 || cons.Hi > 0.5+1e-12 || cons.Lo > cons.Mean || cons.Hi < cons.Mean {
		t.Errorf("consecutive interval %+v", cons)
	}
	// the same seed gives the same interval
	if c2, _ := BootstrapDiff95([]PairedRuns{{Base: a, Cand: b}}, 500, 1); c2 != cons {
		t.Errorf("bootstrap not reproducible: %+v vs %+v", c2, cons)
	}
	// no image in common: no interval
	if c, _ := BootstrapDiff95([]PairedRuns{{Base: a[:1], Cand: b[:1]}}, 10, 1); c.Method != "" {
		t.Errorf("disjoint images gave %+v", c)
	}
}
