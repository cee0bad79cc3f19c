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
