package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/plots"
	"github.com/mpanalyze/mpanalyze/probes"
)

// DefaultMaxImages is the number of images the viewer embeds when
// Settings.MaxImages is 0.
const DefaultMaxImages = 8

// Settings configures FromResults and FromTraces. The zero value (or nil)
// gives the defaults.
type Settings struct {
	// Title heads the page; "" means a title made from the sources.
	Title string
	// Snapshot selects the checkpoint of the tables and figures, as
	// `compare --snapshot` does: "" or "final", or a fraction such as
	// "0.25". The viewer offers every traced checkpoint.
	Snapshot string
	// Columns are the keys (metrics.Figures) of the diagnosis table's
	// figures; nil means compare's default (consecutive IoU and Util-A).
	Columns []string
	// MaxImages bounds the images the viewer embeds; 0 means
	// DefaultMaxImages, negative means all.
	MaxImages int
	// EvolutionQueries is the number of queries of the mask-evolution
	// figures; 0 means plot's default.
	EvolutionQueries int
	// Style is the look of the figures, as `plot` takes it
	// (experiments.PlotSettings.Style); the zero Style gives plot's
	// defaults.
	Style plots.Style
	// Labels maps a configuration's label (or a trace's model) to the
	// name the page gives it; others are named by experiments.DisplayName.
	Labels map[string]string
}

// name is how the page names a configuration.
func (s *Settings) name(label string) string {
	return (&experiments.PlotSettings{Labels: s.Labels}).Name(label)
}

func (s *Settings) maxImages() int {
	switch {
	case s.MaxImages == 0:
		return DefaultMaxImages
	case s.MaxImages < 0:
		return math.MaxInt
	}
	return s.MaxImages
}

// FromResults builds the report of finished experiment runs (as
// `mpanalyze compare` and `plot` read them; sources are the directories
// they came from, for the page): the verdict of every configuration
// against the first at every checkpoint all runs have, compare's tables,
// plot's figures, each run's manifest, and a viewer of the traces of the
// first seed of each configuration at every traced checkpoint.
func FromResults(rs *experiments.Results, sources []string, s *Settings) (*Data, error) {
	var set Settings
	if s != nil {
		set = *s
	}
	d := &Data{Title: set.Title, Sources: sources, Tool: experiments.CurrentTool().String()}
	if d.Title == "" {
		var ns []string
		for _, l := range rs.Labels() {
			ns = append(ns, set.name(l))
		}
		d.Title = "mpanalyze report: " + strings.Join(ns, " vs ")
	}
	for _, u := range rs.Unfinished {
		d.Notes = append(d.Notes, u+" is not finished; left out.")
	}
	for _, u := range rs.Duplicates {
		d.Notes = append(d.Notes, u+" repeats a run found earlier; left out.")
	}
	var err error
	if d.Verdicts, err = resultsVerdicts(rs, &set); err != nil {
		return nil, err
	}
	if d.Tables, err = resultsTables(rs, &set); err != nil {
		return nil, err
	}

	// Figures, as plot draws them.
	ps, err := rs.Figures(&experiments.PlotSettings{Snapshot: set.Snapshot, EvolutionQueries: set.EvolutionQueries, Style: set.Style, Labels: set.Labels})
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		var b bytes.Buffer
		if err := p.Plot.Write(&b, "svg"); err != nil {
			return nil, fmt.Errorf("report: figure %s: %w", p.Name, err)
		}
		d.Figures = append(d.Figures, Figure{Name: p.Name, Title: p.Title, Alt: p.Alt, Note: p.Note, Help: p.Help, SVG: b.Bytes()})
	}

	for _, r := range rs.Runs {
		pv, err := runProvenance(r, set.name)
		if err != nil {
			return nil, err
		}
		d.Provenance = append(d.Provenance, pv)
	}

	first := -1
	for _, p := range ps {
		if p.Image != nil {
			first = *p.Image
			break
		}
	}
	d.Viewer, err = resultsViewer(rs, set.maxImages(), first, set.name)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// resultsVerdicts are the verdicts of each configuration against the
