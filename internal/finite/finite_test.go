package finite

import (
	"math"
	"testing"
)

func TestIndex(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		x        []float32
		any, nan int
	}{
		{nil, -1, -1},
		{[]float32{0, -1e38, 3.4e38}, -1, -1},
		{[]float32{1, 2, nan, inf}, 2, 2},
		{[]float32{1, -inf, nan}, 1, 2},
		{[]float32{inf}, 0, -1},
	} {
		if got := Index(c.x); got != c.any {
			t.Errorf("Index(%v) = %d, want %d", c.x, got, c.any)
		}
		if got := IndexNaN(c.x); got != c.nan {
			t.Errorf("IndexNaN(%v) = %d, want %d", c.x, got, c.nan)
		}
	}
	if Index([]float64{1, math.Inf(-1)}) != 1 {
		t.Error("float64 -Inf not found")
	}
}

func TestCoords(t *testing.T) {
	for _, c := range []struct {
		shape []int
		i     int
		want  string
	}{
		{[]int{2, 3, 4}, 0, "[0, 0, 0]"},
		{[]int{2, 3, 4}, 23, "[1, 2, 3]"},
		{[]int{2, 3, 4}, 13, "[1, 0, 1]"},
		{[]int{5}, 4, "[4]"},
		{nil, 0, "[0]"},
		{[]int{2, 2}, 9, "[9]"},
	} {
		if got := Coords(c.shape, c.i); got != c.want {
			t.Errorf("Coords(%v, %d) = %s, want %s", c.shape, c.i, got, c.want)
		}
	}
	if Describe(math.NaN()) != "NaN" || Describe(math.Inf(-1)) != "-Inf" || Describe(2.5) != "2.5" {
		t.Error("Describe")
	}
}
