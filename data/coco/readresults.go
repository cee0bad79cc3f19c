package coco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// Reading predictions made by any tool, in the formats the reference
// evaluators read, against a ground truth opened with Open or OpenTruth.

// Detection is one predicted instance read from a results file, in its
// image's own frame.
type Detection struct {
	Class int        // index into the ground truth's Categories
	Score float64    //
	Mask  *mask.Bits // the image's H×W
}

// InstanceResults is a COCO instance-segmentation results file (a JSON
// list of {image_id, category_id, segmentation, score}, what
// pycocotools' COCO.loadRes reads) matched to a ground truth's images.
// Masks are decoded per image by Detections, so a results file of 5,000
// images never holds all masks at once.
type InstanceResults struct {
	path    string
	gt      *Dataset
	byImage [][]resultEntry // per ground-truth image index, in file order
	// N is the number of results in the file.
	N int
	// Ignored counts results left out, by reason: "unknown_category"
	// (a category_id the ground truth does not have: COCOeval only
	// evaluates the ground truth's categories and drops them without a
	// word).
	Ignored map[string]int
}

type resultEntry struct {
	k      int // position in the file
	class  int
	score  float64
	counts string      // compressed RLE
	rle    *RLE        // or uncompressed RLE
	polys  [][]float64 // or polygons
}

type resultJSON struct {
	ImageID      *data.ImageID   `json:"image_id"`
	CategoryID   *int            `json:"category_id"`
	Segmentation json.RawMessage `json:"segmentation"`
	Score        *float64        `json:"score"`
}

// ReadInstanceResults reads a results file against gt. As COCO.loadRes, it
// rejects a result whose image_id is not one of gt's images ("Results do
// not correspond to current coco set"); a category_id gt does not have is
// ignored, as COCOeval ignores it, and counted in Ignored. Each
// segmentation may be RLE with compressed (what loadRes expects) or
// integer counts, or polygons, and must have its image's size; a bad one
// is an *Error naming the file, the result's position and the image.
// Images that gt dropped under SkipInvalid are rejected like unknown ones.
func ReadInstanceResults(path string, gt *Dataset) (*InstanceResults, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("coco: read results: %w", err)
	}
	return parseInstanceResults(path, raw, gt)
}

// parseInstanceResults parses and checks the results file path holds
// (raw) against gt.
func parseInstanceResults(path string, raw []byte, gt *Dataset) (*InstanceResults, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, newErr(path, ErrMalformed, "an instance results file is a JSON list of {image_id, category_id, segmentation, score}")
	}
	var list []resultJSON
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, jsonError(path, raw, err)
	}
	imgIndex := gt.imageIndex()
	catIndex := gt.categoryIndex()
	r := &InstanceResults{path: path, gt: gt, byImage: make([][]resultEntry, len(gt.images)), N: len(list), Ignored: map[string]int{}}
	for k := range list {
		a := &list[k]
		fail := func(kind error, format string, args ...any) *Error {
			e := newErr(path, kind, "result %d (in file order): %s", k, fmt.Sprintf(format, args...))
			if a.ImageID != nil {
				e.img(*a.ImageID)
			}
			return e
		}
		switch {
		case a.ImageID == nil:
			return nil, fail(ErrMalformed, "no image_id")
		case a.CategoryID == nil:
			return nil, fail(ErrMalformed, "no category_id")
		case a.Score == nil:
			return nil, fail(ErrMalformed, "no score")
		}
		i, ok := imgIndex[*a.ImageID]
		if !ok {
			return nil, fail(ErrUnknownImage, "image_id %s is not an image of the ground truth %s", *a.ImageID, gt.spec.Annotations)
		}
		class, ok := catIndex[*a.CategoryID]
		if !ok {
			r.Ignored["unknown_category"]++
			continue
		}
		ent := resultEntry{k: k, class: class, score: *a.Score}
		if err := ent.parseSegmentation(a.Segmentation, gt.images[i], fail); err != nil {
			return nil, err
		}
		r.byImage[i] = append(r.byImage[i], ent)
	}
	return r, nil
}

// resultFail returns the *Error of one result of a results file.
type resultFail func(kind error, format string, args ...any) *Error

