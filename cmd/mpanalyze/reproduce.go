package main

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/report"
)

func init() { register(newReproduceCmd) }

type reproduceOptions struct {
	Preset    string
	Out       string
	Steps     int
	Seeds     int
	ImageSize int
	Queries   int
	Parallel  int
	Workers   int
	JSON      bool
}

func newReproduceCmd(s *streams) *cobra.Command {
	opts := &reproduceOptions{}
	cmd := &cobra.Command{
		Use:   "reproduce",
		Short: "Run the diagnosis (Mask2Former vs MP-Former) on the built-in data, with tables, plots and a summary",
		Long: fmt.Sprintf(`reproduce runs the built-in diagnosis spec on the synthetic scenes: Mask2Former
and MP-Former (release settings) trained from the same seed, data and schedule,
probed and evaluated at 25 %%, 50 %% and 100 %% of the steps. It prints the
per-stage table, the stage means through training and the task metrics,
writes the plots, summary.md (tables, plots, verdict) and report.html (the
same with a stage × query mask viewer, one self-contained page; every
snapshot is traced, compactly, so that the viewer can switch checkpoints)
into --out, and ends with the verdict: MP-Former's mean consecutive IoU and
mean Util-A (over stages) against Mask2Former's, each difference with a 95 %%
interval (a t interval over 3 or more seeds, else a bootstrap over the
validation images, which one seed cannot turn into evidence).

The defaults (--preset default: %d steps, 1 seed, 128 px, 20 queries) are
meant to finish within 10 minutes on 2 free cores. Rerunning with the same
flags reuses finished runs. More queries make Mask2Former's early stages less
consistent (docs/results.md): --queries 50 costs about 25 %% more time.

--preset paper runs the built-in paper spec instead: the paper's setting as
far as it fits on 2 cores (100 queries, loss weights 2/5/5 on 12,544 sampled
points, the msdeform pixel decoder, 192 px scenes with up to 12 things,
MP-Former with point noise 0.2 and label flip 0.2 at every layer), %d steps
per model by default, into runs/reproduce-paper unless --out is given. It
takes hours, not minutes: about 9 CPU-hours, 5 hours on 2 free cores
(14.9 and 25.9 CPU-s per step; experiments/specs/README.md). --steps, --seeds, --image-size and --queries change it as they change
the default preset.`, experiments.ReproduceSteps, experiments.PaperSteps),
		Example: `  mpanalyze reproduce
  mpanalyze reproduce --steps 1500 --seeds 3 --out runs/reproduce-long
  mpanalyze reproduce --queries 50 --seeds 2 --out runs/reproduce-q50
  mpanalyze reproduce --preset paper`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("out") && opts.Preset != experiments.PresetDefault {
				opts.Out = filepath.Join("runs", "reproduce-"+opts.Preset)
			}
			return runReproduce(s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Preset, "preset", experiments.PresetDefault, "the setting: default (the diagnosis spec, within 10 minutes) or paper (the paper spec, hours)")
	f.StringVar(&opts.Out, "out", filepath.Join("runs", "reproduce"), "output directory (runs/reproduce-paper for --preset paper)")
	f.IntVar(&opts.Steps, "steps", 0, fmt.Sprintf("training steps per model (0 = the preset's: %d, paper %d)", experiments.ReproduceSteps, experiments.PaperSteps))
	f.IntVar(&opts.Seeds, "seeds", 1, "seeds per model (1..n)")
	f.IntVar(&opts.ImageSize, "image-size", 0, "image side (a multiple of 32; also the side of the generated scenes; 0 = the preset's: 128, paper 192)")
	f.IntVar(&opts.Queries, "queries", 0, "matching queries per model (0 = the preset's: 20, paper 100)")
	f.IntVar(&opts.Parallel, "parallel", 0, "runs trained side by side, sharing --workers (0 = 1: one at a time on all cores)")
	f.IntVar(&opts.Workers, "workers", runtime.GOMAXPROCS(0), "cores to use in all (does not change results)")
	f.BoolVar(&opts.JSON, "json", false, "print JSON")
	oneOf(f, "preset", experiments.Presets...)
	limit(f, "steps", limits.AtLeast(1).Or(0, "the preset's length"))
	limit(f, "seeds", limits.Ints(1, 1000))
	limit(f, "image-size", limits.Ints(32, 4096).Times(32).Or(0, "the preset's size"))
	limit(f, "queries", limits.Ints(1, 1000).Or(0, "the preset's count"))
	limit(f, "parallel", limits.Ints(1, 256).Or(0, "one run at a time"))
	limit(f, "workers", limits.Ints(1, 1024))
	return cmd
}

// options checks the flags and returns the package options.
func (o *reproduceOptions) options(progress io.Writer) (experiments.ReproduceOptions, error) {
	// The flags' ranges are checked while parsing (limit).
	return experiments.ReproduceOptions{Preset: o.Preset, Out: o.Out, Steps: o.Steps, Seeds: o.Seeds, ImageSize: o.ImageSize, Queries: o.Queries,
		Parallel: o.Parallel, Workers: o.Workers, Progress: progress}, nil
}

func runReproduce(s *streams, o *reproduceOptions) error {
	opts, err := o.options(s.Err)
	if err != nil {
		return err
	}
	if err := outDir("out", o.Out); err != nil {
		return err
	}
	rep, err := experiments.Reproduce(opts)
	if err != nil {
		return err
	}
	rd, err := report.FromResults(rep.Results, []string{o.Out}, nil)
	if err != nil {
		return err
	}
	page := filepath.Join(o.Out, "report.html")
	if err := report.WriteFile(page, rd); err != nil {
		return err
	}
	verdict := rep.Final.Verdict()
	if o.JSON {
		obj := map[string]any{"out": o.Out, "summary": rep.Summary, "report": page, "verdict": verdict, "comparison": rep.Final,
			"seconds": rep.Seconds, "runs": rep.Statuses, "figures": rep.Figures}
		return tables.WriteSet(s.Out, rep.Tables, "json", obj)
	}
	if err := tables.WriteSet(s.Out, rep.Tables, "text", nil); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "\nplots: %s\nsummary: %s\nreport: %s\n", rep.PlotDir, rep.Summary, page)
	fmt.Fprintf(s.Out, "took %s on %d cores%s\n", time.Duration(rep.Seconds*float64(time.Second)).Round(time.Second), o.Workers, rep.SkippedNote())
	fmt.Fprintln(s.Out, verdict)
	return nil
}
