package experiments

import (
	"fmt"
	"image"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/plots"
	"github.com/mpanalyze/mpanalyze/probes"
	"github.com/mpanalyze/mpanalyze/run"
)

// PlotSettings configures WritePlots and Figures. The zero value plots
// the final snapshot as PNG and SVG at each figure's default size.
type PlotSettings struct {
	// Snapshot selects the checkpoint (see Result.Snapshot); "" is final.
	Snapshot string
	// Formats are file extensions (plots.Formats: png, svg, pdf); nil
	// means plots.DefaultFormats (png, svg).
	Formats []string
	// EvolutionQueries is the number of queries in a mask-evolution
	// figure; 0 means 4.
	EvolutionQueries int
	// Style is the look of every figure: size (a zero width or height
	// keeps each figure's default), PNG resolution, font scale, title.
	Style plots.Style
	// Labels maps a configuration's label to the name the figures give
	// it (legends, panel titles); a label not in it is shown by
	// DisplayName. Every key must be a configuration of the results.
	Labels map[string]string
	// YMin and YMax fix the y range of the stage curves, in percent (the
	// axis's unit); both 0 fits it to the data.
	YMin, YMax float64
	// Baseline is the configuration the difference heat map subtracts
	// from each other one. "" means the first configuration when there
	// are exactly two, else no difference map.
	Baseline string
	// CSV, when set, is the path WritePlots writes the data of every
	// figure to, as one tidy table (WriteFigureData).
	CSV string
}

// Figure is one written figure.
type Figure struct {
	Name  string   `json:"name"`  // e.g. "consecutive_iou"
	Title string   `json:"title"` // what it shows
	Files []string `json:"files"` // one per format
	// Note says how the figure was made when that needs saying (the
	// mask-evolution choice of image and queries).
	Note string `json:"note,omitempty"`
	// Help says how to read the figure: the caption of summary.md and the
	// report.
	Help string `json:"help"`
	// Alt is a text alternative: what the figure shows, with its numbers,
	// for readers who cannot see it.
	Alt string `json:"alt"`
	// Image is the dataset index of the validation image a mask-evolution
	// figure shows; nil for the other figures.
	Image *int `json:"image,omitempty"`
}

// Plot is a figure built by Figures and not yet written: its description
// (Files empty), the figure and the values it draws.
type Plot struct {
	Figure
	Plot *plots.Figure
	// Data are the values the figure draws, as rows of the tidy table
	// (WriteFigureData).
	Data []DataRow
}

// Captions of the figures that are not per-stage curves (those take
// metrics.Figure.Reading).
const (
	heatmapHelp   = "Cell (i, j) is the mean IoU between a query's masks at stage i and stage j (queries matched at the last stage); all panels share one colour scale. A bright block along the diagonal means stages that agree; dark cells near the diagonal mean masks that change from one layer to the next."
	diffHelp      = "Cell (i, j) is the difference, in percentage points, of the mean IoU between a query's masks at stages i and j: the configuration named in the panel minus the baseline. Blue: the configuration's stages agree more; red: less; grey: no difference."
	evolutionHelp = "Each row is one query, each column a stage, the last column its GT segment; the query's mask is drawn in blue over the image in grey, \"empty\" marks a stage where it has no pixel, and under each cell is the IoU with the previous stage (bold below 50 %)."
	trainingHelp  = "The matching queries' training loss (faint: per step; solid: moving average), MP-Former's mask-pilot (MP) loss terms apart, and the validation scores of every evaluation, those logged during training and those of every snapshot."
)

