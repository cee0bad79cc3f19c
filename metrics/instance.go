package metrics

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/mpanalyze/mpanalyze/mask"
)

// Instance is a ground-truth instance for mask AP.
type Instance struct {
	Mask     *mask.Bits
	Category int  // 0..K−1
	Crowd    bool // COCO iscrowd: ignored, and may absorb any number of detections
	// Area is the area compared with the area ranges, COCO's "area"
	// field of the annotation (COCOeval.evaluateImg reads g['area']); 0
	// means the mask's pixel count times AreaScale.
	Area float64
}

// Detection is a scored predicted instance mask for mask AP.
type Detection struct {
	Mask     *mask.Bits
	Category int // 0..K−1
	Score    float64
}

// InstanceSettings configures InstanceEvaluator. The zero value (or nil)
// gives COCO's settings.
type InstanceSettings struct {
	// MaxDets is the number of highest-scoring detections kept per image
	// and category, COCOeval's maxDets[-1]; 0 means 100. AR1 and AR10 keep
	// 1 and 10.
	MaxDets int
	// AreaScale multiplies mask pixel counts before they are compared with
	// the COCO area ranges (small < 32², medium 32²–96², large > 96²);
	// 0 means 1. Use (image pixels per mask pixel), e.g. 16 for masks at
	// stride 4, to rank areas as at full resolution.
	AreaScale float64
}

// InstanceReport holds COCO mask AP and AR (COCOeval.summarize's 12
// numbers) as fractions. A value is −1 when no category has a non-ignored
// GT instance in its area range, as pycocotools reports it.
type InstanceReport struct {
	AP   float64 `json:"ap"`   // IoU .50:.05:.95, all areas, MaxDets
	AP50 float64 `json:"ap50"` // IoU .50
	AP75 float64 `json:"ap75"` // IoU .75
	APs  float64 `json:"aps"`  // GT area < 32²
	APm  float64 `json:"apm"`  // 32² ≤ GT area ≤ 96²
	APl  float64 `json:"apl"`  // GT area > 96²
	AR1  float64 `json:"ar1"`  // 1 detection per image and category
	AR10 float64 `json:"ar10"` // 10
	AR   float64 `json:"ar"`   // MaxDets
	ARs  float64 `json:"ars"`
	ARm  float64 `json:"arm"`
	ARl  float64 `json:"arl"`
	// PerCategoryAP is AP (IoU .50:.95, all areas) per category, NaN
	// (null) for a category without non-crowd GT.
	PerCategoryAP Series `json:"per_category_ap"`
	Categories    int    `json:"categories"` // categories in AP
	Images        int    `json:"images"`
}

// The evaluation grids, built exactly as COCOeval's Params does with
// np.linspace (start + i·step, the last point set to stop), so that
// comparisons at the grid points round as in pycocotools: for instance
// recall threshold 70 is 0.7000000000000001, above a recall of 7/10.
var (
	iouThresholds    = linspace(0.5, 0.95, 10)
	recallThresholds = linspace(0, 1, 101)
)

// COCO area ranges [lo, hi] (an area is out of range if < lo or > hi), in
// COCOeval's order all, small, medium, large.
var cocoAreaRanges = [4][2]float64{{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}}

const (
	areaAll = iota
	areaSmall
	areaMedium
	areaLarge
)

// linspace mirrors numpy.linspace(start, stop, num) for num ≥ 2.
func linspace(start, stop float64, num int) []float64 {
	step := (stop - start) / float64(num-1)
	out := make([]float64, num)
	for i := range out {
		out[i] = float64(i)*step + start
	}
	out[num-1] = stop
	return out
}

// apRecord is what InstanceEvaluator keeps of one detection for one area
// range: its score, its rank among its image's detections of its category,
// and per IoU threshold t (bit t) whether it matched a GT and whether it is
// ignored.
type apRecord struct {
	score   float64
	rank    int32
	tp, ign uint16
}

