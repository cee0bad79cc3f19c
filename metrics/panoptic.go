package metrics

import "fmt"

// Segment describes one segment of a panoptic segmentation: the pixels of
// an id map equal to ID. ID 0 is void and cannot be a segment.
type Segment struct {
	ID       int32
	Category int  // 0..K−1
	Crowd    bool // GT only: COCO iscrowd; ignored in predictions
	// Area is, for a GT segment, the area pq_compute uses in the IoU's
	// union: the "area" of the GT file's segments_info entry
	// (gt_segms[gt_label]['area']); 0 means the segment's pixel count in
	// the id map. Ignored in predictions, whose area is always counted
	// from the map (pred_segms[label]['area'] = label_cnt).
	Area int
}

// PQ is panoptic quality and its two factors, averaged over N categories.
type PQ struct {
	PQ float64 `json:"pq"`
	SQ float64 `json:"sq"`
	RQ float64 `json:"rq"`
	N  int     `json:"n"` // categories with TP+FP+FN > 0; all values are 0 when N = 0
}

// CategoryPQ is one category's panoptic counts and scores.
type CategoryPQ struct {
	PQ     float64 `json:"pq"`
	SQ     float64 `json:"sq"`
	RQ     float64 `json:"rq"`
	TP     int     `json:"tp"`
	FP     int     `json:"fp"`
	FN     int     `json:"fn"`
	IoUSum float64 `json:"iou_sum"` // Σ IoU over the true positives
}

// PanopticReport is the result of PanopticEvaluator.
type PanopticReport struct {
	All         PQ           `json:"all"`
	Things      PQ           `json:"things"`
	Stuff       PQ           `json:"stuff"`
	PerCategory []CategoryPQ `json:"per_category"`
	Images      int          `json:"images"`
}

// PanopticEvaluator computes PQ, SQ and RQ over a stream of images as
// panopticapi's pq_compute does. Per image, a predicted segment p and a
// non-crowd GT segment g of the same category match (a TP) when
//
//	IoU(p, g) = |p ∧ g| / (|p| + |g| − |p ∧ g| − |p ∧ void|) > 0.5,
//
// the union leaving out the predicted pixels that fall on void GT. Unmatched
// non-crowd GT segments are FN; crowd GT segments are ignored. An unmatched
// predicted segment is an FP unless more than half of its pixels lie on void
// or on the crowd GT region of its category. Per category c, over the
// dataset,
//
//	PQ_c = Σ_TP IoU / (TP + ½FP + ½FN),  SQ_c = Σ_TP IoU / TP,  RQ_c = TP / (TP + ½FP + ½FN),
//
// and PQ, SQ, RQ are the means over the categories with TP+FP+FN > 0 (all,
// things only, stuff only). It keeps per-category counts only.
//
// Each rule follows a statement of panopticapi's panopticapi/evaluation.py
// (pq_compute_single_core and PQStat.pq_average), cited in Add and Result.
// The crowd region of a category is one segment: when an image's GT lists
// several crowd segments of one category, the last one listed absorbs
// predictions, as pq_compute's crowd_labels_dict keeps the last. A GT
// segment's area is Segment.Area when set (pq_compute reads the GT JSON's
// "area"), else its pixel count.
//
// Known differences from panopticapi: a GT pixel id that no segment
// describes panics (panopticapi skips it); with no category to average, PQ,
// SQ and RQ are 0 with N = 0 (panopticapi divides by zero).
type PanopticEvaluator struct {
	isThing []bool
	stats   []CategoryPQ
	images  int
}

// NewPanopticEvaluator returns an evaluator for categories 0..K−1 with
// K = len(isThing); isThing[c] tells thing from stuff categories.
func NewPanopticEvaluator(isThing []bool) *PanopticEvaluator {
	if len(isThing) == 0 {
		panic("metrics: no panoptic category")
	}
	return &PanopticEvaluator{isThing: append([]bool(nil), isThing...), stats: make([]CategoryPQ, len(isThing))}
}

// Reset discards everything added.
func (e *PanopticEvaluator) Reset() {
	clear(e.stats)
	e.images = 0
}

