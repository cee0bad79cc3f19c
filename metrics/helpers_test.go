package metrics

import (
	"math"
	"strings"

	"github.com/mpanalyze/mpanalyze/mask"
)

func panics(f func()) (b bool) {
	defer func() {
		if recover() != nil {
			b = true
		}
	}()
	f()
	return false
}

// near reports |a − b| ≤ tol, treating two NaNs as equal.
func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

// pic builds a mask from rows of '0'/'1' separated by '/': "10/01" is the
// 2×2 diagonal.
func pic(s string) *mask.Bits {
	rows := strings.Split(s, "/")
	h, w := len(rows), len(rows[0])
	m := mask.New(h, w)
	for y, r := range rows {
		if len(r) != w {
			panic("pic: ragged rows")
		}
		for x, c := range r {
			m.Set(y*w+x, c == '1')
		}
	}
	return m
}

// strip is a 1×w mask with pixels [from, to) set.
func strip(w, from, to int) *mask.Bits {
	return mask.FromFunc(1, w, func(i int) bool { return i >= from && i < to })
}