// FileName turns a label into a file name part.
func FileName(label string) string {
	var b strings.Builder
	for _, c := range label {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func stageLayers(r *probes.Report) []int {
	out := make([]int, r.Layer.NumStages)
	for s := range out {
		out[s] = r.Run.Layers(s)
	}
	return out
}

// WritePlots writes the figures of the results (see Figures) into dir, in
// every format of s.Formats, and the data of all of them into s.CSV when
// set; it returns the figures written.
func (rs *Results) WritePlots(dir string, s *PlotSettings) ([]Figure, error) {
	var set PlotSettings
	if s != nil {
		set = *s
	}
	formats := set.Formats
	if len(formats) == 0 {
		formats = plots.DefaultFormats
	}
	for _, f := range formats {
		if !slices.Contains(plots.Formats, f) {
			return nil, fmt.Errorf("experiments: figure format %q: want one of %s", f, strings.Join(plots.Formats, ", "))
		}
	}
	ps, err := rs.Figures(&set)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	figs := make([]Figure, 0, len(ps))
	for _, p := range ps {
		fig := p.Figure
		for _, ext := range formats {
			path := filepath.Join(dir, fig.Name+"."+ext)
			if err := p.Plot.Save(path); err != nil {
				return nil, err
			}
			fig.Files = append(fig.Files, path)
		}
		figs = append(figs, fig)
	}
	if set.CSV != "" {
		if err := writeFigureDataFile(set.CSV, ps); err != nil {
			return nil, err
		}
	}
	return figs, nil
}

// Figures builds the figures of the results: the per-stage curves
// (consecutive IoU, Util-A/B/C, IoU to final; mean ± sd over seeds), the
// stage × stage IoU heat maps of all configurations side by side on one
// colour scale (mean over seeds), the difference heat map of each
// configuration minus the baseline (PlotSettings.Baseline), a
// mask-evolution grid per configuration from its trace at the snapshot
// (see EvolutionChoice), and the training curves. Each comes with its
// name, title, a text alternative and the values it draws. s.Formats and
// s.CSV are ignored.
func (rs *Results) Figures(s *PlotSettings) ([]Plot, error) {
	var set PlotSettings
	if s != nil {
		set = *s
	}
	if err := set.Style.Check(); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	if set.YMin != 0 || set.YMax != 0 {
		if !(set.YMin < set.YMax) {
			return nil, fmt.Errorf("experiments: y range [%g, %g] is empty", set.YMin, set.YMax)
		}
	}
	if err := rs.checkLabels(&set); err != nil {
		return nil, err
	}
	var figs []Plot
	add := func(f *plots.Figure, name, title, note, help, alt string, data []DataRow) {
		figs = append(figs, Plot{Figure: Figure{Name: name, Title: title, Note: note, Help: help, Alt: alt}, Plot: f, Data: data})
	}
	reps, err := rs.snapshotReports(set.Snapshot)
	if err != nil {
		return nil, err
	}
	snap := snapshotName(set.Snapshot)
	for i := range metrics.Figures {
		fg := &metrics.Figures[i]
		if !fg.Plotted {
			continue
		}
		series, data, err := rs.stageSeries(&set, fg, reps)
		if err != nil {
			return nil, err
		}
		if len(series) == 0 {
			continue
		}
		title := fg.Title + " — " + snap
		f := plots.StageCurves(series, &plots.StageSettings{Style: set.Style, Title: title, YLabel: fg.Axis, Pairs: fg.Pair, Percent: true,
			YMin: set.YMin / 100, YMax: set.YMax / 100})
		add(f, fg.Key, title, "", fg.Reading, stageAlt(title, series, fg.Pair), data)
	}
	if err := rs.heatmapFigures(&set, reps, snap, add); err != nil {
		return nil, err
	}
	evo, err := rs.evolutionFigures(set)
	if err != nil {
		return nil, err
	}
	for _, e := range evo {
		add(e.fig, e.name, e.title, e.note, evolutionHelp+" "+e.note, e.alt, e.data)
		img := e.image
		figs[len(figs)-1].Image = &img
	}
	if rs.fromTraces() {
		return figs, nil // traces hold no training log
	}
	f, train, data, err := rs.trainingFigure(&set)
	if err != nil {
		return nil, err
	}
	add(f, "training", "Training loss and validation scores", "", trainingHelp, trainingAlt(train), data)
	return figs, nil
}

// snapshotReports returns each run's report at the snapshot, refusing a
// report whose probe saw no image.
func (rs *Results) snapshotReports(snapshot string) (map[*Result]*SnapshotReport, error) {
	reps := map[*Result]*SnapshotReport{}
	for _, r := range rs.Runs {
		rep, err := r.Snapshot(snapshot)
		if err != nil {
			return nil, err
		}
		if rep.Probe.Layer.NumStages == 0 {
			return nil, fmt.Errorf("experiments: %s: the probe of step %d saw no image", r.Dir, rep.Step)
		}
		reps[r] = rep
	}
	return reps, nil
}

// stageSeries gathers the per-stage figure fg of every configuration (one
// series per label that has it, one seed per run) and the values as data
// rows. A run whose report predates the figure is left out; a wrong
// number of values, or runs of one label with different numbers of
// stages, is an error.
func (rs *Results) stageSeries(set *PlotSettings, fg *metrics.Figure, reps map[*Result]*SnapshotReport) ([]plots.StageSeries, []DataRow, error) {
	var series []plots.StageSeries
	var data []DataRow
	for _, label := range rs.Labels() {
		ser := plots.StageSeries{Label: set.Name(label)}
		for _, r := range rs.Runs {
			if r.Label != label {
				continue
			}
			rep := reps[r]
			v := fg.Series(rep.Probe.Figures(), metrics.FinalMatched)
			if v == nil {
				continue // a report written before the figure existed
			}
			want := rep.Probe.Layer.NumStages
			if fg.Pair {
				want--
			}
			if len(v) != want || want == 0 {
				return nil, nil, fmt.Errorf("experiments: %s: %s has %d values for %d stages", r.Dir, fg.Key, len(v), rep.Probe.Layer.NumStages)
			}
			if len(ser.Seeds) > 0 && len(ser.Seeds[0]) != len(v) {
				return nil, nil, fmt.Errorf("experiments: runs labelled %s have different numbers of stages", label)
			}
			ser.Seeds = append(ser.Seeds, append([]float64(nil), v...))
			ser.StageLayers = stageLayers(&rep.Probe)
			for k, x := range v {
				d := set.runRow(fg.Key, fg.Key, r, rep.Step)
				d.Stage, d.Layers, d.Value = k, ser.StageLayers[k], x
				if fg.Pair {
					d.StageTo, d.LayersTo = k+1, ser.StageLayers[k+1]
				}
				data = append(data, d)
			}
		}
		if len(ser.Seeds) > 0 {
			series = append(series, ser)
		}
	}
	return series, data, nil
}

// trainingFigure draws the training curves of every run (labelled with
// the seed when a label has several runs) and returns the figure, its
// input and its values as data rows (AP −1, no GT to score, as NaN).
func (rs *Results) trainingFigure(set *PlotSettings) (*plots.Figure, []plots.TrainRun, []DataRow, error) {
	var train []plots.TrainRun
	var data []DataRow
	multi := false
	for _, label := range rs.Labels() {
		n := 0
		for _, r := range rs.Runs {
			if r.Label == label {
				n++
			}
		}
		multi = multi || n > 1
	}
	for _, r := range rs.Runs {
		label := set.Name(r.Label)
		if multi {
			label = fmt.Sprintf("%s seed %d", label, r.Manifest.Seed)
		}
		tr, err := r.trainRun(label)
		if err != nil {
			return nil, nil, nil, err
		}
		train = append(train, tr)
	}
	ts := &plots.TrainingSettings{Style: set.Style, Title: "Training"}
	f := plots.TrainingCurves(train, ts)
	for i, r := range rs.Runs {
		for _, panel := range plots.TrainingPanels(train, ts) {
			pts := train[i].Series[panel]
			for k, x := range pts.X {
				d := set.runRow("training", panel, r, int(x))
				d.Value = pts.Y[k]
				if (panel == "ap" || panel == "ap50") && d.Value < 0 {
					d.Value = math.NaN() // AP −1: no GT to score
				}
				data = append(data, d)
			}
		}
	}
	return f, train, data, nil
}

// runRow is a DataRow of run r's values.
func (s *PlotSettings) runRow(figure, metric string, r *Result, step int) DataRow {
	d := row(figure, metric)
	d.Configuration, d.Name, d.Seed, d.Step = r.Label, s.Name(r.Label), int(r.Manifest.Seed), step
	return d
}

// heatmapFigures adds the stage × stage IoU heat maps of all
// configurations (iou_matrix) and, when there is a baseline, the
// differences from it (iou_matrix_diff).
func (rs *Results) heatmapFigures(set *PlotSettings, reps map[*Result]*SnapshotReport, snap string,
	add func(f *plots.Figure, name, title, note, help, alt string, data []DataRow)) error {
	cfgs, panels, data := rs.heatmapConfigs(set, reps)
	if len(panels) == 0 {
		return nil
	}
	title := "Mean IoU between stages — " + snap
	f := plots.Heatmap(panels, &plots.HeatmapSettings{Style: set.Style, Title: title})
	add(f, "iou_matrix", title, "", heatmapHelp, heatmapAlt(title, panels, false), data)

	base := set.Baseline
	if base == "" && len(rs.Labels()) == 2 {
		base = rs.Labels()[0]
	}
	bi := slices.IndexFunc(cfgs, func(c heatmapConfig) bool { return c.label == base })
	if bi < 0 {
		return nil
	}
	diffs, skipped, data := diffPanels(set, cfgs, cfgs[bi])
	if len(diffs) == 0 {
		return nil
	}
	title = "Mean IoU between stages: difference from " + set.Name(base) + " — " + snap
	note := ""
	if len(skipped) > 0 {
		note = fmt.Sprintf("Not shown: %s (other decoder stages than %s).", strings.Join(skipped, ", "), set.Name(base))
	}
	f = plots.Heatmap(diffs, &plots.HeatmapSettings{Style: set.Style, Title: title, Diff: true})
	add(f, "iou_matrix_diff", title, note, diffHelp, heatmapAlt(title, diffs, true), data)
	return nil
}

// heatmapConfig is one configuration's stage × stage IoU matrix, the mean
// over its seeds.
type heatmapConfig struct {
	label  string
	mean   [][]float64
	layers []int
	seeds  int
}

// heatmapConfigs averages each configuration's stage × stage IoU matrix
// over its seeds and returns the configurations that have one, their
// heat-map panels, and every run's matrix as data rows.
func (rs *Results) heatmapConfigs(set *PlotSettings, reps map[*Result]*SnapshotReport) ([]heatmapConfig, []plots.HeatmapPanel, []DataRow) {
	var cfgs []heatmapConfig
	var panels []plots.HeatmapPanel
	var data []DataRow
	for _, label := range rs.Labels() {
		var mats [][]metrics.Series
		var layers []int
		for _, r := range rs.Runs {
			if r.Label != label {
				continue
			}
			rep := reps[r]
			mats = append(mats, rep.Probe.Layer.Matrix)
			layers = stageLayers(&rep.Probe)
			for i, row := range rep.Probe.Layer.Matrix {
				for j, v := range row {
					d := set.runRow("iou_matrix", "iou", r, rep.Step)
					d.Stage, d.StageTo, d.Value = i, j, v
					if i < len(layers) && j < len(layers) {
						d.Layers, d.LayersTo = layers[i], layers[j]
					}
					data = append(data, d)
				}
			}
		}
		m := meanMatrix(mats)
		if len(m) == 0 || len(m) != len(layers) {
			continue
		}
		cfgs = append(cfgs, heatmapConfig{label, m, layers, len(mats)})
		title := set.Name(label)
		if len(mats) > 1 {
			title += fmt.Sprintf(" (mean of %d seeds)", len(mats))
		}
		panels = append(panels, plots.HeatmapPanel{Title: title, M: m, StageLayers: layers})
	}
	return cfgs, panels, data
}

// diffPanels returns, for each configuration other than the baseline b
// with the same decoder stages, the panel of its mean matrix minus b's,
// the names of the configurations skipped for other stages, and the
// differences as data rows.
func diffPanels(set *PlotSettings, cfgs []heatmapConfig, b heatmapConfig) (diffs []plots.HeatmapPanel, skipped []string, data []DataRow) {
	base := b.label
	for _, c := range cfgs {
		if c.label == base {
			continue
		}
		if !slices.Equal(c.layers, b.layers) {
			skipped = append(skipped, set.Name(c.label))
			continue
		}
		d := make([][]float64, len(c.mean))
		for i := range d {
			d[i] = make([]float64, len(c.mean))
			for j := range d[i] {
				d[i][j] = c.mean[i][j] - b.mean[i][j]
				r := row("iou_matrix_diff", "iou_difference")
				r.Configuration, r.Name, r.Baseline = c.label, set.Name(c.label), base
				r.Stage, r.Layers, r.StageTo, r.LayersTo, r.Value = i, c.layers[i], j, c.layers[j], d[i][j]
				data = append(data, r)
			}
		}
		diffs = append(diffs, plots.HeatmapPanel{Title: set.Name(c.label) + " − " + set.Name(base), M: d, StageLayers: c.layers})
	}
	return diffs, skipped, data
}

// trainRun is the training figure's input for one run: the losses of its
// train.jsonl (the matching queries' loss, and MP-Former's MP terms apart)
// and the task scores of every validation — those of train.jsonl and those
// of the snapshot reports, which a run evaluates at every snapshot.
func (r *Result) trainRun(label string) (plots.TrainRun, error) {
	tl, err := run.ReadTrainLog(filepath.Join(r.Dir, run.LogFile))
	if err != nil {
		return plots.TrainRun{}, err
	}
	out := plots.TrainRun{Label: label, Series: map[string]plots.Points{}}
	add := func(name string, x int, y jsonnum.Float) {
		p := out.Series[name]
		p.Add(float64(x), float64(y))
		out.Series[name] = p
	}
	for _, st := range tl.Steps {
		add("loss", st.Step, st.Class+st.BCE+st.Dice)
		add("total", st.Step, st.Loss)
		add("class", st.Step, st.Class)
		add("bce", st.Step, st.BCE)
		add("dice", st.Step, st.Dice)
		add("lr", st.Step, st.LR)
		add("grad_norm", st.Step, st.GradNorm)
		if !math.IsNaN(float64(st.MP)) {
			add("mp", st.Step, st.MP)
		}
	}
	evals := map[int]run.EvalRecord{}
	for _, e := range tl.Evals {
		evals[e.Step] = e
	}
	for _, rep := range r.Reports {
		evals[rep.Step] = run.NewEvalRecord(rep.Step, &rep.Eval)
	}
	for _, step := range slices.Sorted(maps.Keys(evals)) {
		e := evals[step]
		for name, v := range map[string]jsonnum.Float{"pq": e.PQ, "pq_things": e.PQThings, "pq_stuff": e.PQStuff, "ap": e.AP, "ap50": e.AP50, "miou": e.MIoU} {
			add(name, step, v)
		}
	}
	return out, nil
}

// meanMatrix is the element-wise mean over seeds, NaN-aware.
func meanMatrix(ms [][]metrics.Series) [][]float64 {
	if len(ms) == 0 {
		return nil
	}
	n := len(ms[0])
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, n)
		for j := range out[i] {
			sum, k := 0.0, 0
			for _, m := range ms {
				if len(m) != n || len(m[i]) != n {
					return nil
				}
				if v := m[i][j]; !math.IsNaN(v) {
					sum += v
					k++
				}
			}
			out[i][j] = math.NaN()
			if k > 0 {
				out[i][j] = sum / float64(k)
			}
		}
	}
	return out
}

