package metrics

import "fmt"

// SemanticReport holds semantic segmentation scores computed from a
// confusion matrix over K classes, void pixels excluded. Scalars are 0 when
// nothing qualifies (see Classes and Pixels).
type SemanticReport struct {
	// MIoU is the mean of IoU_c = TP_c / (TP_c + FP_c + FN_c) over the
	// classes present in the GT or the prediction (TP+FP+FN > 0).
	MIoU float64 `json:"miou"`
	// MIoUGT is the mean of IoU_c over the classes with GT pixels, as
	// detectron2's SemSegEvaluator computes mIoU.
	MIoUGT float64 `json:"miou_gt"`
	// FWIoU is Σ_c (GT_c / Σ GT) · IoU_c over classes with GT pixels.
	FWIoU float64 `json:"fwiou"`
	// MAcc is the mean of TP_c / GT_c over classes with GT pixels; PAcc is
	// Σ TP / Σ GT.
	MAcc float64 `json:"macc"`
	PAcc float64 `json:"pacc"`
	// IoU and Acc per class; NaN (null) where undefined (IoU: TP+FP+FN = 0,
	// Acc: no GT pixel).
	IoU Series `json:"iou"`
	Acc Series `json:"acc"`
	// Classes is the number of classes in MIoU; Pixels the non-void pixels.
	Classes int   `json:"classes"`
	Pixels  int64 `json:"pixels"`
}

// SemanticScores computes the scores of a k×k confusion matrix, conf[g·k+p]
// = number of non-void pixels of GT class g predicted as class p:
//
//	TP_c = conf[c][c],  FN_c = Σ_p conf[c][p] − TP_c,  FP_c = Σ_g conf[g][c] − TP_c.
func SemanticScores(conf []int64, k int) SemanticReport {
	if k <= 0 || len(conf) != k*k {
		panic(fmt.Sprintf("metrics: confusion matrix of %d entries for %d classes", len(conf), k))
	}
	r := SemanticReport{IoU: nanSeries(k), Acc: nanSeries(k)}
	gtSum := make([]int64, k)
	predSum := make([]int64, k)
	var tpAll int64
	for g := 0; g < k; g++ {
		for p := 0; p < k; p++ {
			n := conf[g*k+p]
			if n < 0 {
				panic("metrics: negative confusion count")
			}
			gtSum[g] += n
			predSum[p] += n
			r.Pixels += n
		}
		tpAll += conf[g*k+g]
	}
	var sumIoU, sumIoUGT, sumAcc float64
	nGT := 0
	for c := 0; c < k; c++ {
		tp := conf[c*k+c]
		union := gtSum[c] + predSum[c] - tp
		if union > 0 {
			r.IoU[c] = float64(tp) / float64(union)
			sumIoU += r.IoU[c]
			r.Classes++
		}
		if gtSum[c] > 0 {
			r.Acc[c] = float64(tp) / float64(gtSum[c])
			sumAcc += r.Acc[c]
			sumIoUGT += r.IoU[c]
			r.FWIoU += float64(gtSum[c]) / float64(r.Pixels) * r.IoU[c]
			nGT++
		}
	}
	if r.Classes > 0 {
		r.MIoU = sumIoU / float64(r.Classes)
	}
	if nGT > 0 {
		r.MIoUGT = sumIoUGT / float64(nGT)
		r.MAcc = sumAcc / float64(nGT)
		r.PAcc = float64(tpAll) / float64(r.Pixels)
	}
	return r
}

// SemanticEvaluator accumulates a confusion matrix over images.
type SemanticEvaluator struct {
	k, ignore int
	conf      []int64
}

// NewSemanticEvaluator returns an evaluator for classes 0..numClasses−1;
// GT pixels equal to ignoreLabel are void and skipped (e.g. 255).
func NewSemanticEvaluator(numClasses, ignoreLabel int) *SemanticEvaluator {
	if numClasses <= 0 {
		panic(fmt.Sprintf("metrics: %d classes", numClasses))
	}
	if ignoreLabel >= 0 && ignoreLabel < numClasses {
		panic(fmt.Sprintf("metrics: ignore label %d is a class", ignoreLabel))
	}
	return &SemanticEvaluator{k: numClasses, ignore: ignoreLabel, conf: make([]int64, numClasses*numClasses)}
}

// Reset discards everything added.
func (e *SemanticEvaluator) Reset() { clear(e.conf) }

// Add adds one image: gt and pred are per-pixel class maps of equal length
// (predictions are the argmax class, in [0, K)). It panics on a length
// mismatch, a prediction outside [0, K), or a GT value that is neither a
// class nor the ignore label.
func (e *SemanticEvaluator) Add(gt, pred []int32) {
	if len(gt) != len(pred) {
		panic(fmt.Sprintf("metrics: %d GT pixels, %d predicted", len(gt), len(pred)))
	}
	for i, g := range gt {
		p := int(pred[i])
		if p < 0 || p >= e.k {
			panic(fmt.Sprintf("metrics: pixel %d predicted class %d of %d", i, p, e.k))
		}
		if int(g) == e.ignore {
			continue
		}
		if g < 0 || int(g) >= e.k {
			panic(fmt.Sprintf("metrics: pixel %d has GT %d, neither a class nor ignore %d", i, g, e.ignore))
		}
		e.conf[int(g)*e.k+p]++
	}
}

// Confusion returns a copy of the K×K confusion matrix, [gt·K + pred].
func (e *SemanticEvaluator) Confusion() []int64 { return append([]int64(nil), e.conf...) }

// Result returns SemanticScores of the accumulated confusion matrix.
func (e *SemanticEvaluator) Result() SemanticReport { return SemanticScores(e.conf, e.k) }
