package coco

import (
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
