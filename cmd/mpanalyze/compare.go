package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/metrics"
)

func init() { register(newCompareCmd) }

type compareOptions struct {
	Runs     []string
	Traces   []string
	Format   string
	Snapshot string
	Columns  []string
	Baseline string
	JSON     bool
}

// columnAliases are short --columns names kept from earlier versions.
var columnAliases = map[string]string{"cons": "consecutive_iou", "to_final": "iou_to_final"}

// figureKeys lists the registry keys (metrics.Figures), for help texts.
func figureKeys() string {
	var keys []string
	for _, fg := range metrics.Figures {
		keys = append(keys, fg.Key)
	}
	return strings.Join(keys, ", ")
}

func newCompareCmd(s *streams) *cobra.Command {
	opts := &compareOptions{}
	cmd := &cobra.Command{
		Use:   "compare (RUN... | --trace LABEL=T.npz...)",
		Short: "Tables of finished experiment runs or traces: per-stage diagnosis, task metrics, ablation",
		Long: `compare reads finished runs (experiment output directories, run directories,
or directories above them; several are merged) and prints:

  - the diagnosis table: per stage, each configuration's consecutive IoU
    and Util-A (--columns adds Util-B/C, IoU to final, ...), mean ± sd over
    seeds;
  - the task metrics (PQ, mask AP, mIoU);
  - with several configurations, the ablation table (one row per point:
    its overrides, the means over stages, the task metrics);
  - with several snapshots, the stage means through training.

A plain 'mpanalyze train' run directory (run.json and train.jsonl) has no
probe reports: for it compare prints its steps, recent loss and last
validation (probe a checkpoint and 'mpanalyze analyze' the trace for the
per-stage table). Runs measured under different conventions are refused.
Unfinished runs are left out (with a note on stderr), so compare works on a
sweep that is still running. --format csv writes each table after a
"# title" line; json writes one object.

With --trace (repeatable) it compares traces instead — written by
'mpanalyze probe' or recorded from PyTorch (docs/own-model.md) — each under
its label: the per-stage table side by side, and a summary per label (the
means over stages). Traces with one label are seeds of it (mean ± sd from
3 seeds). --baseline works on traces too.`,
		Example: `  mpanalyze compare runs/diagnosis
  mpanalyze compare runs/noise_ratio --snapshot 0.5 --format markdown
  mpanalyze compare runs/a runs/b --columns cons,util_a,util_b --json
  mpanalyze compare --trace Mask2Former=m2f.npz --trace Mine=mine_s1.npz --trace Mine=mine_s2.npz`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Runs = args
			return runCompare(s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", "text", "output format: text, markdown, csv or json")
	f.StringVar(&opts.Snapshot, "snapshot", "final", "checkpoint: final, or a fraction of training such as 0.25 or 25%")
	f.StringSliceVar(&opts.Columns, "columns", []string{"consecutive_iou", "util_a"}, "diagnosis columns, per-stage figures: "+figureKeys()+" (cons and to_final are short for the first two)")
	f.StringVar(&opts.Baseline, "baseline", "", "also print every configuration's paired differences from this one, with 95 % intervals")
	f.BoolVar(&opts.JSON, "json", false, "print JSON (same as --format json)")
	f.StringArrayVar(&opts.Traces, "trace", nil, traceFlagHelp)
	oneOf(f, "format", tables.Formats...)
	return cmd
}

func (o *compareOptions) check() ([]string, error) {
	if o.JSON {
		o.Format = "json"
	}
	if o.Snapshot != "final" {
		if _, err := experiments.ParseFraction(o.Snapshot); err != nil {
			return nil, usageErrorf("--snapshot %q: want final, or a fraction of training such as 0.25 or 25%%", o.Snapshot)
		}
	}
	return parseColumns(o.Columns)
}

// parseColumns checks --columns against the registry of per-stage figures
// and resolves the short names.
func parseColumns(names []string) ([]string, error) {
	var cols []string
	for _, c := range names {
		key := c
		if k, ok := columnAliases[c]; ok {
			key = k
		}
		if fg, set, err := metrics.FigureByKey(key); err != nil || set != metrics.FinalMatched || fg.Key != key {
			return nil, usageErrorf("--columns: unknown column %q (want one of %s)", c, figureKeys())
		}
		cols = append(cols, key)
	}
	return cols, nil
}

// loadResults loads the runs of paths and says on stderr which were left
// out.
func loadResults(s *streams, paths []string) (*experiments.Results, error) {
	rs, err := experiments.Load(paths...)
	if err != nil {
		return nil, err
	}
	for _, d := range rs.Unfinished {
		fmt.Fprintf(s.Err, "note: %s is not finished; left out\n", d)
	}
	for _, d := range rs.NotStarted {
		fmt.Fprintf(s.Err, "note: %s has not started; left out\n", d)
	}
	for _, d := range rs.Duplicates {
		fmt.Fprintf(s.Err, "note: %s repeats a run found earlier; left out\n", d)
	}
	if n := len(rs.Unfinished) + len(rs.NotStarted); n > 0 {
		fmt.Fprintf(s.Err, "note: finished runs only: %d of %d (%d unfinished, %d not started)\n", len(rs.Runs), len(rs.Runs)+len(rs.Duplicates)+n, len(rs.Unfinished), len(rs.NotStarted))
	}
	return rs, nil
}

func runCompare(s *streams, o *compareOptions) error {
	cols, err := o.check()
	if err != nil {
		return err
	}
	if err := checkTraceArgs(o.Runs, o.Traces, o.Snapshot); err != nil {
		return err
	}
	expPaths, plain := splitRunPaths(o.Runs)
	var tabs []tables.Named
	var rs *experiments.Results
	if len(o.Traces) > 0 {
		if rs, err = loadTraceResults(s, o.Traces); err != nil {
			return err
		}
		if tabs, err = rs.Tables(o.Snapshot, cols, true); err != nil {
			return err
		}
	}
	if len(expPaths) > 0 {
		if rs, err = loadResults(s, expPaths); err != nil {
			return err
		}
		if tabs, err = rs.Tables(o.Snapshot, cols, true); err != nil {
			return err
		}
	}
	if len(plain) > 0 {
		trs, err := experiments.LoadTrainRuns(plain...)
		if err != nil {
			return err
		}
		tabs = append(tabs, tables.Named{Key: "training", Table: experiments.TrainingTable(trs)})
	}
	if o.Baseline != "" {
		if rs == nil {
			return usageErrorf("--baseline needs experiment directories or traces (plain train runs have no probe reports)")
		}
		d, err := rs.DifferenceTable(o.Baseline, o.Snapshot)
		if err != nil {
			return usageErrorf("--baseline: %v", err)
		}
		tabs = append(tabs, tables.Named{Key: "differences", Table: d})
	}
	return tables.WriteSet(s.Out, tabs, o.Format, map[string]any{"snapshot": o.Snapshot})
}

// splitRunPaths separates experiment paths (manifest.json at or below
// them, or paths that do not exist, whose error experiments.Load gives)
// from plain training run directories (what `mpanalyze train` writes).
func splitRunPaths(paths []string) (experiment, plain []string) {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil || experiments.IsExperimentPath(p) {
			experiment = append(experiment, p)
		} else {
			plain = append(plain, p)
		}
	}
	return experiment, plain
}
