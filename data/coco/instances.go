package coco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"path/filepath"
	"strings"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// groupInstances assigns the instance annotations to their images. It
// checks only what it needs for that: ids and image ids.
func (d *Dataset) groupInstances(anns []annotationJSON, byID map[data.ImageID]*imageEntry) error {
	file := d.spec.Annotations
	seen := map[int]bool{}
	for k := range anns {
		a := &anns[k]
		if a.SegmentsInfo != nil {
			return newErr(file, ErrMalformed, "annotation %d (in file order) has segments_info: this is a panoptic file; give its PNG directory (Spec.PanopticPNGs)", k)
		}
		var err error
		switch {
		case a.ID == nil:
			err = newErr(file, ErrMalformed, "annotation %d (in file order) has no id", k)
		case seen[*a.ID]:
			err = newErr(file, ErrMalformed, "annotation id appears twice").ann(*a.ID)
		case a.ImageID == nil:
			err = newErr(file, ErrMalformed, "no image_id").ann(*a.ID)
		case byID[*a.ImageID] == nil:
			err = newErr(file, ErrUnknownImage, "image_id %s is not in the images list", *a.ImageID).ann(*a.ID)
		}
		if err != nil {
			if err := d.skip(err); err != nil {
				return err
			}
			continue
		}
		seen[*a.ID] = true
		e := byID[*a.ImageID]
		e.pending = append(e.pending, k)
	}
	return nil
}

// admit checks image e's files and annotations. It reports false (with a
// nil error) when SkipInvalid drops the image.
func (d *Dataset) admit(e *imageEntry, anns []annotationJSON, catIndex map[int]int) (bool, error) {
	if d.spec.Images != "" { // OpenTruth reads no image
		path := filepath.Join(d.spec.Images, e.fileName)
		h, w, err := checkImageFile(path)
		if err == nil && (h != e.h || w != e.w) {
			err = newErr(path, ErrSizeMismatch, "file is %d×%d (H×W), %s says %d×%d",
				h, w, filepath.Base(d.spec.Annotations), e.h, e.w)
		}
		if err != nil {
			err.(*Error).ImageID = e.id
			return false, d.skipImage(err)
		}
	}
	if d.format == Panoptic {
		return d.admitPanoptic(e, anns, catIndex)
	}
	for _, k := range e.pending {
		a, err := d.checkInstance(e, &anns[k], catIndex)
		if err != nil {
			if err := d.skip(err); err != nil {
				return false, err
			}
			continue
		}
		e.anns = append(e.anns, a)
	}
	return true, nil
}

