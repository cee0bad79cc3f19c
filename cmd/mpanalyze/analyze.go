package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

func init() { register(newAnalyzeCmd) }

type analyzeOptions struct {
	Trace    string
	JSON     bool
	CSV      bool
	Format   string
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
or by the Python package mpanalyze_trace (python/), streaming its images (--workers at a
time), and prints one row per decoder stage with every per-stage figure:

` + figureGlossary() + `
Query sets: final = the queries matched at the last stage (primary),
nonempty = every query whose mask is non-empty at either stage, stage = the
queries matched at the earlier stage. Means pool all (image, query) or
(image, segment) pairs. Text and Markdown print percentages with one
decimal; csv and json give fractions (JSON null / empty CSV field where
undefined), keyed by the figures' names. --json prints the whole report
and, in per_image, every image's sum and count of every figure per stage
(for the query set): the figure of any subset or resample of the images is
Σ sum / Σ n over them, which is what a bootstrap over images needs.`,
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
	f.StringVar(&opts.Format, "format", "markdown", "table format: "+strings.Join(tables.Formats, ", "))
	f.BoolVar(&opts.CSV, "csv", false, "same as --format csv (kept from earlier versions)")
	f.StringVar(&opts.QuerySet, "query-set", "final", "queries of the IoU columns: final, nonempty or stage")
	f.IntVar(&opts.Images, "images", 0, "analyse the first N images only (0 = all)")
	f.IntVar(&opts.Workers, "workers", runtime.GOMAXPROCS(0), "images read and scored in parallel (does not change results)")
	limit(f, "images", limits.AtLeast(1).Or(0, "all"))
	limit(f, "workers", limits.Ints(1, 1024))
	oneOf(f, "format", tables.Formats...)
	oneOf(f, "query-set", "final", "nonempty", "stage")
	return cmd
}

// analyzeJSON is the --json output: the per-stage table (as --format json
// writes it) and the full report.
type analyzeJSON struct {
	Trace       string          `json:"trace"`
	Sidecar     string          `json:"sidecar"`
	TraceImages int             `json:"trace_images"`
	QuerySet    string          `json:"query_set"`
	Stages      json.RawMessage `json:"stages"`
	Report      probes.Report   `json:"report"`
	Storage     probes.Storage  `json:"storage"`
	// PerImage holds every image's sums and counts of every figure, in
	// trace order (metrics.ImageFigures).
	PerImage []metrics.ImageFigures `json:"per_image"`
}

// figureGlossary lists the per-stage figures for the help text.
func figureGlossary() string {
	var b strings.Builder
	for _, fg := range metrics.Figures {
		fmt.Fprintf(&b, "  %-16s %s\n", fg.Key, fg.Doc)
	}
	return b.String()
}

func runAnalyze(s *streams, opts *analyzeOptions) error {
	if opts.CSV {
		if opts.Format != "markdown" && opts.Format != "csv" {
			return usageErrorf("--csv and --format %s contradict each other", opts.Format)
		}
		opts.Format = "csv"
	}
	set := querySets[opts.QuerySet] // oneOf checked it
	r, err := probes.OpenTrace(opts.Trace, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	var rep probes.Report
	var per []metrics.ImageFigures
	if opts.JSON {
		rep, per, err = r.AnalyzeImages(opts.Images, opts.Workers, set)
	} else {
		rep, err = r.Analyze(opts.Images, opts.Workers)
	}
	if err != nil {
		return err
	}
	tab := tables.Stages(&rep, set)
	npz, side := r.Paths()
	switch {
	case opts.JSON:
		var b bytes.Buffer
		if err := tab.Render(&b, "json"); err != nil {
			return err
		}
		return writeJSON(s.Out, analyzeJSON{Trace: npz, Sidecar: side, TraceImages: r.Len(), QuerySet: set.String(),
			Stages: b.Bytes(), Report: rep, Storage: r.Sidecar().Storage, PerImage: per})
	case opts.Format == "csv" || opts.Format == "json":
		return tab.Render(s.Out, opts.Format)
	}
	if err := writeAnalyzeHead(s.Out, opts.Trace, r, &rep, set); err != nil {
		return err
	}
	if len(tab.Rows) == 0 {
		_, err := io.WriteString(s.Out, "no images to analyse\n")
		return err
	}
	return tab.Render(s.Out, opts.Format)
}

// writeAnalyzeHead writes the lines above the table: the trace, the model,
// the checkpoint, the images and the query set.
func writeAnalyzeHead(w io.Writer, path string, r *probes.TraceReader, rep *probes.Report, set metrics.QuerySet) error {
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
	fmt.Fprintf(&b, "images: %d of %d; GT segments: %d, matched at the last stage: %d; matching: %s\n\n",
		rep.Images, r.Len(), rep.Layer.GT, rep.Layer.FinalMatched, orDash(info.Matching))
	_, err := io.WriteString(w, b.String())
	return err
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
