package experiments

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// Bootstrap settings of the comparison's intervals over images: resamples
// and the seed of their generator (fixed, so intervals are reproducible).
const (
	bootstrapResamples = 2000
	bootstrapSeed      = 20230307
)

// MinSeedsForT is the number of seeds from which a comparison's interval
// is a Student-t interval over the per-seed differences; with fewer it is
// a bootstrap over the validation images, which covers the images only,
// not the seed-to-seed variation of training.
const MinSeedsForT = 3

// LowScore is the panoptic quality below which a comparison says that the
// models have not learned the task yet.
const LowScore = 0.05

// Difference is one summary figure (mean consecutive IoU or mean Util-A,
// metrics.Summarize) of two configurations, paired by seed.
type Difference struct {
	// Base and Cand are the means over seeds of each configuration's
	// figure (fractions).
	Base float64 `json:"base"`
	Cand float64 `json:"cand"`
	// PerSeed are the differences Cand − Base, one per common seed.
	PerSeed []float64 `json:"per_seed"`
	// Diff is their mean with a 95 % interval: a t interval over the seeds
	// with MinSeedsForT or more, otherwise a paired bootstrap over images.
	Diff metrics.Interval `json:"diff"`
}

// MarshalJSON writes the difference with null for undefined numbers.
func (d Difference) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Base    jsonnum.Float    `json:"base"`
		Cand    jsonnum.Float    `json:"cand"`
		PerSeed jsonnum.Floats   `json:"per_seed"`
		Diff    metrics.Interval `json:"diff"`
	}{jsonnum.Float(d.Base), jsonnum.Float(d.Cand), d.PerSeed, d.Diff})
}

// Comparison compares two configurations of a Results at one snapshot by
// the means over stages of consecutive IoU and Util-A, paired by seed,
// with intervals, and notes the task scores.
type Comparison struct {
	Baseline  string `json:"baseline"`
	Candidate string `json:"candidate"`
	Snapshot  string `json:"snapshot"` // "final checkpoint", "checkpoint at 25 % of training"
	// Seeds are the seeds both configurations have, in the baseline's order.
	Seeds []uint64   `json:"seeds"`
	Cons  Difference `json:"consecutive_iou"`
	Util  Difference `json:"util_a"`
	// PQBase and PQCand are the mean panoptic qualities over the seeds.
	PQBase jsonnum.Float `json:"pq_base"`
	PQCand jsonnum.Float `json:"pq_cand"`
}

// MarshalJSON writes the comparison with its verdict and caveats.
func (c *Comparison) MarshalJSON() ([]byte, error) {
	type plain Comparison
	return json.Marshal(struct {
		*plain
		Verdict string   `json:"verdict"`
		Caveats []string `json:"caveats"`
	}{(*plain)(c), c.Verdict(), c.Caveats()})
}

type compareRun struct {
	sum    metrics.Summary
	pq     float64
	images []metrics.ImageValues
}

// snapshotRuns returns a label's runs at the selected snapshot, by seed,
// and the seeds in order.
func (rs *Results) snapshotRuns(label, sel string) (map[uint64]compareRun, []uint64, error) {
	out := map[uint64]compareRun{}
	var order []uint64
	for _, r := range rs.Runs {
		if r.Label != label {
			continue
		}
		rep, err := r.Snapshot(sel)
		if err != nil {
			return nil, nil, err
		}
		// PQ is NaN when nothing was scored (a trace has no task metrics).
		pq := tables.FromEvalReport(label, r.Manifest.Seed, rep.Eval).PQ
		out[r.Manifest.Seed] = compareRun{sum: metrics.Summarize(rep.Probe.Figures()), pq: pq, images: rep.Probe.Layer.PerImage}
		order = append(order, r.Manifest.Seed)
	}
	if len(order) == 0 {
		return nil, nil, fmt.Errorf("experiments: no run labelled %s (have %s)", label, strings.Join(rs.Labels(), ", "))
	}
	return out, order, nil
}

