package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gonum.org/v1/plot/vg"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/plots"
)

func init() { register(newPlotCmd) }

type plotOptions struct {
	Runs     []string
	Traces   []string
	Out      string
	Snapshot string
	Formats  []string
	Queries  int
	JSON     bool
	Figure   figureFlags
}

// figureFlags are the flags of the figures' look, names and data, which
// `plot` takes and other commands that draw figures can bind too.
type figureFlags struct {
	Width, Height float64 // inches; 0 = each figure's default
	DPI           int
	FontScale     float64
	NoTitle       bool
	Labels        []string // key=Name
	YLim          string   // "lo,hi" in percent
	Baseline      string
	CSV           string
}

func (o *figureFlags) bind(f *pflag.FlagSet) {
	f.Float64Var(&o.Width, "width", 0, "figure width in inches (0 = each figure's default: 7 for the heat maps, mask evolution and training, 6.4 for the stage curves)")
	f.Float64Var(&o.Height, "height", 0, "figure height in inches (0 = each figure's default; the mask evolution always fits its height to its width)")
	f.IntVar(&o.DPI, "dpi", plots.DefaultDPI, "PNG resolution in dots per inch (300 for print)")
	f.Float64Var(&o.FontScale, "font-scale", 1, "multiply every text size (0.25..4); the defaults read at 8–10 pt at the figure's own size")
	f.BoolVar(&o.NoTitle, "no-title", false, "leave the titles out (for a figure whose caption says what it shows)")
	f.StringArrayVar(&o.Labels, "label", nil, "display name of a configuration, key=Name, e.g. mpformer=MP-Former (repeatable; default: Mask2Former, MP-Former, MaskFormer for the built-in ones, else the label)")
	f.StringVar(&o.YLim, "ylim", "", "y range of the stage curves, lo,hi in percent, e.g. 40,100 (default: fitted to the data)")
	f.StringVar(&o.Baseline, "baseline", "", "configuration subtracted in the difference heat map (default: the first, when there are exactly two)")
	limit(f, "width", limits.Reals(2, 50).Or(0, "each figure's default"))
	limit(f, "height", limits.Reals(1.5, 50).Or(0, "each figure's default"))
	limit(f, "dpi", limits.Ints(10, 2400))
	limit(f, "font-scale", limits.Reals(0.25, 4))
	f.StringVar(&o.CSV, "csv", "", "also write everything plotted to this CSV file, one tidy table (columns: "+strings.Join(experiments.DataColumns, ", ")+")")
}

// apply checks the flags and fills s.
func (o *figureFlags) apply(s *experiments.PlotSettings) error {
	// The ranges of --width, --height, --dpi and --font-scale are checked
	// while parsing (limit).
	s.Style.Width, s.Style.Height = vg.Length(o.Width)*vg.Inch, vg.Length(o.Height)*vg.Inch
	s.Style.DPI = o.DPI
	s.Style.FontScale = o.FontScale
	var err error
	s.Style.NoTitle = o.NoTitle
	if s.Labels, err = experiments.ParseLabels(o.Labels); err != nil {
		return usageErrorf("--label %v", err)
	}
	if o.YLim != "" {
		lo, hi, ok := strings.Cut(o.YLim, ",")
		a, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
		if !ok || err1 != nil || err2 != nil || math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) || !(a < b) {
			return usageErrorf("--ylim %q: want lo,hi in percent with lo < hi, e.g. 40,100", o.YLim)
		}
		s.YMin, s.YMax = a, b
	}
	s.Baseline = o.Baseline
	s.CSV = o.CSV
	return nil
}

