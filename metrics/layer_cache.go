package metrics

import "github.com/mpanalyze/mpanalyze/mask"

// pairCache memoises the popcounts of one image's stage metrics: every
// mask's area, and the intersection of a query's masks at two stages, so
// that NewLayerImage computes each IoU once (the consecutive, to-final and
// matrix figures share most pairs) with one popcount per word (the union
// is |a| + |b| − |a ∧ b|). The IoU values are those of IoU and iouAtLeast,
// bit for bit: the same integer counts enter the same division.
type pairCache struct {
	S, Q   int
	area   []int // area[s·Q + q], −1 until computed
	inter  []int // inter[(s·S + t)·Q + q] for s < t, −1 until computed
	gtArea []int // GT masks' areas, −1 until computed
}

func newPairCache(img *ImageStages) *pairCache {
	S, Q := len(img.Masks), len(img.Masks[0])
	c := &pairCache{S: S, Q: Q, area: make([]int, S*Q), inter: make([]int, S*S*Q), gtArea: make([]int, len(img.GT))}
	for _, v := range [][]int{c.area, c.inter, c.gtArea} {
		for i := range v {
			v[i] = -1
		}
	}
	return c
}

func (c *pairCache) maskArea(img *ImageStages, s, q int) int {
	a := &c.area[s*c.Q+q]
	if *a < 0 {
		*a = img.Masks[s][q].Area()
	}
	return *a
}

// counts returns |B_q^s ∧ B_q^t| and |B_q^s ∨ B_q^t|.
func (c *pairCache) counts(img *ImageStages, s, t, q int) (inter, union int) {
	if s == t {
		a := c.maskArea(img, s, q)
		return a, a
	}
	if s > t {
		s, t = t, s
	}
	p := &c.inter[(s*c.S+t)*c.Q+q]
	if *p < 0 {
		*p = mask.Intersection(img.Masks[s][q], img.Masks[t][q])
	}
	return *p, c.maskArea(img, s, q) + c.maskArea(img, t, q) - *p
}

// maskIoU is IoU(B_q^s, B_q^t), through the cache when img has one.
func (img *ImageStages) maskIoU(s, t, q int) float64 {
	if img.cache == nil {
		return IoU(img.Masks[s][q], img.Masks[t][q])
	}
	inter, union := img.cache.counts(img, s, t, q)
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// maskIoUAtLeast is iouAtLeast(B_q^s, B_q^t, thr).
func (img *ImageStages) maskIoUAtLeast(s, t, q int, thr float64) bool {
	if img.cache == nil {
		return iouAtLeast(img.Masks[s][q], img.Masks[t][q], thr)
	}
	inter, union := img.cache.counts(img, s, t, q)
	return float64(inter) >= thr*float64(union)
}

// gtIoUAtLeast is iouAtLeast(B_q^s, GT_g, thr).
func (img *ImageStages) gtIoUAtLeast(s, q, g int, thr float64) bool {
	if img.cache == nil {
		return iouAtLeast(img.Masks[s][q], img.GT[g], thr)
	}
	c := img.cache
	if c.gtArea[g] < 0 {
		c.gtArea[g] = img.GT[g].Area()
	}
	inter := mask.Intersection(img.Masks[s][q], img.GT[g])
	union := c.maskArea(img, s, q) + c.gtArea[g] - inter
	return float64(inter) >= thr*float64(union)
}

// maskEmpty reports whether B_q^s is empty.
func (img *ImageStages) maskEmpty(s, q int) bool {
	if img.cache == nil {
		return img.Masks[s][q].Empty()
	}
	return img.cache.maskArea(img, s, q) == 0
}
