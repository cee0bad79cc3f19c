package metrics

import (
	"fmt"
	"math"
	"slices"
)

// Curve is one dataset-level figure per stage or per stage pair.
type Curve struct {
	// Mean[i] is the pooled mean Σ_images sum_i / Σ_images n_i over all
	// (image, query) or (image, segment) pairs: the primary figure.
	Mean Series `json:"mean"`
	// ImageMean[i] is the mean over images of the per-image means
	// sum_i/n_i, over the images with n_i > 0.
	ImageMean Series `json:"image_mean"`
	// N[i] is the number of pooled pairs, Images[i] the number of images
	// that have at least one.
	N      []int `json:"n"`
	Images []int `json:"images"`
}

// curveAcc accumulates per-image Means into a Curve.
type curveAcc struct {
	sum, imgSum []float64
	n, imgN     []int
}

func newCurveAcc(n int) curveAcc {
	return curveAcc{sum: make([]float64, n), imgSum: make([]float64, n), n: make([]int, n), imgN: make([]int, n)}
}

func (a *curveAcc) add(ms []Mean) {
	for i, m := range ms {
		if m.N == 0 {
			continue
		}
		a.sum[i] += m.Sum
		a.n[i] += m.N
		a.imgSum[i] += m.Sum / float64(m.N)
		a.imgN[i]++
	}
}

func (a *curveAcc) curve() Curve {
	c := Curve{
		Mean:      nanSeries(len(a.sum)),
		ImageMean: nanSeries(len(a.sum)),
		N:         append([]int{}, a.n...),
		Images:    append([]int{}, a.imgN...),
	}
	for i := range a.sum {
		if a.n[i] > 0 {
			c.Mean[i] = a.sum[i] / float64(a.n[i])
			c.ImageMean[i] = a.imgSum[i] / float64(a.imgN[i])
		}
	}
	return c
}

// QuerySetCurves holds one consistency figure for the three query sets.
type QuerySetCurves struct {
	FinalMatched Curve `json:"final_matched"`
	NonEmpty     Curve `json:"non_empty"`
	StageMatched Curve `json:"stage_matched"`
}

// LayerReport is the dataset-level result of LayerEvaluator. All values are
// fractions; entries with nothing to average are NaN (JSON null).
type LayerReport struct {
	NumStages int `json:"num_stages"` // S; 0 when no image was added
	Images    int `json:"images"`
	// GT counts the GT segments of all images, FinalMatched those matched
	// at the last stage (the denominator of Util-A/B/C, and of the
	// FinalMatched curves' Mean).
	GT           int `json:"gt"`
	FinalMatched int `json:"final_matched"`
	// Consecutive has S−1 entries: entry s is the IoU of stages s and s+1
	// (ConsecutiveIoU).
	Consecutive QuerySetCurves `json:"consecutive_iou"`
	// ToFinal has S entries: entry s is the IoU of stage s with the last
	// stage (IoUToFinal).
	ToFinal QuerySetCurves `json:"iou_to_final"`
	// Matrix is S×S: the pooled mean IoU between stages i and j over the
	// FinalMatched queries (StageIoUMatrix).
	Matrix []Series `json:"iou_matrix"`
	// UtilA, UtilB, UtilC have S entries (UtilA, UtilB, UtilC).
	UtilA Curve `json:"util_a"`
	UtilB Curve `json:"util_b"`
	UtilC Curve `json:"util_c"`
	// MatchChange has S−1 entries: the share of GT segments whose matched
	// query changes from stage s to s+1 (MatchChange).
	MatchChange Curve `json:"match_change"`
	// More holds the figures of the registry (Figures) that have a
	// PerImage function, by key.
	More map[string]Curve `json:"more,omitempty"`
	// PerImage holds each image's sums behind the Summary, in the order
	// the images were added, for intervals by bootstrap over images.
	PerImage []ImageValues `json:"per_image,omitempty"`
}

// LayerEvaluator pools the stage metrics of many images, in detectron2's
// reset/process/evaluate shape:
//
//	var e metrics.LayerEvaluator
//	for each image {
//		e.Add(&img)
//	}
//	report := e.Result()
//
// It keeps O(S²) sums, never the masks. The zero value is ready to use. All
// images must have the same number of stages. Add does not keep img.
type LayerEvaluator struct {
	stages, images, gt, finalMatched int

	cons, toFinal              [3]curveAcc
	utilA, utilB, utilC, chang curveAcc
	more                       map[string]*curveAcc
	perImage                   []ImageValues
	matSum                     [][]float64
	matN                       [][]int
}

// Reset discards everything added.
func (e *LayerEvaluator) Reset() { *e = LayerEvaluator{} }

// Add adds one image. It panics if img is inconsistent or its stage count
// differs from the images added before.
func (e *LayerEvaluator) Add(img *ImageStages) { e.AddImage(NewLayerImage(img)) }