// Add adds one image. gtIDs and predIDs are per-pixel segment id maps of
// equal length (0 = void, or no predicted segment); gtSegs and predSegs
// describe their segments. It panics, as panopticapi raises, on a pixel
// whose id is not 0 and not described, on a described predicted segment
// with no pixel, on duplicate or zero ids, and on categories out of range.
func (e *PanopticEvaluator) Add(gtIDs []int32, gtSegs []Segment, predIDs []int32, predSegs []Segment) {
	ov := e.overlap(gtIDs, gtSegs, predIDs, predSegs)
	e.images++
	gMatched, pMatched := e.countMatches(ov, gtSegs, predSegs)
	e.countUnmatched(ov, gtSegs, predSegs, gMatched, pMatched)
}

// panopticOverlap is one image's pixel counts: inter[gi·nP + pi] pixels
// of GT segment gi and predicted segment pi, index 0 being void on either
// side (segment i is index i+1), and the areas of the segments.
type panopticOverlap struct {
	inter        []int
	nG, nP       int
	gArea, pArea []int
}

// overlap counts the pixels of every (GT, predicted) pair of an image. A
// GT segment's area is its Segment.Area when set (gt_segms[gt_label]
// ['area'] is the JSON's area). It panics on pixel ids no segment
// describes and on predicted segments without pixels.
func (e *PanopticEvaluator) overlap(gtIDs []int32, gtSegs []Segment, predIDs []int32, predSegs []Segment) *panopticOverlap {
	if len(gtIDs) != len(predIDs) {
		panic(fmt.Sprintf("metrics: %d GT pixels, %d predicted", len(gtIDs), len(predIDs)))
	}
	gIdx := e.segIndex(gtSegs, "GT")
	pIdx := e.segIndex(predSegs, "predicted")
	nG, nP := len(gtSegs)+1, len(predSegs)+1 // index 0 = void
	ov := &panopticOverlap{inter: make([]int, nG*nP), nG: nG, nP: nP, gArea: make([]int, nG), pArea: make([]int, nP)}
	for i, gid := range gtIDs {
		gi, ok := gIdx[gid]
		if !ok {
			panic(fmt.Sprintf("metrics: pixel %d has undescribed GT id %d", i, gid))
		}
		pi, ok := pIdx[predIDs[i]]
		if !ok {
			panic(fmt.Sprintf("metrics: pixel %d has undescribed predicted id %d", i, predIDs[i]))
		}
		ov.inter[gi*nP+pi]++
	}
	for gi := 0; gi < nG; gi++ {
		for pi := 0; pi < nP; pi++ {
			ov.gArea[gi] += ov.inter[gi*nP+pi]
			ov.pArea[pi] += ov.inter[gi*nP+pi]
		}
	}
	for gi := 1; gi < nG; gi++ {
		if a := gtSegs[gi-1].Area; a > 0 {
			ov.gArea[gi] = a
		}
	}
	for pi := 1; pi < nP; pi++ {
		if ov.pArea[pi] == 0 {
			panic(fmt.Sprintf("metrics: predicted segment %d has no pixel", predSegs[pi-1].ID))
		}
	}
	return ov
}

// countMatches counts the true positives: pairs of a non-crowd GT and a
// predicted segment of its category with IoU > 0.5. It returns which
// segments (by overlap index) matched.
func (e *PanopticEvaluator) countMatches(ov *panopticOverlap, gtSegs, predSegs []Segment) (gMatched, pMatched []bool) {
	nG, nP, inter := ov.nG, ov.nP, ov.inter
	gMatched = make([]bool, nG)
	pMatched = make([]bool, nP)
	for gi := 1; gi < nG; gi++ {
		g := gtSegs[gi-1]
		// pq_compute_single_core: if gt_segms[gt_label]['iscrowd'] == 1:
		// continue — crowd GT never matches.
		if g.Crowd {
			continue
		}
		for pi := 1; pi < nP; pi++ {
			in := inter[gi*nP+pi]
			if in == 0 || predSegs[pi-1].Category != g.Category {
				continue
			}
			// union = pred area + gt area − intersection −
			// gt_pred_map.get((VOID, pred_label), 0): predicted pixels
			// on VOID leave the union.
			union := ov.pArea[pi] + ov.gArea[gi] - in - inter[0*nP+pi]
			iou := float64(in) / float64(union)
			if iou > 0.5 {
				st := &e.stats[g.Category]
				st.TP++
				st.IoUSum += iou
				gMatched[gi] = true
				pMatched[pi] = true
			}
		}
	}
	return gMatched, pMatched
}

