package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/report"
)

func init() { register(newReportCmd) }

type reportOptions struct {
	Runs      []string
	Traces    []string
	Out       string
	Snapshot  string
	Columns   []string
	MaxImages int
	Title     string
	JSON      bool
	// columnsSet is set when --columns was given.
	columnsSet bool
}

func newReportCmd(s *streams) *cobra.Command {
	opts := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report (RUN... | --trace T.npz...) -o report.html",
		Short: "One self-contained HTML page: verdict, tables, figures and a stage × query mask viewer",
		Long: `report writes one HTML file that opens from disk with no network and no
server: everything (data, styles, figures, the viewer's JavaScript) is
inside it.

From experiment directories (as compare and plot read them) it holds the
verdict (each configuration against the first, at every checkpoint), the
diagnosis, accuracy, ablation and through-training tables (mean ± sd over
seeds, the numbers of compare --format json), every figure of plot as SVG,
and each run's manifest. From traces (--trace, repeatable: ours or recorded
from PyTorch) it holds each trace's per-stage table, the consecutive-IoU
and Util-A curves, and the trace's run information.

Both have the mask viewer: for each model (side by side), checkpoint and
image, a grid of decoder stages (columns) × queries (rows), each cell the
query's binary mask over the image with its IoU with the previous stage,
the next layer's attention mask as an overlay, and the numbers of any cell
on hover or click. It embeds the first --max-images images the traces have
in common, and the traces of the first seed of each configuration.`,
		Example: `  mpanalyze report runs/reproduce -o report.html
  mpanalyze report runs/noise_ratio --snapshot 0.5 --max-images 16 -o noise.html
  mpanalyze report --trace traces/m2f.npz --trace traces/mpf.npz -o traces.html`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Runs = args
			opts.columnsSet = cmd.Flags().Changed("columns")
			return runReport(s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Out, "out", "o", "", "the HTML file to write (required)")
	f.StringArrayVar(&opts.Traces, "trace", nil, "a trace to report on instead of experiment directories (repeatable)")
	f.StringVar(&opts.Snapshot, "snapshot", "final", "checkpoint of the tables and figures: final, or a fraction of training such as 0.25 or 25%")
	f.StringSliceVar(&opts.Columns, "columns", []string{"consecutive_iou", "util_a"}, "diagnosis columns (as compare), per-stage figures: "+figureKeys())
	f.IntVar(&opts.MaxImages, "max-images", report.DefaultMaxImages, "images the mask viewer embeds (-1 = all)")
	limit(f, "max-images", limits.AtLeast(1).Or(-1, "all"))
	f.StringVar(&opts.Title, "title", "", "page title (default: made from the configurations)")
	f.BoolVar(&opts.JSON, "json", false, "print what was written as JSON")
	return cmd
}

func runReport(s *streams, o *reportOptions) error {
	if o.Out == "" {
		return usageErrorf("-o/--out is required")
	}
	if len(o.Runs) == 0 && len(o.Traces) == 0 {
		return usageErrorf("give experiment directories (RUN...) or --trace files")
	}
	if len(o.Runs) > 0 && len(o.Traces) > 0 {
		return usageErrorf("give experiment directories or --trace files, not both")
	}
	if o.Snapshot != "final" {
		if _, err := experiments.ParseFraction(o.Snapshot); err != nil {
			return usageErrorf("--snapshot %q: want final, or a fraction of training such as 0.25 or 25%%", o.Snapshot)
		}
	}
	cols, err := parseColumns(o.Columns)
	if err != nil {
		return err
	}
	set := &report.Settings{Title: o.Title, Snapshot: o.Snapshot, Columns: cols, MaxImages: o.MaxImages}
	var d *report.Data
	if len(o.Traces) > 0 {
		if !o.columnsSet {
			set.Columns = nil // traces: every per-stage column
		}
		d, err = report.FromTraces(o.Traces, set)
	} else {
		var rs *experiments.Results
		if rs, err = experiments.Load(o.Runs...); err != nil {
			return err
		}
		for _, u := range rs.Unfinished {
			fmt.Fprintf(s.Err, "note: %s is not finished; left out\n", u)
		}
		d, err = report.FromResults(rs, o.Runs, set)
	}
	if err != nil {
		return err
	}
	return writeReport(s, d, o.Out, o.JSON)
}

// writeReport writes the page and says where, how big, and what it holds.
func writeReport(s *streams, d *report.Data, out string, asJSON bool) error {
	if err := report.WriteFile(out, d); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	shown, total := 0, 0
	if d.Viewer != nil {
		shown, total = len(d.Viewer.Images), d.Viewer.TotalImages
	}
	if asJSON {
		return writeJSON(s.Out, map[string]any{"out": out, "bytes": st.Size(), "tables": len(d.Tables),
			"figures": len(d.Figures), "viewer_images": shown, "trace_images": total})
	}
	fmt.Fprintf(s.Out, "report: %s (%s; %d tables, %d figures, viewer: %d of %d images)\n", out, sizeText(st.Size()), len(d.Tables), len(d.Figures), shown, total)
	return nil
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
