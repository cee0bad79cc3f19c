package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/plots"
)

func init() { register(newPlotCmd) }

type plotOptions struct {
	Runs     []string
	Out      string
	Snapshot string
	Formats  []string
	Queries  int
	JSON     bool
}

func newPlotCmd(s *streams) *cobra.Command {
	opts := &plotOptions{}
	cmd := &cobra.Command{
		Use:   "plot RUN... --out DIR",
		Short: "Figures of finished experiment runs: stage curves, IoU heat maps, mask evolution, training",
		Long: `plot reads finished runs (as compare does; several directories are merged)
and writes into --out, as PNG and SVG (for plain 'mpanalyze train' run
directories, which have no probe reports, only the training figure):

  consecutive_iou, util_a, util_b, util_c, iou_to_final
      one line per configuration over the decoder stages, mean ± sd over
      seeds as a band;
  iou_matrix_<config>
      the mean IoU between the masks of every two stages (mean over seeds);
  mask_evolution_<config>
      one validation image from the final trace: the queries matched at the
      last stage whose masks change most (lowest mean consecutive IoU),
      column by column through the stages, with the GT segment last. The
      image is the one where the first configuration's three least
      consistent queries are least consistent; every configuration is shown
      on it;
  training
      loss and validation PQ / AP / mIoU against the step.`,
		Example: `  mpanalyze plot runs/diagnosis --out runs/diagnosis/plots
  mpanalyze plot runs/noise_ratio --snapshot 0.5 --format svg --out figs/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Runs = args
			return runPlot(s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "output directory (required)")
	f.StringVar(&opts.Snapshot, "snapshot", "final", "checkpoint: final, or a fraction of training such as 0.25 (mask evolution needs a trace there: ablate --trace-all)")
	f.StringSliceVar(&opts.Formats, "format", plots.Formats, "file formats: png, svg")
	f.IntVar(&opts.Queries, "queries", 4, "queries per mask-evolution figure")
	limit(f, "queries", limits.Ints(1, 100))
	oneOf(f, "format", plots.Formats...)
	f.BoolVar(&opts.JSON, "json", false, "print the written figures as JSON")
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
		return printFigures(s, o, figs)
	}
	rs, err := loadResults(s, o.Runs)
	if err != nil {
		return err
	}
	if err := outDir("out", o.Out); err != nil {
		return err
	}
	figs, err := rs.WritePlots(o.Out, &experiments.PlotSettings{Snapshot: o.Snapshot, Formats: o.Formats, EvolutionQueries: o.Queries})
	if err != nil {
		return err
	}
	if !hasFigure(figs, "mask_evolution_") {
		fmt.Fprintf(s.Err, "note: no trace at the %s snapshot, so no mask-evolution figure (ablate --trace-all writes one at every snapshot)\n", o.Snapshot)
	}
	return printFigures(s, o, figs)
}

func printFigures(s *streams, o *plotOptions, figs []experiments.Figure) error {
	if o.JSON {
		return writeJSON(s.Out, map[string]any{"out": o.Out, "figures": figs})
	}
	for _, f := range figs {
		fmt.Fprintf(s.Out, "%-28s %s\n", f.Name, strings.Join(f.Files, "  "))
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
