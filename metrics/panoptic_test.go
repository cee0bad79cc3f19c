package metrics

import (
	"encoding/json"
	"testing"
)

// Categories: 0, 1 things, 2, 3 stuff (3 never appears).
var panCats = []bool{true, true, false, false}

// panImage1 is a 1×20 image (pixel index = column):
//
//	GT    0-5: id 1 (cat 0)   6-9: id 2 (cat 0, crowd)   10-13: id 3 (cat 2)
//	      14-15: void          16-19: id 4 (cat 1)
//	pred  0-4: 10 (cat 0)   5-8: 11 (cat 0)   9, 14, 15: 12 (cat 1)
//	      10-12: 13 (cat 2)   13, 16, 17: 14 (cat 1)   18-19: void
//
//	10 vs 1:  ∩ 5, union 5 + 6 − 5 − 0 (void) = 6 → 5/6 > ½: TP cat 0
//	11:       vs 1: ∩ 1, union 4+6−1 = 9 → 1/9; unmatched; on void 0 + on
//	          crowd of cat 0 (id 2) 3 → 3/4 > ½: not an FP
//	12:       cat 1, on void 2 (14, 15), on crowd of cat 0 (not its class)
//	          → 2/3 > ½: not an FP
//	13 vs 3:  ∩ 3, union 3 + 4 − 3 = 4 → 3/4: TP cat 2
//	14 vs 4:  ∩ 2, union 3 + 4 − 2 = 5 → 2/5: no match; on void 0 → FP cat 1
//	4:        unmatched → FN cat 1;  2: crowd, ignored
var (
	panGT1 = []int32{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 0, 0, 4, 4, 4, 4}
	panPr1 = []int32{10, 10, 10, 10, 10, 11, 11, 11, 11, 12, 13, 13, 13, 14, 12, 12, 14, 14, 0, 0}
	segG1  = []Segment{{ID: 1, Category: 0}, {ID: 2, Category: 0, Crowd: true}, {ID: 3, Category: 2}, {ID: 4, Category: 1}}
	segP1  = []Segment{{ID: 10, Category: 0}, {ID: 11, Category: 0}, {ID: 12, Category: 1}, {ID: 13, Category: 2}, {ID: 14, Category: 1}}
)

// panImage2 (1×8) shows the void term of the union: GT 0-3 id 1 (cat 1),
// 4-7 void; pred 1-7 id 5 (cat 1): ∩ 3, union 7 + 4 − 3 − 4 (void) = 4 →
// 3/4: TP cat 1 (without the void term 3/8, no match).
var (
	panGT2 = []int32{1, 1, 1, 1, 0, 0, 0, 0}
	panPr2 = []int32{0, 5, 5, 5, 5, 5, 5, 5}
	segG2  = []Segment{{ID: 1, Category: 1}}
	segP2  = []Segment{{ID: 5, Category: 1}}
)