type evoFigure struct {
	fig                    *plots.Figure
	name, title, note, alt string
	image                  int
	data                   []DataRow
}

// queryScore is one final-matched query of an image.
type queryScore struct {
	gt, query int
	meanIoU   float64 // mean consecutive IoU over the stage pairs
}

// imageScores returns the final-matched queries of an image with their mean
// consecutive IoU, least consistent first.
func imageScores(im *probes.Image) []queryScore {
	st := im.ImageStages()
	S := len(st.Masks)
	if st.Match == nil || S < 2 {
		return nil
	}
	var out []queryScore
	for g, q := range st.Match[S-1] {
		if q < 0 {
			continue
		}
		sum := 0.0
		for s := 0; s+1 < S; s++ {
			sum += metrics.IoU(st.Masks[s][q], st.Masks[s+1][q])
		}
		out = append(out, queryScore{gt: g, query: q, meanIoU: sum / float64(S-1)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].meanIoU < out[j].meanIoU })
	return out
}

// EvolutionChoice documents how the mask-evolution figures pick what they
// show.
const EvolutionChoice = "The image is the validation image on which the first configuration's (first seed's) three least consistent queries " +
	"matched at the last stage have the lowest mean consecutive IoU; every configuration is shown on that image, with its own " +
	"queries matched at the last stage, least consistent (lowest mean consecutive IoU over the stage pairs) first."

