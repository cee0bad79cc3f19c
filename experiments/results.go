package experiments

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// Result is one run directory as Load reads it.
type Result struct {
	Dir      string
	Manifest *Manifest
	// Label names the run's configuration in tables and plots: the point
	// name, or "<experiment>/<point>" when several experiments use a point
	// name for different configurations. Runs with one Label are seeds of
	// one configuration.
	Label string
	// Reports are the finished snapshots, in step order.
	Reports []*SnapshotReport
	// Trace is the trace file a run was read from (LoadTraces; Dir is its
	// directory); empty for a run directory.
	Trace string
}

// Results are the finished runs of one or more output directories.
type Results struct {
	Runs []*Result
	// Unfinished lists run directories found without a DONE marker; they
	// are left out.
	Unfinished []string
	// Duplicates lists run directories left out because an identical run
	// (same manifest identity) was found first.
	Duplicates []string
	// NotStarted lists the runs that an experiment.json of the given
	// output directories names but that have no manifest yet (a sweep
	// still running).
	NotStarted []string
}

// Load reads the finished runs under paths: each path is an experiment's
// output directory, a run directory (with manifest.json), or any directory
// above them. Runs are ordered by path (in argument order), experiment,
// then run index. It fails when runs disagree on their conventions (they
// cannot be compared), when two different runs claim one label and seed,
// or when no finished run is found.
func Load(paths ...string) (*Results, error) {
	rs := &Results{}
	var all []foundRun
	for _, p := range paths {
		fs, ns, err := findRuns(p)
		rs.NotStarted = append(rs.NotStarted, ns...)
		if err != nil {
			return nil, err
		}
		all = append(all, fs...)
	}
	// Conventions must agree.
	for _, f := range all[1:] {
		if ok, diff := sameConventions(all[0].m.Conventions, f.m.Conventions); !ok {
			return nil, fmt.Errorf("experiments: %s and %s were measured under different conventions (%s); they cannot be compared", all[0].dir, f.dir, diff)
		}
	}
	kept := rs.keepFinished(all)
	if len(kept) == 0 {
		return nil, fmt.Errorf("experiments: no finished run under %s (%d unfinished, %d not started)", strings.Join(paths, ", "), len(rs.Unfinished), len(rs.NotStarted))
	}
	useExp := labelsNeedExperiment(kept)
	seen := map[string]string{}
	for _, f := range kept {
		label := f.m.Point
		if useExp {
			label = f.m.Experiment + "/" + f.m.Point
		}
		key := label + "\x00" + strconv.FormatUint(f.m.Seed, 10)
		if prev, ok := seen[key]; ok {
			return nil, fmt.Errorf("experiments: %s and %s are both %s seed %d but are different runs (their manifests differ); compare them separately", prev, f.dir, label, f.m.Seed)
		}
		seen[key] = f.dir
		res, err := loadResult(f, label)
		if err != nil {
			return nil, err
		}
		rs.Runs = append(rs.Runs, res)
	}
	for label, dirs := range rs.labelConfigs() {
		if len(dirs) > 1 {
			return nil, fmt.Errorf("experiments: runs labelled %s have different configurations (%s); compare them separately", label, strings.Join(dirs, ", "))
		}
	}
	return rs, nil
}

// foundRun is a run directory Load found, with its manifest.
type foundRun struct {
	dir string
	m   *Manifest
}

// findRuns returns the runs under directory p (every directory with a
// manifest, skipping checkpoints, reports and traces), sorted by
// experiment and index, and the runs of p's experiment not started yet.
// A directory without a run is an error.
func findRuns(p string) ([]foundRun, []string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, nil, fmt.Errorf("experiments: %w", err)
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("experiments: %s is not a directory (give an output or run directory)", p)
	}
	var dirs []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "checkpoints" || d.Name() == ReportsDir || d.Name() == TracesDir) {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == ManifestFile {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("experiments: %w", err)
	}
	ns := notStarted(p)
	if len(dirs) == 0 {
		if n := len(ns); n > 0 {
			return nil, ns, fmt.Errorf("experiments: %s holds no run yet (none of its %d runs has started)", p, n)
		}
		return nil, ns, fmt.Errorf("experiments: %s holds no run (no %s below it)", p, ManifestFile)
	}
	var fs []foundRun
	for _, d := range dirs {
		m, err := readManifest(filepath.Join(d, ManifestFile))
		if err != nil {
			return nil, ns, err
		}
		fs = append(fs, foundRun{d, m})
	}
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].m.Experiment != fs[j].m.Experiment {
			return fs[i].m.Experiment < fs[j].m.Experiment
		}
		return fs[i].m.Index < fs[j].m.Index
	})
	return fs, ns, nil
}

