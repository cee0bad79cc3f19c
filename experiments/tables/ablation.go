package tables

import (
	"fmt"
	"math"
	"strings"
)

// Param is one override of a grid point, e.g. {"decoder.layers", "6"}.
type Param struct {
	Key, Value string
}

// Metric is one named result of a run.
type Metric struct {
	Name  string
	Value float64 // NaN means undefined
	Kind  Kind    // Fraction (the default, shown in percent) or Count
}

// AblationRun is one run of a parameter grid, the input of Ablation.
type AblationRun struct {
	// Point is the run's grid point: its overrides, in the order their
	// columns should appear. Runs whose Points are equal (same keys and
	// values in the same order) are seeds of one point.
	Point []Param
	Seed  uint64
	// Metrics are the run's results; runs may list different metrics
	// (a missing one counts as undefined).
	Metrics []Metric
}

// AblationSettings configures Ablation. The zero value is the default.
type AblationSettings struct {
	// Title defaults to "Ablation".
	Title string
}

// Ablation builds the ablation table: one row per grid point, in order of
// first appearance. The first columns are the override keys (in order of
// first appearance; a point without a key reads "—"), then "seeds", then
// one column per metric name (in order of first appearance) with the mean
// ± sd over the point's seeds (see the package documentation). A nil s
// means the zero settings.
//
// It panics if runs is empty, a point has the same seed twice, a run names
// a metric twice, or a metric has two Kinds.
func Ablation(runs []AblationRun, s *AblationSettings) Table {
	if s == nil {
		s = &AblationSettings{}
	}
	if len(runs) == 0 {
		panic("tables: Ablation: no runs")
	}
	var g group[*AblationRun]
	for i := range runs {
		g.add(pointKey(runs[i].Point), &runs[i])
	}
	keys, metrics, kind := ablationColumns(runs)
	spread, sdShown := false, false
	for _, k := range g.keys {
		var seeds []uint64
		for _, r := range g.items[k] {
			seeds = append(seeds, r.Seed)
		}
		checkSeeds("grid point", k, seeds)
		spread = spread || len(seeds) > 1
		sdShown = sdShown || len(seeds) >= MinSeedsForSD
	}
	t := Table{Title: s.Title}
	if t.Title == "" {
		t.Title = "Ablation"
	}
	t.Header = append(append(append(t.Header, keys...), "seeds"), metrics...)
	for _, k := range g.keys {
		row, vals := ablationRow(g.items[k], keys, metrics, kind, sdShown)
		t.Rows = append(t.Rows, row)
		t.Values = append(t.Values, vals)
	}
	var pct, cnt []string
	for _, name := range metrics {
		if kind[name] == Fraction {
			pct = append(pct, name)
		} else {
			cnt = append(cnt, name)
		}
	}
	if len(pct) > 0 {
		what := "Metrics"
		if len(cnt) > 0 {
			what = strings.Join(pct, ", ")
		}
		t.Notes = append(t.Notes, unitNote(what, spread, sdShown))
	} else if spread {
		t.Notes = append(t.Notes, seedNote(sdShown)+"; — = undefined.")
	}
	return t
}

// ablationColumns returns the grid keys and the metric names in order of
// first appearance, and each metric's kind. A metric given twice by one
// run, or with two kinds, panics.
func ablationColumns(runs []AblationRun) (keys, metrics []string, kind map[string]Kind) {
	hasKey := map[string]bool{}
	kind = map[string]Kind{}
	for i := range runs {
		r := &runs[i]
		for _, p := range r.Point {
			if !hasKey[p.Key] {
				hasKey[p.Key] = true
				keys = append(keys, p.Key)
			}
		}
		seen := map[string]bool{}
		for _, m := range r.Metrics {
			if seen[m.Name] {
				panic(fmt.Sprintf("tables: Ablation: run %s seed %d has metric %q twice", pointKey(r.Point), r.Seed, m.Name))
			}
			seen[m.Name] = true
			k, ok := kind[m.Name]
			if !ok {
				kind[m.Name] = m.Kind
				metrics = append(metrics, m.Name)
			} else if k != m.Kind {
				panic(fmt.Sprintf("tables: Ablation: metric %q has two kinds", m.Name))
			}
		}
	}
	return keys, metrics, kind
}

// ablationRow is one grid point's row: its key values (— where it has
// none), its seed count, and each metric's mean ± sd over its seeds (NaN
// for a seed without it).
func ablationRow(rs []*AblationRun, keys, metrics []string, kind map[string]Kind, sdShown bool) ([]string, []*Number) {
	var row []string
	var vals []*Number
	for _, key := range keys {
		v := Dash
		for _, p := range rs[0].Point {
			if p.Key == key {
				v = p.Value
			}
		}
		row, vals = append(row, v), append(vals, nil)
	}
	row, vals = append(row, fmt.Sprint(len(rs))), append(vals, Plain(float64(len(rs))))
	for _, name := range metrics {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = math.NaN()
			for _, m := range r.Metrics {
				if m.Name == name {
					v[i] = m.Value
				}
			}
		}
		n := stat(v)
		row, vals = append(row, formatStat(n, kind[name], sdShown)), append(vals, n)
	}
	return row, vals
}

// pointKey identifies a grid point: its overrides as "k=v, k=v", or
// "(base)" for none.
func pointKey(p []Param) string {
	if len(p) == 0 {
		return "(base)"
	}
	var b strings.Builder
	for i, x := range p {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x.Key + "=" + x.Value)
	}
	return b.String()
}
