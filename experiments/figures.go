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

// PlotSettings configures WritePlots. The zero value plots the final
// snapshot as PNG and SVG.
type PlotSettings struct {
	// Snapshot selects the checkpoint (see Result.Snapshot); "" is final.
	Snapshot string
	// Formats are file extensions; nil means plots.Formats (png, svg).
	Formats []string
	// EvolutionQueries is the number of queries in a mask-evolution
	// figure; 0 means 4.
	EvolutionQueries int
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
// (Files empty) and the figure.
type Plot struct {
	Figure
	Plot *plots.Figure
}

// Captions of the figures that are not per-stage curves (those take
// metrics.Figure.Reading).
const (
	heatmapHelp   = "Cell (i, j) is the mean IoU between a query's masks at stage i and stage j (queries matched at the last stage). A bright block along the diagonal means stages that agree; dark cells near the diagonal mean masks that change from one layer to the next."
	evolutionHelp = "Each row is one query, each column a stage, the last column its GT segment; under each cell the IoU with the previous stage (bold below 50 %)."
	trainingHelp  = "The matching queries' training loss (faint: per step; solid: moving average), MP-Former's mask-pilot loss terms apart, and the validation scores of every evaluation."
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
// every format of s.Formats, and returns the figures written.
func (rs *Results) WritePlots(dir string, s *PlotSettings) ([]Figure, error) {
	var set PlotSettings
	if s != nil {
		set = *s
	}
	formats := set.Formats
	if len(formats) == 0 {
		formats = plots.Formats
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
	return figs, nil
}

// Figures builds the figures of the results: the per-stage curves
// (consecutive IoU, Util-A/B/C, IoU to final; mean ± sd over seeds), a
// stage × stage IoU heat map per configuration (mean over seeds), a
// mask-evolution grid per configuration from its trace at the snapshot
// (see EvolutionChoice), and the training curves. Each comes with its
// name, title and a text alternative. s.Formats is ignored.
func (rs *Results) Figures(s *PlotSettings) ([]Plot, error) {
	var set PlotSettings
	if s != nil {
		set = *s
	}
	var figs []Plot
	save := func(f *plots.Figure, name, title, note, help, alt string) error {
		figs = append(figs, Plot{Figure: Figure{Name: name, Title: title, Note: note, Help: help, Alt: alt}, Plot: f})
		return nil
	}
	reps := map[*Result]*SnapshotReport{}
	for _, r := range rs.Runs {
		rep, err := r.Snapshot(set.Snapshot)
		if err != nil {
			return nil, err
		}
		if rep.Probe.Layer.NumStages == 0 {
			return nil, fmt.Errorf("experiments: %s: the probe of step %d saw no image", r.Dir, rep.Step)
		}
		reps[r] = rep
	}
	snap := snapshotName(set.Snapshot)
	for i := range metrics.Figures {
		fg := &metrics.Figures[i]
		if !fg.Plotted {
			continue
		}
		var series []plots.StageSeries
		for _, label := range rs.Labels() {
			ser := plots.StageSeries{Label: label}
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
					return nil, fmt.Errorf("experiments: %s: %s has %d values for %d stages", r.Dir, fg.Key, len(v), rep.Probe.Layer.NumStages)
				}
				if len(ser.Seeds) > 0 && len(ser.Seeds[0]) != len(v) {
					return nil, fmt.Errorf("experiments: runs labelled %s have different numbers of stages", label)
				}
				ser.Seeds = append(ser.Seeds, append([]float64(nil), v...))
				ser.StageLayers = stageLayers(&rep.Probe)
			}
			if len(ser.Seeds) > 0 {
				series = append(series, ser)
			}
		}
		if len(series) == 0 {
			continue
		}
		title := fg.Title + " — " + snap
		f := plots.StageCurves(series, &plots.StageSettings{Title: title, YLabel: fg.Axis, Pairs: fg.Pair, Percent: true})
		if err := save(f, fg.Key, title, "", fg.Reading, stageAlt(title, series, fg.Pair)); err != nil {
			return nil, err
		}
	}
	for _, label := range rs.Labels() {
		var mats [][]metrics.Series
		var layers []int
		seeds := 0
		for _, r := range rs.Runs {
			if r.Label == label {
				mats = append(mats, reps[r].Probe.Layer.Matrix)
				layers = stageLayers(&reps[r].Probe)
				seeds++
			}
		}
		m := meanMatrix(mats)
		if len(m) == 0 || len(m) != len(layers) {
			continue
		}
		title := fmt.Sprintf("%s: mean IoU between stages (%s", label, snap)
		if seeds > 1 {
			title += fmt.Sprintf(", mean of %d seeds", seeds)
		}
		title += ")"
		f := plots.Heatmap(m, &plots.HeatmapSettings{Title: title, StageLayers: layers})
		if err := save(f, "iou_matrix_"+FileName(label), title, "", heatmapHelp, heatmapAlt(title, m, layers)); err != nil {
			return nil, err
		}
	}
	evo, err := rs.evolutionFigures(set)
	if err != nil {
		return nil, err
	}
	for _, e := range evo {
		if err := save(e.fig, e.name, e.title, e.note, evolutionHelp+" "+e.note, e.alt); err != nil {
			return nil, err
		}
		img := e.image
		figs[len(figs)-1].Image = &img
	}
	if rs.fromTraces() {
		return figs, nil // traces hold no training log
	}
	var train []plots.TrainRun
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
		label := r.Label
		if multi {
			label = fmt.Sprintf("%s seed %d", r.Label, r.Manifest.Seed)
		}
		tr, err := r.trainRun(label)
		if err != nil {
			return nil, err
		}
		train = append(train, tr)
	}
	f := plots.TrainingCurves(train, &plots.TrainingSettings{Title: "Training"})
	if err := save(f, "training", "Training loss and validation scores", "", trainingHelp, trainingAlt(train)); err != nil {
		return nil, err
	}
	return figs, nil
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
	// The first seed of each label that has a trace at the snapshot.
	var order []*Result
	seen := map[string]bool{}
	for _, r := range rs.Runs {
		rep, err := r.Snapshot(set.Snapshot)
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
	if len(order) == 0 {
		return nil, nil
	}
	open := func(r *Result) (*probes.TraceReader, error) {
		rep, _ := r.Snapshot(set.Snapshot)
		return openTrace(r.Dir, rep.Trace)
	}
	ref, err := open(order[0])
	if err != nil {
		return nil, err
	}
	best, bestScore := -1, math.Inf(1)
	for k := 0; k < ref.Len(); k++ {
		im, err := ref.Image(k)
		if err != nil {
			ref.Close()
			return nil, err
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
	ref.Close()
	if best < 0 {
		return nil, nil
	}
	var out []evoFigure
	for _, r := range order {
		tr, err := open(r)
		if err != nil {
			return nil, err
		}
		var im *probes.Image
		for k := 0; k < tr.Len(); k++ {
			x, err := tr.Image(k)
			if err != nil {
				tr.Close()
				return nil, err
			}
			if x.Index == best {
				im = x
				break
			}
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
		qs = qs[:min(nq, len(qs))]
		st := im.ImageStages()
		names := r.Manifest.Config.Model.ClassNames
		var rows []plots.MaskRow
		var alt []string
		for _, q := range qs {
			row := plots.MaskRow{GT: im.GT.Masks[q.gt]}
			cls := fmt.Sprint(im.GT.Classes[q.gt])
			if c := im.GT.Classes[q.gt]; c >= 0 && c < len(names) {
				cls = names[c]
			}
			row.Label = fmt.Sprintf("query %d → %s\nmean cons. IoU %.0f %%", q.query, cls, 100*q.meanIoU)
			var ious []string
			for s := range st.Masks {
				row.Masks = append(row.Masks, st.Masks[s][q.query])
				if s > 0 {
					ious = append(ious, pctText(metrics.IoU(st.Masks[s-1][q.query], st.Masks[s][q.query])))
				}
			}
			rows = append(rows, row)
			alt = append(alt, fmt.Sprintf("query %d (matched to a %s) has IoU with the previous stage %s", q.query, cls, strings.Join(ious, ", ")))
		}
		img := r.inputImage(best, info)
		title := fmt.Sprintf("%s, validation image %d: %d least consistent queries matched at the last stage", r.Label, best, len(rows))
		f := plots.MaskEvolution(img, rows, &plots.MaskSettings{Title: title, StageLayers: info.StageLayers})
		out = append(out, evoFigure{fig: f, name: "mask_evolution_" + FileName(r.Label), title: title, note: EvolutionChoice,
			alt: title + ": the masks of each query at every stage over the image, and its GT segment. From stage 1 on, " + strings.Join(alt, "; ") + ".", image: best})
	}
	return out, nil
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
