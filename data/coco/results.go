package coco

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// InstancePrediction is one predicted instance for COCO's instance
// segmentation evaluation.
type InstancePrediction struct {
	ImageID    data.ImageID
	CategoryID int // the COCO category id (data.Category.ID), not the class index
	Score      float64
	Mask       *mask.Bits // at the image's resolution
}

type instanceResultOut struct {
	ImageID      data.ImageID `json:"image_id"`
	CategoryID   int          `json:"category_id"`
	Segmentation rleOut       `json:"segmentation"`
	Score        float64      `json:"score"`
}

// WriteInstanceResults writes preds, in the given order, as a COCO results
// file: a JSON list of {image_id, category_id, segmentation: {size: [h, w],
// counts: compressed string}, score}, which pycocotools' COCO.loadRes and
// COCOeval(iouType="segm") read.
func WriteInstanceResults(path string, preds []InstancePrediction) error {
	out := make([]instanceResultOut, len(preds))
	for k, p := range preds {
		if p.Mask == nil {
			return fmt.Errorf("coco: instance prediction %d (image %s) has no mask", k, p.ImageID)
		}
		if math.IsNaN(p.Score) || math.IsInf(p.Score, 0) {
			return fmt.Errorf("coco: instance prediction %d (image %s) has score %v", k, p.ImageID, p.Score)
		}
		out[k] = instanceResultOut{
			ImageID:      p.ImageID,
			CategoryID:   p.CategoryID,
			Segmentation: rleOut{Size: [2]int{p.Mask.H, p.Mask.W}, Counts: EncodeRLE(p.Mask).String()},
			Score:        p.Score,
		}
	}
	return writeJSON(path, out)
}

// PanopticPrediction is one image's predicted panoptic segmentation.
type PanopticPrediction struct {
	ImageID  data.ImageID
	FileName string // PNG name under the output directory; "" means "%012d.png" of an integer ImageID, the id + ".png" of a string one
	H, W     int
	Segments []int32 // H·W segment ids, row-major; 0 = void
	// Info lists the segments with their category_id (the COCO category
	// id) and iscrowd (0 for predictions). Area and BBox are computed from
	// Segments; values given here are ignored.
	Info []SegmentInfo
}

type panopticResultsOut struct {
	Annotations []panopticAnnOut `json:"annotations"`
}

// WritePanopticResults writes each prediction's id map as an RGB PNG under
// dir (id = R + 256·G + 256²·B) and jsonPath with {"annotations": [{image_id,
// file_name, segments_info: [{id, category_id, area, bbox, iscrowd}]}]},
// the prediction format panopticapi's pq_compute reads. Annotations are
// sorted by image id and segments by id. It fails (wrapping
// ErrPanopticIDs) when a map id has no Info entry or an Info segment has
// no pixel — pq_compute rejects both — and (wrapping ErrSizeMismatch) when
// Segments is not H·W long.
func WritePanopticResults(dir, jsonPath string, preds []PanopticPrediction) error {
	if err := mkdirs(dir, filepath.Dir(jsonPath)); err != nil {
		return err
	}
	order := make([]int, len(preds))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool { return preds[order[a]].ImageID.Compare(preds[order[b]].ImageID) < 0 })
	out := panopticResultsOut{Annotations: []panopticAnnOut{}}
	names := map[string]bool{}
	for _, k := range order {
		a, err := writePanopticPNG(dir, &preds[k], names)
		if err != nil {
			return err
		}
		out.Annotations = append(out.Annotations, a)
	}
	return writeJSON(jsonPath, out)
}
