package experiments

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/run"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func statusOf(t *testing.T, sts []RunStatus, index int) RunStatus {
	t.Helper()
	for _, st := range sts {
		if st.Index == index {
			return st
		}
	}
	t.Fatalf("no status for run %d in %+v", index, sts)
	return RunStatus{}
}

// TestRunner covers --index, skipping, resuming an interrupted training
// and an interrupted probe, refusing another run's directory, and that the
// results do not depend on how the runs were scheduled.
func TestRunner(t *testing.T) {
	spec := mustParse(t, tinySpec("[1]"))
	tmp := t.TempDir()

	// Reference: both runs in one call, one at a time.
	ref := filepath.Join(tmp, "ref")
	sts, err := (&Runner{Spec: spec, Out: ref, Parallel: 1}).Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Status != "done" || st.Resumed {
			t.Fatalf("reference run %+v", st)
		}
	}

	// Both side by side, one worker each.
	side := filepath.Join(tmp, "side")
	if _, err := (&Runner{Spec: spec, Out: side, Parallel: 2, Workers: 2}).Run(nil); err != nil {
		t.Fatal(err)
	}

	// --index 1 runs the second run alone.
	out := filepath.Join(tmp, "out")
	r := &Runner{Spec: spec, Out: out}
	sts, err = r.Run([]int{1})
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := spec.Runs()
	d0, d1 := runs[0].Dir(out), runs[1].Dir(out)
	if len(sts) != 1 || sts[0].Index != 1 || !exists(filepath.Join(d1, DoneFile)) || exists(d0) {
		t.Fatalf("--index 1: %+v (run 0 dir exists: %v)", sts, exists(d0))
	}
	if _, err := r.Run([]int{2}); err == nil || !strings.Contains(err.Error(), "run index 2 out of range") {
		t.Fatalf("index 2: %v", err)
	}

	// Run 0 is interrupted after 2 of its 3 steps (a checkpoint every
	// step): its manifest and a resumable checkpoint are there.
	want, err := r.manifest(&runs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(d0, 0o755); err != nil {
		t.Fatal(err)
	}
	mb, _ := json.MarshalIndent(want, "", "  ")
	if err := atomicfile.WriteBytes(filepath.Join(d0, ManifestFile), mb); err != nil {
		t.Fatal(err)
	}
	rc := runs[0].Config
	rc.Workers = 1
	if res, err := run.Train(d0, rc, run.Options{StopAfter: 2}); err != nil || res.Steps != 2 {
		t.Fatalf("interrupted training: %v", err)
	}
	sts, err = r.Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, sts, 0); st.Status != "done" || !st.Resumed {
		t.Errorf("run 0 after interruption: %+v", st)
	}
	if st := statusOf(t, sts, 1); st.Status != "skipped" {
		t.Errorf("run 1 again: %+v", st)
	}
	// Resumed, split and side-by-side runs give the reference's figures.
	for _, rn := range runs {
		a := readFile(t, filepath.Join(rn.Dir(ref), MetricsFile))
		checkMetricsRoundTrip(t, filepath.Join(rn.Dir(ref), MetricsFile), a, len(rn.Config.Snapshots))
		for _, o := range []string{out, side} {
			if b := readFile(t, filepath.Join(rn.Dir(o), MetricsFile)); !bytes.Equal(a, b) {
				t.Errorf("%s: metrics.jsonl differs from the reference run's", rn.Dir(o))
			}
		}
	}

	// Interrupted while probing: the final report and the marker are
	// missing; the rerun probes that snapshot again and only it.
	final := ReportPath(d1, runs[1].Config.Snapshots[1])
	early := ReportPath(d1, runs[1].Config.Snapshots[0])
	earlyBefore := readFile(t, early)
	os.Remove(filepath.Join(d1, DoneFile))
	os.Remove(final)
	os.Remove(filepath.Join(d1, MetricsFile))
	sts, err = r.Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, sts, 1); st.Status != "done" || !st.Resumed {
		t.Errorf("run 1 after a lost probe: %+v", st)
	}
	if !bytes.Equal(readFile(t, early), earlyBefore) {
		t.Errorf("the finished snapshot was probed again")
	}
	if !bytes.Equal(readFile(t, filepath.Join(d1, MetricsFile)), readFile(t, filepath.Join(runs[1].Dir(ref), MetricsFile))) {
		t.Errorf("re-probed metrics differ from the reference")
	}

	// The same directory with another spec: refused, naming the field.
	other := mustParse(t, strings.Replace(tinySpec("[1]"), "queries: 8", "queries: 6", 1))
	_, err = (&Runner{Spec: other, Out: out}).Run(nil)
	if err == nil || !strings.Contains(err.Error(), "holds another run") || !strings.Contains(err.Error(), "config.model.queries") {
		t.Fatalf("other spec in the same directory: %v", err)
	}

	// The run directory describes itself.
	var m Manifest
	if err := json.Unmarshal(readFile(t, filepath.Join(d1, ManifestFile)), &m); err != nil {
		t.Fatal(err)
	}
	if m.Experiment != "tiny" || m.Point != "mpformer" || m.Seed != 1 || m.Config.Model.Arch != model.ArchMPFormer ||
		m.Tool.Version == "" || m.Spec.SHA256 != spec.SHA256 || m.Val["split"] != "val" || m.Conventions != CurrentConventions ||
		len(m.SnapshotFractions) != 2 || m.Metrics["util_a"] == "" {
		t.Errorf("manifest %+v", m)
	}
	for _, f := range []string{run.ConfigFile, run.LogFile, run.LatestCkpt, "traces/step-000003.npz", "traces/step-000003.json"} {
		if !exists(filepath.Join(d1, f)) {
			t.Errorf("%s missing", f)
		}
	}
	if exists(filepath.Join(d1, "traces/step-000001.npz")) {
		t.Errorf("an early snapshot was traced without TraceAll")
	}
	checkMetricsFile(t, filepath.Join(d1, MetricsFile), runs[1].Config.Model.NumStages())
}

