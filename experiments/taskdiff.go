package experiments

import (
	"fmt"
	"math"
	"strings"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// A taskFigure is one figure of a snapshot that a paired difference is
// taken of: the stage means of Summarize or a task score.
type taskFigure struct {
	name string // table header
	key  string // CSV/JSON key
	of   func(*SnapshotReport) float64
}

// pairedFigures are the figures PairedDifferences compares: the two
// diagnosis means of Comparison and the task scores the specs' verdicts
// are scored on (PQ, COCO mask AP, mIoU). Undefined values (no segment of
// a kind, pycocotools' −1) are NaN.
var pairedFigures = []taskFigure{
	{"cons. IoU", "consecutive_iou", func(r *SnapshotReport) float64 { return metrics.Summarize(r.Probe.Figures()).ConsecutiveIoU }},
	{"Util-A", "util_a", func(r *SnapshotReport) float64 { return metrics.Summarize(r.Probe.Figures()).UtilA }},
	{"PQ", "pq", func(r *SnapshotReport) float64 {
		if r.Eval.Panoptic.All.N == 0 {
			return math.NaN()
		}
		return r.Eval.Panoptic.All.PQ
	}},
	{"AP", "ap", func(r *SnapshotReport) float64 {
		if r.Eval.Instance.AP < 0 {
			return math.NaN()
		}
		return r.Eval.Instance.AP
	}},
	{"mIoU", "miou", func(r *SnapshotReport) float64 { return r.Eval.Semantic.MIoU }},
}

// PairedDifference is one figure of a configuration against the baseline,
// paired by seed.
type PairedDifference struct {
	Figure string `json:"figure"`
	// PerSeed are the differences candidate − baseline, one per common
	// seed (in the baseline's seed order).
	PerSeed []float64 `json:"per_seed"`
	// Diff is their mean with a Student-t 95 % interval over the seeds
	// (no interval below 2 seeds).
	Diff metrics.Interval `json:"diff"`
	// Above and Below count the seeds whose difference is > 0 and < 0.
	Above, Below int
}

// PairedDifferences compares a configuration with the baseline at the
// selected snapshot on the mean consecutive IoU, the mean Util-A, PQ, mask
// AP and mIoU: per figure the per-seed differences, their mean with a
// t interval, and how many seeds lie above and below zero. It returns the
// common seeds too.
func (rs *Results) PairedDifferences(baseline, candidate, sel string) ([]PairedDifference, []uint64, error) {
	b, order, err := rs.labelSnapshots(baseline, sel)
	if err != nil {
		return nil, nil, err
	}
	c, _, err := rs.labelSnapshots(candidate, sel)
	if err != nil {
		return nil, nil, err
	}
	var seeds []uint64
	out := make([]PairedDifference, len(pairedFigures))
	for i, f := range pairedFigures {
		out[i].Figure = f.key
	}
	for _, sd := range order {
		cr, ok := c[sd]
		if !ok {
			continue
		}
		seeds = append(seeds, sd)
		for i, f := range pairedFigures {
			d := f.of(cr) - f.of(b[sd])
			out[i].PerSeed = append(out[i].PerSeed, d)
			switch {
			case d > 0:
				out[i].Above++
			case d < 0:
				out[i].Below++
			}
		}
	}
	if len(seeds) == 0 {
		return nil, nil, fmt.Errorf("experiments: %s and %s have no seed in common", baseline, candidate)
	}
	for i := range out {
		out[i].Diff = metrics.TInterval95(out[i].PerSeed)
	}
	return out, seeds, nil
}

// labelSnapshots returns a label's snapshot reports at sel, by seed, and
// the seeds in order.
func (rs *Results) labelSnapshots(label, sel string) (map[uint64]*SnapshotReport, []uint64, error) {
	out := map[uint64]*SnapshotReport{}
	var order []uint64
	for _, r := range rs.Runs {
		if r.Label != label {
			continue
		}
		rep, err := r.Snapshot(sel)
		if err != nil {
			return nil, nil, err
		}
		out[r.Manifest.Seed] = rep
		order = append(order, r.Manifest.Seed)
	}
	if len(order) == 0 {
		return nil, nil, fmt.Errorf("experiments: no run labelled %s (have %s)", label, strings.Join(rs.Labels(), ", "))
	}
	return out, order, nil
}

// PairedDifferenceTable is DifferenceTable for every figure the specs'
// verdicts are scored on, one row per configuration and figure (mean
// consecutive IoU, mean Util-A, PQ, mask AP, mIoU): the mean paired
// difference from the baseline in percentage points with its Student-t
// 95 % interval over the seeds, the number of seeds above zero, and the
// per-seed differences. Unlike DifferenceTable it never falls back on a
// bootstrap over images: task scores have no per-image values.
func (rs *Results) PairedDifferenceTable(baseline, sel string) (tables.Table, error) {
	t := tables.Table{
		Title:  fmt.Sprintf("Paired differences from %s (%s), 95 %% intervals", baseline, snapshotName(sel)),
		Header: []string{"configuration", "figure", "seeds", "diff", "lo", "hi", "above 0", "per seed"},
		Keys:   []string{"configuration", "figure", "seeds", "diff", "lo", "hi", "seeds_above", "per_seed"},
	}
	found := false
	for _, label := range rs.Labels() {
		if label == baseline {
			found = true
			continue
		}
		ds, seeds, err := rs.PairedDifferences(baseline, label, sel)
		if err != nil {
			return tables.Table{}, err
		}
		for i, d := range ds {
			per := make([]string, len(d.PerSeed))
			for k, v := range d.PerSeed {
				per[k] = ppCell(v)
			}
			row := []string{label, pairedFigures[i].name, fmt.Sprint(len(seeds)), ppCell(d.Diff.Mean), ppCell(d.Diff.Lo), ppCell(d.Diff.Hi),
				fmt.Sprintf("%d/%d", d.Above, len(seeds)), strings.Join(per, " ")}
			vals := []*tables.Number{nil, nil, tables.Plain(float64(len(seeds))), tables.Plain(d.Diff.Mean), tables.Plain(d.Diff.Lo), tables.Plain(d.Diff.Hi),
				tables.Plain(float64(d.Above)), nil}
			t.Rows = append(t.Rows, row)
			t.Values = append(t.Values, vals)
		}
	}
	if !found {
		return tables.Table{}, fmt.Errorf("experiments: no run labelled %s (have %s)", baseline, strings.Join(rs.Labels(), ", "))
	}
	t.Notes = []string{fmt.Sprintf("Differences configuration − %s in percentage points, paired by seed (per seed: in seed order); lo and hi bound a Student-t 95 %% interval over the per-seed differences (none with 1 seed; with 3 seeds the t factor is 4.30); \"above 0\" counts the seeds whose difference is positive. cons. IoU and Util-A are means over stages (metrics.Summarize); AP is COCO mask AP.", baseline)}
	return t, nil
}
