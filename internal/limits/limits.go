// Package limits describes the allowed range of a numeric setting, so that
// a command-line flag, an experiment spec key and a stored run config are
// refused with one message that names the setting, the value and the range.
package limits

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Range is a set of allowed values: the interval [Min, Max] (bounds
// excluded when MinOpen / MaxOpen; ±Inf for none), restricted to whole
// numbers when Int and to multiples of Multiple when it is > 0, plus the
// single values of Also (such as 0 or −1 meaning "the default"). NaN and
// ±Inf are never allowed.
type Range struct {
	Min, Max         float64
	MinOpen, MaxOpen bool
	Int              bool
	Multiple         int
	// Also are values allowed outside the interval, each with what it
	// means ("the default", "off").
	Also []Special
}

// Special is a value with a meaning of its own.
type Special struct {
	Value float64
	Means string
}

// AtLeast is the whole numbers ≥ n.
func AtLeast(n int) Range { return Range{Min: float64(n), Max: math.Inf(1), Int: true} }

// Ints is the whole numbers in [lo, hi].
func Ints(lo, hi int) Range { return Range{Min: float64(lo), Max: float64(hi), Int: true} }

// Reals is the finite numbers in [lo, hi].
func Reals(lo, hi float64) Range { return Range{Min: lo, Max: hi} }

// Positive is the finite numbers > 0.
func Positive() Range { return Range{Min: 0, MinOpen: true, Max: math.Inf(1)} }

// NonNegative is the finite numbers ≥ 0.
func NonNegative() Range { return Range{Min: 0, Max: math.Inf(1)} }

// Any is every whole number (seeds).
func Any() Range { return Range{Min: math.Inf(-1), Max: math.Inf(1), Int: true} }

// Or returns r with the value v allowed as well, meaning means.
func (r Range) Or(v float64, means string) Range {
	r.Also = append(append([]Special(nil), r.Also...), Special{v, means})
	return r
}

// Times returns r restricted to multiples of k.
func (r Range) Times(k int) Range {
	r.Multiple = k
	return r
}

// Contains reports whether v is allowed.
func (r Range) Contains(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	for _, s := range r.Also {
		if v == s.Value {
			return true
		}
	}
	switch {
	case v < r.Min || (r.MinOpen && v == r.Min):
		return false
	case v > r.Max || (r.MaxOpen && v == r.Max):
		return false
	case r.Int && v != math.Trunc(v):
		return false
	case r.Multiple > 0 && math.Mod(v, float64(r.Multiple)) != 0:
		return false
	}
	return true
}

// Check returns nil when v is allowed, else the error "out of range (want
// …)"; the caller names the setting and the value.
func (r Range) Check(v float64) error {
	if r.Contains(v) {
		return nil
	}
	return fmt.Errorf("out of range (want %s)", r)
}

// String describes the range: "a whole number ≥ 1", "a number in [0, 1]",
// "a multiple of 32 in [32, 4096], or 0 (the default)".
func (r Range) String() string {
	var b strings.Builder
	kind := "a number"
	switch {
	case r.Multiple > 0:
		kind = "a multiple of " + strconv.Itoa(r.Multiple)
	case r.Int:
		kind = "a whole number"
	}
	b.WriteString(kind)
	lo, hi := !math.IsInf(r.Min, -1), !math.IsInf(r.Max, 1)
	switch {
	case lo && hi:
		open, close := "[", "]"
		if r.MinOpen {
			open = "("
		}
		if r.MaxOpen {
			close = ")"
		}
		fmt.Fprintf(&b, " in %s%s, %s%s", open, num(r.Min), num(r.Max), close)
	case lo:
		op := " ≥ "
		if r.MinOpen {
			op = " > "
		}
		b.WriteString(op + num(r.Min))
	case hi:
		op := " ≤ "
		if r.MaxOpen {
			op = " < "
		}
		b.WriteString(op + num(r.Max))
	}
	for i, s := range r.Also {
		if i == 0 {
			b.WriteString(", or ")
		} else {
			b.WriteString(" or ")
		}
		b.WriteString(num(s.Value))
		if s.Means != "" {
			b.WriteString(" (" + s.Means + ")")
		}
	}
	return b.String()
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