// checkMetricsFile checks the JSON lines: per snapshot, one line per stage
// and one aggregate, each naming the run.
func checkMetricsFile(t *testing.T, path string, stages int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kinds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, k := range []string{"experiment", "point", "seed", "model", "step", "steps", "fraction"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %v lacks %s", l, k)
			}
		}
		kind := l["kind"].(string)
		kinds = append(kinds, kind)
		switch kind {
		case "stage":
			if _, ok := l["util_a"]; !ok {
				t.Errorf("stage line %v", l)
			}
			if int(l["stage"].(float64)) == stages-1 && l["consecutive_iou"] != nil {
				t.Errorf("last stage has a consecutive IoU: %v", l)
			}
		case "snapshot":
			for _, k := range []string{"mean_consecutive_iou", "mean_util_a", "pq", "ap", "miou", "images"} {
				if _, ok := l[k]; !ok {
					t.Errorf("snapshot line lacks %s", k)
				}
			}
		}
	}
	if len(kinds) != 2*(stages+1) || kinds[stages] != "snapshot" || kinds[len(kinds)-1] != "snapshot" {
		t.Errorf("%d lines, kinds %v", len(kinds), kinds)
	}
}

// tinyResults runs the tiny experiment with 2 seeds into dir once per test
// binary.
var tinyCache = map[string]string{}

func tinyRun(t *testing.T, seeds string) string {
	t.Helper()
	if d, ok := tinyCache[seeds]; ok {
		return d
	}
	dir, err := os.MkdirTemp("", "mpanalyze-tiny-")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Runner{Spec: mustParse(t, tinySpec(seeds)), Out: dir}).Run(nil); err != nil {
		t.Fatal(err)
	}
	tinyCache[seeds] = dir
	return dir
}