// first, at the selected snapshot first, then (when that is the final
// one) at the earlier checkpoints; none with a single configuration.
func resultsVerdicts(rs *experiments.Results, set *Settings) ([]string, error) {
	labels := rs.Labels()
	if len(labels) <= 1 {
		return nil, nil
	}
	var out []string
	sels := []string{set.Snapshot}
	if set.Snapshot == "" || set.Snapshot == "final" {
		for _, f := range rs.Fractions() {
			if f < 1 {
				sels = append(sels, strconv.FormatFloat(f, 'g', -1, 64))
			}
		}
	}
	for _, sel := range sels {
		for _, cand := range labels[1:] {
			c, err := rs.Compare(labels[0], cand, sel)
			if err != nil {
				return nil, err
			}
			c.Baseline, c.Candidate = set.name(c.Baseline), set.name(c.Candidate)
			out = append(out, c.Verdict())
		}
	}
	return out, nil
}

// resultsTables are compare's tables: diagnosis and accuracy, ablation
// with several configurations, and the table through training with
// several checkpoints.
func resultsTables(rs *experiments.Results, set *Settings) ([]Table, error) {
	diag, err := rs.DiagnosisTable(set.Snapshot, set.Columns)
	if err != nil {
		return nil, err
	}
	acc, err := rs.AccuracyTable(set.Snapshot)
	if err != nil {
		return nil, err
	}
	out := []Table{{"diagnosis", diag}, {"accuracy", acc}}
	if len(rs.Labels()) > 1 {
		abl, err := rs.AblationTable(set.Snapshot)
		if err != nil {
			return nil, err
		}
		out = append(out, Table{"ablation", abl})
	}
	if len(rs.Fractions()) > 1 {
		out = append(out, Table{"through_training", rs.CheckpointTable()})
	}
	return out, nil
}

// resultsViewer shows, for each configuration, the first run (seed) that
// has a trace, at every snapshot where one of them has a trace; image
// first (the mask-evolution figures', −1 for none) comes first.
func resultsViewer(rs *experiments.Results, maxImages, first int, name func(string) string) (*Viewer, error) {
	var models []Model
	var runs []*experiments.Result
	for _, label := range rs.Labels() {
		for _, r := range rs.Runs {
			if r.Label == label && len(tracedReports(r)) > 0 {
				models = append(models, Model{Label: label, Name: name(label), Seed: r.Manifest.Seed})
				runs = append(runs, r)
				break
			}
		}
	}
	if len(runs) == 0 {
		return nil, nil
	}
	// Checkpoints: the traced fractions, ascending.
	steps := map[float64]int{}
	for _, r := range runs {
		for _, rep := range tracedReports(r) {
			steps[rep.Fraction] = rep.Step
		}
	}
	var fracs []float64
	for f := range steps {
		fracs = append(fracs, f)
	}
	sort.Float64s(fracs)
	var ckpts []Checkpoint
	for _, f := range fracs {
		ckpts = append(ckpts, Checkpoint{Label: fmt.Sprintf("step %d (%s of training)", steps[f], pct(f)), Step: steps[f], Fraction: f})
	}
	var refs []traceRef
	var notes []string
	for mi, r := range runs {
		have := map[float64]*experiments.SnapshotReport{}
		for _, rep := range tracedReports(r) {
			have[rep.Fraction] = rep
		}
		for ci, f := range fracs {
			rep := have[f]
			if rep == nil {
				notes = append(notes, fmt.Sprintf("%s has no trace at %s.", models[mi].Name, ckpts[ci].Label))
				continue
			}
			refs = append(refs, traceRef{Model: mi, Checkpoint: ci, Path: filepath.Join(r.Dir, rep.Trace),
				Dataset: r.Manifest.Config.Val, Describe: r.Manifest.Val, ImageSize: r.Manifest.Config.Model.ImageSize})
		}
	}
	v, err := buildViewer(models, ckpts, refs, runs[0].Manifest.Config.Model.ClassNames, maxImages, first)
	if err != nil || v == nil {
		return v, err
	}
	seeds := map[string]int{}
	for _, r := range rs.Runs {
		seeds[r.Label]++
	}
	var shown []string
	for _, m := range models {
		if seeds[m.Label] > 1 {
			shown = append(shown, fmt.Sprintf("%s seed %d of %d", m.Name, m.Seed, seeds[m.Label]))
		}
	}
	if len(shown) > 0 {
		notes = append([]string{"The viewer shows one seed per configuration: " + strings.Join(shown, ", ") + "."}, notes...)
	}
	v.Notes = append(v.Notes, notes...)
	return v, nil
}

