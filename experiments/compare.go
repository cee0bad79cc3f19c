package experiments

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// Comparison compares two configurations of a Results at one snapshot by
// the means over stages of consecutive IoU and Util-A (metrics.Summarize:
// consecutive IoU over the stage pairs, Util-A over the stages before the
// last), paired by seed.
type Comparison struct {
	Baseline, Candidate string // labels
	Snapshot            string // "final checkpoint", "checkpoint at 25 % of training"
	// Seeds are the seeds both configurations have, in the baseline's order.
	Seeds []uint64
	// Base and Cand are the means over seeds of each configuration's
	// per-run stage means (fractions); Diff is the mean over seeds of
	// Cand − Base and DiffSD its sample sd over seeds (NaN for one seed).
	ConsBase, ConsCand, ConsDiff, ConsDiffSD float64
	UtilBase, UtilCand, UtilDiff, UtilDiffSD float64
}

// Compare pairs the runs of two labels by seed at the selected snapshot.
func (rs *Results) Compare(baseline, candidate, sel string) (*Comparison, error) {
	type means struct{ cons, util float64 }
	get := func(label string) (map[uint64]means, []uint64, error) {
		out := map[uint64]means{}
		var order []uint64
		for _, r := range rs.Runs {
			if r.Label != label {
				continue
			}
			rep, err := r.Snapshot(sel)
			if err != nil {
				return nil, nil, err
			}
			sum := metrics.Summarize(rep.Probe.Figures())
			out[r.Manifest.Seed] = means{cons: sum.ConsecutiveIoU, util: sum.UtilA}
			order = append(order, r.Manifest.Seed)
		}
		if len(order) == 0 {
			return nil, nil, fmt.Errorf("experiments: no run labelled %s (have %s)", label, strings.Join(rs.Labels(), ", "))
		}
		return out, order, nil
	}
	b, order, err := get(baseline)
	if err != nil {
		return nil, err
	}
	c, _, err := get(candidate)
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{Baseline: baseline, Candidate: candidate, Snapshot: snapshotName(sel)}
	var cb, cc, cd, ub, uc, ud []float64
	for _, sd := range order {
		cm, ok := c[sd]
		if !ok {
			continue
		}
		bm := b[sd]
		cmp.Seeds = append(cmp.Seeds, sd)
		cb, cc, cd = append(cb, bm.cons), append(cc, cm.cons), append(cd, cm.cons-bm.cons)
		ub, uc, ud = append(ub, bm.util), append(uc, cm.util), append(ud, cm.util-bm.util)
	}
	if len(cmp.Seeds) == 0 {
		return nil, fmt.Errorf("experiments: %s and %s have no seed in common", baseline, candidate)
	}
	cmp.ConsBase, _, _ = metrics.MeanSD(cb)
	cmp.ConsCand, _, _ = metrics.MeanSD(cc)
	cmp.ConsDiff, cmp.ConsDiffSD, _ = metrics.MeanSD(cd)
	cmp.UtilBase, _, _ = metrics.MeanSD(ub)
	cmp.UtilCand, _, _ = metrics.MeanSD(uc)
	cmp.UtilDiff, cmp.UtilDiffSD, _ = metrics.MeanSD(ud)
	return cmp, nil
}

// Verdict is one line saying whether the candidate's mean consecutive IoU
// and mean Util-A are above the baseline's and by how much, in percentage
// points (± the sd over seeds of the paired differences with several
// seeds; a difference under 0.005 pp counts as equal, one under 0.05 pp
// is printed with two decimals so its sign stays visible), e.g.
//
//	mpformer vs mask2former (final checkpoint, 1 seed): mean consecutive IoU 71.3 % vs 65.2 %, above by 6.1 pp; mean Util-A 80.0 % vs 74.1 %, above by 5.9 pp
func (c *Comparison) Verdict() string {
	seeds := fmt.Sprintf("%d seed", len(c.Seeds))
	if len(c.Seeds) != 1 {
		seeds += "s"
	}
	part := func(name string, base, cand, diff, sd float64) string {
		head := fmt.Sprintf("mean %s %.1f %% vs %.1f %%", name, 100*cand, 100*base)
		if math.IsNaN(diff) {
			return head + ", not comparable (undefined)"
		}
		by := fmt.Sprintf("%.1f", 100*math.Abs(diff))
		if by == "0.0" { // a real but tiny difference: do not print "below by 0.0"
			by = fmt.Sprintf("%.2f", 100*math.Abs(diff))
		}
		spread := ""
		if len(c.Seeds) > 1 && !math.IsNaN(sd) {
			spread = fmt.Sprintf(" ± %.1f", 100*sd)
		}
		if by == "0.00" {
			diff = 0
		}
		by += spread
		switch {
		case diff > 0:
			return fmt.Sprintf("%s, above by %s pp", head, by)
		case diff < 0:
			return fmt.Sprintf("%s, NOT above: below by %s pp", head, by)
		}
		if spread != "" {
			return fmt.Sprintf("%s, NOT above: equal (0.0%s pp)", head, spread)
		}
		return head + ", NOT above: equal"
	}
	return fmt.Sprintf("%s vs %s (%s, %s): %s; %s", c.Candidate, c.Baseline, c.Snapshot, seeds,
		part("consecutive IoU", c.ConsBase, c.ConsCand, c.ConsDiff, c.ConsDiffSD),
		part("Util-A", c.UtilBase, c.UtilCand, c.UtilDiff, c.UtilDiffSD))
}

// MarshalJSON writes the comparison with snake_case keys and null for an
// undefined (NaN) value, such as the sd of one seed.
func (c *Comparison) MarshalJSON() ([]byte, error) {
	num := func(v float64) jsonnum.Float { return jsonnum.Float(v) }
	return json.Marshal(map[string]any{
		"baseline": c.Baseline, "candidate": c.Candidate, "snapshot": c.Snapshot, "seeds": c.Seeds,
		"cons_base": num(c.ConsBase), "cons_cand": num(c.ConsCand), "cons_diff": num(c.ConsDiff), "cons_diff_sd": num(c.ConsDiffSD),
		"util_a_base": num(c.UtilBase), "util_a_cand": num(c.UtilCand), "util_a_diff": num(c.UtilDiff), "util_a_diff_sd": num(c.UtilDiffSD),
		"verdict": c.Verdict(),
	})
}