// checkInstance validates one instance annotation of image e and parses
// its segmentation.
func (d *Dataset) checkInstance(e *imageEntry, a *annotationJSON, catIndex map[int]int) (annEntry, error) {
	fail := func(kind error, format string, args ...any) *Error {
		return newErr(d.spec.Annotations, kind, format, args...).img(e.id).ann(*a.ID)
	}
	if a.CategoryID == nil {
		return annEntry{}, fail(ErrMalformed, "no category_id")
	}
	class, ok := catIndex[*a.CategoryID]
	if !ok {
		return annEntry{}, fail(ErrUnknownCategory, "category_id %d is not in the categories list", *a.CategoryID)
	}
	crowd, err := a.IsCrowd.value("iscrowd", false)
	if err != nil {
		return annEntry{}, fail(ErrMalformed, "%v", err)
	}
	out := annEntry{id: *a.ID, class: class, crowd: crowd}
	if a.Area != nil {
		if *a.Area < 0 {
			return annEntry{}, fail(ErrMalformed, "area is %g, want ≥ 0", *a.Area)
		}
		out.area = *a.Area
	}
	seg := bytes.TrimSpace(a.Segmentation)
	switch {
	case len(seg) == 0 || string(seg) == "null":
		return annEntry{}, fail(ErrMalformed, "no segmentation")
	case seg[0] == '[':
		var polys [][]float64
		if err := json.Unmarshal(seg, &polys); err != nil {
			return annEntry{}, fail(ErrMalformed, "segmentation is not a list of polygons").wrap(err)
		}
		if len(polys) == 0 {
			return annEntry{}, fail(ErrMalformed, "segmentation is an empty list of polygons")
		}
		for j, p := range polys {
			if len(p) < 6 || len(p)%2 != 0 {
				return annEntry{}, fail(ErrMalformed, "polygon %d has %d coordinates, want an even number ≥ 6 (3 points or more)", j, len(p))
			}
			for i := 0; i < len(p); i += 2 {
				x, y := p[i], p[i+1]
				if x < -1 || x > float64(e.w+1) || y < -1 || y > float64(e.h+1) {
					return annEntry{}, fail(ErrPolygonOutside, "polygon %d, point %d at (x, y) = (%g, %g) lies more than 1 px outside the %d×%d (W×H) image", j, i/2, x, y, e.w, e.h)
				}
			}
		}
		out.polys = polys
	case seg[0] == '{':
		var r rleJSON
		if err := json.Unmarshal(seg, &r); err != nil {
			return annEntry{}, fail(ErrMalformed, "segmentation is not an RLE object").wrap(err)
		}
		if len(r.Size) != 2 {
			return annEntry{}, fail(ErrMalformed, "RLE size has %d values, want [height, width]", len(r.Size))
		}
		if r.Size[0] != e.h || r.Size[1] != e.w {
			return annEntry{}, fail(ErrSizeMismatch, "RLE size [h, w] = [%d, %d] but the image is %d×%d", r.Size[0], r.Size[1], e.h, e.w)
		}
		rle, err := parseCounts(e.h, e.w, bytes.TrimSpace(r.Counts))
		if err != nil {
			return annEntry{}, fail(ErrRLECounts, "%s", detail(err, ErrRLECounts))
		}
		if err := rle.Validate(); err != nil {
			return annEntry{}, fail(ErrRLECounts, "%s", detail(err, ErrRLECounts))
		}
		out.rle = &rle
	default:
		return annEntry{}, fail(ErrMalformed, "segmentation is neither polygons nor RLE")
	}
	return out, nil
}

// parseCounts reads an RLE's counts: a compressed string or an integer
// array.
func parseCounts(h, w int, raw []byte) (RLE, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return RLE{}, fmt.Errorf("%w: counts: %v", ErrRLECounts, err)
		}
		return ParseCompressed(h, w, s)
	}
	var c []float64
	if err := json.Unmarshal(raw, &c); err != nil || c == nil {
		return RLE{}, fmt.Errorf("%w: counts is neither a string nor an array of numbers", ErrRLECounts)
	}
	r := RLE{H: h, W: w, Counts: make([]int, len(c))}
	for i, v := range c {
		if v < 0 || v != math.Trunc(v) || v > 1<<40 {
			return RLE{}, fmt.Errorf("%w: count %d is %v, want a non-negative integer", ErrRLECounts, i, v)
		}
		r.Counts[i] = int(v)
	}
	return r, nil
}

// detail is err's text without the sentinel's own text.
func detail(err, kind error) string {
	return strings.TrimPrefix(err.Error(), kind.Error()+": ")
}

// maskOf rasterises an admitted annotation: the union of its polygons
// (pycocotools merges an annotation's polygons the same way), or its RLE.
func (a *annEntry) maskOf(h, w int) (*mask.Bits, error) {
	if a.rle != nil {
		return DecodeRLE(*a.rle)
	}
	m := mask.New(h, w)
	for _, p := range a.polys {
		pm, err := DecodeRLE(PolygonRLE(p, h, w))
		if err != nil { // cannot happen: PolygonRLE's counts add up to h·w
			return nil, err
		}
		m.Or(pm)
	}
	return m, nil
}

