package data

import "github.com/mpanalyze/mpanalyze/mask"

// Category is one class of a dataset. Class indices used everywhere else in
// mpanalyze (model outputs, semantic maps, metrics) are positions in the
// dataset's Categories slice: 0..K-1. ID is the external id (COCO category
// id), kept for export.
type Category struct {
	ID      int      `json:"id"`
	Name    string   `json:"name"`
	IsThing bool     `json:"isthing"`
	Color   [3]uint8 `json:"color"`
}

// Instance is one ground-truth segment: a thing instance or the single
// region of a stuff class in the image.
type Instance struct {
	Class   int        // index into Categories
	IsThing bool       // copy of Categories[Class].IsThing
	ID      int        // panoptic segment id in Sample.Panoptic, ≥ 1
	Mask    *mask.Bits // H×W, non-empty
}

// Sample is one image with its ground truth.
type Sample struct {
	Index int // index in the dataset
	H, W  int
	// RGB is the image, H·W·3 bytes, row-major, interleaved R, G, B.
	RGB []uint8
	// Instances are the segments in painter's order (later ones were drawn
	// on top); masks never overlap.
	Instances []Instance
	// Semantic is the class index per pixel (H·W), or Void.
	Semantic []int32
	// Panoptic is the segment id per pixel (H·W): Instances[k].ID, or 0 for
	// void.
	Panoptic []int32
}

// Void marks pixels with no ground truth in Semantic maps (COCO's 255).
const Void = -1

// Dataset is a finite, indexable, deterministic collection of samples.
type Dataset interface {
	// Name is a short identifier ("synthetic", "mnist", "photos", "coco").
	Name() string
	// Len is the number of samples.
	Len() int
	// Categories lists the classes; the position is the class index.
	Categories() []Category
	// Sample returns sample i (0 ≤ i < Len()). Errors name the file and
	// the cause (for file-backed datasets).
	Sample(i int) (*Sample, error)
	// Describe returns what a run manifest needs to rebuild the dataset:
	// kind, seed, split, size, source paths and their hashes.
	Describe() map[string]any
}