// parseSegmentation checks a result's segmentation against its image e
// and keeps it: an RLE object (compressed counts, or integer counts) of
// the image's size, or polygons that lie at most 1 px outside the image.
func (ent *resultEntry) parseSegmentation(raw json.RawMessage, e *imageEntry, fail resultFail) error {
	seg := bytes.TrimSpace(raw)
	switch {
	case len(seg) == 0 || string(seg) == "null":
		return fail(ErrMalformed, "no segmentation")
	case seg[0] == '{':
		var rj rleJSON
		if err := json.Unmarshal(seg, &rj); err != nil {
			return fail(ErrMalformed, "segmentation is not an RLE object").wrap(err)
		}
		if len(rj.Size) != 2 || rj.Size[0] != e.h || rj.Size[1] != e.w {
			return fail(ErrSizeMismatch, "RLE size %v, the image is [%d, %d] (h, w)", rj.Size, e.h, e.w)
		}
		rle, err := parseCounts(e.h, e.w, bytes.TrimSpace(rj.Counts))
		if err == nil {
			err = rle.Validate()
		}
		if err != nil {
			return fail(ErrRLECounts, "%s", detail(err, ErrRLECounts))
		}
		if c := bytes.TrimSpace(rj.Counts); len(c) > 0 && c[0] == '"' {
			_ = json.Unmarshal(c, &ent.counts) // parsed above
		} else {
			ent.rle = &rle
		}
	case seg[0] == '[':
		var polys [][]float64
		if err := json.Unmarshal(seg, &polys); err != nil || len(polys) == 0 {
			return fail(ErrMalformed, "segmentation is not a list of polygons")
		}
		for j, p := range polys {
			if len(p) < 6 || len(p)%2 != 0 {
				return fail(ErrMalformed, "polygon %d has %d coordinates, want an even number ≥ 6", j, len(p))
			}
			for q := 0; q < len(p); q += 2 {
				if x, y := p[q], p[q+1]; x < -1 || x > float64(e.w+1) || y < -1 || y > float64(e.h+1) {
					return fail(ErrPolygonOutside, "polygon %d, point %d at (%g, %g) lies more than 1 px outside the %d×%d (W×H) image", j, q/2, x, y, e.w, e.h)
				}
			}
		}
		ent.polys = polys
	default:
		return fail(ErrMalformed, "segmentation is neither RLE nor polygons")
	}
	return nil
}

// Detections decodes the results of ground-truth image i, in file order.
func (r *InstanceResults) Detections(i int) ([]Detection, error) {
	e := r.gt.images[i]
	out := make([]Detection, 0, len(r.byImage[i]))
	for _, ent := range r.byImage[i] {
		var m *mask.Bits
		var err error
		switch {
		case ent.polys != nil:
			a := annEntry{polys: ent.polys}
			m, err = a.maskOf(e.h, e.w)
		case ent.rle != nil:
			m, err = DecodeRLE(*ent.rle)
		default:
			var rle RLE
			if rle, err = ParseCompressed(e.h, e.w, ent.counts); err == nil {
				m, err = DecodeRLE(rle)
			}
		}
		if err != nil { // checked when read
			return nil, newErr(r.path, ErrRLECounts, "result %d (in file order): %v", ent.k, err).img(e.id)
		}
		out = append(out, Detection{Class: ent.class, Score: ent.score, Mask: m})
	}
	return out, nil
}

// imageIndex maps image ids to positions in d.images.
func (d *Dataset) imageIndex() map[data.ImageID]int {
	m := make(map[data.ImageID]int, len(d.images))
	for i, e := range d.images {
		m[e.id] = i
	}
	return m
}

// categoryIndex maps category ids to class indices.
func (d *Dataset) categoryIndex() map[int]int {
	m := make(map[int]int, len(d.categories))
	for k, c := range d.categories {
		m[c.ID] = k
	}
	return m
}

// PanopticSegment is one predicted panoptic segment.
type PanopticSegment struct {
	ID    int32
	Class int // index into the ground truth's Categories
}

// PanopticResults is a COCO panoptic predictions file ({"annotations":
// [{image_id, file_name, segments_info: [{id, category_id}]}]}) with its
// PNG folder, matched to a ground truth's images; PNGs are read per image
// by Load.
type PanopticResults struct {
	path, dir string
	gt        *Dataset
	byImage   []*panResult
	// Extra counts predictions for images the ground truth does not have
	// (pq_compute loops over the ground truth and never looks at them).
	Extra int
}

type panResult struct {
	fileName string
	segs     []PanopticSegment
}

type panResultsJSON struct {
	Annotations *[]struct {
		ImageID      *data.ImageID `json:"image_id"`
		FileName     string        `json:"file_name"`
		SegmentsInfo *[]struct {
			ID         *int `json:"id"`
			CategoryID *int `json:"category_id"`
		} `json:"segments_info"`
	} `json:"annotations"`
}

// OpenPanopticResults reads a panoptic predictions JSON file against gt,
// with the PNGs in pngDir (empty: the JSON's path without ".json", the
// default of pq_compute). As pq_compute, every ground-truth image needs a
// prediction ("no prediction for the image with id: N"), predictions for
// other images are not scored (counted in Extra), and a segment whose
// category_id the ground truth lacks is an error. Two predictions for one
// image are an error (pq_compute would silently keep the last).
func OpenPanopticResults(jsonPath, pngDir string, gt *Dataset) (*PanopticResults, error) {
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		return nil, fmt.Errorf("coco: read panoptic predictions: %w", err)
	}
	if pngDir == "" {
		pngDir = strings.TrimSuffix(jsonPath, ".json")
	}
	return parsePanopticResults(jsonPath, pngDir, raw, gt)
}