func TestMain(m *testing.M) {
	if arg := os.Getenv(helperEnv); arg != "" {
		os.Exit(helperMain(arg))
	}
	code := m.Run()
	for _, d := range tinyCache {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadMerge(t *testing.T) {
	full := tinyRun(t, "[1, 2]")
	rs, err := Load(full)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Runs) != 4 || strings.Join(rs.Labels(), " ") != "mask2former mpformer" {
		t.Fatalf("%d runs, labels %v", len(rs.Runs), rs.Labels())
	}
	// Array jobs write parts of one experiment into several directories;
	// Load merges them, and a copy of a run is counted once.
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	copyDir(t, filepath.Join(full, "mask2former"), filepath.Join(a, "mask2former"))
	copyDir(t, filepath.Join(full, "mpformer"), filepath.Join(b, "mpformer"))
	copyDir(t, filepath.Join(full, "mpformer", "seed-2"), filepath.Join(b, "again", "mpformer", "seed-2"))
	merged, err := Load(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Runs) != 4 || len(merged.Duplicates) != 1 {
		t.Fatalf("merged %d runs, duplicates %v", len(merged.Runs), merged.Duplicates)
	}
	t1, _ := rs.DiagnosisTable("final", nil)
	t2, _ := merged.DiagnosisTable("final", nil)
	var w1, w2 bytes.Buffer
	t1.Render(&w1, "csv")
	t2.Render(&w2, "csv")
	if w1.String() != w2.String() {
		t.Errorf("merged table differs:\n%s\n%s", w1.String(), w2.String())
	}

	// An unfinished run is left out and listed.
	c := filepath.Join(tmp, "c")
	copyDir(t, filepath.Join(full, "mpformer", "seed-1"), filepath.Join(c, "x"))
	copyDir(t, filepath.Join(full, "mpformer", "seed-2"), filepath.Join(c, "y"))
	os.Remove(filepath.Join(c, "y", DoneFile))
	part, err := Load(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(part.Runs) != 1 || len(part.Unfinished) != 1 {
		t.Errorf("unfinished: %d runs, %v", len(part.Runs), part.Unfinished)
	}

	// Runs measured under other conventions are refused.
	d := filepath.Join(tmp, "d")
	copyDir(t, filepath.Join(full, "mpformer", "seed-1"), d)
	var m Manifest
	json.Unmarshal(readFile(t, filepath.Join(d, ManifestFile)), &m)
	m.Conventions.Threshold = "sigmoid > 0.4"
	mb, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(d, ManifestFile), mb, 0o644)
	_, err = Load(full, d)
	if err == nil || !strings.Contains(err.Error(), "different conventions") || !strings.Contains(err.Error(), "threshold") || !strings.Contains(err.Error(), d) {
		t.Errorf("conventions: %v", err)
	}

	// Two different runs claiming one point and seed are refused.
	e := filepath.Join(tmp, "e")
	copyDir(t, filepath.Join(full, "mpformer", "seed-1"), e)
	json.Unmarshal(readFile(t, filepath.Join(e, ManifestFile)), &m)
	m.Config.Model.MP.LabelNoise = 0.5
	mb, _ = json.Marshal(m)
	os.WriteFile(filepath.Join(e, ManifestFile), mb, 0o644)
	if _, err := Load(full, e); err == nil || !strings.Contains(err.Error(), "mpformer") {
		t.Errorf("conflicting runs: %v", err)
	}
	if _, err := Load(filepath.Join(tmp, "nothing")); err == nil {
		t.Errorf("missing directory loaded")
	}
	if _, err := Load(tmp + "/a/mask2former/seed-1/reports"); err == nil || !strings.Contains(err.Error(), "holds no run") {
		t.Errorf("directory without runs: %v", err)
	}
}

func TestSnapshotSelection(t *testing.T) {
	rs, err := Load(tinyRun(t, "[1, 2]"))
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Runs[0]
	for sel, step := range map[string]int{"final": 3, "": 3, "1": 3, "0.34": 1, "34%": 1} {
		rep, err := r.Snapshot(sel)
		if err != nil || rep.Step != step {
			t.Errorf("Snapshot(%q) = %v, %v", sel, rep, err)
		}
	}
	if _, err := r.Snapshot("0.5"); err == nil || !strings.Contains(err.Error(), "has 0.34, 1") {
		t.Errorf("missing snapshot: %v", err)
	}
	if _, err := r.Snapshot("late"); err == nil {
		t.Errorf("bad selection accepted")
	}
	if f := rs.Fractions(); len(f) != 2 {
		t.Errorf("fractions %v", f)
	}
}

func TestCompareVerdict(t *testing.T) {
	rs, err := Load(tinyRun(t, "[1, 2]"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := rs.Compare("mask2former", "mpformer", "final")
	if err != nil {
		t.Fatal(err)
	}
	// two seeds: a paired bootstrap over the validation images of both
	if len(c.Seeds) != 2 || c.Cons.Diff.Method != "bootstrap" || math.Abs(c.Cons.Diff.Mean-(c.Cons.Cand-c.Cons.Base)) > 1e-12 ||
		!(c.Cons.Diff.Lo <= c.Cons.Diff.Mean && c.Cons.Diff.Mean <= c.Cons.Diff.Hi) || len(c.Caveats()) != 2 {
		t.Errorf("comparison %+v, caveats %q", c, c.Caveats())
	}
	if _, err := rs.Compare("mask2former", "detr", "final"); err == nil || !strings.Contains(err.Error(), "no run labelled detr") {
		t.Errorf("unknown label: %v", err)
	}
	three := func(cons, util []float64) Comparison {
		return Comparison{Baseline: "M2F", Candidate: "MPF", Snapshot: "final checkpoint", Seeds: []uint64{1, 2, 3},
			Cons: Difference{Base: 0.5, Cand: 0.52, PerSeed: cons, Diff: metrics.TInterval95(cons)},
			Util: Difference{Base: 0.2, Cand: 0.32, PerSeed: util, Diff: metrics.TInterval95(util)}, PQBase: 0.5, PQCand: 0.5}
	}
	for _, tc := range []struct {
		c    Comparison
		want string
	}{
		// hand: per-seed 0.01, 0.02, 0.03: mean 0.02, sd 0.01, t(0.975, 2)
		// = 4.302653, half-width 4.302653·0.01/√3 = 0.0248 → −0.48 … +4.48
		// pp; 0.10, 0.12, 0.14: sd 0.02, half-width 0.0497 → +7.0 … +17.0.
		{three([]float64{0.01, 0.02, 0.03}, []float64{0.10, 0.12, 0.14}),
			"MPF vs M2F (final checkpoint, 3 seeds): mean consecutive IoU 52.0 % vs 50.0 %, difference +2.0 pp (95 % CI -0.5 to +4.5; t over 3 seeds; per seed +1.0, +2.0, +3.0), no clear difference; " +
				"mean Util-A 32.0 % vs 20.0 %, difference +12.0 pp (95 % CI +7.0 to +17.0; t over 3 seeds; per seed +10.0, +12.0, +14.0), MPF higher"},
		// one seed, a bootstrap interval, and models that learned nothing
		{Comparison{Baseline: "M2F", Candidate: "MPF", Snapshot: "final checkpoint", Seeds: []uint64{1},
			Cons: Difference{Base: 0.652, Cand: 0.713, PerSeed: []float64{0.061}, Diff: metrics.Interval{Mean: 0.061, Lo: 0.03, Hi: 0.09, N: 64, Method: "bootstrap"}},
			Util: Difference{Base: 0.80, Cand: 0.75, PerSeed: []float64{-0.05}, Diff: metrics.Interval{Mean: -0.05, Lo: -0.08, Hi: -0.0004, N: 64, Method: "bootstrap"}}},
			"MPF vs M2F (final checkpoint, 1 seed): mean consecutive IoU 71.3 % vs 65.2 %, difference +6.1 pp (95 % CI +3.0 to +9.0; bootstrap over 64 validation images), MPF higher; " +
				"mean Util-A 75.0 % vs 80.0 %, difference -5.0 pp (95 % CI -8.0 to -0.04; bootstrap over 64 validation images), MPF lower. " +
				"With 1 seed the interval covers the choice of validation images, not the seed-to-seed variation of training: it is not evidence of a difference between the models; use 3 or more seeds. " +
				"Both models' PQ is below 5 % (0.0 % and 0.0 %): they have not learned the task, and the stage figures describe untrained predictions"},
	} {
		if got := tc.c.Verdict(); got != tc.want {
			t.Errorf("verdict\n got %s\nwant %s", got, tc.want)
		}
	}
}

func TestWritePlots(t *testing.T) {
	rs, err := Load(tinyRun(t, "[1, 2]"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	figs, err := rs.WritePlots(dir, &PlotSettings{Formats: []string{"png"}, EvolutionQueries: 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
		if len(f.Files) != 1 {
			t.Fatalf("%s files %v", f.Name, f.Files)
		}
		fh, err := os.Open(f.Files[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(fh); err != nil {
			t.Errorf("%s: %v", f.Files[0], err)
		}
		fh.Close()
	}
	want := "consecutive_iou iou_to_final util_a util_b util_c empty iou_matrix iou_matrix_diff mask_evolution_mask2former mask_evolution_mpformer training"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("figures %s", got)
	}
	// At 0.34 there is no trace (only the final snapshot is traced): no
	// mask evolution, the rest is drawn.
	figs, err = rs.WritePlots(dir, &PlotSettings{Snapshot: "0.34", Formats: []string{"svg"}})
	if err != nil || len(figs) != 9 {
		t.Errorf("early snapshot: %d figures, %v", len(figs), err)
	}
}

func TestImageScores(t *testing.T) {
	rs, err := Load(tinyRun(t, "[1, 2]"))
	if err != nil {
		t.Fatal(err)
	}
	// The chosen image and queries: least consistent first.
	r := rs.Runs[0]
	rep, _ := r.Snapshot("final")
	tr, err := openTrace(r.Dir, rep.Trace)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for k := 0; k < tr.Len(); k++ {
		im, err := tr.Image(k)
		if err != nil {
			t.Fatal(err)
		}
		qs := imageScores(im)
		for i := 1; i < len(qs); i++ {
			if qs[i].meanIoU < qs[i-1].meanIoU {
				t.Errorf("image %d: scores not ascending: %+v", im.Index, qs)
			}
		}
		for _, q := range qs {
			if q.meanIoU < 0 || q.meanIoU > 1 || im.GT == nil || q.gt >= len(im.GT.Masks) {
				t.Errorf("image %d: score %+v", im.Index, q)
			}
		}
	}
}

// checkMetricsRoundTrip reads a run's metrics.jsonl (bytes b) with
// ReadMetrics: one snapshot line per snapshot, and the lines written again
// give the file byte for byte.
func checkMetricsRoundTrip(t *testing.T, path string, b []byte, snapshots int) {
	t.Helper()
	lines, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	enc := json.NewEncoder(&again)
	n := 0
	for _, l := range lines {
		if l.Kind == LineSnapshot {
			n++
		}
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	if n != snapshots {
		t.Errorf("%s: %d snapshot lines, want %d", path, n, snapshots)
	}
	if !bytes.Equal(again.Bytes(), b) {
		t.Errorf("%s: the lines ReadMetrics reads, written again, differ from the file", path)
	}
}