// keepFinished returns the finished runs of all, each once: an unfinished
// run goes to rs.Unfinished, and the same run (config, seed, point,
// conventions) found again — a copy, or another experiment that ran it —
// to rs.Duplicates.
func (rs *Results) keepFinished(all []foundRun) []foundRun {
	var kept []foundRun
	for _, f := range all {
		if _, err := os.Stat(filepath.Join(f.dir, DoneFile)); err != nil {
			rs.Unfinished = append(rs.Unfinished, f.dir)
			continue
		}
		dup := false
		for _, k := range kept {
			if ok, _ := sameRun(k.m, withExperiment(f.m, k.m.Experiment)); ok {
				rs.Duplicates = append(rs.Duplicates, f.dir)
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, f)
		}
	}
	return kept
}

// labelsNeedExperiment reports whether one point name stands for several
// configurations among runs, so that labels must be experiment/point
// rather than the point name.
func labelsNeedExperiment(runs []foundRun) bool {
	useExp := false
	byPoint := map[string]*Manifest{}
	for _, f := range runs {
		if prev, ok := byPoint[f.m.Point]; ok && !sameConfig(prev, f.m) {
			useExp = true
		} else if !ok {
			byPoint[f.m.Point] = f.m
		}
	}
	return useExp
}

// loadResult reads the reports of every snapshot of a finished run; a
// missing report or a probe that saw no image is an error.
func loadResult(f foundRun, label string) (*Result, error) {
	res := &Result{Dir: f.dir, Manifest: f.m, Label: label}
	for _, step := range f.m.Config.Snapshots {
		rep, err := readReport(ReportPath(f.dir, step))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("experiments: %s is marked done but its report of step %d is missing: %v", f.dir, step, err)
			}
			return nil, err
		}
		if rep.Probe.Images == 0 || rep.Probe.Layer.NumStages == 0 || rep.Probe.Layer.Images == 0 {
			return nil, fmt.Errorf("experiments: %s: the probe of step %d saw no image; nothing to compare", f.dir, step)
		}
		res.Reports = append(res.Reports, rep)
	}
	return res, nil
}

