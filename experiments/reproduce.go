package experiments

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
)

// ReproduceSteps is the default training length of a reproduction: the two
// models of the diagnosis spec must finish (training, probing three
// snapshots, tables, plots) in at most 10 minutes on 2 cores. Measured on
// the 2-core development machine at 800 steps: 5m01s with both cores free
// (5m05s for `go run` from a clean clone, compile included); one step costs
// about 0.31 CPU-seconds for Mask2Former and 0.33 for MP-Former (128 px,
// batch 8). A busy machine stretches it (6m01s → 10m35s with one core
// taken, measured before the speed work). Change it here when the model's
// speed changes.
const ReproduceSteps = 800

// The presets of Reproduce.
const (
	// PresetDefault runs the built-in diagnosis spec at ReproduceSteps
	// (20 queries, 128 px, FPN, loss weights 2/2/2 on every pixel): within
	// 10 minutes on 2 cores.
	PresetDefault = "default"
	// PresetPaper runs the built-in paper spec (specs/paper.yaml): 100
	// queries, the official loss weights and point-sampled losses, the
	// msdeform pixel decoder, 192 px scenes with up to 12 things, and
	// MP-Former with the paper's best noise. A step costs 14.9 CPU-s for
	// Mask2Former and 25.9 for MP-Former (BenchmarkTrainStepPaper), so the
	// preset is about 9 CPU-hours (specs/README.md).
	PresetPaper = "paper"
)

// Presets are the values of ReproduceOptions.Preset.
var Presets = []string{PresetDefault, PresetPaper}

// PaperSteps is the training length of the paper preset (the paper spec's
// base.steps).
const PaperSteps = 800

// preset is what a preset starts from.
type preset struct {
	spec             string
	steps, imageSize int
}

var presets = map[string]preset{
	PresetDefault: {"diagnosis", ReproduceSteps, 128},
	PresetPaper:   {"paper", PaperSteps, 192},
}

// lookupPreset resolves a preset name ("" is PresetDefault).
func lookupPreset(name string) (preset, error) {
	if name == "" {
		name = PresetDefault
	}
	p, ok := presets[name]
	if !ok {
		return p, fmt.Errorf("experiments: reproduce: unknown preset %q (want one of %s)", name, strings.Join(Presets, ", "))
	}
	return p, nil
}

// ReproduceOptions configure Reproduce. Zero fields take the defaults in
// their comments.
type ReproduceOptions struct {
	// Preset picks the built-in spec: PresetDefault ("" too) the
	// diagnosis spec, PresetPaper the paper spec.
	Preset    string
	Out       string // output directory (required)
	Steps     int    // training steps per model (the preset's: ReproduceSteps, PaperSteps)
	Seeds     int    // seeds per model, 1..Seeds (1)
	ImageSize int    // image side, a multiple of 32; also the scenes' side (the preset's: 128, 192)
	Queries   int    // matching queries per model (the preset's: 20, 100)
	// Parallel and Workers are Runner's; they never change the results.
	Parallel, Workers int
	// Progress receives the runner's progress lines.
	Progress io.Writer
	// Figures are the formats, look and names of the figures (as `plot`
	// takes them); the zero value gives plot's defaults. Its Snapshot is
	// ignored: the figures show the final snapshot.
	Figures PlotSettings
}

// Reproduction is what Reproduce did and found.
type Reproduction struct {
	Spec     *Spec
	Statuses []RunStatus
	Results  *Results
	// Tables are the diagnosis, accuracy and through-training tables of
	// the final snapshot.
	Tables []tables.Named
	// Final compares MP-Former with Mask2Former at the final snapshot,
	// Earlier at each earlier snapshot.
	Final   *Comparison
	Earlier []*Comparison
	Figures []Figure
	// Summary is the path of summary.md, PlotDir that of the figures.
	Summary, PlotDir      string
	Seconds, TrainSeconds float64
	Skipped               int // runs already done and reused
}

// withDefaults fills the zero fields of o with its preset's defaults.
func (o ReproduceOptions) withDefaults() (ReproduceOptions, preset, error) {
	p, err := lookupPreset(o.Preset)
	if err != nil {
		return o, p, err
	}
	if o.Steps == 0 {
		o.Steps = p.steps
	}
	if o.Seeds == 0 {
		o.Seeds = 1
	}
	if o.ImageSize == 0 {
		o.ImageSize = p.imageSize
	}
	return o, p, nil
}

