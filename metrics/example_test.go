package metrics_test

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
)

func ExampleIoU() {
	a := mask.FromBools(2, 2, []bool{true, true, false, false})
	b := mask.FromBools(2, 2, []bool{true, false, true, false})
	fmt.Printf("%.4f\n", metrics.IoU(a, b)) // |a∧b| = 1, |a∨b| = 3
	fmt.Println(metrics.IoU(mask.New(2, 2), mask.New(2, 2)))
	// Output:
	// 0.3333
	// 1
}

func ExampleFromLogits() {
	m := metrics.FromLogits(1, 4, []float32{-2, 0, 0.1, 3}) // logit > 0 ⇔ sigmoid > 0.5
	fmt.Println(m.Bools())
	// Output: [false false true true]
}

// twoStageImage: two queries over 3 stages of 1×4 masks; GT 0 is matched to
// query 0 at every stage.
func twoStageImage() *metrics.ImageStages {
	m := func(s string) *mask.Bits {
		return mask.FromFunc(1, len(s), func(i int) bool { return s[i] == '1' })
	}
	return &metrics.ImageStages{
		Masks: [][]*mask.Bits{
			{m("1000"), m("0001")},
			{m("1100"), m("0000")},
			{m("1100"), m("0000")},
		},
		Match: [][]int{{1}, {0}, {0}},
		GT:    []*mask.Bits{m("1100")},
	}
}

func ExampleConsecutiveIoU() {
	img := twoStageImage()
	for _, set := range []metrics.QuerySet{metrics.FinalMatched, metrics.NonEmpty} {
		fmt.Print(set, ":")
		for s, m := range metrics.ConsecutiveIoU(img, set) {
			fmt.Printf(" s%d→s%d %.2f (%d)", s, s+1, m.Value(), m.N)
		}
		fmt.Println()
	}
	// Output:
	// final_matched: s0→s1 0.50 (1) s1→s2 1.00 (1)
	// non_empty: s0→s1 0.25 (2) s1→s2 1.00 (1)
}

func ExampleUtilA() {
	img := twoStageImage() // GT 0 goes to query 1 at stage 0, query 0 after
	for s, m := range metrics.UtilA(img) {
		fmt.Printf("stage %d: %.0f%%\n", s, 100*m.Value())
	}
	// Output:
	// stage 0: 0%
	// stage 1: 100%
	// stage 2: 100%
}

func ExampleLayerEvaluator() {
	var e metrics.LayerEvaluator
	e.Add(twoStageImage())
	r := e.Result()
	fmt.Println("consecutive IoU:", r.Consecutive.FinalMatched.Mean)
	fmt.Println("Util-A:", r.UtilA.Mean)
	fmt.Println("Util-B:", r.UtilB.Mean)
	fmt.Println("Util-C:", r.UtilC.Mean)
	fmt.Println("match change:", r.MatchChange.Mean)
	// Output:
	// consecutive IoU: [0.5 1]
	// Util-A: [0 1 1]
	// Util-B: [1 1 1]
	// Util-C: [1 1 1]
	// match change: [1 0]
}

func ExampleAttentionStats() {
	a := metrics.AttnStage{
		NumQueries: 2, Cells: 4,
		Blocked: []bool{
			true, true, true, false, // 1 of 4 cells attendable
			false, false, false, false, // was entirely blocked: unblocked
		},
		Unblocked: []bool{false, true},
	}
	m, _ := metrics.AttentionStats(&a)
	fmt.Printf("attended %.3f, own-mask rows %.3f, unblocked %.1f\n",
		m.Attended/float64(m.Rows), m.AttendedKept/float64(m.Kept), float64(m.Unblocked)/float64(m.Rows))
	// Output: attended 0.625, own-mask rows 0.250, unblocked 0.5
}

func ExampleSemanticScores() {
	// [gt][pred] for 2 classes: IoU_0 = 3/(3+1+1), IoU_1 = 4/(4+1+1).
	r := metrics.SemanticScores([]int64{3, 1, 1, 4}, 2)
	fmt.Printf("mIoU %.4f pAcc %.4f IoU %.4f\n", r.MIoU, r.PAcc, []float64(r.IoU))
	// Output: mIoU 0.6333 pAcc 0.7778 IoU [0.6000 0.6667]
}

func ExampleInstanceEvaluator() {
	strip := func(from, to int) *mask.Bits {
		return mask.FromFunc(1, 40, func(i int) bool { return i >= from && i < to })
	}
	e := metrics.NewInstanceEvaluator(1, nil)
	e.Add(
		[]metrics.Instance{{Mask: strip(0, 10), Category: 0}, {Mask: strip(20, 30), Category: 0}},
		[]metrics.Detection{
			{Mask: strip(0, 10), Category: 0, Score: 0.9},  // IoU 1
			{Mask: strip(20, 27), Category: 0, Score: 0.8}, // IoU 0.7
		},
	)
	r := e.Result()
	fmt.Printf("AP %.3f AP50 %.3f AP75 %.3f\n", r.AP, r.AP50, r.AP75)
	// Output: AP 0.752 AP50 1.000 AP75 0.505
}

func ExamplePanopticEvaluator() {
	e := metrics.NewPanopticEvaluator([]bool{true, false}) // a thing and a stuff class
	gt := []int32{1, 1, 1, 1, 2, 2, 2, 2}
	pred := []int32{7, 7, 7, 8, 8, 8, 8, 8}
	e.Add(gt, []metrics.Segment{{ID: 1, Category: 0}, {ID: 2, Category: 1}},
		pred, []metrics.Segment{{ID: 7, Category: 0}, {ID: 8, Category: 1}})
	r := e.Result()
	fmt.Printf("PQ %.4f SQ %.4f RQ %.0f\n", r.All.PQ, r.All.SQ, r.All.RQ)
	// Output: PQ 0.7750 SQ 0.7750 RQ 1
}