// tracedReports are the snapshots of a run whose trace files exist.
func tracedReports(r *experiments.Result) []*experiments.SnapshotReport {
	var out []*experiments.SnapshotReport
	for _, rep := range r.Reports {
		if rep.Trace == "" {
			continue
		}
		npz, side := probes.TracePaths(filepath.Join(r.Dir, rep.Trace))
		if fileExists(npz) && fileExists(side) {
			out = append(out, rep)
		}
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'g', 4, 64) + " %" }

// runProvenance describes one run from its manifest.
func runProvenance(r *experiments.Result, name func(string) string) (Provenance, error) {
	m := r.Manifest
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Provenance{}, fmt.Errorf("report: %s: %w", r.Dir, err)
	}
	c := m.Config
	var snaps []string
	for _, rep := range r.Reports {
		snaps = append(snaps, fmt.Sprintf("%d (%s)", rep.Step, pct(rep.Fraction)))
	}
	var ovs []string
	for _, o := range m.Overrides {
		ovs = append(ovs, fmt.Sprintf("%s=%v", o.Key, o.Value))
	}
	spec := m.Spec.Source
	if m.Spec.SHA256 != "" {
		spec += " (sha256 " + short(m.Spec.SHA256) + ")"
	}
	if len(m.Spec.Adjusted) > 0 {
		spec += "; adjusted: " + strings.Join(m.Spec.Adjusted, ", ")
	}
	fields := []Field{
		{"experiment, point", m.Experiment + ", " + m.Point},
		{"seed", strconv.FormatUint(m.Seed, 10)},
		{"model", fmt.Sprintf("%s, %d queries, %d classes, %d px input", c.Model.Arch, c.Model.Queries, c.Model.NumClasses, c.Model.ImageSize)},
		{"training", fmt.Sprintf("%d steps, batch %d", c.Train.Steps, c.Train.Batch)},
		{"snapshots (step)", strings.Join(snaps, ", ")},
		{"overrides", strings.Join(ovs, ", ")},
		{"training data", describeShort(m.Data)},
		{"validation data", fmt.Sprintf("%s, %d images probed", describeShort(m.Val), c.EvalImages)},
		{"spec", spec},
		{"tool", m.Tool.String() + ", " + m.Tool.Go},
		{"threshold, stride", fmt.Sprintf("%s, %d", m.Conventions.Threshold, m.Conventions.MaskStride)},
	}
	return Provenance{Title: fmt.Sprintf("%s, seed %d", name(r.Label), m.Seed), Source: r.Dir, Fields: fields, JSON: string(js)}, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// stepName matches checkpoint files named by their step.
var stepName = regexp.MustCompile(`^step-0*(\d+)\.npz$`)

