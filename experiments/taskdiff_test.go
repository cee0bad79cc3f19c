package experiments

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/metrics"
)

// pairedFixture is two configurations of three seeds whose task scores
// are set by hand (no probe figures: their differences are NaN).
func pairedFixture(basePQ, candPQ, baseAP, candAP []float64) *Results {
	rs := &Results{}
	add := func(label string, pq, ap []float64) {
		for i := range pq {
			rep := &SnapshotReport{Step: 10, Fraction: 1}
			rep.Eval.Panoptic.All = metrics.PQ{PQ: pq[i], N: 3}
			rep.Eval.Instance.AP = ap[i]
			rep.Eval.Semantic.MIoU = 0.5
			rs.Runs = append(rs.Runs, &Result{Label: label, Manifest: &Manifest{Seed: uint64(i + 1)}, Reports: []*SnapshotReport{rep}})
		}
	}
	add("base", basePQ, baseAP)
	add("cand", candPQ, candAP)
	return rs
}

func TestPairedDifferences(t *testing.T) {
	// PQ per seed +0.01, +0.02, +0.03: mean 0.02, sd 0.01, t(0.975, 2) =
	// 4.302653 (as in TestCompareVerdict), half-width 0.0248 → −0.48 …
	// +4.48 pp. AP: −0.05 and 0 in seeds 1 and 2; seed 3's baseline is
	// pycocotools' −1 (no GT), so its difference is NaN and the interval is
	// over the other two (metrics.MeanSD leaves NaN out): mean −0.025, sd
	// 0.05/√2, t(0.975, 1) = 12.7062, half-width 12.7062·0.035355/√2 =
	// 0.31766 → −0.3427 … +0.2927.
	rs := pairedFixture([]float64{0.50, 0.60, 0.70}, []float64{0.51, 0.62, 0.73}, []float64{0.30, 0.30, -1}, []float64{0.25, 0.30, 0.32})
	ds, seeds, err := rs.PairedDifferences("base", "cand", "final")
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) != 3 || len(ds) != 5 || ds[2].Figure != "pq" || ds[3].Figure != "ap" || ds[4].Figure != "miou" {
		t.Fatalf("seeds %v, figures %+v", seeds, ds)
	}
	pq := ds[2]
	if math.Abs(pq.Diff.Mean-0.02) > 1e-12 || math.Abs(pq.Diff.Lo-(0.02-4.302653*0.01/math.Sqrt(3))) > 1e-6 || pq.Diff.Method != "t" || pq.Above != 3 || pq.Below != 0 {
		t.Errorf("PQ %+v", pq)
	}
	ap := ds[3]
	if ap.Above != 0 || ap.Below != 1 || !math.IsNaN(ap.PerSeed[2]) || ap.Diff.N != 2 || math.Abs(ap.Diff.Mean+0.025) > 1e-12 || math.Abs(ap.Diff.Lo+0.34266) > 1e-4 {
		t.Errorf("AP %+v", ap)
	}
	if m := ds[4]; m.Above != 0 || m.Below != 0 || m.Diff.Mean != 0 {
		t.Errorf("mIoU %+v", m)
	}
	tab, err := rs.PairedDifferenceTable("base", "final")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tab.Render(&b, "markdown"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Paired differences from base (final checkpoint), 95 % intervals",
		"| cand | PQ | 3 | +2.0 | -0.5 | +4.5 | 3/3 | +1.0 +2.0 +3.0 |", "| cand | AP | 3 | -2.5 | -34.3 | +29.3 | 0/3 | -5.0 +0.00 — |"} {
		if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), w) {
			t.Errorf("table lacks %q:\n%s", w, b.String())
		}
	}
	if _, err := rs.PairedDifferenceTable("nobody", "final"); err == nil || !strings.Contains(err.Error(), "no run labelled nobody (have base, cand)") {
		t.Errorf("unknown baseline: %v", err)
	}
}
