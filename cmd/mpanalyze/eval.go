package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/data/coco"
	"github.com/mpanalyze/mpanalyze/internal/progress"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/run"
)

func init() { register(newEvalCmd) }

type evalOptions struct {
	ckptData
	Infer   model.InferConfig
	COCOOut string
	JSON    bool
}

func newEvalCmd(s *streams) *cobra.Command {
	opts := &evalOptions{Infer: model.DefaultInferConfig()}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score a checkpoint: panoptic quality, mask AP and mIoU",
		Long: `eval runs a checkpoint on a dataset (by default the validation set of the
run that wrote it) and prints PQ/SQ/RQ (all, things, stuff), COCO mask AP
(things) and mIoU, computed by the metrics package. --coco-out also writes
the predictions in COCO format (instance results JSON with RLE masks,
panoptic PNGs + JSON) so that pycocotools and panopticapi can score them.`,
		Example: `  mpanalyze eval --checkpoint runs/m2f/checkpoints/latest.npz
  mpanalyze eval --checkpoint runs/m2f/checkpoints/latest.npz --json --coco-out preds/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runEval(s, opts) },
	}
	f := cmd.Flags()
	addCkptDataFlags(f, &opts.ckptData, runtime.GOMAXPROCS(0))
	f.Float64Var(&opts.Infer.ObjectThreshold, "object-threshold", opts.Infer.ObjectThreshold, "panoptic: minimum class probability of a kept query")
	f.Float64Var(&opts.Infer.OverlapThreshold, "overlap-threshold", opts.Infer.OverlapThreshold, "panoptic: minimum share of its mask a segment must win")
	f.IntVar(&opts.Infer.TopK, "top-k", opts.Infer.TopK, "instance: detections per image")
	f.StringVar(&opts.COCOOut, "coco-out", "", "also write COCO-format predictions into this directory")
	f.BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func runEval(s *streams, o *evalOptions) error {
	ck, ds, err := o.open()
	if err != nil {
		return err
	}
	n := ds.Len()
	if o.Images > 0 {
		n = min(n, o.Images)
	}
	bar := progress.New(s.Err, "eval", n)
	opt := run.EvalOptions{Images: o.Images, Infer: o.Infer, Workers: o.Workers, Checkpoint: o.Checkpoint,
		Progress: func(done, total int) { bar.Update(done, "") }}
	var exp *cocoExport
	if o.COCOOut != "" {
		exp = &cocoExport{cats: ds.Categories()}
		opt.Predictions = exp.add
	}
	rep, err := run.Evaluate(ck.Model, ds, opt)
	if err != nil {
		return err
	}
	if exp != nil {
		if err := exp.write(o.COCOOut); err != nil {
			return err
		}
	}
	if o.JSON {
		return writeJSON(s.Out, rep)
	}
	fmt.Fprintf(s.Out, "%s on %s/%s\n", o.Checkpoint, ds.Name(), ds.Describe()["split"])
	printEval(s, rep)
	if exp != nil {
		fmt.Fprintf(s.Out, "COCO predictions: %s\n", o.COCOOut)
	}
	return nil
}

// cocoExport collects predictions in COCO format. Image ids are dataset
// index + 1; masks are at the model's input size.
type cocoExport struct {
	cats []data.Category
	ins  []coco.InstancePrediction
	pan  []coco.PanopticPrediction
}

func (e *cocoExport) add(bi *data.BatchImage, p *model.Prediction) error {
	id := bi.Index + 1
	for _, d := range p.Detections {
		if !e.cats[d.Class].IsThing {
			continue
		}
		e.ins = append(e.ins, coco.InstancePrediction{ImageID: id, CategoryID: e.cats[d.Class].ID, Score: d.Score, Mask: d.Mask})
	}
	pp := coco.PanopticPrediction{ImageID: id, H: p.Size, W: p.Size, Segments: p.Panoptic}
	for _, sg := range p.Segments {
		if sg.Area == 0 {
			continue
		}
		pp.Info = append(pp.Info, coco.SegmentInfo{ID: sg.ID, CategoryID: e.cats[sg.Class].ID})
	}
	e.pan = append(e.pan, pp)
	return nil
}

func (e *cocoExport) write(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "panoptic"), 0o755); err != nil {
		return err
	}
	if err := coco.WriteInstanceResults(filepath.Join(dir, "instances_results.json"), e.ins); err != nil {
		return err
	}
	return coco.WritePanopticResults(filepath.Join(dir, "panoptic"), filepath.Join(dir, "panoptic_results.json"), e.pan)
}
