package jsonnum

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Float is a float64 whose JSON form is a number, or null when it is NaN
// or ±Inf. Null (or a missing field left at NaN by the caller) reads back
// as NaN.
type Float float64

// NaN is an undefined Float.
var NaN = Float(math.NaN())

// MarshalJSON writes the number, or null when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) { return Append(nil, float64(f)), nil }

// UnmarshalJSON reads a number, or null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	v, err := Parse(b)
	if err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// Floats is a []float64 whose JSON form is an array of numbers and nulls
// (NaN and ±Inf written as null, null read as NaN). A nil slice is null.
type Floats []float64

// MarshalJSON writes the array.
func (s Floats) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 2+len(s)*8)
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = Append(b, v)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads an array of numbers and nulls; null alone is a nil
// slice.
func (s *Floats) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		*s = nil
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(Floats, len(raw))
	for i, r := range raw {
		v, err := Parse(r)
		if err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = v
	}
	*s = out
	return nil
}

// Append appends v to b as encoding/json writes a float64 (the shortest
// representation that reads back exactly; exponent form below 1e-6 and from
// 1e21), or null when v is NaN or ±Inf.
func Append(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// Parse reads one JSON number, or null as NaN.
func Parse(b []byte) (float64, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return math.NaN(), nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, fmt.Errorf("not a number or null: %s", b)
	}
	return v, nil
}