// ReproduceSpec is the preset's built-in spec (diagnosis or paper) with
// the options applied; zero options take the preset's values.
func ReproduceSpec(o ReproduceOptions) (*Spec, error) {
	o, p, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Steps < 0 || o.Seeds < 0 {
		return nil, fmt.Errorf("experiments: reproduce: steps %d and seeds %d must be positive", o.Steps, o.Seeds)
	}
	if o.ImageSize < 32 || o.ImageSize%32 != 0 {
		return nil, fmt.Errorf("experiments: reproduce: image size %d is not a positive multiple of 32", o.ImageSize)
	}
	if o.Queries < 0 || o.Queries > 1000 {
		return nil, fmt.Errorf("experiments: reproduce: %d queries (want 1..1000, or 0 for the preset's)", o.Queries)
	}
	src, err := BuiltinSource(p.spec)
	if err != nil {
		return nil, err
	}
	sp, err := ParseSpec(src, "builtin:"+p.spec)
	if err != nil {
		return nil, err
	}
	if sp, err = sp.WithSteps(o.Steps); err != nil {
		return nil, err
	}
	if sp, err = sp.WithSeeds(o.Seeds); err != nil {
		return nil, err
	}
	if o.ImageSize != p.imageSize {
		if sp, err = sp.WithSet("image_size", o.ImageSize); err != nil {
			return nil, err
		}
		if sp, err = sp.WithData("size", o.ImageSize); err != nil {
			return nil, err
		}
	}
	if o.Queries > 0 {
		if sp, err = sp.WithSet("queries", o.Queries); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// Reproduce runs the diagnosis: Mask2Former and MP-Former trained from the
// same seeds, data and schedule, probed and evaluated at 25, 50 and 100 %
// of training; then the tables, the comparisons, the figures (Out/plots)
// and summary.md. Rerunning reuses finished runs.
func Reproduce(o ReproduceOptions) (*Reproduction, error) {
	o, _, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	sp, err := ReproduceSpec(o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Reproduction{Spec: sp}
	// Every snapshot is traced, compactly (binary masks: 25 kB per image at
	// the default size), so that the report's mask viewer can switch
	// checkpoints.
	runner := &Runner{Spec: sp, Out: o.Out, Parallel: o.Parallel, Workers: o.Workers, TraceAll: true, Compact: true, Progress: o.Progress}
	if rep.Statuses, err = runner.Run(nil); err != nil {
		return nil, err
	}
	rep.TrainSeconds = time.Since(start).Seconds()
	for _, st := range rep.Statuses {
		if st.Status == "skipped" {
			rep.Skipped++
		}
	}
	if rep.Results, err = Load(o.Out); err != nil {
		return nil, err
	}
	if err := rep.compare(); err != nil {
		return nil, err
	}
	rep.PlotDir = filepath.Join(o.Out, "plots")
	figs := o.Figures
	figs.Snapshot = ""
	if rep.Figures, err = rep.Results.WritePlots(rep.PlotDir, &figs); err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Summary = filepath.Join(o.Out, "summary.md")
	err = atomicfile.Write(rep.Summary, func(w io.Writer) error { return rep.writeSummary(w, o) })
	return rep, err
}

// compare builds the tables and the comparisons of every snapshot.
func (rep *Reproduction) compare() error {
	rs := rep.Results
	var err error
	if rep.Tables, err = rs.Tables("final", nil, false); err != nil {
		return err
	}
	pair := func(sel string) (*Comparison, error) {
		c, err := rs.Compare("mask2former", "mpformer", sel)
		if err != nil {
			return nil, err
		}
		c.Baseline, c.Candidate = "Mask2Former", "MP-Former"
		return c, nil
	}
	if rep.Final, err = pair("final"); err != nil {
		return err
	}
	// The advantage is expected to be largest early (docs/papers.md#small-scale).
	for _, f := range rs.Fractions() {
		if f < 1 {
			c, err := pair(strconv.FormatFloat(f, 'g', -1, 64))
			if err != nil {
				return err
			}
			rep.Earlier = append(rep.Earlier, c)
		}
	}
	return nil
}

// SkippedNote says how many runs were reused, "" when none.
func (rep *Reproduction) SkippedNote() string {
	if rep.Skipped == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of %d runs were already done and reused)", rep.Skipped, len(rep.Statuses))
}

// writeSummary writes summary.md: the verdict, the earlier comparisons,
// the setting, the tables in Markdown and the figures with their captions.
func (rep *Reproduction) writeSummary(w io.Writer, o ReproduceOptions) error {
	fmt.Fprintf(w, "# Diagnosis: Mask2Former vs MP-Former\n\n**%s**\n\n", rep.Final.Verdict())
	if len(rep.Earlier) > 0 {
		fmt.Fprintf(w, "Earlier in training:\n\n")
		for _, c := range rep.Earlier {
			fmt.Fprintf(w, "- %s\n", c.Verdict())
		}
		fmt.Fprintln(w)
	}
	runs, _ := rep.Spec.Runs()
	rc := runs[0].Config
	fmt.Fprintf(w, "Built-in %s spec on the synthetic scenes: %d training steps per model, %s, %d px images, %d queries, "+
		"probed and evaluated on %d validation images at %s of training. "+
		"Took %s on %d cores%s (mpanalyze %s). Values are percentages, mean ± sd over seeds.\n\n",
		rep.Spec.Name, o.Steps, seedsText(o.Seeds), o.ImageSize, rc.Model.Queries, rc.EvalImages, percentList(runs[0].Fractions),
		time.Duration(rep.Seconds*float64(time.Second)).Round(time.Second), o.Workers, rep.SkippedNote(), CurrentTool())
	for _, t := range rep.Tables {
		var b bytes.Buffer
		if err := t.Table.Render(&b, "markdown"); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", b.String())
	}
	fmt.Fprintln(w, "## Figures")
	for _, f := range rep.Figures {
		var png string
		for _, p := range f.Files {
			if strings.HasSuffix(p, ".png") || png == "" {
				png = p
			}
		}
		rel, err := filepath.Rel(o.Out, png)
		if err != nil {
			rel = png
		}
		fmt.Fprintf(w, "\n### %s\n\n![%s](%s)\n\n%s\n", f.Title, f.Name, filepath.ToSlash(rel), f.Help)
	}
	return nil
}

// percentList writes fractions as "25 %, 50 % and 100 %".
func percentList(fr []float64) string {
	var parts []string
	for _, f := range fr {
		parts = append(parts, strconv.FormatFloat(100*f, 'g', 4, 64)+" %")
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func seedsText(n int) string {
	if n == 1 {
		return "seed 1"
	}
	return fmt.Sprintf("seeds 1..%d", n)
}
