package coco

import "github.com/mpanalyze/mpanalyze/data"

var _ data.TruthSource = (*Dataset)(nil)

// Truth returns image i's ground truth as the reference evaluators score
// it (see data.Truth), without reading the image itself: a panoptic file's
// PNG ids as they are, crowd segments included; an instance file's
// annotations painted in file order, crowd annotations included.
func (d *Dataset) Truth(i int) (*data.Truth, error) {
	s, err := d.load(i, false)
	if err != nil {
		return nil, err
	}
	return d.truthOf(s), nil
}

// SampleTruth returns sample i (as Sample) and its Truth, reading the
// files once.
func (d *Dataset) SampleTruth(i int) (*data.Sample, *data.Truth, error) {
	s, err := d.Load(i)
	if err != nil {
		return nil, nil, err
	}
	return s.Sample, d.truthOf(s), nil
}

// truthOf builds the Truth from a loaded sample's annotations.
//
// Panoptic files: the map is the PNG's (ids absent from segments_info, or
// dropped under SkipInvalid, are void) and the segments are segments_info
// in order (those without a pixel, which SkipInvalid lets through, left
// out); the objects are the thing segments.
//
// Instance files: annotations are painted in file order, later on top, as
// Load paints them, except that crowd annotations keep their pixels as a
// crowd segment instead of void. Each non-crowd thing annotation is a
// segment; the non-crowd annotations of one stuff class form one segment,
// and so do the crowd annotations of one class (panopticapi's pq_compute
// keeps one crowd region per category). Segments get ids 1, 2, ... in
// order of creation, and a segment left without a visible pixel is
// dropped. The objects are the thing annotations with their own
// (un-occluded) masks, as pycocotools evaluates them.
func (d *Dataset) truthOf(s *Sample) *data.Truth {
	t := &data.Truth{Index: s.Index, ImageID: s.ImageID, FileName: s.FileName, H: s.H, W: s.W,
		Panoptic: make([]int32, s.H*s.W)}
	for _, a := range s.Annotations {
		// A panoptic segment without pixels (SkipInvalid ignores it) is
		// no ground truth.
		if d.categories[a.Class].IsThing && !(d.format == Panoptic && a.Mask.Empty()) {
			t.Objects = append(t.Objects, data.TruthObject{ID: a.ID, Class: a.Class, Crowd: a.IsCrowd, Area: a.Area, Mask: a.Mask})
		}
	}
	if d.format == Panoptic {
		for _, a := range s.Annotations {
			if a.Mask.Empty() {
				continue
			}
			id := int32(a.ID)
			forEachSet(a.Mask, func(i int) { t.Panoptic[i] = id })
			t.Segments = append(t.Segments, data.TruthSegment{ID: id, Class: a.Class, Crowd: a.IsCrowd, Area: int(a.Area)})
		}
		return t
	}
	type key struct {
		class int
		crowd bool
	}
	merged := map[key]int32{}
	var segs []data.TruthSegment // provisional id k+1
	for _, a := range s.Annotations {
		thing := d.categories[a.Class].IsThing
		var id int32
		if thing && !a.IsCrowd {
			segs = append(segs, data.TruthSegment{Class: a.Class})
			id = int32(len(segs))
		} else if id = merged[key{a.Class, a.IsCrowd}]; id == 0 {
			segs = append(segs, data.TruthSegment{Class: a.Class, Crowd: a.IsCrowd})
			id = int32(len(segs))
			merged[key{a.Class, a.IsCrowd}] = id
		}
		forEachSet(a.Mask, func(i int) { t.Panoptic[i] = id })
	}
	renumberTruth(t, segs)
	return t
}

// renumberTruth drops the provisional segments (id k+1 = segs[k]) that
// have no pixel left in t.Panoptic and numbers the rest 1, 2, ... in
// order.
func renumberTruth(t *data.Truth, segs []data.TruthSegment) {
	area := make([]int, len(segs)+1)
	for _, id := range t.Panoptic {
		area[id]++
	}
	renum := make([]int32, len(segs)+1)
	for k, sg := range segs {
		if area[k+1] == 0 {
			continue
		}
		sg.ID = int32(len(t.Segments) + 1)
		renum[k+1] = sg.ID
		t.Segments = append(t.Segments, sg)
	}
	for i, id := range t.Panoptic {
		t.Panoptic[i] = renum[id]
	}
}

// objectArea is the area an object is scored and exported with: its
// "area" field, else its pixel count.
func objectArea(o *data.TruthObject) float64 {
	if o.Area > 0 {
		return o.Area
	}
	return float64(o.Mask.Area())
}