// loadInstances builds image e's sample from its instance annotations.
//
// Annotations are painted in file order onto the panoptic map, later ones
// on top; a crowd annotation paints void. All annotations of one stuff
// class form one segment (the data.Instance contract: one region per stuff
// class), created where the class first appears. Segments left with no
// pixel are dropped, and the rest get ids 1, 2, ... in order of creation.
func (d *Dataset) loadInstances(e *imageEntry, s *Sample) error {
	n := e.h * e.w
	pan := make([]int32, n)
	var classes []int // provisional segment id - 1 → class
	stuffSeg := map[int]int32{}
	for _, a := range e.anns {
		m, err := a.maskOf(e.h, e.w)
		if err != nil {
			return newErr(d.spec.Annotations, ErrRLECounts, "%s", detail(err, ErrRLECounts)).img(e.id).ann(a.id)
		}
		var id int32
		if !a.crowd {
			if d.categories[a.class].IsThing {
				classes = append(classes, a.class)
				id = int32(len(classes))
			} else if id = stuffSeg[a.class]; id == 0 {
				classes = append(classes, a.class)
				id = int32(len(classes))
				stuffSeg[a.class] = id
			}
		}
		forEachSet(m, func(i int) { pan[i] = id })
		s.Annotations = append(s.Annotations, Annotation{ID: a.id, Class: a.class, IsCrowd: a.crowd, Area: a.area, Mask: m, Segment: id})
	}
	// Renumber the surviving segments 1, 2, ... in order of creation.
	area := make([]int, len(classes)+1)
	for _, id := range pan {
		area[id]++
	}
	renum := make([]int32, len(classes)+1)
	next := int32(0)
	for id := 1; id <= len(classes); id++ {
		if area[id] > 0 {
			next++
			renum[id] = next
		}
	}
	for i, id := range pan {
		pan[i] = renum[id]
	}
	for k := range s.Annotations {
		s.Annotations[k].Segment = renum[s.Annotations[k].Segment]
	}
	var segs []segClass
	for id := 1; id <= len(classes); id++ {
		if renum[id] != 0 {
			segs = append(segs, segClass{id: renum[id], class: classes[id-1]})
		}
	}
	d.fillFromPanoptic(s.Sample, pan, segs)
	return nil
}

// segClass is one segment of a panoptic map and its class.
type segClass struct {
	id    int32
	class int
}

// fillFromPanoptic sets smp's Panoptic map to pan (0 = void) and derives
// Instances, one per entry of segs and in that order, and Semantic. Every
// non-zero id in pan must be in segs, and every segment must have pixels.
func (d *Dataset) fillFromPanoptic(smp *data.Sample, pan []int32, segs []segClass) {
	index := make(map[int32]int, len(segs))
	masks := make([]*mask.Bits, len(segs))
	for k, sg := range segs {
		index[sg.id] = k
		masks[k] = mask.New(smp.H, smp.W)
	}
	sem := make([]int32, len(pan))
	lastID, last := int32(0), -1
	for i, id := range pan {
		if id == 0 {
			sem[i] = data.Void
			continue
		}
		if id != lastID {
			lastID, last = id, index[id]
		}
		sem[i] = int32(segs[last].class)
		masks[last].Words[i>>6] |= 1 << uint(i&63)
	}
	smp.Panoptic, smp.Semantic = pan, sem
	for k, sg := range segs {
		smp.Instances = append(smp.Instances, data.Instance{
			Class: sg.class, IsThing: d.categories[sg.class].IsThing, ID: int(sg.id), Mask: masks[k]})
	}
}

// forEachSet calls f for every set pixel of m, in increasing order.
func forEachSet(m *mask.Bits, f func(i int)) {
	for wi, w := range m.Words {
		for w != 0 {
			f(wi<<6 | bits.TrailingZeros64(w))
			w &= w - 1
		}
	}
}
