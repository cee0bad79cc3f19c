package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/internal/progress"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/run"
)

func init() { register(newEvalCmd) }

type evalOptions struct {
	ckptData
	Infer    model.InferConfig
	COCOOut  string
	ExportGT string
	JSON     bool
	// Scoring existing predictions (evalpred.go).
	GT          string
	GTPNGs      string
	Predictions []string
	PredPNGs    string
}

func newEvalCmd(s *streams) *cobra.Command {
	opts := &evalOptions{Infer: model.DefaultInferConfig()}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score a checkpoint: panoptic quality, mask AP and mIoU",
		Long: `eval runs a checkpoint on a dataset (by default the validation set of the
run that wrote it) and prints PQ/SQ/RQ (all, things, stuff), COCO mask AP
(things) and mIoU, computed by the metrics package. Images are fed to the
model letterboxed to its input size; predictions are mapped back to each
image's own size and scored there against the original ground truth,
crowd regions ignored as pycocotools and panopticapi ignore them.
--coco-out also writes the predictions in COCO format (instance results
JSON with RLE masks, panoptic PNGs + JSON) at each image's size with its
own image id, and --export-gt the exact ground truth scored, so that
pycocotools and panopticapi can score the same.

With --gt and --predictions, eval scores predictions made by any tool
instead: a COCO instance results JSON (mask AP, AR) and/or a COCO panoptic
predictions JSON with its PNG folder (PQ/SQ/RQ), against a COCO instance or
panoptic ground-truth file. No images are read.`,
		Example: `  mpanalyze eval --checkpoint runs/m2f/checkpoints/latest.npz
  mpanalyze eval --checkpoint runs/m2f/checkpoints/latest.npz --json --coco-out preds/ --export-gt gt/
  mpanalyze eval --gt annotations/panoptic_val2017.json --predictions preds/panoptic_results.json
  mpanalyze eval --gt annotations/instances_val2017.json --predictions detectron2/coco_instances_results.json --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(opts.Predictions) > 0 || opts.GT != "" {
				return runEvalPredictions(s, opts)
			}
			return runEval(s, opts)
		},
	}
	f := cmd.Flags()
	addCkptDataFlags(f, &opts.ckptData, runtime.GOMAXPROCS(0))
	f.Float64Var(&opts.Infer.ObjectThreshold, "object-threshold", opts.Infer.ObjectThreshold, "panoptic: minimum class probability of a kept query")
	f.Float64Var(&opts.Infer.OverlapThreshold, "overlap-threshold", opts.Infer.OverlapThreshold, "panoptic: minimum share of its mask a segment must win")
	f.IntVar(&opts.Infer.TopK, "top-k", opts.Infer.TopK, "instance: detections per image")
	limit(f, "object-threshold", limits.Reals(0, 1))
	limit(f, "overlap-threshold", limits.Reals(0, 1))
	limit(f, "top-k", limits.Ints(1, 100000))
	f.StringVar(&opts.COCOOut, "coco-out", "", "also write COCO-format predictions into this directory")
	f.StringVar(&opts.ExportGT, "export-gt", "", "also write the ground truth scored (COCO instance + panoptic) into this directory")
	f.BoolVar(&opts.JSON, "json", false, "print JSON")
	f.StringVar(&opts.GT, "gt", "", "score existing predictions against this COCO instance or panoptic JSON")
	f.StringVar(&opts.GTPNGs, "gt-pngs", "", "panoptic PNG folder of --gt (default: --gt without .json)")
	f.StringArrayVar(&opts.Predictions, "predictions", nil, "COCO instance results JSON or panoptic predictions JSON to score (repeatable)")
	f.StringVar(&opts.PredPNGs, "pred-pngs", "", "PNG folder of panoptic --predictions (default: the JSON path without .json)")
	return cmd
}

func runEval(s *streams, o *evalOptions) error {
	ck, ds, err := o.open()
	if err != nil {
		return err
	}
	if err := outDir("coco-out", o.COCOOut); err != nil {
		return err
	}
	if err := outDir("export-gt", o.ExportGT); err != nil {
		return err
	}
	n := ds.Len()
	if o.Images > 0 {
		n = min(n, o.Images)
	}
	bar := progress.New(s.Err, "eval", n)
	opt := run.EvalOptions{Images: o.Images, Infer: o.Infer, Workers: o.Workers, Checkpoint: o.Checkpoint,
		Progress: func(done, total int) { bar.Update(done, "") }}
	var exp *run.COCOExport
	if o.COCOOut != "" || o.ExportGT != "" {
		if exp, err = run.NewCOCOExport(ds.Categories(), o.COCOOut, o.ExportGT, "ground truth scored by mpanalyze eval of "+o.Checkpoint); err != nil {
			return err
		}
		opt.Original = exp.Add
	}
	rep, err := run.Evaluate(ck.Model, ds, opt)
	if err != nil {
		return err
	}
	if exp != nil {
		if err := exp.Close(); err != nil {
			return err
		}
	}
	if o.JSON {
		return writeJSON(s.Out, rep)
	}
	fmt.Fprintf(s.Out, "%s on %s/%s\n", o.Checkpoint, ds.Name(), ds.Describe()["split"])
	printEval(s, rep)
	if o.COCOOut != "" {
		fmt.Fprintf(s.Out, "COCO predictions: %s\n", o.COCOOut)
	}
	if o.ExportGT != "" {
		fmt.Fprintf(s.Out, "ground truth scored: %s\n", o.ExportGT)
	}
	return nil
}
