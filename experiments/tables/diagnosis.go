package tables

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// RunStages is one probed run's per-stage figures (a probes.Report over
// one query set), the input of Diagnosis. A decoder with S stages has S
// entries per stage and S−1 per stage pair; a nil slice is a figure the
// run does not have (its cells read "—").
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
	// ConsecutiveIoU[s] is the IoU of stages s and s+1 (S−1 entries).
	ConsecutiveIoU []float64
	// IoUToFinal[s] is the IoU of stage s with the last stage (S).
	IoUToFinal []float64
	// UtilA, UtilB, UtilC are Util-A/B/C per stage (S).
	UtilA, UtilB, UtilC []float64
	// MatchChange[s] is the share of GT segments whose matched query
	// changes from stage s to s+1 (S−1).
	MatchChange []float64
	// Attended and Unblocked are the matching queries' mean attended
	// share and unblocked-row share of the mask layer s+1 uses (S, NaN at
	// the last stage).
	Attended, Unblocked []float64
}

// StageColumn is a per-stage figure Diagnosis can show.
type StageColumn int

const (
	ConsecutiveIoU StageColumn = iota // "cons. IoU"
	UtilA                             // "Util-A"
	UtilB                             // "Util-B"
	UtilC                             // "Util-C"
	IoUToFinal                        // "IoU→final"
	MatchChange                       // "match chg"
	Attended                          // "attended"
	Unblocked                         // "unblocked"
)

var stageColumnNames = [...]string{"cons. IoU", "Util-A", "Util-B", "Util-C", "IoU→final", "match chg", "attended", "unblocked"}

// String returns the column's header (after the model label).
func (c StageColumn) String() string {
	if c < 0 || int(c) >= len(stageColumnNames) {
		return fmt.Sprintf("StageColumn(%d)", int(c))
	}
	return stageColumnNames[c]
}

// pair reports whether the column is per stage pair (S−1 entries).
func (c StageColumn) pair() bool { return c == ConsecutiveIoU || c == MatchChange }

func (r *RunStages) column(c StageColumn) []float64 {
	switch c {
	case ConsecutiveIoU:
		return r.ConsecutiveIoU
	case UtilA:
		return r.UtilA
	case UtilB:
		return r.UtilB
	case UtilC:
		return r.UtilC
	case IoUToFinal:
		return r.IoUToFinal
	case MatchChange:
		return r.MatchChange
	case Attended:
		return r.Attended
	case Unblocked:
		return r.Unblocked
	}
	panic(fmt.Sprintf("tables: unknown StageColumn %d", int(c)))
}

// stages returns S and the layer count of each stage, and panics if the
// slices disagree.
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
	for c := range StageColumn(len(stageColumnNames)) {
		v := r.column(c)
		if v == nil {
			continue
		}
		if c.pair() {
			set(len(v)+1, c.String())
		} else {
			set(len(v), c.String())
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

// DiagnosisSettings configures Diagnosis. The zero value shows
// consecutive IoU and Util-A.
type DiagnosisSettings struct {
	// Title defaults to "Layer-to-layer consistency and query utilisation".
	Title string
	// Columns are the figures shown per model, in order; nil means
	// {ConsecutiveIoU, UtilA}.
	Columns []StageColumn
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
		cols = []StageColumn{ConsecutiveIoU, UtilA}
	}
	if len(cols) == 0 {
		panic("tables: Diagnosis: no columns")
	}
	var g group[*RunStages]
	for i := range runs {
		g.add(runs[i].Model, &runs[i])
	}
	// Rows: the union of the layer counts, ascending.
	rowOf := map[int]bool{}
	spread := false
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
	}
	var layers []int
	for l := range rowOf {
		layers = append(layers, l)
	}
	slices.Sort(layers)

	header := []string{"layers"}
	for _, m := range g.keys {
		for _, c := range cols {
			header = append(header, m+" "+c.String())
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
				var v []float64
				present := false
				for _, r := range g.items[m] {
					st := indexOf(r.stages(), l)
					if st < 0 {
						continue
					}
					present = true
					x := math.NaN()
					if col := r.column(c); col != nil && st < len(col) {
						x = col[st]
					}
					v = append(v, x)
				}
				if !present { // the model has no such stage
					blank = true
					row = append(row, "")
					vals = append(vals, nil)
					continue
				}
				n := stat(v)
				row = append(row, formatStat(n, Fraction, spread))
				vals = append(vals, n)
			}
		}
		t.Rows = append(t.Rows, row)
		t.Values = append(t.Values, vals)
	}

	t.Notes = append(t.Notes, unitNote("Values", spread))
	if blank {
		t.Notes = append(t.Notes, "A blank cell: the model has no stage after that many layers.")
	}
	var expl []string
	for _, c := range cols {
		expl = append(expl, c.String()+": "+stageColumnDocs[c])
	}
	t.Notes = append(t.Notes, strings.Join(expl, "; ")+".")
	var ms []string
	for _, m := range g.keys {
		var seeds []uint64
		for _, r := range g.items[m] {
			seeds = append(seeds, r.Seed)
		}
		ms = append(ms, fmt.Sprintf("%s: %s (%s)", m, plural(len(seeds), "seed"), seedList(seeds)))
	}
	t.Notes = append(t.Notes, "Runs — "+strings.Join(ms, "; ")+".")
	return t
}

var stageColumnDocs = [...]string{
	ConsecutiveIoU: "IoU of a query's masks at this stage and the next",
	UtilA:          "share of the GT segments matched at the last stage that are matched to the same query at this stage",
	UtilB:          "share of the queries matched at the last stage whose mask at this stage has IoU ≥ 0.5 with their last mask",
	UtilC:          "share of the GT segments matched at the last stage whose query's mask at this stage has IoU ≥ 0.5 with the segment",
	IoUToFinal:     "IoU of a query's mask at this stage with its mask at the last stage",
	MatchChange:    "share of GT segments whose matched query changes from this stage to the next",
	Attended:       "mean share of the feature map a matching query may attend to in the next layer",
	Unblocked:      "share of matching-query rows entirely blocked and so unblocked",
}

// unitNote says that what (e.g. "Values") is in percent, how cells over
// seeds read, and what CSV and JSON carry.
func unitNote(what string, spread bool) string {
	if spread {
		return what + " in percent: mean ± sample sd (n−1) over seeds; — = undefined. CSV and JSON give fractions."
	}
	return what + " in percent; — = undefined. CSV and JSON give fractions."
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
