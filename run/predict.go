package run

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/data/coco"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model"
)

// PredictOptions configure Predict: the evaluation's (Images, Infer,
// Workers, Checkpoint, Progress; its Predictions and Original callbacks are
// Predict's own), the output directory and the preview size.
type PredictOptions struct {
	EvalOptions
	// Out is the output directory.
	Out string
	// Preview is the number of images of preview.png (0: no preview).
	Preview int
}

// PredictResult is what Predict wrote and scored.
type PredictResult struct {
	Report *metrics.EvalReport
	// Preview is the path of preview.png, "" when none was written.
	Preview string
}

// Predict runs a model on a dataset and writes into o.Out, each image in
// its own frame with its own id and file name:
//
//	semantic/<name>.png                          class index per pixel (8-bit)
//	instances_results.json                       COCO instance results
//	panoptic_results.json + panoptic_results/    COCO panoptic predictions
//	preview.png                                  the first o.Preview images
//
// and returns the scores of the evaluation it ran.
func Predict(m *model.Model, ds data.Dataset, o PredictOptions) (*PredictResult, error) {
	if err := os.MkdirAll(filepath.Join(o.Out, "semantic"), 0o755); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	exp, err := NewCOCOExport(ds.Categories(), o.Out, "", "")
	if err != nil {
		return nil, err
	}
	var preview []*data.Sample
	opt := o.EvalOptions
	opt.Predictions = func(bi *data.BatchImage, p *model.Prediction) error {
		if len(preview) < 2*o.Preview {
			gt := bi.AsSample()
			preview = append(preview, gt, predictionSample(gt, p))
		}
		return nil
	}
	opt.Original = func(t *data.Truth, p *model.Prediction) error {
		if err := writeSemanticPNG(filepath.Join(o.Out, "semantic", coco.PNGName(t.FileName)), p); err != nil {
			return err
		}
		return exp.Add(t, p)
	}
	rep, err := Evaluate(m, ds, opt)
	if err != nil {
		return nil, err
	}
	if err := exp.Close(); err != nil {
		return nil, err
	}
	res := &PredictResult{Report: rep}
	if len(preview) > 0 {
		res.Preview = filepath.Join(o.Out, "preview.png")
		img := data.Preview(preview, ds.Categories(), data.PreviewOptions{Cols: 2, Cell: 256})
		if err := atomicfile.Write(res.Preview, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
			return nil, err
		}
	}
	return res, nil
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