func newPlotCmd(s *streams) *cobra.Command {
	opts := &plotOptions{}
	cmd := &cobra.Command{
		Use:   "plot (RUN... | --trace LABEL=T.npz...) --out DIR",
		Short: "Figures of finished experiment runs or traces: stage curves, IoU heat maps, mask evolution, training",
		Long: `plot reads finished runs (as compare does; several directories are merged)
and writes into --out, as PNG and SVG (--format pdf for PDF with the fonts
embedded; for plain 'mpanalyze train' run directories, which have no probe
reports, only the training figure):

  consecutive_iou, util_a, util_b, util_c, iou_to_final, empty
      one line per configuration over the decoder stages, mean ± sd over
      seeds as a band;
  iou_matrix
      the mean IoU between the masks of every two stages (mean over seeds),
      one panel per configuration, all on one colour scale;
  iou_matrix_diff
      each configuration minus the baseline (--baseline; by default the
      first configuration when there are exactly two), in percentage
      points on a diverging red–blue scale centred on 0;
  mask_evolution_<config>
      one validation image from the final trace: the queries matched at the
      last stage whose masks change most (lowest mean consecutive IoU),
      column by column through the stages, with the GT segment last. The
      image is the one where the first configuration's three least
      consistent queries are least consistent; every configuration is shown
      on it;
  training
      the matching queries' loss (MP-Former's MP-query loss apart) and the
      validation PQ / AP / mIoU of every evaluation against the step.

The figures are sized to be read at their own size: 7 inches wide (a
journal's text width) for the heat maps, the mask evolution and the
training curves; set --width, --height and --font-scale for other layouts,
--dpi 300 for print. --csv writes every plotted value to one table, to
redraw the figures in another tool.

With --trace (repeatable) it draws the figures of traces instead, one
configuration per label (traces with one label are seeds of it): the stage
curves, the IoU heat maps and the mask evolution (over a grey image: a
trace does not hold the input image); no training figure.`,
		Example: `  mpanalyze plot runs/diagnosis --out runs/diagnosis/plots
  mpanalyze plot runs/diagnosis --out paper/ --format pdf --width 7 --no-title --csv paper/figures.csv
  mpanalyze plot runs/noise_ratio --snapshot 0.5 --format svg --ylim 40,100 --label mpformer=MP-Former --out figs/
  mpanalyze plot --trace Mask2Former=m2f.npz --trace Mine=mine.npz --out figs/`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Runs = args
			return runPlot(s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "output directory (required)")
	f.StringVar(&opts.Snapshot, "snapshot", "final", "checkpoint: final, or a fraction of training such as 0.25 (mask evolution needs a trace there: ablate --trace-all)")
	f.StringSliceVar(&opts.Formats, "format", plots.DefaultFormats, "file formats: "+strings.Join(plots.Formats, ", "))
	f.IntVar(&opts.Queries, "queries", 4, "queries per mask-evolution figure")
	limit(f, "queries", limits.Ints(1, 100))
	oneOf(f, "format", plots.Formats...)
	f.BoolVar(&opts.JSON, "json", false, "print the written figures as JSON")
	opts.Figure.bind(f)
	f.StringArrayVar(&opts.Traces, "trace", nil, traceFlagHelp)
	return cmd
}

func runPlot(s *streams, o *plotOptions) error {
	if o.Out == "" {
		return usageErrorf("--out is required")
	}
	if o.Snapshot != "final" {
		if _, err := experiments.ParseFraction(o.Snapshot); err != nil {
			return usageErrorf("--snapshot %q: want final, or a fraction of training such as 0.25 or 25%%", o.Snapshot)
		}
	}
	set := experiments.PlotSettings{Snapshot: o.Snapshot, Formats: o.Formats, EvolutionQueries: o.Queries}
	if err := o.Figure.apply(&set); err != nil {
		return err
	}
	if err := checkTraceArgs(o.Runs, o.Traces, o.Snapshot); err != nil {
		return err
	}
	if len(o.Traces) > 0 {
		if err := outDir("out", o.Out); err != nil {
			return err
		}
		rs, err := loadTraceResults(s, o.Traces)
		if err != nil {
			return err
		}
		set.Snapshot = ""
		figs, err := rs.WritePlots(o.Out, &set)
		if err != nil {
			return err
		}
		return printFigures(s, o, figs, set.CSV)
	}
	expPaths, plain := splitRunPaths(o.Runs)
	if len(plain) > 0 {
		if len(expPaths) > 0 {
			return usageErrorf("plot: %s is a plain train run and %s an experiment; plot them separately", plain[0], expPaths[0])
		}
		trs, err := experiments.LoadTrainRuns(plain...)
		if err != nil {
			return err
		}
		if err := outDir("out", o.Out); err != nil {
			return err
		}
		figs, err := experiments.WriteTrainingPlot(trs, o.Out, o.Formats)
		if err != nil {
			return err
		}
		fmt.Fprintln(s.Err, "note: plain train runs have no probe reports, so only the training figure (probe a checkpoint for the per-stage figures)")
		return printFigures(s, o, figs, "")
	}
	rs, err := loadResults(s, o.Runs)
	if err != nil {
		return err
	}
	if err := outDir("out", o.Out); err != nil {
		return err
	}
	figs, err := rs.WritePlots(o.Out, &set)
	if err != nil {
		return err
	}
	if !hasFigure(figs, "mask_evolution_") {
		fmt.Fprintf(s.Err, "note: no trace at the %s snapshot, so no mask-evolution figure (ablate --trace-all writes one at every snapshot)\n", o.Snapshot)
	}
	return printFigures(s, o, figs, set.CSV)
}

// printFigures lists the figures written (and the CSV of their data, when
// csv is not empty).
func printFigures(s *streams, o *plotOptions, figs []experiments.Figure, csv string) error {
	if o.JSON {
		out := map[string]any{"out": o.Out, "figures": figs}
		if csv != "" {
			out["csv"] = csv
		}
		return writeJSON(s.Out, out)
	}
	for _, f := range figs {
		fmt.Fprintf(s.Out, "%-28s %s\n", f.Name, strings.Join(f.Files, "  "))
	}
	if csv != "" {
		fmt.Fprintf(s.Out, "%-28s %s\n", "data", csv)
	}
	return nil
}

func hasFigure(figs []experiments.Figure, prefix string) bool {
	for _, f := range figs {
		if strings.HasPrefix(f.Name, prefix) {
			return true
		}
	}
	return false
}
