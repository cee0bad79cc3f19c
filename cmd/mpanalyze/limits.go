package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mpanalyze/mpanalyze/internal/limits"
)

// limit attaches an allowed range to the numeric flag name of f. A value
// outside it is refused while the command line is parsed, before anything
// runs, with one message naming the flag, the value and the range:
//
//	mpanalyze: --lr -1: out of range (want a number > 0, or 0 (the default, 3e-4)) (see 'mpanalyze train --help')
//
// (exit code 2). Every numeric flag of every command has one
// (TestEveryNumericFlagLimited).
func limit(f *pflag.FlagSet, name string, r limits.Range) {
	check(f, name, &r, func(v string) error {
		x, err := parseNumber(v)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		return r.Check(x)
	})
}

// oneOf restricts the string flag name of f (or each element of a list
// flag) to values, refused at parse time as limit does:
//
//	mpanalyze: --model resnet: want one of maskformer, mask2former, mpformer (see 'mpanalyze train --help')
func oneOf(f *pflag.FlagSet, name string, values ...string) {
	check(f, name, nil, func(v string) error {
		if slices.Contains(values, v) {
			return nil
		}
		return fmt.Errorf("want one of %s", strings.Join(values, ", "))
	})
}

func check(f *pflag.FlagSet, name string, r *limits.Range, ok func(string) error) {
	fl := f.Lookup(name)
	if fl == nil {
		panic("no flag --" + name)
	}
	fl.Value = &limited{Value: fl.Value, r: r, ok: ok}
}

// limited is a flag value checked after parsing.
type limited struct {
	pflag.Value
	r  *limits.Range // numeric flags
	ok func(string) error
}

func (l *limited) Set(s string) error {
	if err := l.Value.Set(s); err != nil {
		return err
	}
	vals := []string{l.Value.String()}
	if sv, ok := l.Value.(pflag.SliceValue); ok {
		vals = sv.GetSlice()
	}
	for _, v := range vals {
		if err := l.ok(v); err != nil {
			if len(vals) > 1 || v != s {
				return fmt.Errorf("%q: %w", v, err)
			}
			return err
		}
	}
	return nil
}

// parseNumber reads a flag value's text form (integers of any size, or
// floats including NaN and Inf, which every range refuses).
func parseNumber(s string) (float64, error) {
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return float64(u), nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN(), err
	}
	return x, nil
}