// evolutionFigures draws, for each configuration, the masks through the
// stages of its least consistent final-matched queries on one image,
// chosen on the first configuration's trace (EvolutionChoice).
func (rs *Results) evolutionFigures(set PlotSettings) ([]evoFigure, error) {
	nq := set.EvolutionQueries
	if nq <= 0 {
		nq = 4
	}
	order := rs.evolutionRuns(set.Snapshot)
	if len(order) == 0 {
		return nil, nil
	}
	best, err := leastConsistentImage(order[0], set.Snapshot)
	if err != nil || best < 0 {
		return nil, err
	}
	var out []evoFigure
	for _, r := range order {
		tr, err := r.openSnapshotTrace(set.Snapshot)
		if err != nil {
			return nil, err
		}
		im, err := findImage(tr, best)
		if err != nil {
			tr.Close()
			return nil, err
		}
		info := tr.Info()
		tr.Close()
		if im == nil {
			continue
		}
		qs := imageScores(im)
		if len(qs) == 0 {
			continue
		}
		out = append(out, evolutionFigure(&set, r, im, info, qs[:min(nq, len(qs))]))
	}
	return out, nil
}

// evolutionRuns returns the first seed of each label that has a trace at
// the snapshot (both of its files present), in the order of the runs.
func (rs *Results) evolutionRuns(snapshot string) []*Result {
	var order []*Result
	seen := map[string]bool{}
	for _, r := range rs.Runs {
		rep, err := r.Snapshot(snapshot)
		if err != nil || rep.Trace == "" || seen[r.Label] {
			continue
		}
		npz, side := probes.TracePaths(filepath.Join(r.Dir, rep.Trace))
		if !fileExists(npz) || !fileExists(side) {
			continue // deleted to save space, or copied without it
		}
		seen[r.Label] = true
		order = append(order, r)
	}
	return order
}