// InstanceEvaluator computes COCO mask AP over a stream of images the way
// pycocotools' COCOeval (iouType "segm") does: per image and category it
// matches detections, highest score first, greedily to the unmatched GT of
// best IoU ≥ t for each of the thresholds t = .50:.05:.95; it keeps only
// scores and match flags, then accumulates 101-point interpolated precision
// with the monotone precision envelope per category, area range and
// threshold, and averages over categories that have GT.
//
// Conventions, as in pycocotools (each rule cites the statement of
// cocoapi's PythonAPI/pycocotools/cocoeval.py or common/maskApi.c that it
// follows; see evalImageCategory): a crowd GT is ignored
// (COCOeval._prepare: gt['ignore'] = 'iscrowd' in gt and gt['iscrowd']);
// IoU with a crowd GT is |d ∧ g| / |d|, the intersection over the
// detection's area (maskApi.c rleIou: u = iscrowd[g] ? a[d] : a[d]+b[g]−i);
// IoU is 0 when the intersection is empty (including empty masks); a
// detection matched to a crowd GT or to a GT outside the area range is
// ignored, neither TP nor FP (evaluateImg: dtIg[tind,dind] = gtIg[m]), as
// is an unmatched detection whose own area is outside the range; a crowd
// GT can absorb any number of detections (evaluateImg: "if this gt already
// matched, and not a crowd, continue"); a detection stays with a regular
// GT rather than move to an ignored one; equal IoUs go to the later GT;
// equal scores keep image order, then detection order (argsort with
// kind='mergesort'). A GT's area is Instance.Area when set (COCO's "area"
// field, as evaluateImg compares g['area'] with the range), a detection's
// is its mask's pixel count (COCO.loadRes sets ann['area'] =
// maskUtils.area(ann['segmentation'])).
//
// Known differences from pycocotools: masks are compared at the resolution
// they are given in; categories are the indices 0..K−1 rather than the GT
// file's category list (categories without GT are left out in both); sums
// are taken in another order (differences of about 1e-16). Only iouType
// "segm" with useCats = 1 and the default thresholds exists.
type InstanceEvaluator struct {
	k      int
	set    InstanceSettings
	images int
	recs   [][4][]apRecord // [category][area range]
	npig   [][4]int        // non-ignored GT per category and area range
}

// NewInstanceEvaluator returns an evaluator for categories 0..numCategories−1.
// A nil s means the zero InstanceSettings.
func NewInstanceEvaluator(numCategories int, s *InstanceSettings) *InstanceEvaluator {
	if numCategories <= 0 {
		panic(fmt.Sprintf("metrics: %d categories", numCategories))
	}
	e := &InstanceEvaluator{k: numCategories}
	if s != nil {
		e.set = *s
	}
	if e.set.MaxDets <= 0 {
		e.set.MaxDets = 100
	}
	if e.set.AreaScale <= 0 {
		e.set.AreaScale = 1
	}
	e.Reset()
	return e
}

// Reset discards everything added.
func (e *InstanceEvaluator) Reset() {
	e.images = 0
	e.recs = make([][4][]apRecord, e.k)
	e.npig = make([][4]int, e.k)
}

// Add evaluates one image. All masks of an image must have one size; it
// panics on a category out of range, a nil mask or a NaN score.
func (e *InstanceEvaluator) Add(gt []Instance, dets []Detection) {
	gtBy := make([][]int, e.k)
	for i, g := range gt {
		if g.Category < 0 || g.Category >= e.k || g.Mask == nil {
			panic(fmt.Sprintf("metrics: GT instance %d has category %d of %d or no mask", i, g.Category, e.k))
		}
		gtBy[g.Category] = append(gtBy[g.Category], i)
	}
	dtBy := make([][]int, e.k)
	for i, d := range dets {
		if d.Category < 0 || d.Category >= e.k || d.Mask == nil || math.IsNaN(d.Score) {
			panic(fmt.Sprintf("metrics: detection %d has category %d of %d, no mask or a NaN score", i, d.Category, e.k))
		}
		dtBy[d.Category] = append(dtBy[d.Category], i)
	}
	e.images++
	for c := 0; c < e.k; c++ {
		if len(gtBy[c]) == 0 && len(dtBy[c]) == 0 {
			continue
		}
		e.evalImageCategory(c, gt, gtBy[c], dets, dtBy[c])
	}
}