// notStarted lists the runs named by out/experiment.json (if out is an
// experiment's output directory) that have no manifest yet.
func notStarted(out string) []string {
	b, err := os.ReadFile(filepath.Join(out, ExperimentFile))
	if err != nil {
		return nil
	}
	var doc experimentDoc
	if json.Unmarshal(b, &doc) != nil {
		return nil
	}
	var dirs []string
	for _, r := range doc.Runs {
		d := filepath.Join(out, filepath.FromSlash(r.Dir))
		if _, err := os.Stat(filepath.Join(d, ManifestFile)); err != nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// labelConfigs maps each label to one directory per distinct
// configuration (seed aside).
func (rs *Results) labelConfigs() map[string][]string {
	out := map[string][]string{}
	first := map[string][]*Manifest{}
	for _, r := range rs.Runs {
		dup := false
		for _, m := range first[r.Label] {
			if sameConfig(m, r.Manifest) {
				dup = true
			}
		}
		if !dup {
			first[r.Label] = append(first[r.Label], r.Manifest)
			out[r.Label] = append(out[r.Label], r.Dir)
		}
	}
	return out
}

// sameConfig compares two runs' configurations, seed aside.
func sameConfig(a, b *Manifest) bool {
	ca, cb := a.Config, b.Config
	ca.Train.Seed, cb.Train.Seed = 0, 0
	ja, _ := json.Marshal(ca)
	jb, _ := json.Marshal(cb)
	return string(ja) == string(jb)
}

func sameConventions(a, b Conventions) (bool, string) { return sameJSON(a, b) }

// Labels returns the configuration labels in order of first appearance.
func (rs *Results) Labels() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rs.Runs {
		if !seen[r.Label] {
			seen[r.Label] = true
			out = append(out, r.Label)
		}
	}
	return out
}

// Snapshot selects one snapshot of every run: "final" (or "") is the last
// one, a number is a fraction of the steps ("0.25", "25%"). The error
// names a run that lacks it and the fractions it has.
func (r *Result) Snapshot(sel string) (*SnapshotReport, error) {
	if len(r.Reports) == 0 {
		return nil, fmt.Errorf("experiments: %s has no snapshot", r.Dir)
	}
	if sel == "" || sel == "final" {
		return r.Reports[len(r.Reports)-1], nil
	}
	f, err := ParseFraction(sel)
	if err != nil {
		return nil, err
	}
	var have []string
	for _, rep := range r.Reports {
		if math.Abs(rep.Fraction-f) < 1e-9 {
			return rep, nil
		}
		have = append(have, strconv.FormatFloat(rep.Fraction, 'g', -1, 64))
	}
	return nil, fmt.Errorf("experiments: %s has no snapshot at %g of training (it has %s)", r.Dir, f, strings.Join(have, ", "))
}

// ParseFraction reads "final"-less snapshot selections: "0.25" or "25%".
func ParseFraction(sel string) (float64, error) {
	s := strings.TrimSpace(sel)
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("experiments: snapshot %q: want final, a fraction such as 0.25, or a percentage such as 25%%", sel)
	}
	if pct {
		f /= 100
	}
	if !(f > 0 && f <= 1) {
		return 0, fmt.Errorf("experiments: snapshot %q is not a fraction of training in (0, 1]", sel)
	}
	return f, nil
}

// Fractions returns the snapshot fractions every run has, ascending.
func (rs *Results) Fractions() []float64 {
	count := map[float64]int{}
	for _, r := range rs.Runs {
		for _, rep := range r.Reports {
			count[rep.Fraction]++
		}
	}
	var out []float64
	for f, n := range count {
		if n == len(rs.Runs) {
			out = append(out, f)
		}
	}
	sort.Float64s(out)
	return out
}

// snapshotName is how tables name a selection.
func snapshotName(sel string) string {
	if sel == "" || sel == "final" {
		return "final checkpoint"
	}
	f, err := ParseFraction(sel)
	if err != nil {
		return sel
	}
	return fmt.Sprintf("checkpoint at %s of training", pct(f))
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'g', 4, 64) + " %" }

// DiagnosisTable is the per-stage table of every configuration at the
// selected snapshot (see tables.Diagnosis), with the figures of cols
// (metrics.Figures keys; nil: consecutive IoU and Util-A).
func (rs *Results) DiagnosisTable(sel string, cols []string) (tables.Table, error) {
	var runs []tables.RunStages
	for _, r := range rs.Runs {
		rep, err := r.Snapshot(sel)
		if err != nil {
			return tables.Table{}, err
		}
		if rep.Probe.Images == 0 {
			return tables.Table{}, fmt.Errorf("experiments: %s: the probe of step %d saw no image", r.Dir, rep.Step)
		}
		runs = append(runs, tables.FromProbeReport(r.Label, &rep.Probe, metrics.FinalMatched))
	}
	t := tables.Diagnosis(runs, &tables.DiagnosisSettings{
		Title:   "Layer-to-layer consistency and query utilisation (" + snapshotName(sel) + ")",
		Columns: cols,
	})
	return t, nil
}

// AccuracyTable is the task-metric table at the selected snapshot.
func (rs *Results) AccuracyTable(sel string) (tables.Table, error) {
	var runs []tables.RunScores
	for _, r := range rs.Runs {
		rep, err := r.Snapshot(sel)
		if err != nil {
			return tables.Table{}, err
		}
		runs = append(runs, tables.FromEvalReport(r.Label, r.Manifest.Seed, rep.Eval))
	}
	return tables.Accuracy(runs, &tables.AccuracySettings{Title: "Task metrics on the validation images (" + snapshotName(sel) + ")"}), nil
}