// FromTraces builds the report of traces (written by `mpanalyze probe`,
// an experiment, or the Python package mpanalyze_trace): the per-stage diagnosis table of
// each trace (replayed through probes.Evaluator, as `analyze` does), the
// consecutive-IoU and Util-A curves, each trace's run information, and the
// viewer. Traces of one model at several checkpoints (told apart by the
// checkpoint's file name) become one model with several checkpoints;
// traces are otherwise told apart by model, or by file name when two share
// model and checkpoint.
func FromTraces(paths []string, s *Settings) (*Data, error) {
	var set Settings
	if s != nil {
		set = *s
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("report: no trace")
	}
	trs, err := openTraces(paths)
	if err != nil {
		return nil, err
	}
	if err := nameTraces(trs); err != nil {
		return nil, err
	}
	models, mi := traceModels(trs, set.name)
	ckpts, ci := traceCheckpoints(trs)
	var refs []traceRef
	for _, o := range trs {
		refs = append(refs, traceRef{Model: mi[o.model], Checkpoint: ci[o.ckpt], Path: o.path, Describe: o.info.Dataset, ImageSize: o.imageSize})
	}
	d := &Data{Title: set.Title, Sources: paths, Tool: experiments.CurrentTool().String()}
	if d.Title == "" {
		var ns []string
		for _, m := range models {
			ns = append(ns, m.Name)
		}
		d.Title = "mpanalyze report: " + strings.Join(ns, " vs ")
	}
	// One diagnosis table over all traces, labelled by model (and
	// checkpoint when there are several).
	label := func(o *openedTrace) string {
		l := set.name(o.model)
		if len(ckpts) > 1 {
			l += " @ " + ckpts[ci[o.ckpt]].Label
		}
		return l
	}
	if err := addTraceDiagnosis(d, trs, &set, label); err != nil {
		return nil, err
	}
	for _, o := range trs {
		d.Provenance = append(d.Provenance, traceProvenance(o.path, o.info, o.side, o.rep.Images, set.name))
	}
	var classes []string
	if len(trs[0].classes) == trs[0].info.NumClasses {
		classes = trs[0].classes
	}
	d.Viewer, err = buildViewer(models, ckpts, refs, classes, set.maxImages(), -1)
	if err != nil {
		return nil, err
	}
	if d.Viewer != nil {
		d.Viewer.Notes = append(d.Viewer.Notes, missingTraceNotes(models, ckpts, refs, mi)...)
	}
	return d, nil
}

// openedTrace is what FromTraces reads of one trace: its .npz path, run
// information, sidecar and replayed probe report, the model and
// checkpoint (file name) that tell it apart, its input size and class
// names.
type openedTrace struct {
	path      string
	info      probes.RunInfo
	side      probes.Sidecar
	rep       probes.Report
	model     string
	ckpt      string
	imageSize int
	classes   []string
}

// openTraces opens each trace and replays it through probes.Evaluator.
// The input size and class names come from the recorded configuration;
// without one the input size is the mask size times its stride.
func openTraces(paths []string) ([]*openedTrace, error) {
	var trs []*openedTrace
	for _, p := range paths {
		r, err := probes.OpenTrace(p, nil)
		if err != nil {
			return nil, err
		}
		var ev probes.Evaluator
		err = r.Replay(&ev, 0)
		info, side := r.Info(), r.Sidecar()
		npz, _ := r.Paths()
		r.Close()
		if err != nil {
			return nil, err
		}
		o := &openedTrace{path: npz, info: info, side: side, rep: ev.Report(), model: info.Model, ckpt: filepath.Base(info.Checkpoint)}
		if info.Checkpoint == "" {
			o.ckpt = ""
		}
		var cfg struct {
			ImageSize  int      `json:"image_size"`
			ClassNames []string `json:"class_names"`
		}
		if len(info.Config) > 0 && json.Unmarshal(info.Config, &cfg) == nil {
			o.imageSize, o.classes = cfg.ImageSize, cfg.ClassNames
		}
		if o.imageSize == 0 {
			o.imageSize = info.MaskH * info.MaskStride
		}
		trs = append(trs, o)
	}
	return trs, nil
}

