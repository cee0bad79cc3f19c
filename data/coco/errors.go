package coco

import (
	"errors"

	"fmt"
	"math"
	"strings"

	"github.com/mpanalyze/mpanalyze/data"
)

// Sentinel errors. Every error from Open, Dataset.Load/Sample and the
// exporters that concerns the content of a file is an *Error whose Kind is
// one of these, so callers can test with errors.Is(err, ErrPolygonOutside)
// and read the file and ids with errors.As.
var (
	// ErrMalformedJSON: the file is not valid JSON or a field has the
	// wrong JSON type.
	ErrMalformedJSON = errors.New("coco: malformed JSON")
	// ErrMalformed: valid JSON that breaks the COCO schema: a missing or
	// duplicate id, a non-positive image size, a polygon with fewer than
	// three points or an odd number of coordinates, a segmentation that
	// is neither polygons nor RLE.
	ErrMalformed = errors.New("coco: invalid annotation file")
	// ErrMissingImage: an image (or panoptic PNG) file named in the JSON
	// does not exist.
	ErrMissingImage = errors.New("coco: missing image file")
	// ErrBadImage: an image or panoptic PNG file exists but cannot be
	// decoded.
	ErrBadImage = errors.New("coco: undecodable image file")
	// ErrSizeMismatch: the size of an image file, a panoptic PNG or an RLE
	// differs from the height and width the JSON gives for the image, or
	// a prediction's map has the wrong length.
	ErrSizeMismatch = errors.New("coco: size mismatch")
	// ErrPolygonOutside: a polygon vertex lies more than 1 px outside the
	// image ([-1, W+1] × [-1, H+1] is accepted).
	ErrPolygonOutside = errors.New("coco: polygon outside the image")
	// ErrRLECounts: RLE counts that do not add up to H·W, negative or
	// non-integer counts, or a compressed counts string with a character
	// outside COCO's alphabet (ASCII 48..111).
	ErrRLECounts = errors.New("coco: bad RLE counts")
	// ErrUnknownCategory: a category_id that is not in the categories
	// list.
	ErrUnknownCategory = errors.New("coco: unknown category id")
	// ErrUnknownImage: an annotation whose image_id is not in the images
	// list.
	ErrUnknownImage = errors.New("coco: unknown image id")
	// ErrPanopticIDs: a panoptic PNG holds segment ids that its JSON
	// segments_info does not list, or the JSON lists segments that have
	// no pixel in the PNG.
	ErrPanopticIDs = errors.New("coco: panoptic PNG and JSON segments disagree")
	// ErrInconsistent: a dataset handed to an exporter breaks the
	// data.Sample contract (overlapping masks, a panoptic map that does
	// not match the instances, a class index out of range).
	ErrInconsistent = errors.New("coco: inconsistent sample")
)

// NoID marks an Error field that does not apply (COCO ids are
// non-negative, so it cannot collide with a real id).
const NoID = math.MinInt

// Error is a problem with one file: the file, the image, annotation or
// panoptic segment it concerns (NoID when not applicable), the kind of
// problem (one of the sentinels above) and a readable detail.
type Error struct {
	File         string
	ImageID      data.ImageID // "" when not applicable
	AnnotationID int
	SegmentID    int
	Kind         error
	Detail       string
	Err          error // underlying error (a JSON or image decoder error), or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("coco: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	var where []string
	if e.ImageID != "" {
		where = append(where, fmt.Sprintf("image %s", e.ImageID))
	}
	if e.AnnotationID != NoID {
		where = append(where, fmt.Sprintf("annotation %d", e.AnnotationID))
	}
	if e.SegmentID != NoID {
		where = append(where, fmt.Sprintf("segment %d", e.SegmentID))
	}
	if len(where) > 0 {
		b.WriteString(strings.Join(where, ", "))
		b.WriteString(": ")
	}
	b.WriteString(strings.TrimPrefix(e.Kind.Error(), "coco: "))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap lets errors.Is match both the Kind sentinel and the underlying
// error.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// newErr starts an Error about file with no ids set.
func newErr(file string, kind error, format string, args ...any) *Error {
	return &Error{File: file, AnnotationID: NoID, SegmentID: NoID,
		Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func (e *Error) img(id data.ImageID) *Error { e.ImageID = id; return e }
func (e *Error) ann(id int) *Error          { e.AnnotationID = id; return e }
func (e *Error) seg(id int) *Error          { e.SegmentID = id; return e }
func (e *Error) wrap(err error) *Error      { e.Err = err; return e }

// reason is the key under which a skipped item is counted in Describe.
func reason(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return "other"
	}
	switch e.Kind {
	case ErrMalformed:
		return "malformed"
	case ErrMissingImage:
		return "missing_image"
	case ErrBadImage:
		return "bad_image"
	case ErrSizeMismatch:
		return "size_mismatch"
	case ErrPolygonOutside:
		return "polygon_outside"
	case ErrRLECounts:
		return "rle_counts"
	case ErrUnknownCategory:
		return "unknown_category"
	case ErrUnknownImage:
		return "unknown_image"
	case ErrPanopticIDs:
		return "panoptic_ids"
	}
	return "other"
}
