package experiments

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

// writeRandomTrace writes a trace of images random images of S stages, 4
// queries and 6×5 masks (each with 2 GT segments and random matchings)
// recorded with the given seed, and returns its path without extension.
func writeRandomTrace(t *testing.T, path string, seed uint64, S, images int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	const Q, K, H, W = 4, 3, 6, 5
	w := probes.NewTraceWriter(path, &probes.TraceSettings{Compact: true})
	info := probes.RunInfo{Model: "mask2former", NumStages: S, NumQueries: Q, NumClasses: K, MaskStride: 4, MaskH: H, MaskW: W,
		Seed: seed, ToolVersion: "test"}
	if err := w.Init(info); err != nil {
		t.Fatal(err)
	}
	for img := range images {
		gt := &probes.GroundTruth{Classes: []int{0, 2}}
		for range 2 {
			gt.Masks = append(gt.Masks, mask.FromFunc(H, W, func(int) bool { return r.IntN(3) == 0 }))
		}
		for s := range S {
			st := probes.Stage{Image: 10 + img, Stage: s, NumQueries: Q, NumClasses: K, H: H, W: W, GT: gt,
				MaskLogits: make([]float32, Q*H*W), ClassLogits: make([]float32, Q*(K+1))}
			for i := range st.MaskLogits {
				st.MaskLogits[i] = float32(r.NormFloat64())
			}
			for i := range st.ClassLogits {
				st.ClassLogits[i] = float32(r.NormFloat64())
			}
			p := r.Perm(Q)
			st.Match = []int{p[0], p[1]}
			if err := w.Record(&st); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseLabeledTrace(t *testing.T) {
	dir := t.TempDir()
	odd := writeRandomTrace(t, filepath.Join(dir, "lr=0.1"), 1, 3, 1)
	sub := filepath.Join(dir, "mine")
	os.Mkdir(sub, 0o755)
	writeRandomTrace(t, filepath.Join(sub, "trace"), 1, 3, 1)
	for _, c := range []struct{ arg, label, path, err string }{
		{"Mask2Former=a.npz", "Mask2Former", "a.npz", ""},
		{" Mine =runs/x=1/t.npz", "Mine", "runs/x=1/t.npz", ""},
		{"runs/b.npz", "b", "runs/b.npz", ""},
		{"runs/b", "b", "runs/b", ""},
		{odd + ".npz", "lr=0.1", odd + ".npz", ""}, // an existing path is taken whole
		{sub, "mine", sub, ""},                     // <dir>/trace.npz: the directory's name
		{"=a.npz", "", "", "no label before '='"},
		{"A=", "", "", "no trace after '='"},
		{"", "", "", "empty"},
	} {
		got, err := ParseLabeledTrace(c.arg)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.arg, err, c.err)
			}
			continue
		}
		if err != nil || got.Label != c.label || got.Path != c.path {
			t.Errorf("%q: %+v, %v; want %s, %s", c.arg, got, err, c.label, c.path)
		}
	}
}