// nameTraces keeps the architecture as each trace's model name unless two
// traces share it and the checkpoint name; then every trace is named by
// its file name, or by its path where file names repeat. A trace given
// twice is an error.
func nameTraces(trs []*openedTrace) error {
	seen := map[string]bool{}
	dup := false
	for _, o := range trs {
		k := o.model + "\x00" + o.ckpt
		dup = dup || seen[k]
		seen[k] = true
	}
	if !dup {
		return nil
	}
	base := map[string]int{}
	for _, o := range trs {
		base[filepath.Base(o.path)]++
	}
	given := map[string]bool{}
	for _, o := range trs {
		if given[o.path] {
			return fmt.Errorf("report: trace %s given twice", o.path)
		}
		given[o.path] = true
		o.model = strings.TrimSuffix(filepath.Base(o.path), ".npz")
		if base[filepath.Base(o.path)] > 1 {
			o.model = strings.TrimSuffix(o.path, ".npz")
		}
	}
	return nil
}

// traceModels returns the models of the traces in the order first given,
// and each model name's index among them.
func traceModels(trs []*openedTrace, name func(string) string) ([]Model, map[string]int) {
	var models []Model
	mi := map[string]int{}
	for _, o := range trs {
		if _, ok := mi[o.model]; !ok {
			mi[o.model] = len(models)
			models = append(models, Model{Label: o.model, Name: name(o.model), Seed: o.info.Seed})
		}
	}
	return models, mi
}

// traceCheckpoints returns the checkpoints of the traces and each
// checkpoint name's index among them: those named by their step
// (step-N.npz) first, in step order, the others after them in the order
// given.
func traceCheckpoints(trs []*openedTrace) ([]Checkpoint, map[string]int) {
	ci := map[string]int{}
	var ckptNames []string
	for _, o := range trs {
		if _, ok := ci[o.ckpt]; !ok {
			ci[o.ckpt] = -1
			ckptNames = append(ckptNames, o.ckpt)
		}
	}
	var ckpts []Checkpoint
	for _, name := range ckptNames {
		c := Checkpoint{Label: "checkpoint " + name}
		if name == "" {
			c.Label = "checkpoint not recorded"
		}
		if m := stepName.FindStringSubmatch(name); m != nil {
			c.Step, _ = strconv.Atoi(m[1])
			c.Label = "step " + m[1]
		}
		ckpts = append(ckpts, c)
	}
	order := make([]int, len(ckpts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		sa, sb := ckpts[order[a]].Step, ckpts[order[b]].Step
		return sa > 0 && (sb == 0 || sa < sb)
	})
	sorted := make([]Checkpoint, len(ckpts))
	for k, i := range order {
		sorted[k] = ckpts[i]
		ci[ckptNames[i]] = k
	}
	return sorted, ci
}