// openSnapshotTrace opens the trace of r's report at the snapshot.
func (r *Result) openSnapshotTrace(snapshot string) (*probes.TraceReader, error) {
	rep, _ := r.Snapshot(snapshot)
	return openTrace(r.Dir, rep.Trace)
}

// leastConsistentImage returns the dataset index of the image of r's
// trace at the snapshot whose (up to) three least consistent final-matched
// queries have the lowest mean consecutive IoU, or −1 when no image has
// such a query.
func leastConsistentImage(r *Result, snapshot string) (int, error) {
	ref, err := r.openSnapshotTrace(snapshot)
	if err != nil {
		return -1, err
	}
	defer ref.Close()
	best, bestScore := -1, math.Inf(1)
	for k := 0; k < ref.Len(); k++ {
		im, err := ref.Image(k)
		if err != nil {
			return -1, err
		}
		qs := imageScores(im)
		if len(qs) == 0 {
			continue
		}
		n := min(3, len(qs))
		sum := 0.0
		for _, q := range qs[:n] {
			sum += q.meanIoU
		}
		if sc := sum / float64(n); sc < bestScore {
			best, bestScore = im.Index, sc
		}
	}
	return best, nil
}

// findImage returns the image of dataset index index in tr, or nil when
// tr does not hold it.
func findImage(tr *probes.TraceReader, index int) (*probes.Image, error) {
	for k := 0; k < tr.Len(); k++ {
		x, err := tr.Image(k)
		if err != nil {
			return nil, err
		}
		if x.Index == index {
			return x, nil
		}
	}
	return nil, nil
}