// Compare pairs the runs of two labels by seed at the selected snapshot.
func (rs *Results) Compare(baseline, candidate, sel string) (*Comparison, error) {
	b, order, err := rs.snapshotRuns(baseline, sel)
	if err != nil {
		return nil, err
	}
	c, _, err := rs.snapshotRuns(candidate, sel)
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{Baseline: baseline, Candidate: candidate, Snapshot: snapshotName(sel)}
	var cb, cc, ub, uc, pb, pc []float64
	var pairs []metrics.PairedRuns
	for _, sd := range order {
		cm, ok := c[sd]
		if !ok {
			continue
		}
		bm := b[sd]
		cmp.Seeds = append(cmp.Seeds, sd)
		cb, cc = append(cb, bm.sum.ConsecutiveIoU), append(cc, cm.sum.ConsecutiveIoU)
		ub, uc = append(ub, bm.sum.UtilA), append(uc, cm.sum.UtilA)
		pb, pc = append(pb, bm.pq), append(pc, cm.pq)
		cmp.Cons.PerSeed = append(cmp.Cons.PerSeed, cm.sum.ConsecutiveIoU-bm.sum.ConsecutiveIoU)
		cmp.Util.PerSeed = append(cmp.Util.PerSeed, cm.sum.UtilA-bm.sum.UtilA)
		pairs = append(pairs, metrics.PairedRuns{Base: bm.images, Cand: cm.images})
	}
	if len(cmp.Seeds) == 0 {
		return nil, fmt.Errorf("experiments: %s and %s have no seed in common", baseline, candidate)
	}
	mean := func(v []float64) float64 { m, _, _ := metrics.MeanSD(v); return m }
	cmp.Cons.Base, cmp.Cons.Cand = mean(cb), mean(cc)
	cmp.Util.Base, cmp.Util.Cand = mean(ub), mean(uc)
	cmp.PQBase, cmp.PQCand = jsonnum.Float(mean(pb)), jsonnum.Float(mean(pc))
	if len(cmp.Seeds) >= MinSeedsForT {
		cmp.Cons.Diff, cmp.Util.Diff = metrics.TInterval95(cmp.Cons.PerSeed), metrics.TInterval95(cmp.Util.PerSeed)
		return cmp, nil
	}
	cmp.Cons.Diff, cmp.Util.Diff = metrics.BootstrapDiff95(pairs, bootstrapResamples, bootstrapSeed)
	if cmp.Cons.Diff.Method == "" { // reports without per-image values
		cmp.Cons.Diff = metrics.Interval{Mean: mean(cmp.Cons.PerSeed), Lo: math.NaN(), Hi: math.NaN(), N: len(cmp.Seeds)}
		cmp.Util.Diff = metrics.Interval{Mean: mean(cmp.Util.PerSeed), Lo: math.NaN(), Hi: math.NaN(), N: len(cmp.Seeds)}
	}
	return cmp, nil
}

// pp formats a fraction difference in percentage points with its sign.
func pp(v float64) string {
	s := fmt.Sprintf("%+.1f", 100*v)
	if s == "+0.0" || s == "-0.0" { // a real but tiny difference keeps its sign
		s = fmt.Sprintf("%+.2f", 100*v)
	}
	return s
}

// describe writes one figure's part of the verdict.
func (c *Comparison) describe(name string, d Difference) string {
	head := fmt.Sprintf("mean %s %.1f %% vs %.1f %%", name, 100*d.Cand, 100*d.Base)
	iv := d.Diff
	if math.IsNaN(iv.Mean) {
		return head + ", not comparable (undefined)"
	}
	out := fmt.Sprintf("%s, difference %s pp", head, pp(iv.Mean))
	var how string
	switch iv.Method {
	case "t":
		per := make([]string, len(d.PerSeed))
		for i, v := range d.PerSeed {
			per[i] = pp(v)
		}
		how = fmt.Sprintf("t over %d seeds; per seed %s", iv.N, strings.Join(per, ", "))
	case "bootstrap":
		how = fmt.Sprintf("bootstrap over %d validation images", iv.N)
	default:
		return out + " (no interval: the reports hold no per-image values)"
	}
	out += fmt.Sprintf(" (95 %% CI %s to %s; %s)", pp(iv.Lo), pp(iv.Hi), how)
	switch {
	case iv.Lo > 0:
		return out + fmt.Sprintf(", %s higher", c.Candidate)
	case iv.Hi < 0:
		return out + fmt.Sprintf(", %s lower", c.Candidate)
	}
	return out + ", no clear difference"
}