// evalImageCategory is COCOeval.computeIoU + evaluateImg for one image and
// category, for all four area ranges.
func (e *InstanceEvaluator) evalImageCategory(c int, gt []Instance, gi []int, dets []Detection, di []int) {
	ic := e.computeIoU(gt, gi, dets, di)
	for a, rng := range cocoAreaRanges {
		recs, np := ic.evaluate(rng)
		e.npig[c][a] += np
		e.recs[c][a] = append(e.recs[c][a], recs...)
	}
}

// imageCategory is one image's detections and GT of one category as
// evaluateImg sees them: the detections highest score first (MaxDets
// kept), the areas that are compared with the area ranges, the crowd flags
// and the IoUs.
type imageCategory struct {
	scores []float64 // per detection
	dArea  []float64 // per detection: pixels × AreaScale
	gArea  []float64 // per GT: Instance.Area, or pixels × AreaScale
	crowd  []bool    // per GT
	ious   []float64 // [detection × GT]
}

// computeIoU sorts the detections gi of one category (highest score first,
// stable), keeps MaxDets, and computes the areas and the IoU of every
// detection with every GT di (COCOeval.computeIoU).
func (e *InstanceEvaluator) computeIoU(gt []Instance, gi []int, dets []Detection, di []int) *imageCategory {
	di = slices.Clone(di)
	slices.SortStableFunc(di, func(a, b int) int {
		switch sa, sb := dets[a].Score, dets[b].Score; {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	if len(di) > e.set.MaxDets {
		di = di[:e.set.MaxDets]
	}
	D, G := len(di), len(gi)
	ic := &imageCategory{scores: make([]float64, D), dArea: make([]float64, D), gArea: make([]float64, G), crowd: make([]bool, G), ious: make([]float64, D*G)}
	dPix := make([]int, D)
	for j, d := range di {
		ic.scores[j] = dets[d].Score
		dPix[j] = dets[d].Mask.Area()
		ic.dArea[j] = float64(dPix[j]) * e.set.AreaScale
	}
	for k, g := range gi {
		ic.gArea[k] = gt[g].Area
		if ic.gArea[k] == 0 {
			ic.gArea[k] = float64(gt[g].Mask.Area()) * e.set.AreaScale
		}
		ic.crowd[k] = gt[g].Crowd
	}
	for j, d := range di {
		for k, g := range gi {
			inter, union := mask.InterUnion(dets[d].Mask, gt[g].Mask)
			switch {
			case inter == 0:
				ic.ious[j*G+k] = 0
			case ic.crowd[k]:
				// maskApi.c rleIou: for a crowd GT the "union" is the
				// detection's own area.
				ic.ious[j*G+k] = float64(inter) / float64(dPix[j])
			default:
				ic.ious[j*G+k] = float64(inter) / float64(union)
			}
		}
	}
	return ic
}

// evaluate is evaluateImg for one area range: it returns the record of
// every detection and the number of non-ignored GT.
func (ic *imageCategory) evaluate(rng [2]float64) (recs []apRecord, np int) {
	T, G := len(iouThresholds), len(ic.gArea)
	gtIg := make([]bool, G)
	order := make([]int, G)
	for k := range gtIg {
		// evaluateImg: if g['ignore'] or (g['area']<aRng[0] or
		// g['area']>aRng[1]): g['_ignore'] = 1, where ignore is
		// iscrowd (_prepare).
		gtIg[k] = ic.crowd[k] || ic.gArea[k] < rng[0] || ic.gArea[k] > rng[1]
		order[k] = k
		if !gtIg[k] {
			np++
		}
	}
	// Regular GT first, then ignored ones, each in input order.
	slices.SortStableFunc(order, func(x, y int) int {
		return boolInt(gtIg[x]) - boolInt(gtIg[y])
	})
	recs = make([]apRecord, len(ic.scores))
	for j := range recs {
		recs[j] = apRecord{score: ic.scores[j], rank: int32(j)}
	}
	gtm := make([]bool, G)
	for t, thr := range iouThresholds {
		clear(gtm)
		ic.match(t, thr, order, gtIg, gtm, recs)
	}
	// evaluateImg: "set unmatched detections outside of area range to
	// ignore".
	for j := range recs {
		if ic.dArea[j] < rng[0] || ic.dArea[j] > rng[1] {
			unmatched := ^recs[j].tp & (1<<T - 1)
			recs[j].ign |= unmatched
		}
	}
	return recs, np
}

// match is evaluateImg's greedy matching at threshold index t (IoU thr):
// each detection, highest score first, takes the unmatched GT of best IoU
// ≥ thr, regular GT (first in order) before ignored ones. It sets bit t of
// the records' tp and ign flags; gtm marks the matched GT by position in
// order.
func (ic *imageCategory) match(t int, thr float64, order []int, gtIg, gtm []bool, recs []apRecord) {
	G := len(ic.gArea)
	for j := range recs {
		best := math.Min(thr, 1-1e-10)
		m := -1 // position in order of the best GT so far
		for p, k := range order {
			// evaluateImg: "if this gt already matched, and not
			// a crowd, continue" — a crowd GT absorbs any number
			// of detections.
			if gtm[p] && !ic.crowd[k] {
				continue
			}
			// "if dt matched to reg gt, and on ignore gt, stop"
			if m > -1 && !gtIg[order[m]] && gtIg[k] {
				break
			}
			if ic.ious[j*G+k] < best {
				continue
			}
			best = ic.ious[j*G+k]
			m = p
		}
		if m == -1 {
			continue
		}
		recs[j].tp |= 1 << t
		// evaluateImg: dtIg[tind,dind] = gtIg[m] — a detection
		// matched to a crowd (or out-of-range) GT is ignored, not
		// a false positive.
		if gtIg[order[m]] {
			recs[j].ign |= 1 << t
		}
		gtm[m] = true
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Result accumulates and summarises, as COCOeval.accumulate and summarize.
func (e *InstanceEvaluator) Result() InstanceReport {
	cells := e.accumulate()
	all := make([]int, len(iouThresholds))
	for t := range all {
		all[t] = t
	}
	r := InstanceReport{
		AP:   cells.ap(areaAll, 2, all),
		AP50: cells.ap(areaAll, 2, []int{0}),
		AP75: cells.ap(areaAll, 2, []int{5}),
		APs:  cells.ap(areaSmall, 2, all),
		APm:  cells.ap(areaMedium, 2, all),
		APl:  cells.ap(areaLarge, 2, all),
		AR1:  cells.ar(areaAll, 0),
		AR10: cells.ar(areaAll, 1),
		AR:   cells.ar(areaAll, 2),
		ARs:  cells.ar(areaSmall, 2),
		ARm:  cells.ar(areaMedium, 2),
		ARl:  cells.ar(areaLarge, 2),

		PerCategoryAP: nanSeries(e.k),
		Images:        e.images,
	}
	T, R := len(iouThresholds), len(recallThresholds)
	for c := range cells {
		if cl := cells[c][areaAll]; cl.valid {
			r.Categories++
			s := 0.0
			for t := 0; t < T; t++ {
				s += cl.prec[2][t]
			}
			r.PerCategoryAP[c] = s / float64(T*R)
		}
	}
	return r
}

// apCell is COCOeval.accumulate's result for one category and area range,
// per detection limit m (1, 10, MaxDets) and threshold t: prec, the sum
// over the recall points of the interpolated precision, and rec, the
// recall. A cell is valid when it has non-ignored GT.
type apCell struct {
	prec, rec [3][]float64
	valid     bool
}

// apCells holds the cells of every category, [category][area range].
type apCells [][4]apCell

// accumulate is COCOeval.accumulate over every category and area range.
func (e *InstanceEvaluator) accumulate() apCells {
	T := len(iouThresholds)
	maxDets := [3]int{1, 10, e.set.MaxDets}
	cells := make(apCells, e.k)
	var curve prCurve
	for c := 0; c < e.k; c++ {
		for a := range cocoAreaRanges {
			np := e.npig[c][a]
			if np == 0 {
				continue
			}
			cl := &cells[c][a]
			cl.valid = true
			recs := slices.Clone(e.recs[c][a])
			sort.SliceStable(recs, func(x, y int) bool { return recs[x].score > recs[y].score })
			for m, md := range maxDets {
				cl.prec[m] = make([]float64, T)
				cl.rec[m] = make([]float64, T)
				for t := 0; t < T; t++ {
					cl.prec[m][t], cl.rec[m][t] = curve.interpolate(recs, np, md, t)
				}
			}
		}
	}
	return cells
}

// prCurve holds the precision/recall curve of one cell, threshold and
// detection limit (reused across them).
type prCurve struct{ rc, pr []float64 }

// interpolate computes, from the records sorted by score, the
// precision/recall curve at threshold t over the detections of rank <
// md, against np non-ignored GT. It returns the sum of the interpolated
// precision at the 101 recall points (the monotone envelope, looked up
// with searchsorted(rc, r, side='left')) and the final recall.
func (cv *prCurve) interpolate(recs []apRecord, np, md, t int) (precSum, recall float64) {
	rc, pr := cv.rc[:0], cv.pr[:0]
	var tp, fp float64
	for _, r := range recs {
		if int(r.rank) >= md {
			continue
		}
		if r.ign>>t&1 == 0 {
			if r.tp>>t&1 == 1 {
				tp++
			} else {
				fp++
			}
		}
		rc = append(rc, tp/float64(np))
		pr = append(pr, tp/(fp+tp+eps))
	}
	cv.rc, cv.pr = rc, pr
	nd := len(rc)
	if nd > 0 {
		recall = rc[nd-1]
	}
	for i := nd - 1; i > 0; i-- {
		if pr[i] > pr[i-1] {
			pr[i-1] = pr[i]
		}
	}
	s := 0.0
	i := 0
	for _, r := range recallThresholds {
		for i < nd && rc[i] < r { // searchsorted(rc, r, side='left')
			i++
		}
		if i == nd {
			break
		}
		s += pr[i]
	}
	return s, recall
}

// ap is summarize's AP of area range a and detection limit m over the
// thresholds ts: the mean over valid (category, threshold, recall point),
// −1 when no category is valid.
func (cells apCells) ap(a, m int, ts []int) float64 {
	sum, n := 0.0, 0
	for c := range cells {
		if !cells[c][a].valid {
			continue
		}
		for _, t := range ts {
			sum += cells[c][a].prec[m][t]
			n += len(recallThresholds)
		}
	}
	if n == 0 {
		return -1
	}
	return sum / float64(n)
}

// ar is summarize's AR of area range a and detection limit m: the mean
// recall over valid (category, threshold), −1 when no category is valid.
func (cells apCells) ar(a, m int) float64 {
	sum, n := 0.0, 0
	for c := range cells {
		if !cells[c][a].valid {
			continue
		}
		for t := range iouThresholds {
			sum += cells[c][a].rec[m][t]
			n++
		}
	}
	if n == 0 {
		return -1
	}
	return sum / float64(n)
}

// eps is np.spacing(1), which COCOeval adds to precision denominators.
const eps = 2.220446049250313e-16