// addTraceDiagnosis adds to d the diagnosis table of all traces and the
// consecutive-IoU and Util-A curves, each trace labelled by label. A
// trace that holds no image is an error.
func addTraceDiagnosis(d *Data, trs []*openedTrace, set *Settings, label func(*openedTrace) string) error {
	var runs []tables.RunStages
	var series = map[string][]plots.StageSeries{}
	for _, o := range trs {
		if o.rep.Images == 0 || o.rep.Layer.NumStages == 0 || o.rep.Layer.Images == 0 {
			return fmt.Errorf("report: %s holds no image", o.path)
		}
		rs := tables.FromProbeReport(label(o), &o.rep, metrics.FinalMatched)
		runs = append(runs, rs)
		for _, key := range []string{"consecutive_iou", "util_a"} {
			series[key] = append(series[key], plots.StageSeries{Label: label(o), Seeds: [][]float64{rs.Figures[key]}, StageLayers: rs.StageLayers})
		}
	}
	cols := set.Columns
	if cols == nil {
		cols = []string{"consecutive_iou", "iou_to_final", "util_a", "util_b", "util_c", "match_change", "attended", "empty"}
	}
	d.Tables = append(d.Tables, Table{"diagnosis", tables.Diagnosis(runs, &tables.DiagnosisSettings{
		Title: "Layer-to-layer consistency and query utilisation (all images of each trace)", Columns: cols})})
	for _, key := range []string{"consecutive_iou", "util_a"} {
		fg := metrics.MustFigure(key)
		fig := plots.StageCurves(series[key], &plots.StageSettings{Style: set.Style, Title: fg.Title, YLabel: fg.Axis, Pairs: fg.Pair, Percent: true})
		var b bytes.Buffer
		if err := fig.Write(&b, "svg"); err != nil {
			return fmt.Errorf("report: figure %s: %w", key, err)
		}
		d.Figures = append(d.Figures, Figure{Name: key, Title: fg.Title, Alt: curveAlt(fg.Title, series[key], fg.Pair), Help: fg.Reading, SVG: b.Bytes()})
	}
	return nil
}

// missingTraceNotes says, when there are several checkpoints, which model
// has no trace at which checkpoint.
func missingTraceNotes(models []Model, ckpts []Checkpoint, refs []traceRef, mi map[string]int) []string {
	var notes []string
	for _, m := range models {
		for c := range ckpts {
			found := false
			for _, r := range refs {
				found = found || (r.Model == mi[m.Label] && r.Checkpoint == c)
			}
			if !found && len(ckpts) > 1 {
				notes = append(notes, fmt.Sprintf("%s has no trace at %s.", m.Name, ckpts[c].Label))
			}
		}
	}
	return notes
}

// curveAlt lists each series' values per stage (one seed each).
func curveAlt(title string, series []plots.StageSeries, pairs bool) string {
	var parts []string
	for _, ser := range series {
		var vals []string
		for s, v := range ser.Seeds[0] {
			name := strconv.Itoa(ser.StageLayers[s])
			if pairs {
				name += "→" + strconv.Itoa(ser.StageLayers[s+1])
			}
			vals = append(vals, name+" "+pctText(v))
		}
		parts = append(parts, ser.Label+": "+strings.Join(vals, ", "))
	}
	return title + ". One line per trace over the decoder stages (layers applied). " + strings.Join(parts, "; ") + "."
}

func pctText(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + " %"
}

// traceProvenance describes one trace from its sidecar.
func traceProvenance(path string, info probes.RunInfo, side probes.Sidecar, images int, name func(string) string) Provenance {
	rec := struct {
		Run         probes.RunInfo     `json:"run"`
		Conventions probes.Conventions `json:"conventions"`
		Storage     probes.Storage     `json:"storage"`
		Matching    string             `json:"matching_note,omitempty"`
	}{info, side.Conventions, side.Storage, side.MatchingNote}
	js, _ := json.MarshalIndent(rec, "", "  ")
	ck := info.Checkpoint
	if info.CheckpointSHA256 != "" {
		ck += " (sha256 " + short(info.CheckpointSHA256) + ")"
	}
	fields := []Field{
		{"model", fmt.Sprintf("%s, %d stages, %d queries, %d classes", info.Model, info.NumStages, info.NumQueries, info.NumClasses)},
		{"checkpoint", ck},
		{"seed", strconv.FormatUint(info.Seed, 10)},
		{"images", strconv.Itoa(images)},
		{"masks", fmt.Sprintf("%d×%d at stride %d, stored as %s", info.MaskH, info.MaskW, info.MaskStride, side.Storage.MaskDType)},
		{"matchings", info.Matching},
		{"dataset", describeShort(info.Dataset)},
		{"tool", info.ToolVersion},
	}
	return Provenance{Title: name(info.Model) + ", " + filepath.Base(path), Source: path, Fields: fields, JSON: string(js)}
}