// AblationTable has one row per configuration: its overrides, then the
// mean consecutive IoU and Util-A over stages and the task metrics at the
// selected snapshot, mean ± sd over seeds, and the step of the snapshot
// when the configurations differ in length.
func (rs *Results) AblationTable(sel string) (tables.Table, error) {
	var runs []tables.AblationRun
	steps := map[int]bool{}
	for _, r := range rs.Runs {
		rep, err := r.Snapshot(sel)
		if err != nil {
			return tables.Table{}, err
		}
		steps[rep.Step] = true
	}
	for _, r := range rs.Runs {
		rep, _ := r.Snapshot(sel)
		ar := tables.AblationRun{Seed: r.Manifest.Seed}
		ar.Point = append(ar.Point, tables.Param{Key: "point", Value: r.Label})
		for _, ov := range r.Manifest.Overrides {
			ar.Point = append(ar.Point, tables.Param{Key: ov.Key, Value: fmt.Sprint(ov.Value)})
		}
		ar.Metrics = append(tables.StageMetrics(metrics.Summarize(rep.Probe.Figures())),
			tables.EvalMetrics(tables.FromEvalReport(r.Label, r.Manifest.Seed, rep.Eval))...)
		if len(steps) > 1 {
			// Only when the points differ in length (the schedule spec).
			ar.Metrics = append(ar.Metrics, tables.Metric{Name: "steps", Value: float64(rep.Step), Kind: tables.Count})
		}
		runs = append(runs, ar)
	}
	return tables.Ablation(runs, &tables.AblationSettings{Title: "Ablation (" + snapshotName(sel) + "; cons. IoU and Util-A are means over stages)"}), nil
}

// CheckpointTable follows the stage means through training: one row per
// (snapshot fraction, configuration) with the mean consecutive IoU and
// Util-A over stages and PQ, for the fractions every run has.
func (rs *Results) CheckpointTable() tables.Table {
	var runs []tables.AblationRun
	for _, f := range rs.Fractions() {
		sel := strconv.FormatFloat(f, 'g', -1, 64)
		for _, r := range rs.Runs {
			rep, err := r.Snapshot(sel)
			if err != nil {
				continue // Fractions lists only the ones every run has
			}
			ar := tables.AblationRun{Seed: r.Manifest.Seed, Point: []tables.Param{
				{Key: "training", Value: pct(f)}, {Key: "step", Value: strconv.Itoa(rep.Step)}, {Key: "model", Value: r.Label}}}
			sc := tables.FromEvalReport(r.Label, r.Manifest.Seed, rep.Eval)
			ar.Metrics = append(tables.StageMetrics(metrics.Summarize(rep.Probe.Figures())),
				tables.Metric{Name: "PQ", Value: sc.PQ}, tables.Metric{Name: "mIoU", Value: sc.MIoU})
			runs = append(runs, ar)
		}
	}
	return tables.Ablation(runs, &tables.AblationSettings{Title: "Through training (cons. IoU and Util-A are means over stages)"})
}

// withExperiment returns a copy of m under another experiment name.
func withExperiment(m *Manifest, name string) *Manifest {
	c := *m
	c.Experiment = name
	return &c
}

// Tables are the tables compare prints, at the selected snapshot: the
// diagnosis (with the figures of cols, nil for the default), the task
// metrics, the ablation table when ablation is set and there are several
// configurations, and the stage means through training when the runs have
// several snapshots.
//
// Results read from traces (LoadTraces) have the diagnosis and a summary
// of each trace instead (no task metrics, one snapshot).
func (rs *Results) Tables(sel string, cols []string, ablation bool) ([]tables.Named, error) {
	if rs.fromTraces() {
		return rs.traceTables(sel, cols)
	}
	diag, err := rs.DiagnosisTable(sel, cols)
	if err != nil {
		return nil, err
	}
	acc, err := rs.AccuracyTable(sel)
	if err != nil {
		return nil, err
	}
	out := []tables.Named{{Key: "diagnosis", Table: diag}, {Key: "accuracy", Table: acc}}
	if ablation && len(rs.Labels()) > 1 {
		abl, err := rs.AblationTable(sel)
		if err != nil {
			return nil, err
		}
		out = append(out, tables.Named{Key: "ablation", Table: abl})
	}
	if len(rs.Fractions()) > 1 {
		out = append(out, tables.Named{Key: "through_training", Table: rs.CheckpointTable()})
	}
	return out, nil
}
