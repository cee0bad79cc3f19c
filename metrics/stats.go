package metrics

import (
	"math"

	"gonum.org/v1/gonum/stat"
)

// MeanSD returns the mean of the non-NaN values of v, their sample standard
// deviation
//
//	sd = sqrt(Σ (x_i − mean)² / (n − 1)),
//
// and their number n (gonum/stat's MeanStdDev on them). The mean is NaN
// when n = 0, the sd when n < 2. Tables and plots report seeds with it.
func MeanSD(v []float64) (mean, sd float64, n int) {
	x := make([]float64, 0, len(v))
	for _, f := range v {
		if !math.IsNaN(f) {
			x = append(x, f)
		}
	}
	switch n = len(x); n {
	case 0:
		return math.NaN(), math.NaN(), 0
	case 1:
		return x[0], math.NaN(), 1
	}
	mean, sd = stat.MeanStdDev(x, nil)
	return mean, sd, n
}
