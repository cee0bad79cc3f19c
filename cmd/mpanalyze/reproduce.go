package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/report"
)

func init() { register(newReproduceCmd) }

// reproduceSteps is the default training length of `mpanalyze reproduce`:
// the two models of the diagnosis spec must finish (training, probing three
// snapshots, tables, plots) in at most 10 minutes on 2 cores. Measured on
// the 2-core development machine at 800 steps: 5m01s with both cores free
// (5m05s for `go run` from a clean clone, compile included); one step costs
// about 0.31 CPU-seconds for Mask2Former and 0.33 for MP-Former (128 px,
// batch 8). A busy machine stretches it (6m01s → 10m35s with one core
// taken, measured before the speed work). Change it here when the model's
// speed changes.
const reproduceSteps = 800

type reproduceOptions struct {
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
same with the mask viewer: one self-contained page; every snapshot is
traced, with float16 mask logits, so that its viewer can switch
checkpoints) into --out, and
ends with one line saying whether MP-Former's mean consecutive IoU and mean
Util-A (over stages) are above Mask2Former's, and by how many percentage
points (± sd over seeds with several seeds).

The defaults (%d steps, 1 seed, 128 px, 20 queries) are meant to finish
within 10 minutes on 2 free cores. Rerunning with the same flags reuses
finished runs. More queries make Mask2Former's early stages less
consistent (see the README): --queries 50 costs about 25 %% more time.`, reproduceSteps),
		Example: `  mpanalyze reproduce
  mpanalyze reproduce --steps 1500 --seeds 3 --out runs/reproduce-long
  mpanalyze reproduce --queries 50 --seeds 2 --out runs/reproduce-q50`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runReproduce(s, opts) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", filepath.Join("runs", "reproduce"), "output directory")
	f.IntVar(&opts.Steps, "steps", reproduceSteps, "training steps per model")
	f.IntVar(&opts.Seeds, "seeds", 1, "seeds per model (1..n)")
	f.IntVar(&opts.ImageSize, "image-size", 128, "image side (a multiple of 32; also the side of the generated scenes)")
	f.IntVar(&opts.Queries, "queries", 0, "matching queries per model (0 = the model default, 20)")
	f.IntVar(&opts.Parallel, "parallel", 0, "runs trained side by side, sharing --workers (0 = 1: one at a time on all cores)")
	f.IntVar(&opts.Workers, "workers", runtime.GOMAXPROCS(0), "cores to use in all (does not change results)")
	f.BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// reproduceSpec is the diagnosis spec with the reproduce flags applied.
func reproduceSpec(o *reproduceOptions) (*experiments.Spec, error) {
	if o.Steps <= 0 || o.Seeds <= 0 {
		return nil, usageErrorf("--steps and --seeds must be positive")
	}
	if o.ImageSize < 32 || o.ImageSize%32 != 0 {
		return nil, usageErrorf("--image-size %d: want a positive multiple of 32", o.ImageSize)
	}
	if o.Queries < 0 || o.Queries > 1000 {
		return nil, usageErrorf("--queries %d: want 1..1000, or 0 for the model default", o.Queries)
	}
	src, err := experiments.BuiltinSource("diagnosis")
	if err != nil {
		return nil, err
	}
	sp, err := experiments.ParseSpec(src, "builtin:diagnosis")
	if err != nil {
		return nil, err
	}
	if sp, err = sp.WithSteps(o.Steps); err != nil {
		return nil, err
	}
	if sp, err = sp.WithSeeds(o.Seeds); err != nil {
		return nil, err
	}
	if o.ImageSize != 128 {
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

func runReproduce(s *streams, o *reproduceOptions) error {
	sp, err := reproduceSpec(o)
	if err != nil {
		return err
	}
	start := time.Now()
	// Every snapshot is traced (float16 mask logits: the same binary masks
	// at half the size) so that the report's mask viewer can switch
	// checkpoints.
	rn := &experiments.Runner{Spec: sp, Out: o.Out, Parallel: o.Parallel, Workers: o.Workers, TraceAll: true, Float16: true, Progress: s.Err}
	statuses, err := rn.Run(nil)
	if err != nil {
		return err
	}
	trainTime := time.Since(start)
	skipped := 0
	for _, st := range statuses {
		if st.Status == "skipped" {
			skipped++
		}
	}
	rs, tabs, err := buildTables(s, []string{o.Out}, "final", nil, false)
	if err != nil {
		return err
	}
	cmp, err := rs.Compare("mask2former", "mpformer", "final")
	if err != nil {
		return err
	}
	cmp.Baseline, cmp.Candidate = "Mask2Former", "MP-Former"
	verdict := cmp.Verdict()
	// The same comparison at the earlier snapshots, for the summary (the
	// advantage is expected to be largest early, papers.md §8).
	var earlier []string
	for _, f := range rs.Fractions() {
		if f >= 1 {
			continue
		}
		c, err := rs.Compare("mask2former", "mpformer", strconv.FormatFloat(f, 'g', -1, 64))
		if err != nil {
			return err
		}
		c.Baseline, c.Candidate = "Mask2Former", "MP-Former"
		earlier = append(earlier, c.Verdict())
	}
	plotDir := filepath.Join(o.Out, "plots")
	figs, err := rs.WritePlots(plotDir, nil)
	if err != nil {
		return err
	}
	rd, err := report.FromResults(rs, []string{o.Out}, nil)
	if err != nil {
		return err
	}
	page := filepath.Join(o.Out, "report.html")
	if err := report.WriteFile(page, rd); err != nil {
		return err
	}
	elapsed := time.Since(start)
	runs, _ := sp.Runs()
	info := reproduceInfo{
		Steps: o.Steps, Seeds: o.Seeds, ImageSize: o.ImageSize, Queries: runs[0].Config.Model.Queries, ValImages: runs[0].Config.EvalImages, Fractions: runs[0].Fractions,
		Cores: o.Workers, Seconds: elapsed.Seconds(), TrainSeconds: trainTime.Seconds(), Skipped: skipped, Runs: len(statuses),
	}
	summary := filepath.Join(o.Out, "summary.md")
	if err := atomicfile.Write(summary, func(w io.Writer) error {
		return writeSummary(w, info, tabs, figs, verdict, earlier, o.Out)
	}); err != nil {
		return err
	}
	if o.JSON {
		obj := map[string]any{"out": o.Out, "summary": summary, "report": page, "verdict": verdict, "comparison": cmp,
			"seconds": info.Seconds, "runs": statuses, "figures": figs}
		return writeTables(s.Out, tabs, "json", obj)
	}
	if err := writeTables(s.Out, tabs, "text", nil); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "\nplots: %s\nsummary: %s\nreport: %s\n", plotDir, summary, page)
	fmt.Fprintf(s.Out, "took %s on %d cores%s\n", elapsed.Round(time.Second), o.Workers, skippedNote(skipped, len(statuses)))
	fmt.Fprintln(s.Out, verdict)
	return nil
}

type reproduceInfo struct {
	Steps, Seeds, ImageSize, Queries, ValImages, Cores int
	Fractions                                          []float64
	Seconds, TrainSeconds                              float64
	Skipped, Runs                                      int
}

func skippedNote(skipped, runs int) string {
	if skipped == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of %d runs were already done and reused)", skipped, runs)
}

// figureHelp says how to read each figure, for summary.md.
var figureHelp = map[string]string{
	"consecutive_iou": "Each point is the mean IoU between a query's mask at one stage and at the next (queries matched to a GT segment at the last stage), over the validation images. Higher means the decoder refines a mask instead of redrawing it; a dip marks the layer pair where masks change most. Bands are ± one sd over seeds.",
	"util_a":          "Share of the GT segments matched at the last stage that are already matched to the same query at this stage. It reaches 100 % at the last stage by definition; the earlier it climbs, the sooner each query settles on its object.",
	"util_b":          "Share of the final-matched queries whose mask at this stage already has IoU ≥ 0.5 with their final mask.",
	"util_c":          "Share of the final-matched queries whose mask at this stage already has IoU ≥ 0.5 with their GT segment: how early a query's mask is good, not just stable.",
	"iou_to_final":    "Mean IoU of a query's mask at each stage with its last-stage mask (100 % at the last stage).",
	"training":        "Training loss (faint: per step; solid: moving average) and the validation scores logged during training.",
}

func writeSummary(w io.Writer, info reproduceInfo, tabs []namedTable, figs []experiments.Figure, verdict string, earlier []string, out string) error {
	fmt.Fprintf(w, "# Diagnosis: Mask2Former vs MP-Former\n\n**%s**\n\n", verdict)
	if len(earlier) > 0 {
		fmt.Fprintf(w, "Earlier in training:\n\n")
		for _, v := range earlier {
			fmt.Fprintf(w, "- %s\n", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Built-in diagnosis spec on the synthetic scenes: %d training steps per model, %s, %d px images, %d queries, "+
		"probed and evaluated on %d validation images at %s of training. "+
		"Took %s on %d cores%s (mpanalyze %s). Values are percentages, mean ± sd over seeds.\n\n",
		info.Steps, seedsText(info.Seeds), info.ImageSize, info.Queries, info.ValImages, percentList(info.Fractions), time.Duration(info.Seconds*float64(time.Second)).Round(time.Second),
		info.Cores, skippedNote(info.Skipped, info.Runs), experiments.CurrentTool())
	for _, t := range tabs {
		var b bytes.Buffer
		if err := t.table.Render(&b, "markdown"); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", b.String())
	}
	fmt.Fprintln(w, "## Figures")
	for _, f := range figs {
		var png string
		for _, p := range f.Files {
			if strings.HasSuffix(p, ".png") {
				png = p
			}
		}
		if png == "" && len(f.Files) > 0 {
			png = f.Files[0]
		}
		rel, err := filepath.Rel(out, png)
		if err != nil {
			rel = png
		}
		fmt.Fprintf(w, "\n### %s\n\n![%s](%s)\n\n", f.Title, f.Name, filepath.ToSlash(rel))
		help := figureHelp[f.Name]
		switch {
		case strings.HasPrefix(f.Name, "iou_matrix_"):
			help = "Cell (i, j) is the mean IoU between a query's masks at stage i and stage j (queries matched at the last stage). A bright block along the diagonal means stages that agree; dark cells near the diagonal mean masks that change from one layer to the next."
		case strings.HasPrefix(f.Name, "mask_evolution_"):
			help = "Each row is one query, each column a stage, the last column its GT segment; under each cell the IoU with the previous stage (bold below 50 %). " + f.Note
		}
		if help != "" {
			fmt.Fprintf(w, "%s\n", help)
		}
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
