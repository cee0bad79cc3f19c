package tables

import (
	"fmt"
	"strings"
)

// RunScores is one evaluated run's task metrics (a metrics.EvalReport), the
// input of Accuracy. Scores are fractions; NaN means undefined (e.g. PQ of
// stuff on a dataset without stuff categories, or AP with no GT instance).
type RunScores struct {
	// Model labels the configuration; runs with the same Model are seeds
	// of it and are averaged.
	Model string
	Seed  uint64
	// Panoptic quality over all, thing and stuff categories.
	PQ, PQThings, PQStuff float64
	// COCO mask AP (IoU .50:.95), AP50 and AP75.
	AP, AP50, AP75 float64
	// Semantic mean IoU.
	MIoU float64
}

// AccuracySettings configures Accuracy. The zero value is the default.
type AccuracySettings struct {
	// Title defaults to "Task metrics".
	Title string
}

var accuracyColumns = []struct {
	name string
	get  func(*RunScores) float64
}{
	{"PQ", func(r *RunScores) float64 { return r.PQ }},
	{"PQ th", func(r *RunScores) float64 { return r.PQThings }},
	{"PQ st", func(r *RunScores) float64 { return r.PQStuff }},
	{"AP", func(r *RunScores) float64 { return r.AP }},
	{"AP50", func(r *RunScores) float64 { return r.AP50 }},
	{"AP75", func(r *RunScores) float64 { return r.AP75 }},
	{"mIoU", func(r *RunScores) float64 { return r.MIoU }},
}

// Accuracy builds the task-metric table: one row per model (in order of
// first appearance), its number of seeds, then PQ (all, things, stuff),
// mask AP (AP, AP50, AP75) and mIoU as mean ± sd over the seeds (see the
// package documentation). A nil s means the zero settings.
//
// It panics if runs is empty or a model has the same seed twice.
func Accuracy(runs []RunScores, s *AccuracySettings) Table {
	if s == nil {
		s = &AccuracySettings{}
	}
	if len(runs) == 0 {
		panic("tables: Accuracy: no runs")
	}
	var g group[*RunScores]
	for i := range runs {
		g.add(runs[i].Model, &runs[i])
	}
	spread, sdShown := false, false
	for _, m := range g.keys {
		var seeds []uint64
		for _, r := range g.items[m] {
			seeds = append(seeds, r.Seed)
		}
		checkSeeds("model", m, seeds)
		spread = spread || len(seeds) > 1
		sdShown = sdShown || len(seeds) >= MinSeedsForSD
	}
	t := Table{Title: s.Title, Header: []string{"model", "seeds"}}
	if t.Title == "" {
		t.Title = "Task metrics"
	}
	for _, c := range accuracyColumns {
		t.Header = append(t.Header, c.name)
	}
	var ms []string
	for _, m := range g.keys {
		rs := g.items[m]
		row := []string{m, fmt.Sprint(len(rs))}
		vals := []*Number{nil, Plain(float64(len(rs)))}
		for _, c := range accuracyColumns {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = c.get(r)
			}
			n := stat(v)
			row = append(row, formatStat(n, Fraction, sdShown))
			vals = append(vals, n)
		}
		t.Rows = append(t.Rows, row)
		t.Values = append(t.Values, vals)
		var seeds []uint64
		for _, r := range rs {
			seeds = append(seeds, r.Seed)
		}
		ms = append(ms, fmt.Sprintf("%s: %s", m, seedList(seeds)))
	}
	t.Notes = []string{
		unitNote("Scores", spread, sdShown),
		"PQ th/st: PQ over thing/stuff categories; AP: COCO mask AP over IoU .50:.95.",
		"Seeds — " + strings.Join(ms, "; ") + ".",
	}
	return t
}
