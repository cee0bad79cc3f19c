package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/metrics"
)

func init() { register(newCompareCmd) }

type compareOptions struct {
	Runs     []string
	Format   string
	Snapshot string
	Columns  []string
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
		Use:   "compare RUN...",
		Short: "Tables of finished experiment runs: per-stage diagnosis, task metrics, ablation",
		Long: `compare reads finished runs (experiment output directories, run directories,
or directories above them; several are merged) and prints:

  - the diagnosis table: per stage, each configuration's consecutive IoU
    and Util-A (--columns adds Util-B/C, IoU to final, ...), mean ± sd over
    seeds;
  - the task metrics (PQ, mask AP, mIoU);
  - with several configurations, the ablation table (one row per point:
    its overrides, the means over stages, the task metrics);
  - with several snapshots, the stage means through training.

Runs measured under different conventions are refused. Unfinished runs are
left out (with a note on stderr). --format csv writes each table after a
"# title" line; json writes one object.`,
		Example: `  mpanalyze compare runs/diagnosis
  mpanalyze compare runs/noise_ratio --snapshot 0.5 --format markdown
  mpanalyze compare runs/a runs/b --columns cons,util_a,util_b --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Runs = args
			return runCompare(s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", "text", "output format: text, markdown, csv or json")
	f.StringVar(&opts.Snapshot, "snapshot", "final", "checkpoint: final, or a fraction of training such as 0.25 or 25%")
	f.StringSliceVar(&opts.Columns, "columns", []string{"consecutive_iou", "util_a"}, "diagnosis columns, per-stage figures: "+figureKeys()+" (cons and to_final are short for the first two)")
	f.BoolVar(&opts.JSON, "json", false, "print JSON (same as --format json)")
	return cmd
}

// compareTables are the tables compare prints, in order, with JSON keys.
type namedTable struct {
	key   string
	table tables.Table
}

func (o *compareOptions) check() ([]string, error) {
	if o.JSON {
		o.Format = "json"
	}
	if !slices.Contains(tables.Formats, o.Format) {
		return nil, usageErrorf("--format %q: want one of %s", o.Format, strings.Join(tables.Formats, ", "))
	}
	if o.Snapshot != "final" {
		if _, err := experiments.ParseFraction(o.Snapshot); err != nil {
			return nil, usageErrorf("--snapshot %q: want final, or a fraction of training such as 0.25 or 25%%", o.Snapshot)
		}
	}
	var cols []string
	for _, c := range o.Columns {
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

// buildTables loads the runs and builds compare's tables.
// The ablation table is added when ablation is set and there are several
// configurations.
func buildTables(s *streams, paths []string, snapshot string, cols []string, ablation bool) (*experiments.Results, []namedTable, error) {
	rs, err := experiments.Load(paths...)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range rs.Unfinished {
		fmt.Fprintf(s.Err, "note: %s is not finished; left out\n", d)
	}
	for _, d := range rs.Duplicates {
		fmt.Fprintf(s.Err, "note: %s repeats a run found earlier; left out\n", d)
	}
	diag, err := rs.DiagnosisTable(snapshot, cols)
	if err != nil {
		return nil, nil, err
	}
	acc, err := rs.AccuracyTable(snapshot)
	if err != nil {
		return nil, nil, err
	}
	out := []namedTable{{"diagnosis", diag}, {"accuracy", acc}}
	if ablation && len(rs.Labels()) > 1 {
		abl, err := rs.AblationTable(snapshot)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, namedTable{"ablation", abl})
	}
	if len(rs.Fractions()) > 1 {
		out = append(out, namedTable{"through_training", rs.CheckpointTable()})
	}
	return rs, out, nil
}

func runCompare(s *streams, o *compareOptions) error {
	cols, err := o.check()
	if err != nil {
		return err
	}
	_, tabs, err := buildTables(s, o.Runs, o.Snapshot, cols, true)
	if err != nil {
		return err
	}
	return writeTables(s.Out, tabs, o.Format, map[string]any{"snapshot": o.Snapshot})
}

// writeTables prints tables in a format; JSON is one object holding extra
// and each table under its key.
func writeTables(w io.Writer, tabs []namedTable, format string, extra map[string]any) error {
	if format == "json" {
		obj := map[string]any{}
		for k, v := range extra {
			obj[k] = v
		}
		for _, t := range tabs {
			raw, err := renderRaw(&t.table)
			if err != nil {
				return err
			}
			obj[t.key] = raw
		}
		return writeJSON(w, obj)
	}
	for i, t := range tabs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if format == "csv" {
			fmt.Fprintf(w, "# %s\n", t.table.Title)
		}
		if err := t.table.Render(w, format); err != nil {
			return err
		}
	}
	return nil
}

// renderRaw renders a table as JSON for embedding.
func renderRaw(t *tables.Table) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := t.Render(&b, "json"); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimSpace(b.Bytes())), nil
}
