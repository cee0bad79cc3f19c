package main

import (
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/internal/progress"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/run"
)

func init() { register(newPredictCmd) }

type predictOptions struct {
	ckptData
	Out   string
	Infer model.InferConfig
	PNG   int
	JSON  bool
}

func newPredictCmd(s *streams) *cobra.Command {
	opts := &predictOptions{Infer: model.DefaultInferConfig()}
	cmd := &cobra.Command{
		Use:   "predict",
		Short: "Write semantic, instance and panoptic predictions of a checkpoint",
		Long: `predict runs a checkpoint on a dataset and writes into --out:
  semantic/<name>.png           class index per pixel (8-bit)
  instances_results.json        COCO instance results (RLE masks, scores)
  panoptic_results.json + panoptic_results/   COCO panoptic predictions
  preview.png                   the first --png images at the model's input
                                size: ground truth beside the panoptic
                                prediction, with a legend
Predictions are at each image's own size (mapped back from the model's
letterboxed input) with the image's own COCO id; <name> is the image's file
name with .png (datasets without files: %012d of index + 1), so the files
score directly against the original ground truth with pycocotools and
panopticapi, or with 'mpanalyze eval --gt ... --predictions ...'.`,
		Example: `  mpanalyze predict --checkpoint runs/m2f/checkpoints/latest.npz --out preds --images 50`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return runPredict(s, opts) },
	}
	f := cmd.Flags()
	addCkptDataFlags(f, &opts.ckptData, runtime.GOMAXPROCS(0))
	f.StringVar(&opts.Out, "out", "", "output directory (required)")
	f.IntVar(&opts.PNG, "png", 8, "images in preview.png (0 = none)")
	limit(f, "png", limits.Ints(0, 10000))
	f.Float64Var(&opts.Infer.ObjectThreshold, "object-threshold", opts.Infer.ObjectThreshold, "panoptic: minimum class probability of a kept query")
	f.Float64Var(&opts.Infer.OverlapThreshold, "overlap-threshold", opts.Infer.OverlapThreshold, "panoptic: minimum share of its mask a segment must win")
	f.IntVar(&opts.Infer.TopK, "top-k", opts.Infer.TopK, "instance: detections per image")
	limit(f, "object-threshold", limits.Reals(0, 1))
	limit(f, "overlap-threshold", limits.Reals(0, 1))
	limit(f, "top-k", limits.Ints(1, 100000))
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	return cmd
}

func runPredict(s *streams, o *predictOptions) error {
	if o.Out == "" {
		return usageErrorf("--out is required")
	}
	ck, ds, err := o.open()
	if err != nil {
		return err
	}
	if err := outDir("out", filepath.Join(o.Out, "semantic")); err != nil {
		return err
	}
	n := ds.Len()
	if o.Images > 0 {
		n = min(n, o.Images)
	}
	bar := progress.New(s.Err, "predict", n)
	res, err := run.Predict(ck.Model, ds, run.PredictOptions{Out: o.Out, Preview: o.PNG, EvalOptions: run.EvalOptions{
		Images: o.Images, Infer: o.Infer, Workers: o.Workers, Checkpoint: o.Checkpoint,
		Progress: func(done, total int) { bar.Update(done, "") },
	}})
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(s.Out, map[string]any{"out": o.Out, "preview": res.Preview, "eval": res.Report})
	}
	fmt.Fprintf(s.Out, "predictions for %d images in %s\n", res.Report.Images, o.Out)
	if res.Preview != "" {
		fmt.Fprintf(s.Out, "preview: %s (ground truth left, panoptic prediction right)\n", res.Preview)
	}
	printEval(s, res.Report)
	return nil
}
