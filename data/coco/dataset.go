package coco

import (
	"fmt"
	"maps"
	"path/filepath"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// Sample is a data.Sample plus what a COCO file holds beyond it.
type Sample struct {
	*data.Sample
	ImageID  data.ImageID
	FileName string // the image file, relative to the image directory
	// Annotations are the image's annotations that Open kept (instance
	// format: in file order; panoptic format: segments_info order),
	// crowd regions included, each with its own mask.
	Annotations []Annotation
}

// Annotation is one COCO annotation (instance format) or panoptic segment
// as it is in the file.
type Annotation struct {
	// ID is the annotation id (instance format) or the segment id
	// (panoptic format).
	ID      int
	Class   int // index into Categories
	IsCrowd bool
	// Area is the file's "area" field, 0 when absent.
	Area float64
	// Mask is the annotation's own mask: in the instance format before
	// later annotations cover parts of it (it may be empty); in the
	// panoptic format the segment's pixels in the PNG.
	Mask *mask.Bits
	// Segment is the data.Instance ID this annotation's visible pixels
	// have in Sample.Panoptic, or 0 when none: a crowd region, or an
	// annotation that later ones cover completely.
	Segment int32
}

// Name is "coco".
func (d *Dataset) Name() string { return "coco" }

// Len is the number of images kept.
func (d *Dataset) Len() int { return len(d.images) }

// Format says whether the file was an instance or a panoptic file.
func (d *Dataset) Format() Format { return d.format }

// Categories lists the file's categories in file order: class k is the
// k-th category of the file, whatever its COCO id.
func (d *Dataset) Categories() []data.Category {
	return append([]data.Category(nil), d.categories...)
}

// ImageInfo returns image i's COCO id and file name (relative to the image
// directory). The exporters use it to keep ids and names.
func (d *Dataset) ImageInfo(i int) (id data.ImageID, fileName string) {
	e := d.images[i]
	return e.id, e.fileName
}

// Sample returns image i with its ground truth; see Load.
func (d *Dataset) Sample(i int) (*data.Sample, error) {
	s, err := d.Load(i)
	if err != nil {
		return nil, err
	}
	return s.Sample, nil
}

// Load reads image i and builds its ground truth. RGB comes from the image
// file (JPEG or PNG, decoded by the Go standard library). The instance
// format paints annotations in file order, later ones on top, so where
// instance masks overlap the later annotation wins; the panoptic format
// takes the PNG's ids. In both, crowd regions are void (data.Void in
// Semantic, 0 in Panoptic) and are kept, flagged, in Annotations; all
// regions of one stuff class form one data.Instance.
func (d *Dataset) Load(i int) (*Sample, error) {
	if d.spec.Images == "" {
		return nil, fmt.Errorf("coco: %s was opened for scoring only (OpenTruth): no image directory to load image %d from", d.spec.Annotations, i)
	}
	return d.load(i, true)
}

// load is Load, with the RGB image only when rgb is set.
func (d *Dataset) load(i int, rgb bool) (*Sample, error) {
	if i < 0 || i >= len(d.images) {
		return nil, fmt.Errorf("coco: sample %d out of range [0, %d)", i, len(d.images))
	}
	e := d.images[i]
	s := &Sample{
		Sample:   &data.Sample{Index: i, H: e.h, W: e.w},
		ImageID:  e.id,
		FileName: e.fileName,
	}
	if rgb {
		path := filepath.Join(d.spec.Images, e.fileName)
		img, err := readImage(path, e.h, e.w)
		if err != nil {
			err.(*Error).ImageID = e.id
			return nil, err
		}
		s.RGB = toRGB(img)
	}
	var err error
	if d.format == Panoptic {
		err = d.loadPanoptic(e, s)
	} else {
		err = d.loadInstances(e, s)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Skipped counts what Open dropped under SkipInvalid, by level
// ("annotations": instance annotations and panoptic segments; "images":
// images dropped with all their annotations) and reason ("polygon_outside",
// "rle_counts", "unknown_category", "missing_image", ...). Both maps are
// empty without SkipInvalid.
func (d *Dataset) Skipped() (annotations, images map[string]int) {
	return maps.Clone(d.skippedAnns), maps.Clone(d.skippedImages)
}

// SkippedOnLoad counts the panoptic PNG ids and segments that Load has
// voided or ignored under SkipInvalid so far ("unknown_png_ids",
// "absent_segments"), each image counted once however often it is loaded.
// Unlike Skipped it depends on which samples were loaded, so Describe
// leaves it out.
func (d *Dataset) SkippedOnLoad() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.loadSkips)
}

func (d *Dataset) countLoadSkip(imageID data.ImageID, unknown, absent int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loadCounted[imageID] {
		return
	}
	d.loadCounted[imageID] = true
	if unknown > 0 {
		d.loadSkips["unknown_png_ids"] += unknown
	}
	if absent > 0 {
		d.loadSkips["absent_segments"] += absent
	}
}

// Describe returns what a run manifest needs: kind, format, split, the
// paths, the annotation file's SHA-256, the counts in the file and kept,
// and what SkipInvalid dropped at Open (see Skipped).
func (d *Dataset) Describe() map[string]any {
	m := map[string]any{
		"kind":                "coco",
		"format":              string(d.format),
		"split":               d.spec.Split,
		"annotations":         d.spec.Annotations,
		"annotations_sha256":  d.sha256,
		"images":              d.spec.Images,
		"n":                   len(d.images),
		"n_requested":         d.spec.N,
		"images_in_file":      d.inFile.images,
		"annotations_in_file": d.inFile.annotations,
		"categories":          len(d.categories),
		"skip_invalid":        d.spec.SkipInvalid,
		"skipped_annotations": maps.Clone(d.skippedAnns),
		"skipped_images":      maps.Clone(d.skippedImages),
	}
	if d.format == Panoptic {
		m["panoptic_pngs"] = d.spec.PanopticPNGs
	}
	return m
}
