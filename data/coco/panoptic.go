package coco

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// groupPanoptic assigns each panoptic annotation (one per image) to its
// image.
func (d *Dataset) groupPanoptic(anns []annotationJSON, byID map[data.ImageID]*imageEntry) error {
	file := d.spec.Annotations
	for k := range anns {
		a := &anns[k]
		if a.SegmentsInfo == nil {
			return newErr(file, ErrMalformed, "annotation %d (in file order) has no segments_info: this is an instance file; leave the panoptic PNG directory (Spec.PanopticPNGs) empty", k)
		}
		var err error
		switch {
		case a.ImageID == nil:
			err = newErr(file, ErrMalformed, "annotation %d (in file order) has no image_id", k)
		case byID[*a.ImageID] == nil:
			err = newErr(file, ErrUnknownImage, "annotation %d (in file order) names image_id %s, which is not in the images list", k, *a.ImageID)
		case byID[*a.ImageID].panRef >= 0:
			err = newErr(file, ErrMalformed, "two panoptic annotations for one image").img(*a.ImageID)
		case a.FileName == "":
			err = newErr(file, ErrMalformed, "panoptic annotation has no file_name").img(*a.ImageID)
		}
		if err != nil {
			if err := d.skip(err); err != nil {
				return err
			}
			continue
		}
		byID[*a.ImageID].panRef = k
	}
	return nil
}

// admitPanoptic checks image e's panoptic PNG header and segments_info.
func (d *Dataset) admitPanoptic(e *imageEntry, anns []annotationJSON, catIndex map[int]int) (bool, error) {
	file := d.spec.Annotations
	if e.panRef < 0 {
		return false, d.skipImage(newErr(file, ErrMalformed, "image has no panoptic annotation").img(e.id))
	}
	a := &anns[e.panRef]
	path := filepath.Join(d.spec.PanopticPNGs, a.FileName)
	h, w, err := checkImageFile(path)
	if err == nil && (h != e.h || w != e.w) {
		err = newErr(path, ErrSizeMismatch, "panoptic PNG is %d×%d (H×W), %s says %d×%d",
			h, w, filepath.Base(file), e.h, e.w)
	}
	if err != nil {
		err.(*Error).ImageID = e.id
		return false, d.skipImage(err)
	}
	e.pngName = a.FileName
	seen := map[int]bool{}
	for k, s := range *a.SegmentsInfo {
		var err *Error
		switch {
		case s.ID == nil:
			err = newErr(file, ErrMalformed, "segments_info[%d] has no id", k).img(e.id)
		case *s.ID <= 0 || *s.ID > maxSegmentID:
			err = newErr(file, ErrMalformed, "segment id outside 1..2^24-1").img(e.id).seg(*s.ID)
		case seen[*s.ID]:
			err = newErr(file, ErrMalformed, "segment id appears twice").img(e.id).seg(*s.ID)
		case s.CategoryID == nil:
			err = newErr(file, ErrMalformed, "no category_id").img(e.id).seg(*s.ID)
		default:
			if _, ok := catIndex[*s.CategoryID]; !ok {
				err = newErr(file, ErrUnknownCategory, "category_id %d is not in the categories list", *s.CategoryID).img(e.id).seg(*s.ID)
			} else if _, ferr := s.IsCrowd.value("iscrowd", false); ferr != nil {
				err = newErr(file, ErrMalformed, "%v", ferr).img(e.id).seg(*s.ID)
			} else if s.Area != nil && (*s.Area < 0 || *s.Area != math.Trunc(*s.Area) || *s.Area > maxPixels) {
				err = newErr(file, ErrMalformed, "area is %g, want a pixel count", *s.Area).img(e.id).seg(*s.ID)
			}
		}
		if err != nil {
			if err := d.skip(err); err != nil {
				return false, err
			}
			if s.ID != nil && *s.ID > 0 && *s.ID <= maxSegmentID && !seen[*s.ID] {
				// The pixels of a dropped segment become void rather
				// than "ids not in the JSON".
				e.dropped = append(e.dropped, *s.ID)
				seen[*s.ID] = true
			}
			continue
		}
		seen[*s.ID] = true
		crowd, _ := s.IsCrowd.value("iscrowd", false) // checked above
		sg := segEntry{id: *s.ID, class: catIndex[*s.CategoryID], crowd: crowd}
		if s.Area != nil {
			sg.area = int(*s.Area)
		}
		e.segs = append(e.segs, sg)
	}
	return true, nil
}

