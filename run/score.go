package run

import (
	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/data/coco"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model"
)

// Scorer accumulates the task metrics of predictions in each image's own
// frame against its data.Truth, as the reference tools score them:
//
//   - panoptic (pq_compute): the GT map with its file ids, crowd segments
//     flagged crowd, each GT segment's file "area" in the IoU's union;
//   - instance (COCOeval, iouType "segm"): the thing objects of the Truth,
//     crowd flagged (a detection matched to one is ignored), each with its
//     "area" for the area ranges; detections of stuff classes are left out,
//     as a COCO instance file holds thing categories only;
//   - semantic (mIoU): the Truth's classes per pixel, crowd regions with
//     their class (see data.Truth.Semantic), void ignored.
//
// A Scorer is not safe for concurrent use.
type Scorer struct {
	isThing []bool
	pan     *metrics.PanopticEvaluator
	ins     *metrics.InstanceEvaluator
	sem     *metrics.SemanticEvaluator
}

// NewScorer returns a Scorer for a dataset's categories.
func NewScorer(cats []data.Category) *Scorer {
	isThing := make([]bool, len(cats))
	for k, c := range cats {
		isThing[k] = c.IsThing
	}
	return &Scorer{isThing: isThing,
		pan: metrics.NewPanopticEvaluator(isThing),
		ins: metrics.NewInstanceEvaluator(len(cats), nil),
		sem: metrics.NewSemanticEvaluator(len(cats), data.Void)}
}

// AddPanoptic scores a panoptic prediction: ids is H·W segment ids (0 =
// void), segs describes every non-zero id.
func (s *Scorer) AddPanoptic(t *data.Truth, ids []int32, segs []metrics.Segment) {
	gt := make([]metrics.Segment, len(t.Segments))
	for k, sg := range t.Segments {
		gt[k] = metrics.Segment{ID: sg.ID, Category: sg.Class, Crowd: sg.Crowd, Area: sg.Area}
	}
	s.pan.Add(t.Panoptic, gt, ids, segs)
}

// AddInstances scores an image's detections (H×W masks); those of stuff
// classes are left out.
func (s *Scorer) AddInstances(t *data.Truth, dets []metrics.Detection) {
	gt := make([]metrics.Instance, len(t.Objects))
	for k, o := range t.Objects {
		gt[k] = metrics.Instance{Mask: o.Mask, Category: o.Class, Crowd: o.Crowd, Area: o.Area}
	}
	things := dets[:0:0]
	for _, d := range dets {
		if s.isThing[d.Category] {
			things = append(things, d)
		}
	}
	s.ins.Add(gt, things)
}

// AddSemantic scores a class map (H·W).
func (s *Scorer) AddSemantic(t *data.Truth, classes []int32) {
	s.sem.Add(t.Semantic(), classes)
}

// AddPrediction scores all three outputs of a prediction already in the
// image's frame (Prediction.InFrame).
func (s *Scorer) AddPrediction(t *data.Truth, p *model.Prediction) {
	segs := make([]metrics.Segment, len(p.Segments))
	for i, sg := range p.Segments {
		segs[i] = metrics.Segment{ID: int32(sg.ID), Category: sg.Class}
	}
	s.AddPanoptic(t, p.Panoptic, segs)
	dets := make([]metrics.Detection, len(p.Detections))
	for i, d := range p.Detections {
		dets[i] = metrics.Detection{Mask: d.Mask, Category: d.Class, Score: d.Score}
	}
	s.AddInstances(t, dets)
	s.AddSemantic(t, p.Semantic)
}

// Results returns the three reports.
func (s *Scorer) Results() (metrics.PanopticReport, metrics.InstanceReport, metrics.SemanticReport) {
	return s.pan.Result(), s.ins.Result(), s.sem.Result()
}

// ScorePredictions scores predictions that another tool wrote — COCO
// instance results and/or panoptic predictions, already read against gt —
// the job of pycocotools' COCOeval (iouType "segm") and panopticapi's
// pq_compute, with their rules (see Scorer). ins or pan may be nil (that
// part is not scored). each, when set, is called with every image's truth
// in order (for progress and exports).
func ScorePredictions(gt *coco.Dataset, ins *coco.InstanceResults, pan *coco.PanopticResults, each func(i int, t *data.Truth) error) (metrics.PanopticReport, metrics.InstanceReport, error) {
	scorer := NewScorer(gt.Categories())
	for i := 0; i < gt.Len(); i++ {
		t, err := gt.Truth(i)
		if err != nil {
			return metrics.PanopticReport{}, metrics.InstanceReport{}, err
		}
		if ins != nil {
			dets, err := ins.Detections(i)
			if err != nil {
				return metrics.PanopticReport{}, metrics.InstanceReport{}, err
			}
			md := make([]metrics.Detection, len(dets))
			for k, d := range dets {
				md[k] = metrics.Detection{Mask: d.Mask, Category: d.Class, Score: d.Score}
			}
			scorer.AddInstances(t, md)
		}
		if pan != nil {
			ids, segs, err := pan.Load(i)
			if err != nil {
				return metrics.PanopticReport{}, metrics.InstanceReport{}, err
			}
			ms := make([]metrics.Segment, len(segs))
			for k, sg := range segs {
				ms[k] = metrics.Segment{ID: sg.ID, Category: sg.Class}
			}
			scorer.AddPanoptic(t, ids, ms)
		}
		if each != nil {
			if err := each(i, t); err != nil {
				return metrics.PanopticReport{}, metrics.InstanceReport{}, err
			}
		}
	}
	pq, ap, _ := scorer.Results()
	return pq, ap, nil
}
