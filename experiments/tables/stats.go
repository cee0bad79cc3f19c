package tables

import (
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/metrics"
)

// Dash marks an undefined value in text and Markdown.
const Dash = "—"

// Kind says how a metric is shown in text and Markdown.
type Kind int

const (
	// Fraction values (the zero Kind) are shown ×100 with one decimal.
	Fraction Kind = iota
	// Count values (seeds, images, steps per second, …) are shown as
	// they are, with 4 significant digits (2 for an sd).
	Count
)

// formatValue formats one value of kind k for text: percent with one
// decimal, or %.4g; Dash for NaN.
func formatValue(v float64, k Kind) string {
	switch {
	case math.IsNaN(v):
		return Dash
	case k == Fraction:
		return fmt.Sprintf("%.1f", 100*v)
	default:
		return fmt.Sprintf("%.4g", v)
	}
}

// stat is one cell over seeds.
func stat(v []float64) *Number {
	m, sd, n := metrics.MeanSD(v)
	return &Number{Value: m, SD: sd, N: n}
}

// MinSeedsForSD is the number of values from which a text cell shows the
// sample sd: an sd of two values says little, and "± 0.0" from two equal
// runs reads as certainty.
const MinSeedsForSD = 3

// formatStat formats a cell over seeds: "m ± sd" when sdShown is set
// (some configuration of the table has MinSeedsForSD seeds) and the cell
// has that many values, else "m"; Dash for a cell with no value.
func formatStat(x *Number, k Kind, sdShown bool) string {
	if math.IsNaN(x.Value) {
		return Dash
	}
	if !sdShown || x.N < MinSeedsForSD {
		return formatValue(x.Value, k)
	}
	sd := formatValue(x.SD, k)
	if k == Count && !math.IsNaN(x.SD) {
		sd = fmt.Sprintf("%.2g", x.SD)
	}
	return formatValue(x.Value, k) + " ± " + sd
}

// group collects items by a key in order of first appearance.
type group[T any] struct {
	keys  []string
	items map[string][]T
}

func (g *group[T]) add(key string, item T) {
	if g.items == nil {
		g.items = map[string][]T{}
	}
	if _, ok := g.items[key]; !ok {
		g.keys = append(g.keys, key)
	}
	g.items[key] = append(g.items[key], item)
}

// checkSeeds panics if two runs of one configuration have the same seed
// (the same run counted twice).
func checkSeeds(what, key string, seeds []uint64) {
	seen := map[uint64]bool{}
	for _, s := range seeds {
		if seen[s] {
			panic(fmt.Sprintf("tables: %s %q: seed %d appears twice", what, key, s))
		}
		seen[s] = true
	}
}

func seedList(seeds []uint64) string {
	s := ""
	for i, x := range seeds {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(x)
	}
	return s
}
