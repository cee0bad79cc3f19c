package metrics

import (
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// TestPQLastCrowdOfCategory: pq_compute keeps one crowd region per
// category, the last one listed (crowd_labels_dict[category_id] =
// gt_label). 1×12 image, categories 0 (thing) and 1 (stuff):
//
//	GT   0-3: id 7 (cat 0, crowd)   4-7: id 8 (cat 0, crowd)   8-11: id 9 (cat 1)
//	pred 0-3: id 1 (cat 0)          4-7: id 2 (cat 0)          8-11: id 3 (cat 1)
//
// id 3 matches 9 exactly (TP cat 1, IoU 1). id 1 lies on crowd 7 and id 2
// on crowd 8, both of category 0; only the last listed (8) counts, so
// id 2 is ignored (4/4 > ½) and id 1 is an FP (0/4): cat 0 has TP 0, FP 1,
// FN 0 → PQ 0; with the segments listed the other way round, id 2 is the
// FP. Either way PQ all = (0 + 1)/2 = 0.5.
func TestPQLastCrowdOfCategory(t *testing.T) {
	gt := []int32{7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9}
	pr := []int32{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}
	ps := []Segment{{ID: 1, Category: 0}, {ID: 2, Category: 0}, {ID: 3, Category: 1}}
	for _, gs := range [][]Segment{
		{{ID: 7, Category: 0, Crowd: true}, {ID: 8, Category: 0, Crowd: true}, {ID: 9, Category: 1}},
		{{ID: 8, Category: 0, Crowd: true}, {ID: 7, Category: 0, Crowd: true}, {ID: 9, Category: 1}},
	} {
		e := NewPanopticEvaluator([]bool{true, false})
		e.Add(gt, gs, pr, ps)
		r := e.Result()
		if c := r.PerCategory[0]; c.TP != 0 || c.FP != 1 || c.FN != 0 {
			t.Errorf("category 0 = %+v, want exactly one FP", c)
		}
		if r.All.PQ != 0.5 || r.All.N != 2 {
			t.Errorf("PQ all = %+v, want 0.5 over 2", r.All)
		}
	}
}

// TestPQGTAreaFromJSON: pq_compute puts the GT JSON's "area" in the union.
// 1×4 image, GT id 1 (cat 0) on pixels 0-2, pred id 5 on 0-1: ∩ 2,
// union 2 + 3 − 2 = 3 → IoU 2/3 with the pixel count; with a JSON area of
// 5 the union is 2 + 5 − 2 = 5 → 2/5, no match (FP 1, FN 1).
func TestPQGTAreaFromJSON(t *testing.T) {
	gt := []int32{1, 1, 1, 0}
	pr := []int32{5, 5, 0, 0}
	ps := []Segment{{ID: 5, Category: 0}}
	e := NewPanopticEvaluator([]bool{true})
	e.Add(gt, []Segment{{ID: 1, Category: 0}}, pr, ps)
	if c := e.Result().PerCategory[0]; c.TP != 1 || !near(c.IoUSum, 2.0/3, 1e-15) {
		t.Errorf("pixel-count area: %+v, want TP 1 with IoU 2/3", c)
	}
	e.Reset()
	e.Add(gt, []Segment{{ID: 1, Category: 0, Area: 5}}, pr, ps)
	if c := e.Result().PerCategory[0]; c.TP != 0 || c.FP != 1 || c.FN != 1 {
		t.Errorf("JSON area 5: %+v, want FP 1, FN 1", c)
	}
}

// TestAPGTAreaFromJSON: COCOeval ranks a GT by its "area" field, not its
// mask. A 1×40 GT [0, 20) (20 pixels: small) with Area 5000 (medium,
// 32² ≤ 5000 ≤ 96²) detected exactly: with the field, APm = 1 and APs = −1
// (no small GT), and the other way round without it. (A perfect AP is
// 1/(1+ε) = 0.9999999999999999, as COCOeval divides by tp+fp+np.spacing(1).)
func TestAPGTAreaFromJSON(t *testing.T) {
	g := mask.FromFunc(1, 40, func(i int) bool { return i < 20 })
	for _, c := range []struct {
		area     float64
		aps, apm float64
	}{{0, 1, -1}, {5000, -1, 1}} {
		e := NewInstanceEvaluator(1, nil)
		e.Add([]Instance{{Mask: g, Area: c.area}}, []Detection{{Mask: g.Clone(), Score: 0.9}})
		r := e.Result()
		if !near(r.AP, 1, 1e-15) || !near(r.APs, c.aps, 1e-15) || !near(r.APm, c.apm, 1e-15) {
			t.Errorf("area %v: AP %v APs %v APm %v, want 1 %v %v", c.area, r.AP, r.APs, r.APm, c.aps, c.apm)
		}
	}
}