// evolutionFigure draws the masks of queries qs of run r through the
// stages of image im (dataset index im.Index), with its text alternative
// and data rows.
func evolutionFigure(set *PlotSettings, r *Result, im *probes.Image, info probes.RunInfo, qs []queryScore) evoFigure {
	best := im.Index
	st := im.ImageStages()
	name := "mask_evolution_" + FileName(r.Label)
	rep, _ := r.Snapshot(set.Snapshot)
	var rows []plots.MaskRow
	var alt []string
	var data []DataRow
	for _, q := range qs {
		row, ious, rowData := evolutionRow(set, r, im, st, info, q, name, rep.Step)
		data = append(data, rowData...)
		rows = append(rows, row)
		alt = append(alt, fmt.Sprintf("query %d (matched to a %s) has IoU with the previous stage %s", q.query, className(r, im.GT.Classes[q.gt]), strings.Join(ious, ", ")))
	}
	img := r.inputImage(best, info)
	title := fmt.Sprintf("%s, validation image %d: the %d least consistent queries matched at the last stage", set.Name(r.Label), best, len(rows))
	f := plots.MaskEvolution(img, rows, &plots.MaskSettings{Style: set.Style, Title: title, StageLayers: info.StageLayers})
	return evoFigure{fig: f, name: name, title: title, note: EvolutionChoice,
		alt: title + ": the masks of each query at every stage over the image, and its GT segment. From stage 1 on, " + strings.Join(alt, "; ") + ".", image: best, data: data}
}

