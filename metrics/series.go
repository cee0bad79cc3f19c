package metrics

import (
	"math"

	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
)

// Series is a vector of fractions indexed by stage, stage pair or class. An
// undefined entry (nothing to average) is NaN; it is written to JSON as
// null and read back as NaN.
type Series []float64

// MarshalJSON writes the series as a JSON array with null for NaN.
func (s Series) MarshalJSON() ([]byte, error) { return jsonnum.Floats(s).MarshalJSON() }

// UnmarshalJSON reads a JSON array of numbers and nulls; null becomes NaN.
func (s *Series) UnmarshalJSON(data []byte) error {
	return (*jsonnum.Floats)(s).UnmarshalJSON(data)
}

// nanSeries returns a series of n NaNs.
func nanSeries(n int) Series {
	s := make(Series, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}
