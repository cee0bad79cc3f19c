package limits

import (
	"math"
	"testing"
)

func TestRange(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		r    Range
		in   []float64
		out  []float64
		text string
	}{
		{AtLeast(1), []float64{1, 2, 1e9}, []float64{0, -1, 1.5, nan, inf}, "a whole number ≥ 1"},
		{Ints(0, 100), []float64{0, 100}, []float64{-1, 101, 0.5}, "a whole number in [0, 100]"},
		{Reals(0, 1), []float64{0, 0.5, 1}, []float64{-0.01, 1.01, nan, -inf}, "a number in [0, 1]"},
		{Positive(), []float64{1e-12, 3}, []float64{0, -1, inf}, "a number > 0"},
		{Positive().Or(0, "the default, 3e-4"), []float64{0, 1e-3}, []float64{-1, nan}, "a number > 0, or 0 (the default, 3e-4)"},
		{AtLeast(0).Or(-1, "the default"), []float64{-1, 0, 7}, []float64{-2, -5}, "a whole number ≥ 0, or -1 (the default)"},
		{Ints(32, 4096).Times(32), []float64{32, 64, 4096}, []float64{0, 48, 8192, 31}, "a multiple of 32 in [32, 4096]"},
		{Any(), []float64{0, -3, 1 << 60}, []float64{0.5, nan}, "a whole number"},
		{Range{Min: 0, Max: 1, MinOpen: true, MaxOpen: true}, []float64{0.5}, []float64{0, 1}, "a number in (0, 1)"},
	}
	for _, c := range cases {
		if got := c.r.String(); got != c.text {
			t.Errorf("String() = %q, want %q", got, c.text)
		}
		for _, v := range c.in {
			if err := c.r.Check(v); err != nil {
				t.Errorf("%s: %v refused: %v", c.text, v, err)
			}
		}
		for _, v := range c.out {
			if c.r.Contains(v) {
				t.Errorf("%s: %v accepted", c.text, v)
			}
		}
	}
	if got := AtLeast(1).Check(-3).Error(); got != "out of range (want a whole number ≥ 1)" {
		t.Errorf("message %q", got)
	}
}
