package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

func init() { register(newAnalyzeCmd) }

type analyzeOptions struct {
	Trace    string
	JSON     bool
	CSV      bool
	QuerySet string
	Images   int
	Workers  int
}

// querySets maps --query-set values to the metrics' query sets.
var querySets = map[string]metrics.QuerySet{
	"final":    metrics.FinalMatched,
	"nonempty": metrics.NonEmpty,
	"stage":    metrics.StageMatched,
}

func newAnalyzeCmd(s *streams) *cobra.Command {
	opts := &analyzeOptions{}
	cmd := &cobra.Command{
		Use:   "analyze TRACE",
		Short: "Print the per-stage consistency and utilisation table of a trace",
		Long: `analyze reads a trace (TRACE.npz + TRACE.json, or a directory holding
trace.npz + trace.json, full or compact layout) written by 'mpanalyze probe'
or by probes/python/record_trace.py, streaming its images (--workers at a
time), and prints one row per decoder stage:

  IoU s→s+1        mean IoU of a query's binary mask (logit > 0, stride 4) at
                   this stage and the next, over the --query-set queries
  IoU→final        the same between this stage and the last
  Util-A           GT segments whose matched query here is the one matched at
                   the last stage
  Util-B           last-stage-matched queries whose mask here has IoU ≥ 0.5
                   with their last-stage mask
  Util-C           last-stage-matched queries whose mask here has IoU ≥ 0.5
                   with their GT segment
  Match change     GT segments whose matched query changes to the next stage
  Attended         mean share of the feature map the next layer lets a
                   matching query attend to (unblocked rows count fully)
  Unblocked rows   share of matching-query rows that were entirely blocked

Query sets: final = the queries matched at the last stage (primary),
nonempty = every query whose mask is non-empty at either stage, stage = the
queries matched at the earlier stage. Means pool all (image, query) or
(image, segment) pairs. The table prints percentages with one decimal; --json
and --csv give fractions (JSON null / empty CSV field where undefined).`,
		Example: `  mpanalyze analyze traces/m2f
  mpanalyze analyze traces/m2f.npz --query-set nonempty --images 100
  mpanalyze analyze traces/m2f --json | jq '.stages[] | .util_a'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Trace = args[0]
			return runAnalyze(s, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.JSON, "json", false, "print the full report as JSON (fractions)")
	f.BoolVar(&opts.CSV, "csv", false, "print the table as CSV (fractions)")
	f.StringVar(&opts.QuerySet, "query-set", "final", "queries of the IoU columns: final, nonempty or stage")
	f.IntVar(&opts.Images, "images", 0, "analyse the first N images only (0 = all)")
	f.IntVar(&opts.Workers, "workers", runtime.GOMAXPROCS(0), "images read and scored in parallel (does not change results)")
	return cmd
}

// analyzeRow is one stage of the --json output: fractions, null where
// undefined.
type analyzeRow struct {
	Stage          int      `json:"stage"`
	Layers         int      `json:"layers"`
	ConsecutiveIoU *float64 `json:"consecutive_iou"`
	IoUToFinal     *float64 `json:"iou_to_final"`
	UtilA          *float64 `json:"util_a"`
	UtilB          *float64 `json:"util_b"`
	UtilC          *float64 `json:"util_c"`
	MatchChange    *float64 `json:"match_change"`
	Attended       *float64 `json:"attended"`
	Unblocked      *float64 `json:"unblocked"`
}

// analyzeJSON is the --json output.
type analyzeJSON struct {
	Trace       string         `json:"trace"`
	Sidecar     string         `json:"sidecar"`
	TraceImages int            `json:"trace_images"`
	QuerySet    string         `json:"query_set"`
	Stages      []analyzeRow   `json:"stages"`
	Report      probes.Report  `json:"report"`
	Storage     probes.Storage `json:"storage"`
}

func runAnalyze(s *streams, opts *analyzeOptions) error {
	if opts.JSON && opts.CSV {
		return usageErrorf("--json and --csv are mutually exclusive")
	}
	set, ok := querySets[opts.QuerySet]
	if !ok {
		return usageErrorf("--query-set must be final, nonempty or stage, got %q", opts.QuerySet)
	}
	if opts.Images < 0 {
		return usageErrorf("--images must be ≥ 0, got %d", opts.Images)
	}
	if opts.Workers < 1 {
		return usageErrorf("--workers must be ≥ 1, got %d", opts.Workers)
	}
	r, err := probes.OpenTrace(opts.Trace, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	rep, err := r.Analyze(opts.Images, opts.Workers)
	if err != nil {
		return err
	}
	rows := rep.Rows(set)
	npz, side := r.Paths()
	switch {
	case opts.JSON:
		out := analyzeJSON{
			Trace: npz, Sidecar: side, TraceImages: r.Len(), QuerySet: set.String(),
			Stages: make([]analyzeRow, len(rows)), Report: rep, Storage: r.Sidecar().Storage,
		}
		for i, row := range rows {
			out.Stages[i] = analyzeRow{
				Stage: row.Stage, Layers: row.Layers,
				ConsecutiveIoU: fracPtr(row.ConsecutiveIoU), IoUToFinal: fracPtr(row.IoUToFinal),
				UtilA: fracPtr(row.UtilA), UtilB: fracPtr(row.UtilB), UtilC: fracPtr(row.UtilC),
				MatchChange: fracPtr(row.MatchChange), Attended: fracPtr(row.Attended), Unblocked: fracPtr(row.Unblocked),
			}
		}
		return writeJSON(s.Out, out)
	case opts.CSV:
		return writeAnalyzeCSV(s.Out, rows)
	}
	return writeAnalyzeTable(s.Out, opts.Trace, r, &rep, set, rows)
}

func fracPtr(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// rowValues returns a row's figures in column order.
func rowValues(r probes.StageRow) []float64 {
	return []float64{r.ConsecutiveIoU, r.IoUToFinal, r.UtilA, r.UtilB, r.UtilC, r.MatchChange, r.Attended, r.Unblocked}
}

func writeAnalyzeCSV(w io.Writer, rows []probes.StageRow) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"stage", "layers", "consecutive_iou", "iou_to_final", "util_a", "util_b", "util_c", "match_change", "attended", "unblocked"})
	for _, r := range rows {
		rec := []string{strconv.Itoa(r.Stage), strconv.Itoa(r.Layers)}
		for _, v := range rowValues(r) {
			if math.IsNaN(v) {
				rec = append(rec, "")
			} else {
				rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// percent prints a fraction as a percentage with one decimal, "–" when
// undefined.
func percent(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64)
}

func writeAnalyzeTable(w io.Writer, path string, r *probes.TraceReader, rep *probes.Report, set metrics.QuerySet, rows []probes.StageRow) error {
	info := rep.Run
	var b strings.Builder
	fmt.Fprintf(&b, "trace: %s\n", path)
	fmt.Fprintf(&b, "model: %s, %d stages (decoder layers before each: %s), %d queries, %d classes, masks %d×%d at stride %d\n",
		info.Model, info.NumStages, layersText(rep), info.NumQueries, info.NumClasses, info.MaskH, info.MaskW, info.MaskStride)
	if info.Checkpoint != "" {
		sum := info.CheckpointSHA256
		if len(sum) > 12 {
			sum = sum[:12]
		}
		fmt.Fprintf(&b, "checkpoint: %s (sha256 %s)\n", info.Checkpoint, orDash(sum))
	}
	fmt.Fprintf(&b, "images: %d of %d; GT segments: %d, matched at the last stage: %d; matching: %s\n",
		rep.Images, r.Len(), rep.Layer.GT, rep.Layer.FinalMatched, orDash(info.Matching))
	fmt.Fprintf(&b, "IoU columns over the %s queries; values in percent, – where undefined\n\n", set)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(rows) == 0 {
		_, err := io.WriteString(w, "no images to analyse\n")
		return err
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignment(tw.AlignRight),
	)
	t.Header([]string{"Stage", "Layers", "IoU s→s+1 (%)", "IoU→final (%)", "Util-A (%)", "Util-B (%)", "Util-C (%)",
		"Match change (%)", "Attended (%)", "Unblocked rows (%)"})
	data := make([][]string, len(rows))
	for i, r := range rows {
		rec := []string{strconv.Itoa(r.Stage), strconv.Itoa(r.Layers)}
		for _, v := range rowValues(r) {
			rec = append(rec, percent(v))
		}
		data[i] = rec
	}
	if err := t.Bulk(data); err != nil {
		return err
	}
	return t.Render()
}

// layersText lists the stages' layer counts compactly: "0..9" when they
// count up by one, else the list.
func layersText(rep *probes.Report) string {
	l := rep.Run.StageLayers
	if len(l) == 0 {
		return "0.." + strconv.Itoa(rep.Run.NumStages-1)
	}
	consecutive := true
	for i := 1; i < len(l); i++ {
		consecutive = consecutive && l[i] == l[i-1]+1
	}
	if consecutive && len(l) > 1 {
		return strconv.Itoa(l[0]) + ".." + strconv.Itoa(l[len(l)-1])
	}
	parts := make([]string, len(l))
	for i, v := range l {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