// countUnmatched counts the unmatched non-crowd GT segments as false
// negatives and the unmatched predicted segments as false positives
// unless mostly on void or crowd.
func (e *PanopticEvaluator) countUnmatched(ov *panopticOverlap, gtSegs, predSegs []Segment, gMatched, pMatched []bool) {
	nG, nP, inter := ov.nG, ov.nP, ov.inter
	// pq_compute_single_core, "count false positives": unmatched
	// non-crowd GT are FN; crowd_labels_dict[category_id] = gt_label keeps
	// the last crowd segment listed of each category.
	crowdOf := make(map[int]int)
	for gi := 1; gi < nG; gi++ {
		g := gtSegs[gi-1]
		if gMatched[gi] {
			continue
		}
		if g.Crowd {
			crowdOf[g.Category] = gi
			continue
		}
		e.stats[g.Category].FN++
	}
	for pi := 1; pi < nP; pi++ {
		if pMatched[pi] {
			continue
		}
		// "intersection of the segment with VOID plus intersection with
		// corresponding CROWD region if it exists"; "predicted segment is
		// ignored if more than half of the segment correspond to VOID and
		// CROWD regions": if intersection / pred_info['area'] > 0.5.
		p := predSegs[pi-1]
		ignored := inter[0*nP+pi]
		if gi, ok := crowdOf[p.Category]; ok {
			ignored += inter[gi*nP+pi]
		}
		if float64(ignored)/float64(ov.pArea[pi]) > 0.5 {
			continue
		}
		e.stats[p.Category].FP++
	}
}

// segIndex maps void (0) to index 0 and segment i's id to i+1.
func (e *PanopticEvaluator) segIndex(segs []Segment, kind string) map[int32]int {
	idx := make(map[int32]int, len(segs)+1)
	idx[0] = 0
	for i, s := range segs {
		if s.ID == 0 {
			panic(fmt.Sprintf("metrics: %s segment %d has the void id 0", kind, i))
		}
		if _, dup := idx[s.ID]; dup {
			panic(fmt.Sprintf("metrics: %s segment id %d appears twice", kind, s.ID))
		}
		if s.Category < 0 || s.Category >= len(e.isThing) {
			panic(fmt.Sprintf("metrics: %s segment %d has category %d of %d", kind, s.ID, s.Category, len(e.isThing)))
		}
		idx[s.ID] = i + 1
	}
	return idx
}

// Result returns PQ, SQ, RQ for all, thing and stuff categories and the
// per-category figures (0 for a category with TP+FP+FN = 0, as
// PQStat.pq_average: "if tp + fp + fn == 0: per_class_results[label] =
// {'pq': 0.0, ...}; continue"; sq_class = iou / tp if tp != 0 else 0).
func (e *PanopticEvaluator) Result() PanopticReport {
	r := PanopticReport{PerCategory: make([]CategoryPQ, len(e.stats)), Images: e.images}
	var sums [3]PQ // all, things, stuff
	for c, st := range e.stats {
		cp := st
		if st.TP+st.FP+st.FN > 0 {
			den := float64(st.TP) + 0.5*float64(st.FP) + 0.5*float64(st.FN)
			cp.PQ = st.IoUSum / den
			cp.RQ = float64(st.TP) / den
			if st.TP > 0 {
				cp.SQ = st.IoUSum / float64(st.TP)
			}
			for i, in := range []bool{true, e.isThing[c], !e.isThing[c]} {
				if in {
					sums[i].PQ += cp.PQ
					sums[i].SQ += cp.SQ
					sums[i].RQ += cp.RQ
					sums[i].N++
				}
			}
		}
		r.PerCategory[c] = cp
	}
	for i := range sums {
		if n := float64(sums[i].N); n > 0 {
			sums[i].PQ /= n
			sums[i].SQ /= n
			sums[i].RQ /= n
		}
	}
	r.All, r.Things, r.Stuff = sums[0], sums[1], sums[2]
	return r
}