func TestPQHand(t *testing.T) {
	e := NewPanopticEvaluator(panCats)
	e.Add(panGT1, segG1, panPr1, segP1)
	r := e.Result()
	// cat 0: TP 1 (5/6) → PQ = SQ = 5/6, RQ 1. cat 1: FP 1, FN 1 → 0/(0+½+½)
	// = 0, SQ 0, RQ 0. cat 2: TP 1 (3/4) → PQ = SQ = 3/4, RQ 1. cat 3: unused.
	want := []CategoryPQ{
		{PQ: 5.0 / 6, SQ: 5.0 / 6, RQ: 1, TP: 1, IoUSum: 5.0 / 6},
		{FP: 1, FN: 1},
		{PQ: 0.75, SQ: 0.75, RQ: 1, TP: 1, IoUSum: 0.75},
		{},
	}
	for c, w := range want {
		g := r.PerCategory[c]
		if g.TP != w.TP || g.FP != w.FP || g.FN != w.FN || !near(g.PQ, w.PQ, 1e-15) || !near(g.SQ, w.SQ, 1e-15) || !near(g.RQ, w.RQ, 1e-15) || !near(g.IoUSum, w.IoUSum, 1e-15) {
			t.Errorf("category %d = %+v, want %+v", c, g, w)
		}
	}
	// All: (5/6 + 0 + 3/4)/3 for PQ and SQ, (1+0+1)/3 for RQ over N = 3.
	// Things (0, 1): PQ = SQ = (5/6)/2, RQ ½. Stuff (2; 3 unused): ¾, ¾, 1.
	checkPQ(t, "all", r.All, PQ{PQ: (5.0/6 + 0.75) / 3, SQ: (5.0/6 + 0.75) / 3, RQ: 2.0 / 3, N: 3})
	checkPQ(t, "things", r.Things, PQ{PQ: 5.0 / 12, SQ: 5.0 / 12, RQ: 0.5, N: 2})
	checkPQ(t, "stuff", r.Stuff, PQ{PQ: 0.75, SQ: 0.75, RQ: 1, N: 1})

	// Adding image 2: cat 1 becomes TP 1 (¾), FP 1, FN 1 → PQ ¾/2 = 3/8,
	// SQ ¾, RQ ½. All: PQ (5/6 + 3/8 + 3/4)/3, SQ (5/6 + 3/4 + 3/4)/3,
	// RQ (1 + ½ + 1)/3.
	e.Add(panGT2, segG2, panPr2, segP2)
	r = e.Result()
	checkPQ(t, "all+2", r.All, PQ{PQ: (5.0/6 + 3.0/8 + 0.75) / 3, SQ: (5.0/6 + 0.75 + 0.75) / 3, RQ: 2.5 / 3, N: 3})
	if r.Images != 2 {
		t.Errorf("images %d", r.Images)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Error(err)
	}
	e.Reset()
	if r := e.Result(); r.All.N != 0 || r.Images != 0 || r.All.PQ != 0 {
		t.Errorf("after Reset %+v", r.All)
	}
}

func checkPQ(t *testing.T, name string, got, want PQ) {
	t.Helper()
	if got.N != want.N || !near(got.PQ, want.PQ, 1e-15) || !near(got.SQ, want.SQ, 1e-15) || !near(got.RQ, want.RQ, 1e-15) {
		t.Errorf("%s = %+v, want %+v", name, got, want)
	}
}

// TestPQPerfect: a prediction equal to the GT (ids renumbered) scores 1.
func TestPQPerfect(t *testing.T) {
	e := NewPanopticEvaluator(panCats)
	pred := make([]int32, len(panGT1))
	for i, id := range panGT1 {
		if id != 0 {
			pred[i] = 100 + id
		}
	}
	var segs []Segment
	// The crowd region predicted as its class (id 102) is not an FP: all of
	// it lies on crowd GT of its category.
	for _, s := range segG1 {
		segs = append(segs, Segment{ID: 100 + s.ID, Category: s.Category})
	}
	e.Add(panGT1, segG1, pred, segs)
	checkPQ(t, "perfect", e.Result().All, PQ{PQ: 1, SQ: 1, RQ: 1, N: 3})
}

func TestPQPanics(t *testing.T) {
	e := NewPanopticEvaluator(panCats)
	for i, f := range []func(){
		func() { e.Add([]int32{1}, []Segment{{ID: 1}}, []int32{0, 0}, nil) },                            // lengths
		func() { e.Add([]int32{1}, nil, []int32{0}, nil) },                                              // undescribed GT id
		func() { e.Add([]int32{0}, nil, []int32{3}, nil) },                                              // undescribed predicted id
		func() { e.Add([]int32{0}, nil, []int32{0}, []Segment{{ID: 3}}) },                               // predicted segment without pixels
		func() { e.Add([]int32{0}, []Segment{{ID: 0}}, []int32{0}, nil) },                               // void id
		func() { e.Add([]int32{1}, []Segment{{ID: 1}, {ID: 1}}, []int32{0}, nil) },                      // duplicate
		func() { e.Add([]int32{1}, []Segment{{ID: 1, Category: 4}}, []int32{0}, nil) },                  // category
		func() { NewPanopticEvaluator(nil) },                                                            // no category
		func() { e.Add([]int32{0}, nil, []int32{2}, []Segment{{ID: 2, Category: -1}}) },                 // category
		func() { e.Add([]int32{1, 1}, []Segment{{ID: 1}}, []int32{2, 2}, []Segment{{ID: 2}, {ID: 2}}) }, // duplicate pred
	} {
		if !panics(f) {
			t.Errorf("case %d: no panic", i)
		}
	}
}