// className is the name of class c in r's model, or its number when the
// model names no such class.
func className(r *Result, c int) string {
	names := r.Manifest.Config.Model.ClassNames
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return fmt.Sprint(c)
}

// evolutionRow is the row of query q in the mask-evolution figure name
// (st being im's stages): its masks through the stages and its GT segment, the IoU of each stage
// with the previous one as text, and its data rows (mask pixels per
// stage, IoU with the previous stage, GT pixels) at training step step.
func evolutionRow(set *PlotSettings, r *Result, im *probes.Image, st *metrics.ImageStages, info probes.RunInfo, q queryScore, name string, step int) (plots.MaskRow, []string, []DataRow) {
	row := plots.MaskRow{GT: im.GT.Masks[q.gt]}
	cls := className(r, im.GT.Classes[q.gt])
	row.Label = fmt.Sprintf("query %d → %s\nmean IoU %.0f %%", q.query, cls, 100*q.meanIoU)
	var ious []string
	var data []DataRow
	point := func(metric string, s int, v float64) {
		d := set.runRow(name, metric, r, step)
		d.Image, d.Query, d.Value = im.Index, q.query, v
		if s >= 0 {
			d.Stage, d.Layers = s, info.StageLayers[s]
		}
		data = append(data, d)
	}
	for s := range st.Masks {
		m := st.Masks[s][q.query]
		row.Masks = append(row.Masks, m)
		point("mask_pixels", s, float64(m.Area()))
		if s > 0 {
			iou := metrics.IoU(st.Masks[s-1][q.query], m)
			ious = append(ious, pctText(iou))
			d := data[len(data)-1]
			d.Metric, d.Stage, d.Layers, d.StageTo, d.LayersTo, d.Value = "iou_with_previous", s-1, info.StageLayers[s-1], s, info.StageLayers[s], iou
			data = append(data, d)
		}
	}
	point("gt_pixels", -1, float64(row.GT.Area()))
	return row, ious, data
}

// inputImage is the validation image as the model saw it, or a grey
// image of the input size when the dataset cannot be opened.
func (r *Result) inputImage(index int, info probes.RunInfo) image.Image {
	size := r.Manifest.Config.Model.ImageSize
	grey := func() image.Image {
		h, w := info.MaskH*info.MaskStride, info.MaskW*info.MaskStride
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = 200
		}
		return img
	}
	if r.Trace != "" {
		return grey() // a trace does not hold its input images
	}
	ds, err := data.Open(r.Manifest.Config.Val)
	if err != nil || index >= ds.Len() {
		return grey()
	}
	smp, err := ds.Sample(index)
	if err != nil {
		return grey()
	}
	bi := data.MakeImage(smp, size, data.AugParams{Scale: 1})
	s := bi.AsSample()
	return plots.ImageFromRGB(s.H, s.W, s.RGB)
}

// openTrace opens a run's trace (rel is relative to the run directory).
func openTrace(dir, rel string) (*probes.TraceReader, error) {
	return probes.OpenTrace(filepath.Join(dir, rel), nil)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
