package tables

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/mpanalyze/mpanalyze/metrics"
)

// RunStages is one probed run's per-stage figures (a probes.Report over
// one query set), the input of Diagnosis. A decoder with S stages has S
// entries per stage and S−1 per stage pair; a figure the run does not have
// is missing from Figures (its cells read "—").
type RunStages struct {
	// Model labels the configuration; runs with the same Model are seeds
	// of it and are averaged.
	Model string
	Seed  uint64
	// StageLayers[s] is the number of decoder layers applied before
	// stage s (probes.RunInfo.Layers): 0..9 for a 9-layer Mask2Former,
	// 1..6 for MaskFormer. Rows of Diagnosis are keyed by it, so models
	// with different stage counts line up. Nil means s.
	StageLayers []int
	// Figures holds the run's figures by registry key (metrics.Figures).
	Figures map[string]metrics.Series
}

// stages returns the layer count of each stage, and panics if the
// figures disagree on the number of stages.
func (r *RunStages) stages() []int {
	S := -1
	set := func(n int, what string) {
		if S >= 0 && n != S {
			panic(fmt.Sprintf("tables: run %q seed %d: %s implies %d stages, other figures %d", r.Model, r.Seed, what, n, S))
		}
		S = n
	}
	if r.StageLayers != nil {
		set(len(r.StageLayers), "StageLayers")
	}
	for _, key := range slices.Sorted(maps.Keys(r.Figures)) {
		v := r.Figures[key]
		if v == nil {
			continue
		}
		fg := mustFigure(key)
		if fg.Pair {
			set(len(v)+1, key)
		} else {
			set(len(v), key)
		}
	}
	if S <= 0 {
		panic(fmt.Sprintf("tables: run %q seed %d has no stage figure", r.Model, r.Seed))
	}
	if r.StageLayers != nil {
		return r.StageLayers
	}
	layers := make([]int, S)
	for s := range layers {
		layers[s] = s
	}
	return layers
}

// mustFigure returns the registry entry of a figure key; it panics on a
// key the registry does not have.
func mustFigure(key string) *metrics.Figure {
	fg, _, err := metrics.FigureByKey(key)
	if err != nil {
		panic("tables: " + err.Error())
	}
	return fg
}

// DiagnosisSettings configures Diagnosis. The zero value shows
// consecutive IoU and Util-A.
type DiagnosisSettings struct {
	// Title defaults to "Layer-to-layer consistency and query utilisation".
	Title string
	// Columns are the keys (metrics.Figures) of the figures shown per
	// model, in order; nil means consecutive IoU and Util-A.
	Columns []string
}

// Diagnosis builds the per-stage table that compares models side by side:
// one row per stage, keyed by the number of decoder layers before it (the
// "layers" column), and for each model (in order of first appearance in
// runs) one column per figure of s.Columns, headed "<model> <figure>".
// Each cell is the mean ± sd over the model's seeds (see the package
// documentation). A per-pair figure (consecutive IoU, matching change) on
// the row of stage s compares stage s with the next stage; the last stage
// of a model reads "—". A nil s means the zero settings.
//
// It panics if runs is empty, a run's slices disagree on the number of
// stages, or a model has the same seed twice.
func Diagnosis(runs []RunStages, s *DiagnosisSettings) Table {
	if s == nil {
		s = &DiagnosisSettings{}
	}
	if len(runs) == 0 {
		panic("tables: Diagnosis: no runs")
	}
	cols := s.Columns
	if cols == nil {
		cols = []string{"consecutive_iou", "util_a"}
	}
	if len(cols) == 0 {
		panic("tables: Diagnosis: no columns")
	}
	var g group[*RunStages]
	for i := range runs {
		g.add(runs[i].Model, &runs[i])
	}
	layers, spread, sdShown := diagnosisLayers(&g)
	header := []string{"layers"}
	for _, m := range g.keys {
		for _, c := range cols {
			header = append(header, m+" "+mustFigure(c).Header)
		}
	}
	t := Table{Title: s.Title, Header: header}
	if t.Title == "" {
		t.Title = "Layer-to-layer consistency and query utilisation"
	}
	blank := false
	for _, l := range layers {
		row := []string{fmt.Sprint(l)}
		vals := []*Number{Plain(float64(l))}
		for _, m := range g.keys {
			for _, c := range cols {
				n, present := stageStat(g.items[m], l, c)
				if !present { // the model has no such stage
					blank = true
					row = append(row, "")
					vals = append(vals, nil)
					continue
				}
				row = append(row, formatStat(n, Fraction, sdShown))
				vals = append(vals, n)
			}
		}
		t.Rows = append(t.Rows, row)
		t.Values = append(t.Values, vals)
	}
	t.Notes = append(t.Notes, unitNote("Values", spread, sdShown))
	if blank {
		t.Notes = append(t.Notes, "A blank cell: the model has no stage after that many layers.")
	}
	t.Notes = append(t.Notes, diagnosisNotes(&g, cols)...)
	return t
}