// loadPanoptic builds image e's sample from its panoptic PNG.
//
// Pixel id 0 is void. Every other id must be a segment of segments_info,
// and every segment must have pixels (panopticapi's pq_compute checks the
// same); otherwise ErrPanopticIDs, or under SkipInvalid the unknown ids
// become void and the absent segments are ignored (counted in
// SkippedOnLoad). Crowd segments are void in Panoptic and Semantic. Two
// segments of one stuff class are merged into the first one's id.
func (d *Dataset) loadPanoptic(e *imageEntry, s *Sample) error {
	path := filepath.Join(d.spec.PanopticPNGs, e.pngName)
	img, err := readImage(path, e.h, e.w)
	if err != nil {
		err.(*Error).ImageID = e.id
		return err
	}
	ids := idsFromImage(img)
	count := countIDs(ids)
	if err := d.checkPanopticIDs(path, e, count); err != nil {
		return err
	}
	to, segs := d.sampleIDs(e, count)
	pan, perSeg := relabel(ids, e, to)
	d.fillFromPanoptic(s.Sample, pan, segs)
	for _, sg := range e.segs {
		s.Annotations = append(s.Annotations, Annotation{
			ID: sg.id, Class: sg.class, IsCrowd: sg.crowd, Area: float64(sg.area), Mask: perSeg[int32(sg.id)], Segment: to[int32(sg.id)]})
	}
	return nil
}

// countIDs returns the number of pixels of every id of a panoptic PNG.
func countIDs(ids []int32) map[int32]int {
	count := map[int32]int{}
	lastID, lastN := int32(-1), 0
	for _, id := range ids {
		if id != lastID {
			if lastID >= 0 {
				count[lastID] += lastN
			}
			lastID, lastN = id, 0
		}
		lastN++
	}
	if lastID >= 0 {
		count[lastID] += lastN
	}
	return count
}

// checkPanopticIDs checks that every non-zero id of image e's PNG (path)
// is one of its segments (kept or dropped at Open) and that every kept
// segment has pixels: ErrPanopticIDs otherwise, or, under SkipInvalid, a
// count in SkippedOnLoad and nil.
func (d *Dataset) checkPanopticIDs(path string, e *imageEntry, count map[int32]int) error {
	known := map[int32]int{} // segment id → index in e.segs, or -1 for dropped
	for k, sg := range e.segs {
		known[int32(sg.id)] = k
	}
	for _, id := range e.dropped {
		known[int32(id)] = -1
	}
	var unknown, absent []int
	for id := range count {
		if _, ok := known[id]; !ok && id != 0 {
			unknown = append(unknown, int(id))
		}
	}
	for _, sg := range e.segs {
		if count[int32(sg.id)] == 0 {
			absent = append(absent, sg.id)
		}
	}
	sort.Ints(unknown)
	if len(unknown) == 0 && len(absent) == 0 {
		return nil
	}
	var msg []string
	if len(unknown) > 0 {
		msg = append(msg, fmt.Sprintf("PNG ids %s are not in the JSON segments_info", idList(unknown)))
	}
	if len(absent) > 0 {
		msg = append(msg, fmt.Sprintf("segments %s of the JSON have no pixel in the PNG", idList(absent)))
	}
	err := newErr(path, ErrPanopticIDs, "%s", strings.Join(msg, "; ")).img(e.id)
	if !d.spec.SkipInvalid {
		return err
	}
	d.countLoadSkip(e.id, len(unknown), len(absent))
	return nil
}

// sampleIDs maps each PNG id of image e to its id in Sample.Panoptic: 0
// for void, crowd, dropped, unknown (absent from to); the first segment's
// id for a repeated stuff class. segs lists the sample's segments.
func (d *Dataset) sampleIDs(e *imageEntry, count map[int32]int) (to map[int32]int32, segs []segClass) {
	to = map[int32]int32{}
	stuffFirst := map[int]int32{}
	for _, sg := range e.segs {
		id := int32(sg.id)
		if sg.crowd || count[id] == 0 {
			continue
		}
		if !d.categories[sg.class].IsThing {
			if first, ok := stuffFirst[sg.class]; ok {
				to[id] = first
				continue
			}
			stuffFirst[sg.class] = id
		}
		to[id] = id
		segs = append(segs, segClass{id: id, class: sg.class})
	}
	return to, segs
}

// relabel returns the PNG's ids mapped through to, and the mask of every
// segment of image e (crowd and merged ones included) by PNG id.
func relabel(ids []int32, e *imageEntry, to map[int32]int32) (pan []int32, perSeg map[int32]*mask.Bits) {
	pan = make([]int32, len(ids))
	perSeg = map[int32]*mask.Bits{}
	for _, sg := range e.segs {
		perSeg[int32(sg.id)] = mask.New(e.h, e.w)
	}
	lastID, lastTo := int32(-1), int32(0)
	var lastMask *mask.Bits
	for i, id := range ids {
		if id != lastID {
			lastID, lastTo, lastMask = id, to[id], perSeg[id]
		}
		pan[i] = lastTo
		if lastMask != nil {
			lastMask.Words[i>>6] |= 1 << uint(i&63)
		}
	}
	return pan, perSeg
}

// idList formats ids, at most 10 of them.
func idList(ids []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for k, id := range ids {
		if k == 10 {
			fmt.Fprintf(&b, " … %d more", len(ids)-10)
			break
		}
		if k > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, id)
	}
	b.WriteByte(']')
	return b.String()
}