// LayerImage is one image's contribution to a LayerEvaluator: every
// per-image figure of the stage metrics. Computing LayerImages
// concurrently and adding them in image order gives the figures of Add,
// bit for bit: only the pooling sums depend on the order.
type LayerImage struct {
	index                      int
	stages, gt, finalMatched   int
	cons, toFinal              [3][]Mean
	matrix                     [][]Mean
	utilA, utilB, utilC, chang []Mean
	more                       map[string][]Mean // the registry's PerImage figures
}

// NewLayerImage computes the stage metrics of one image. It panics if img
// is inconsistent. It does not keep img.
func NewLayerImage(img *ImageStages) *LayerImage {
	S, _, G := img.dims()
	// A copy with a cache of popcounts: each IoU is counted once.
	c := *img
	c.cache = newPairCache(img)
	img = &c
	li := &LayerImage{index: img.Index, stages: S, gt: G, more: map[string][]Mean{}}
	if img.Match != nil {
		for _, q := range img.Match[S-1] {
			if q >= 0 {
				li.finalMatched++
			}
		}
	}
	for i, set := range []QuerySet{FinalMatched, NonEmpty, StageMatched} {
		li.cons[i] = ConsecutiveIoU(img, set)
		li.toFinal[i] = IoUToFinal(img, set)
	}
	li.matrix = StageIoUMatrix(img)
	li.utilA, li.utilB, li.utilC, li.chang = UtilA(img), UtilB(img), UtilC(img), MatchChange(img)
	for _, fg := range Figures {
		if fg.PerImage != nil {
			li.more[fg.Key] = fg.PerImage(img)
		}
	}
	return li
}

// AddImage adds one image's figures. It panics if its stage count differs
// from the images added before.
func (e *LayerEvaluator) AddImage(li *LayerImage) {
	S := li.stages
	if e.images == 0 {
		e.stages = S
		for i := range e.cons {
			e.cons[i] = newCurveAcc(S - 1)
			e.toFinal[i] = newCurveAcc(S)
		}
		e.utilA, e.utilB, e.utilC = newCurveAcc(S), newCurveAcc(S), newCurveAcc(S)
		e.chang = newCurveAcc(S - 1)
		e.more = map[string]*curveAcc{}
		for _, fg := range Figures {
			if fg.PerImage != nil {
				n := S
				if fg.Pair {
					n--
				}
				acc := newCurveAcc(n)
				e.more[fg.Key] = &acc
			}
		}
		e.matSum = make([][]float64, S)
		e.matN = make([][]int, S)
		for i := range e.matSum {
			e.matSum[i] = make([]float64, S)
			e.matN[i] = make([]int, S)
		}
	} else if S != e.stages {
		panic(fmt.Sprintf("metrics: image has %d stages, earlier images %d", S, e.stages))
	}
	e.images++
	e.gt += li.gt
	e.finalMatched += li.finalMatched
	for i := range e.cons {
		e.cons[i].add(li.cons[i])
		e.toFinal[i].add(li.toFinal[i])
	}
	for i, row := range li.matrix {
		for j, m := range row {
			e.matSum[i][j] += m.Sum
			e.matN[i][j] += m.N
		}
	}
	e.utilA.add(li.utilA)
	e.utilB.add(li.utilB)
	e.utilC.add(li.utilC)
	e.chang.add(li.chang)
	for k, ms := range li.more {
		e.more[k].add(ms)
	}
	e.perImage = append(e.perImage, ImageValues{Index: li.index, Consecutive: li.cons[0], UtilA: li.utilA})
}

// Result returns the pooled figures of the images added so far.
func (e *LayerEvaluator) Result() LayerReport {
	if e.images == 0 {
		return LayerReport{}
	}
	r := LayerReport{
		NumStages:    e.stages,
		Images:       e.images,
		GT:           e.gt,
		FinalMatched: e.finalMatched,
		Consecutive:  QuerySetCurves{e.cons[0].curve(), e.cons[1].curve(), e.cons[2].curve()},
		ToFinal:      QuerySetCurves{e.toFinal[0].curve(), e.toFinal[1].curve(), e.toFinal[2].curve()},
		UtilA:        e.utilA.curve(),
		UtilB:        e.utilB.curve(),
		UtilC:        e.utilC.curve(),
		MatchChange:  e.chang.curve(),
		Matrix:       make([]Series, e.stages),
		More:         map[string]Curve{},
		PerImage:     slices.Clone(e.perImage),
	}
	for k, acc := range e.more {
		r.More[k] = acc.curve()
	}
	for i := range r.Matrix {
		r.Matrix[i] = make(Series, e.stages)
		for j := range r.Matrix[i] {
			r.Matrix[i][j] = math.NaN()
			if n := e.matN[i][j]; n > 0 {
				r.Matrix[i][j] = e.matSum[i][j] / float64(n)
			}
		}
	}
	return r
}
