// Package finite finds NaN and ±Inf values in float arrays, for the
// readers that refuse them (checkpoints, traces) with the array and the
// first offending index named.
package finite

import (
	"fmt"
	"math"
	"strings"
)

// Index returns the position of the first NaN or ±Inf in x, or −1.
func Index[T float32 | float64](x []T) int {
	for i, v := range x {
		// v−v is 0 for finite v and NaN for NaN and ±Inf.
		if f := float64(v); f-f != 0 {
			return i
		}
	}
	return -1
}

// IndexNaN returns the position of the first NaN in x, or −1.
func IndexNaN[T float32 | float64](x []T) int {
	for i, v := range x {
		if v != v {
			return i
		}
	}
	return -1
}

// Coords formats the flat (C-order) index i of an array of the given
// shape as "[a, b, c]" ("[i]" when the shape does not hold i).
func Coords(shape []int, i int) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(shape) == 0 || i < 0 || i >= n {
		return fmt.Sprintf("[%d]", i)
	}
	c := make([]string, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		c[k] = fmt.Sprint(i % shape[k])
		i /= shape[k]
	}
	return "[" + strings.Join(c, ", ") + "]"
}

// Describe is "NaN", "+Inf" or "-Inf" (or the value).
func Describe(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return fmt.Sprint(v)
}