// TestLoadTraces: traces become runs of their labels, with one snapshot
// whose report is the trace's analysis; the diagnosis table is the mean ±
// sd over a label's traces of their figures, the summary their means over
// stages; the figures are the stage curves, heat maps and mask evolution,
// without a training figure.
func TestLoadTraces(t *testing.T) {
	dir := t.TempDir()
	var ts []LabeledTrace
	for i, seed := range []uint64{1, 2, 3} {
		ts = append(ts, LabeledTrace{"M2F", writeRandomTrace(t, filepath.Join(dir, "a"+string(rune('0'+i))), seed, 4, 3)})
	}
	ts = append(ts, LabeledTrace{"Mine", writeRandomTrace(t, filepath.Join(dir, "b"), 7, 4, 3)})
	rs, notes, err := LoadTraces(ts, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 0 || len(rs.Runs) != 4 || strings.Join(rs.Labels(), ",") != "M2F,Mine" {
		t.Fatalf("notes %v, %d runs, labels %v", notes, len(rs.Runs), rs.Labels())
	}
	tabs, err := rs.Tables("final", []string{"consecutive_iou", "util_a"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(tabs) != 2 || tabs[0].Key != "diagnosis" || tabs[1].Key != "summary" {
		t.Fatalf("tables %v", tabs)
	}
	// The M2F cons. IoU cell of stage 1: the mean of the three traces'.
	var vals []float64
	for _, lt := range ts[:3] {
		r, err := probes.OpenTrace(lt.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Analyze(0, 1)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, metrics.MustFigure("consecutive_iou").Series(rep.Figures(), metrics.FinalMatched)[1])
	}
	m, sd, _ := metrics.MeanSD(vals)
	diag := tabs[0].Table
	if diag.Header[1] != "M2F cons. IoU" || diag.Header[3] != "Mine cons. IoU" {
		t.Fatalf("header %v", diag.Header)
	}
	if c := diag.Values[1][1]; c.N != 3 || math.Abs(c.Value-m) > 1e-15 || math.Abs(c.SD-sd) > 1e-15 {
		t.Fatalf("M2F stage 1 cell %+v, want %v ± %v over 3", *c, m, sd)
	}
	if !strings.Contains(strings.Join(diag.Notes, " "), "M2F: 3 seeds (1, 2, 3); Mine: 1 seed (7)") {
		t.Fatalf("notes %v", diag.Notes)
	}
	sum := tabs[1].Table
	if sum.Rows[0][0] != "M2F" || sum.Rows[0][1] != "3" || sum.Header[len(sum.Header)-2] != "images" {
		t.Fatalf("summary %v %v", sum.Header, sum.Rows)
	}
	var b strings.Builder
	if err := tables.WriteSet(&b, tabs, "json", nil); err != nil {
		t.Fatal(err)
	}
	figs, err := rs.Figures(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
	}
	got := strings.Join(names, ",")
	for _, want := range []string{"consecutive_iou", "util_a", "iou_matrix", "iou_matrix_diff", "mask_evolution_M2F", "mask_evolution_Mine"} {
		if !strings.Contains(got, want) {
			t.Errorf("figures %s: no %s", got, want)
		}
	}
	if strings.Contains(got, "training") {
		t.Errorf("figures %s: a training figure for traces", got)
	}
	if _, err := rs.WritePlots(filepath.Join(dir, "figs"), &PlotSettings{Formats: []string{"svg"}}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadTracesSeedsAndErrors(t *testing.T) {
	dir := t.TempDir()
	a := writeRandomTrace(t, filepath.Join(dir, "a"), 0, 3, 2)
	b := writeRandomTrace(t, filepath.Join(dir, "b"), 0, 3, 2)
	five := writeRandomTrace(t, filepath.Join(dir, "five"), 5, 5, 2)
	// Two traces recording seed 0: numbered 1, 2, with a note.
	rs, notes, err := LoadTraces([]LabeledTrace{{"X", a}, {"X", b}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "numbered 1..2") || rs.Runs[0].Manifest.Seed != 1 || rs.Runs[1].Manifest.Seed != 2 {
		t.Fatalf("notes %v, seeds %d %d", notes, rs.Runs[0].Manifest.Seed, rs.Runs[1].Manifest.Seed)
	}
	// A baseline comparison pairs the labels' traces by seed.
	rs, _, err = LoadTraces([]LabeledTrace{{"X", a}, {"Y", b}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rs.DifferenceTable("X", "final")
	if err != nil || len(d.Rows) != 1 || !strings.Contains(d.Rows[0][len(d.Rows[0])-1], "bootstrap, 2 images") {
		t.Fatalf("differences %v, %v", d.Rows, err)
	}
	if strings.Contains(strings.Join(d.Notes, " "), "have not learned") {
		t.Errorf("a trace has no PQ, yet: %v", d.Notes)
	}
	for _, c := range []struct {
		ts  []LabeledTrace
		err string
	}{
		{[]LabeledTrace{{"X", a}, {"X", five}}, "traces labelled X have different stages"},
		{[]LabeledTrace{{"X", a}, {"Y", a + ".npz"}}, "is given twice"},
		{[]LabeledTrace{{"X", filepath.Join(dir, "none")}}, "none.json"},
		{nil, "no trace"},
	} {
		if _, _, err := LoadTraces(c.ts, 1); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v: error %v, want %q", c.ts, err, c.err)
		}
	}
}
