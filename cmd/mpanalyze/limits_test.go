package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// allCommands walks the command tree.
func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

// numericTypes are pflag value types that hold numbers.
var numericTypes = map[string]bool{
	"int": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true,
	"float32": true, "float64": true, "count": true, "duration": true,
	"intSlice": true, "int32Slice": true, "int64Slice": true, "uintSlice": true,
	"float32Slice": true, "float64Slice": true, "durationSlice": true,
}

// TestEveryNumericFlagLimited fails when a command gains a numeric flag
// without an allowed range (limit), and checks that each flag's default
// is inside its own range.
func TestEveryNumericFlagLimited(t *testing.T) {
	var out, errOut bytes.Buffer
	root := newRootCmd(&streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	n := 0
	for _, c := range allCommands(root) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !numericTypes[f.Value.Type()] {
				return
			}
			l, ok := f.Value.(*limited)
			if !ok || l.r == nil {
				t.Errorf("%s --%s (%s) has no range: add limit(f, %q, …)", c.CommandPath(), f.Name, f.Value.Type(), f.Name)
				return
			}
			n++
			if strings.HasSuffix(f.Value.Type(), "Slice") || f.DefValue == "" {
				return
			}
			x, err := parseNumber(f.DefValue)
			if err != nil || !l.r.Contains(x) {
				t.Errorf("%s --%s: default %s outside its range %s", c.CommandPath(), f.Name, f.DefValue, *l.r)
			}
		})
	}
	if n < 50 {
		t.Errorf("only %d numeric flags found", n)
	}
}
