package metrics

import (
	"math"
	"testing"
)

// confFixture is a 4-class confusion matrix [gt][pred]:
//
//	gt 0: 5 1 0 0
//	gt 1: 2 3 1 0
//	gt 2: 0 0 0 0   (class 2 only predicted)
//	gt 3: 0 0 0 0   (class 3 absent from GT and prediction)
var confFixture = []int64{
	5, 1, 0, 0,
	2, 3, 1, 0,
	0, 0, 0, 0,
	0, 0, 0, 0,
}

func TestSemanticScores(t *testing.T) {
	r := SemanticScores(confFixture, 4)
	// IoU_0 = 5/(5 + FP 2 + FN 1) = 5/8; IoU_1 = 3/(3 + FP 1 + FN 3) = 3/7;
	// IoU_2 = 0/(0 + FP 1 + 0) = 0; class 3 undefined.
	wantIoU := []float64{5.0 / 8, 3.0 / 7, 0, math.NaN()}
	for c, w := range wantIoU {
		if !near(r.IoU[c], w, 1e-15) {
			t.Errorf("IoU[%d] = %v, want %v", c, r.IoU[c], w)
		}
	}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"mIoU", r.MIoU, (5.0/8 + 3.0/7 + 0) / 3},   // classes 0, 1, 2
		{"mIoU-gt", r.MIoUGT, (5.0/8 + 3.0/7) / 2},  // classes with GT: 0, 1
		{"fwIoU", r.FWIoU, 6.0/12*5/8 + 6.0/12*3/7}, // GT pixels 6 and 6 of 12
		{"mAcc", r.MAcc, (5.0/6 + 3.0/6) / 2},       // TP/GT per class
		{"pAcc", r.PAcc, 8.0 / 12},                  // (5+3)/12
		{"acc1", r.Acc[1], 0.5},                     // 3/6
		{"acc2", r.Acc[2], math.NaN()},              // no GT
		{"classes", float64(r.Classes), 3},          // 0, 1, 2
		{"pixels", float64(r.Pixels), 12},           // Σ conf
	} {
		if !near(tc.got, tc.want, 1e-15) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !panics(func() { SemanticScores(confFixture, 3) }) {
		t.Error("size mismatch: no panic")
	}
	if z := SemanticScores(make([]int64, 4), 2); z.MIoU != 0 || z.Classes != 0 || z.Pixels != 0 {
		t.Errorf("empty matrix %+v", z)
	}
}

// TestSemanticEvaluator feeds pixel maps that produce confFixture, split
// over two images and with void (255) pixels that must not count.
func TestSemanticEvaluator(t *testing.T) {
	e := NewSemanticEvaluator(4, 255)
	e.Add(
		[]int32{0, 0, 0, 0, 0, 0, 255, 255},
		[]int32{0, 0, 0, 0, 0, 1, 2, 3},
	)
	e.Add(
		[]int32{1, 1, 1, 1, 1, 1, 255},
		[]int32{0, 0, 1, 1, 1, 2, 0},
	)
	got := e.Confusion()
	for i := range confFixture {
		if got[i] != confFixture[i] {
			t.Fatalf("confusion %v, want %v", got, confFixture)
		}
	}
	if r := e.Result(); !near(r.MIoU, (5.0/8+3.0/7)/3, 1e-15) {
		t.Errorf("mIoU %v", r.MIoU)
	}
	e.Reset()
	if r := e.Result(); r.Pixels != 0 {
		t.Errorf("after Reset %+v", r)
	}
	for i, f := range []func(){
		func() { e.Add([]int32{0}, []int32{0, 1}) },
		func() { e.Add([]int32{0}, []int32{4}) },  // prediction out of range
		func() { e.Add([]int32{7}, []int32{0}) },  // GT neither class nor void
		func() { NewSemanticEvaluator(4, 2) },     // ignore label is a class
		func() { NewSemanticEvaluator(0, 255) },   // no class
		func() { e.Add([]int32{-1}, []int32{0}) }, // negative GT
	} {
		if !panics(f) {
			t.Errorf("case %d: no panic", i)
		}
	}
}