// diagnosisLayers checks each model's seeds and returns the table's rows
// (the union of the models' layer counts, ascending), whether a model has
// several seeds and whether one has enough to show a standard deviation.
func diagnosisLayers(g *group[*RunStages]) (layers []int, spread, sdShown bool) {
	rowOf := map[int]bool{}
	for _, m := range g.keys {
		var seeds []uint64
		for _, r := range g.items[m] {
			for _, l := range r.stages() {
				rowOf[l] = true
			}
			seeds = append(seeds, r.Seed)
		}
		checkSeeds("model", m, seeds)
		spread = spread || len(seeds) > 1
		sdShown = sdShown || len(seeds) >= MinSeedsForSD
	}
	for l := range rowOf {
		layers = append(layers, l)
	}
	slices.Sort(layers)
	return layers, spread, sdShown
}

// stageStat is the mean ± sd over a model's seeds of figure c at the stage
// after l layers (NaN where a seed's figure has no value there), and
// whether any seed has that stage.
func stageStat(seeds []*RunStages, l int, c string) (*Number, bool) {
	var v []float64
	present := false
	for _, r := range seeds {
		st := indexOf(r.stages(), l)
		if st < 0 {
			continue
		}
		present = true
		x := math.NaN()
		if col := r.Figures[c]; st < len(col) {
			x = col[st]
		}
		v = append(v, x)
	}
	if !present {
		return nil, false
	}
	return stat(v), true
}

// diagnosisNotes explains the columns and lists each model's seeds.
func diagnosisNotes(g *group[*RunStages], cols []string) []string {
	var expl []string
	for _, c := range cols {
		fg := mustFigure(c)
		expl = append(expl, fg.Header+": "+fg.Doc)
	}
	var ms []string
	for _, m := range g.keys {
		var seeds []uint64
		for _, r := range g.items[m] {
			seeds = append(seeds, r.Seed)
		}
		ms = append(ms, fmt.Sprintf("%s: %s (%s)", m, plural(len(seeds), "seed"), seedList(seeds)))
	}
	return []string{strings.Join(expl, "; ") + ".", "Runs — " + strings.Join(ms, "; ") + "."}
}

// unitNote says that what (e.g. "Values") is in percent, how cells over
// seeds read (spread: some configuration has several seeds; sdShown: some
// has MinSeedsForSD), and what CSV and JSON carry.
func unitNote(what string, spread, sdShown bool) string {
	if spread {
		return what + " in percent: " + seedNote(sdShown) + "; — = undefined. CSV and JSON give fractions (and the sd)."
	}
	return what + " in percent; — = undefined. CSV and JSON give fractions."
}

// seedNote says how a cell over seeds reads.
func seedNote(sdShown bool) string {
	if sdShown {
		return fmt.Sprintf("mean ± sample sd (n−1) over seeds, the sd shown from %d seeds", MinSeedsForSD)
	}
	return fmt.Sprintf("mean over seeds (an sd is shown from %d seeds)", MinSeedsForSD)
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

func indexOf(v []int, x int) int {
	for i, y := range v {
		if y == x {
			return i
		}
	}
	return -1
}
