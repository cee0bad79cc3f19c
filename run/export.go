package run

import (
	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/data/coco"
	"github.com/mpanalyze/mpanalyze/model"
)

// COCOExport writes predictions (into predDir: instances_results.json,
// panoptic_results.json + panoptic_results/) and the ground truth they
// were scored against (into gtDir: instances.json, panoptic.json +
// panoptic/), each image in its own frame with its own id and file name.
// Either directory may be empty (nothing written there).
type COCOExport struct {
	cats []data.Category
	res  *coco.ResultsWriter
	gt   *coco.TruthWriter
}

// NewCOCOExport starts an export; description goes into the ground
// truth's info block.
func NewCOCOExport(cats []data.Category, predDir, gtDir, description string) (*COCOExport, error) {
	e := &COCOExport{cats: cats}
	var err error
	if predDir != "" {
		if e.res, err = coco.NewResultsWriter(predDir); err != nil {
			return nil, err
		}
	}
	if gtDir != "" {
		if e.gt, err = coco.NewTruthWriter(gtDir, cats, description); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Add takes one image's truth and its prediction in the image's frame
// (run.EvalOptions.Original). Instance results hold thing classes only;
// every image gets a panoptic entry, with an empty segments_info when
// nothing was predicted. p may be nil (ground truth only).
func (e *COCOExport) Add(t *data.Truth, p *model.Prediction) error {
	if e.gt != nil {
		if err := e.gt.Add(t); err != nil {
			return err
		}
	}
	if e.res == nil || p == nil {
		return nil
	}
	var ins []coco.InstancePrediction
	for _, d := range p.Detections {
		if e.cats[d.Class].IsThing {
			ins = append(ins, coco.InstancePrediction{ImageID: t.ImageID, CategoryID: e.cats[d.Class].ID, Score: d.Score, Mask: d.Mask})
		}
	}
	if err := e.res.AddInstances(ins); err != nil {
		return err
	}
	pp := coco.PanopticPrediction{ImageID: t.ImageID, FileName: coco.PNGName(t.FileName), H: p.H, W: p.W, Segments: p.Panoptic}
	for _, sg := range p.Segments {
		if sg.Area > 0 {
			pp.Info = append(pp.Info, coco.SegmentInfo{ID: sg.ID, CategoryID: e.cats[sg.Class].ID})
		}
	}
	return e.res.AddPanoptic(pp)
}

// Close finishes the files.
func (e *COCOExport) Close() error {
	if e.gt != nil {
		if err := e.gt.Close(); err != nil {
			return err
		}
	}
	if e.res != nil {
		return e.res.Close()
	}
	return nil
}