// Verdict is one line (and its caveats) saying how the candidate's mean
// consecutive IoU and mean Util-A compare with the baseline's, with the
// 95 % interval of each difference in percentage points, e.g.
//
//	MP-Former vs Mask2Former (final checkpoint, 3 seeds): mean consecutive IoU 86.9 % vs 86.6 %, difference +0.2 pp (95 % CI -3.5 to +3.9; t over 3 seeds; per seed +1.1, -1.2, +0.8), no clear difference; mean Util-A …
//
// A comparison of fewer than MinSeedsForT seeds adds that its interval
// covers the validation images only; models whose PQ is below LowScore
// add that they have not learned the task.
func (c *Comparison) Verdict() string {
	seeds := fmt.Sprintf("%d seed", len(c.Seeds))
	if len(c.Seeds) != 1 {
		seeds += "s"
	}
	v := fmt.Sprintf("%s vs %s (%s, %s): %s; %s", c.Candidate, c.Baseline, c.Snapshot, seeds,
		c.describe("consecutive IoU", c.Cons), c.describe("Util-A", c.Util))
	for _, caveat := range c.Caveats() {
		v += ". " + caveat
	}
	return v
}

// Caveats are what a reader must know before taking the verdict as a
// finding: too few seeds, models that have not learned the task.
func (c *Comparison) Caveats() []string {
	var out []string
	if n := len(c.Seeds); n < MinSeedsForT {
		seeds := "1 seed"
		if n != 1 {
			seeds = fmt.Sprintf("%d seeds", n)
		}
		out = append(out, fmt.Sprintf("With %s the interval covers the choice of validation images, not the seed-to-seed variation of training: it is not evidence of a difference between the models; use %d or more seeds", seeds, MinSeedsForT))
	}
	if c.PQBase < LowScore && c.PQCand < LowScore {
		out = append(out, fmt.Sprintf("Both models' PQ is below %.0f %% (%.1f %% and %.1f %%): they have not learned the task, and the stage figures describe untrained predictions", 100*LowScore, 100*float64(c.PQCand), 100*float64(c.PQBase)))
	}
	return out
}

// DifferenceTable compares every configuration with the baseline at the
// selected snapshot: per configuration, the paired differences of the mean
// consecutive IoU and mean Util-A with their 95 % intervals (Comparison),
// in percentage points in text and as fractions in CSV and JSON.
func (rs *Results) DifferenceTable(baseline, sel string) (tables.Table, error) {
	t := tables.Table{
		Title: fmt.Sprintf("Differences from %s (%s), 95 %% intervals", baseline, snapshotName(sel)),
		Header: []string{"configuration", "seeds", "cons. IoU diff", "cons. IoU lo", "cons. IoU hi",
			"Util-A diff", "Util-A lo", "Util-A hi", "interval"},
	}
	found := false
	var notes []string
	for _, label := range rs.Labels() {
		if label == baseline {
			found = true
			continue
		}
		c, err := rs.Compare(baseline, label, sel)
		if err != nil {
			return tables.Table{}, err
		}
		row := []string{label, fmt.Sprint(len(c.Seeds))}
		vals := []*tables.Number{nil, tables.Plain(float64(len(c.Seeds)))}
		for _, iv := range []metrics.Interval{c.Cons.Diff, c.Util.Diff} {
			for _, v := range []float64{iv.Mean, iv.Lo, iv.Hi} {
				row = append(row, ppCell(v))
				vals = append(vals, tables.Plain(v))
			}
		}
		method := c.Cons.Diff.Method
		switch method {
		case "t":
			method = fmt.Sprintf("t, %d seeds", c.Cons.Diff.N)
		case "bootstrap":
			method = fmt.Sprintf("bootstrap, %d images", c.Cons.Diff.N)
		default:
			method = tables.Dash
		}
		t.Rows = append(t.Rows, append(row, method))
		t.Values = append(t.Values, append(vals, nil))
		for _, cv := range c.Caveats() {
			notes = append(notes, label+": "+cv+".")
		}
	}
	if !found {
		return tables.Table{}, fmt.Errorf("experiments: no run labelled %s (have %s)", baseline, strings.Join(rs.Labels(), ", "))
	}
	t.Notes = append([]string{fmt.Sprintf("Differences configuration − %s in percentage points, paired by seed: a Student-t interval over the per-seed differences with %d or more seeds, else a bootstrap over the validation images (which does not cover seed-to-seed variation). CSV and JSON give fractions.", baseline, MinSeedsForT)}, notes...)
	return t, nil
}

// ppCell formats a fraction difference in percentage points for a cell.
func ppCell(v float64) string {
	if math.IsNaN(v) {
		return tables.Dash
	}
	return pp(v)
}
