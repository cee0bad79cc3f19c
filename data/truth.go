package data

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/internal/parallel"
	"github.com/mpanalyze/mpanalyze/mask"
)

// Truth is an image's ground truth as the COCO reference evaluators score
// it, in the image's own frame: crowd regions are kept as segments flagged
// crowd (never deleted, never merged into void), segment ids are those of
// the file, and the instance ground truth keeps each annotation's own mask
// and its "area" field. Sample, in contrast, is what the model is trained
// on: crowd regions are void there.
//
// eval scores predictions against Truth, and `eval --export-gt` writes it
// back as COCO files, so the reference tools score the same ground truth.
type Truth struct {
	Index    int     // index in the dataset
	ImageID  ImageID // COCO image id; dataset index + 1 for datasets without one
	FileName string  // the image's file name (COCO "file_name"); "%012d.png" of ImageID without one
	H, W     int
	// Panoptic is the segment id per pixel (H·W), 0 for void; crowd
	// regions have their own ids.
	Panoptic []int32
	// Segments describe every non-zero id of Panoptic, in file order
	// (a panoptic file's segments_info order).
	Segments []TruthSegment
	// Objects is the instance-segmentation ground truth: the thing
	// annotations (instance files: each annotation's own mask, overlaps
	// and all, as pycocotools evaluates them; panoptic files: the thing
	// segments), crowd regions included and flagged.
	Objects []TruthObject
}

// TruthSegment is one segment of Truth.Panoptic.
type TruthSegment struct {
	ID    int32
	Class int // index into Categories
	Crowd bool
	// Area is the file's "area" of the segment (what pq_compute puts in
	// the IoU's union), 0 when the file has none: then the pixel count.
	Area int
}

// TruthObject is one instance of the instance-segmentation ground truth.
type TruthObject struct {
	ID    int // annotation id (instance files) or segment id (panoptic files)
	Class int
	Crowd bool
	// Area is the annotation's "area" field, which COCOeval compares with
	// the area ranges; 0 when the file has none: then the mask's pixel
	// count.
	Area float64
	Mask *mask.Bits // H×W
}

// TruthSource is implemented by datasets whose files say more than a
// Sample holds (data/coco: crowd regions, file ids, areas).
type TruthSource interface {
	// SampleTruth returns sample i and its Truth, reading the files once.
	SampleTruth(i int) (*Sample, *Truth, error)
}

// SampleTruth returns sample i of ds with its Truth: ds's own when it is a
// TruthSource, else TruthFromSample.
func SampleTruth(ds Dataset, i int) (*Sample, *Truth, error) {
	if ts, ok := ds.(TruthSource); ok {
		return ts.SampleTruth(i)
	}
	s, err := ds.Sample(i)
	if err != nil {
		return nil, nil, err
	}
	return s, TruthFromSample(s, i), nil
}

// TruthFromSample is the Truth of a sample that has no file behind it:
// its panoptic map and instances, no crowd, image id i+1 and file name
// "%012d.png" of it (the names the COCO exporters give such datasets).
func TruthFromSample(s *Sample, i int) *Truth {
	t := &Truth{Index: i, ImageID: IntImageID(i + 1), FileName: fmt.Sprintf("%012d.png", i+1), H: s.H, W: s.W,
		Panoptic: append([]int32(nil), s.Panoptic...)}
	for _, in := range s.Instances {
		t.Segments = append(t.Segments, TruthSegment{ID: int32(in.ID), Class: in.Class})
		if in.IsThing {
			t.Objects = append(t.Objects, TruthObject{ID: in.ID, Class: in.Class, Mask: in.Mask})
		}
	}
	return t
}

// Semantic returns the class per pixel (H·W) of t's segments, crowd
// regions included with their class, Void elsewhere: the semantic ground
// truth Mask2Former derives from COCO panoptic files
// (datasets/prepare_coco_semantic_annos_from_panoptic_annos.py paints
// every entry of segments_info, crowd or not, and leaves 255 elsewhere).
func (t *Truth) Semantic() []int32 {
	class := make(map[int32]int32, len(t.Segments))
	for _, sg := range t.Segments {
		class[sg.ID] = int32(sg.Class)
	}
	out := make([]int32, len(t.Panoptic))
	lastID, last := int32(0), int32(Void)
	for i, id := range t.Panoptic {
		if id != lastID {
			lastID = id
			c, ok := class[id]
			if !ok || id == 0 {
				c = Void
			}
			last = c
		}
		out[i] = last
	}
	return out
}

// MakeEvalBatch builds the batch of images indices at side size without
// augmentation (the letterbox of LetterboxFrame), reading each sample once,
// and returns their Truth alongside. Workers never change the result.
func MakeEvalBatch(ds Dataset, indices []int, size, workers int) (*Batch, []*Truth, error) {
	if size <= 0 || size%32 != 0 {
		return nil, nil, fmt.Errorf("data: batch image size %d is not a positive multiple of 32", size)
	}
	b := &Batch{Size: size, Images: make([]BatchImage, len(indices))}
	truths := make([]*Truth, len(indices))
	errs := make([]error, len(indices))
	parallel.For(len(indices), workers, func(j int) {
		idx := indices[j]
		s, t, err := SampleTruth(ds, idx)
		if err != nil {
			errs[j] = fmt.Errorf("data: batch image %d (index %d): %w", j, idx, err)
			return
		}
		b.Images[j] = MakeImage(s, size, AugParams{Scale: 1})
		truths[j] = t
	})
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return b, truths, nil
}