func parsePanopticResults(path, dir string, raw []byte, gt *Dataset) (*PanopticResults, error) {
	var f panResultsJSON
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, jsonError(path, raw, err)
	}
	if f.Annotations == nil {
		return nil, newErr(path, ErrMalformed, "want an object with an \"annotations\" list (panoptic predictions)")
	}
	imgIndex := gt.imageIndex()
	catIndex := gt.categoryIndex()
	r := &PanopticResults{path: path, dir: dir, gt: gt, byImage: make([]*panResult, len(gt.images))}
	for k, a := range *f.Annotations {
		if a.ImageID == nil {
			return nil, newErr(path, ErrMalformed, "annotation %d (in file order) has no image_id", k)
		}
		id := *a.ImageID
		i, ok := imgIndex[id]
		if !ok {
			r.Extra++
			continue
		}
		if r.byImage[i] != nil {
			return nil, newErr(path, ErrMalformed, "two predictions for one image").img(id)
		}
		if a.FileName == "" {
			return nil, newErr(path, ErrMalformed, "no file_name").img(id)
		}
		if a.SegmentsInfo == nil {
			return nil, newErr(path, ErrMalformed, "segments_info is missing or null; an image without segments has \"segments_info\": []").img(id)
		}
		pr := &panResult{fileName: a.FileName}
		seen := map[int]bool{}
		for j, s := range *a.SegmentsInfo {
			switch {
			case s.ID == nil:
				return nil, newErr(path, ErrMalformed, "segments_info[%d] has no id", j).img(id)
			case *s.ID <= 0 || *s.ID > maxSegmentID:
				return nil, newErr(path, ErrMalformed, "segment id outside 1..2^24-1").img(id).seg(*s.ID)
			case seen[*s.ID]:
				return nil, newErr(path, ErrMalformed, "segment id appears twice").img(id).seg(*s.ID)
			case s.CategoryID == nil:
				return nil, newErr(path, ErrMalformed, "no category_id").img(id).seg(*s.ID)
			}
			seen[*s.ID] = true
			class, ok := catIndex[*s.CategoryID]
			if !ok {
				return nil, newErr(path, ErrUnknownCategory, "category_id %d is not a category of the ground truth %s", *s.CategoryID, gt.spec.Annotations).img(id).seg(*s.ID)
			}
			pr.segs = append(pr.segs, PanopticSegment{ID: int32(*s.ID), Class: class})
		}
		r.byImage[i] = pr
	}
	for i, pr := range r.byImage {
		if pr == nil {
			return nil, newErr(path, ErrMalformed, "no prediction for the image with id: %s", gt.images[i].id).img(gt.images[i].id)
		}
	}
	return r, nil
}

// Load reads the prediction of ground-truth image i: the PNG's ids (read as
// pq_compute reads them, see idsFromImage) and the segments. As
// pq_compute, a PNG id that segments_info does not list, or a listed
// segment without pixels, is ErrPanopticIDs; a PNG whose size is not the
// image's is ErrSizeMismatch.
func (r *PanopticResults) Load(i int) ([]int32, []PanopticSegment, error) {
	e, pr := r.gt.images[i], r.byImage[i]
	path := filepath.Join(r.dir, pr.fileName)
	img, err := readImage(path, e.h, e.w)
	if err != nil {
		err.(*Error).ImageID = e.id
		return nil, nil, err
	}
	ids := idsFromImage(img)
	known := make(map[int32]bool, len(pr.segs))
	for _, s := range pr.segs {
		known[s.ID] = true
	}
	count := map[int32]int{}
	lastID := int32(-1)
	for _, id := range ids {
		if id != lastID {
			lastID = id
			count[id]++
		}
	}
	var unknown, absent []int
	for id := range count {
		if id != 0 && !known[id] {
			unknown = append(unknown, int(id))
		}
	}
	for _, s := range pr.segs {
		if count[s.ID] == 0 {
			absent = append(absent, int(s.ID))
		}
	}
	if len(unknown) > 0 || len(absent) > 0 {
		sort.Ints(unknown)
		var msg []string
		if len(unknown) > 0 {
			msg = append(msg, fmt.Sprintf("PNG ids %s are not in the JSON segments_info", idList(unknown)))
		}
		if len(absent) > 0 {
			msg = append(msg, fmt.Sprintf("segments %s of the JSON have no pixel in the PNG", idList(absent)))
		}
		return nil, nil, newErr(path, ErrPanopticIDs, "%s", strings.Join(msg, "; ")).img(e.id)
	}
	return ids, pr.segs, nil
}
