package main

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/data/coco"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/internal/progress"
	"github.com/mpanalyze/mpanalyze/mask"
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
	cats := ds.Categories()
	exp, err := newCOCOExport(cats, o.Out, "", "")
	if err != nil {
		return err
	}
	var preview []*data.Sample
	bar := progress.New(s.Err, "predict", n)
	rep, err := run.Evaluate(ck.Model, ds, run.EvalOptions{
		Images: o.Images, Infer: o.Infer, Workers: o.Workers, Checkpoint: o.Checkpoint,
		Progress: func(done, total int) { bar.Update(done, "") },
		Predictions: func(bi *data.BatchImage, p *model.Prediction) error {
			if len(preview) < 2*o.PNG {
				gt := bi.AsSample()
				preview = append(preview, gt, predictionSample(gt, p))
			}
			return nil
		},
		Original: func(t *data.Truth, p *model.Prediction) error {
			if err := writeSemanticPNG(filepath.Join(o.Out, "semantic", coco.PNGName(t.FileName)), p); err != nil {
				return err
			}
			return exp.add(t, p)
		},
	})
	if err != nil {
		return err
	}
	if err := exp.close(); err != nil {
		return err
	}
	previewPath := ""
	if len(preview) > 0 {
		previewPath = filepath.Join(o.Out, "preview.png")
		img := data.Preview(preview, cats, data.PreviewOptions{Cols: 2, Cell: 256})
		if err := atomicfile.Write(previewPath, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
			return err
		}
	}
	if o.JSON {
		return writeJSON(s.Out, map[string]any{"out": o.Out, "preview": previewPath, "eval": rep})
	}
	fmt.Fprintf(s.Out, "predictions for %d images in %s\n", rep.Images, o.Out)
	if previewPath != "" {
		fmt.Fprintf(s.Out, "preview: %s (ground truth left, panoptic prediction right)\n", previewPath)
	}
	printEval(s, rep)
	return nil
}

// writeSemanticPNG writes the class map as an 8-bit grey PNG.
func writeSemanticPNG(path string, p *model.Prediction) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	img := image.NewGray(image.Rect(0, 0, p.W, p.H))
	for i, c := range p.Semantic {
		img.Pix[i] = uint8(c)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}

// predictionSample is the panoptic prediction drawn as a Sample over the
// ground truth's image, for previews.
func predictionSample(gt *data.Sample, p *model.Prediction) *data.Sample {
	s := &data.Sample{Index: gt.Index, H: gt.H, W: gt.W, RGB: gt.RGB, Panoptic: p.Panoptic, Semantic: p.Semantic}
	for _, sg := range p.Segments {
		if sg.Area == 0 {
			continue
		}
		id := int32(sg.ID)
		m := mask.FromFunc(p.Size, p.Size, func(i int) bool { return p.Panoptic[i] == id })
		s.Instances = append(s.Instances, data.Instance{Class: sg.Class, IsThing: sg.IsThing, ID: sg.ID, Mask: m})
	}
	return s
}
