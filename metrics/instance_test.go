package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// apTol absorbs COCOeval's precision denominator tp+fp+np.spacing(1): a
// precision of 1 is computed as 1/(1+2.2e-16).
const apTol = 1e-12

func TestGrids(t *testing.T) {
	// np.linspace(.5, .95, 10)[5] == .75 (summarize looks AP75 up by
	// equality) and [8] is 0.8999999999999999; np.linspace(0, 1, 101)[70]
	// is 0.7000000000000001 (= 70·0.01), above 0.7.
	if iouThresholds[5] != 0.75 || iouThresholds[0] != 0.5 || iouThresholds[9] != 0.95 {
		t.Errorf("IoU thresholds %v", iouThresholds)
	}
	if iouThresholds[8] != 0.8999999999999999 {
		t.Errorf("IoU threshold 8 = %v", iouThresholds[8])
	}
	if recallThresholds[70] != 0.7000000000000001 || recallThresholds[100] != 1 || recallThresholds[1] != 0.01 {
		t.Errorf("recall thresholds %v %v", recallThresholds[70], recallThresholds[100])
	}
}

func gtStrip(w, from, to, cat int, crowd bool) Instance {
	return Instance{Mask: strip(w, from, to), Category: cat, Crowd: crowd}
}

func det(w, from, to, cat int, score float64) Detection {
	return Detection{Mask: strip(w, from, to), Category: cat, Score: score}
}

// TestAPHand: one image, one category, 1×60 masks.
//
//	GT  g0 = [0,10)  g1 = [20,30)  g2 = [40,50)        (areas 10)
//	d0 .9 [0,10)  → IoU(g0) = 1
//	d1 .8 [20,28) → IoU(g1) = 8/10 = 0.8
//	d2 .7 [2,10)  → IoU(g0) = 8/10 = 0.8 (a duplicate)
//	d3 .6 [40,46) → IoU(g2) = 6/10 = 0.6
//
// t ∈ {.50, .55, .60}: TP TP FP TP → recall 1/3 2/3 2/3 1, precision
// 1 1 2/3 3/4, envelope 1 1 3/4 3/4. Recall points 0..0.66 (67 points)
// reach precision 1, 0.67..1 (34 points) 3/4: AP_t = (67 + 25.5)/101.
// t ∈ {.65, .70, .75, .80}: d3 fails → TP TP FP FP → recall 1/3 2/3 2/3 2/3,
// envelope 1 1 2/3 1/2; points 0..0.66 → 1, the rest unreachable → 0:
// AP_t = 67/101.
// t ∈ {.85, .90, .95}: only d0 → recall 1/3: points 0..0.33 → 1: AP_t = 34/101.
//
//	AP   = (3·92.5 + 4·67 + 3·34)/1010 = 647.5/1010
//	AP50 = 92.5/101, AP75 = 67/101
//	AR   = (3·1 + 4·2/3 + 3·1/3)/10 = 2/3; AR1 (d0 only) = 1/3
//	APs  = AP (every area is 10 < 32²); APm = APl = −1 (no GT in range).
func TestAPHand(t *testing.T) {
	e := NewInstanceEvaluator(1, nil)
	e.Add(
		[]Instance{gtStrip(60, 0, 10, 0, false), gtStrip(60, 20, 30, 0, false), gtStrip(60, 40, 50, 0, false)},
		[]Detection{det(60, 20, 28, 0, .8), det(60, 0, 10, 0, .9), det(60, 40, 46, 0, .6), det(60, 2, 10, 0, .7)},
	)
	r := e.Result()
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"AP", r.AP, 647.5 / 1010},
		{"AP50", r.AP50, 92.5 / 101},
		{"AP75", r.AP75, 67.0 / 101},
		{"APs", r.APs, 647.5 / 1010},
		{"APm", r.APm, -1},
		{"APl", r.APl, -1},
		{"AR", r.AR, 2.0 / 3},
		{"AR10", r.AR10, 2.0 / 3},
		{"AR1", r.AR1, 1.0 / 3},
		{"ARs", r.ARs, 2.0 / 3},
		{"ARm", r.ARm, -1},
		{"per-category", r.PerCategoryAP[0], 647.5 / 1010},
	} {
		if !near(tc.got, tc.want, apTol) {
			t.Errorf("%s = %.17g, want %.17g", tc.name, tc.got, tc.want)
		}
	}
	if r.Categories != 1 || r.Images != 1 {
		t.Errorf("counts %+v", r)
	}
}

// TestAPCrowd: a crowd GT absorbs detections (IoU = |d∧g|/|d|), which are
// then ignored. 1×60 masks, g0 = [0,10) regular, g1 = [20,40) crowd.
//
//	d2 .95 [35,45) → crowd IoU 5/10 = 0.5: ignored at t = .50, FP above
//	d0 .90 [0,10)  → TP (IoU 1)
//	d1 .80 [22,30) → crowd IoU 8/8 = 1: ignored
//	d3 .60 [22,28) → crowd IoU 6/6 = 1: ignored (a crowd GT takes many)
//
// npig = 1. t = .50: ig TP ig ig → recall 0 1 1 1 (ignored rows repeat the
// running sums), precision 0 1 1 1 → envelope 1 → AP_t = 1.
// t ≥ .55: FP TP ig ig → recall 0 1 1 1, precision 0 1/2 1/2 1/2 → envelope
// 1/2 everywhere → AP_t = 1/2. AP = (1 + 9·½)/10 = 0.55.
// Treating g1 as a regular GT would give d1 IoU 8/20 < .5 (an FP) instead.
func TestAPCrowd(t *testing.T) {
	gt := []Instance{gtStrip(60, 0, 10, 0, false), gtStrip(60, 20, 40, 0, true)}
	dets := []Detection{det(60, 35, 45, 0, .95), det(60, 0, 10, 0, .9), det(60, 22, 30, 0, .8), det(60, 22, 28, 0, .6)}
	e := NewInstanceEvaluator(1, nil)
	e.Add(gt, dets)
	r := e.Result()
	if !near(r.AP, 0.55, apTol) || !near(r.AP50, 1, apTol) || !near(r.AP75, 0.5, apTol) {
		t.Errorf("AP %v AP50 %v AP75 %v, want 0.55, 1, 0.5", r.AP, r.AP50, r.AP75)
	}
	if !near(r.AR, 1, apTol) {
		t.Errorf("AR %v, want 1", r.AR)
	}

	// A detection stays on a regular GT rather than move to a better crowd
	// match: d = [0,12) has IoU 10/12 = .833 with regular g0 = [0,10) and
	// crowd IoU 12/12 = 1 with crowd [0,12). The crowd is listed first, but
	// GT are sorted regular first, and once d holds a regular GT the loop
	// stops at the first ignored one: TP at the 7 thresholds .50….80 (AP_t
	// = 1); at .85, .90, .95 only the crowd qualifies, d is ignored and the
	// lone regular GT is missed (AP_t = 0): AP = 7/10.
	e.Reset()
	e.Add(
		[]Instance{gtStrip(60, 0, 12, 0, true), gtStrip(60, 0, 10, 0, false)},
		[]Detection{det(60, 0, 12, 0, .9)},
	)
	if r := e.Result(); !near(r.AP, 0.7, apTol) {
		t.Errorf("regular before crowd: AP %v, want 0.7", r.AP)
	}
}

// TestAPAreaRanges: 1×200 masks with AreaScale 100, so pixel counts ×100
// are COCO areas: g_s [0,5) → 500 (small), g_m [10,30) → 2000 (medium),
// g_l [50,150) → 10000 (large). Exact detections d_s .9, d_m .8, d_l .7 and
// an unmatched d_fp [160,170) → 1000 (small) with score .95.
//
//	all:    FP TP TP TP, npig 3 → recall 0 ⅓ ⅔ 1, precision 0 ½ ⅔ ¾ → envelope ¾ → AP .75
//	small:  FP TP ig ig (d_m, d_l match GT outside the range) → envelope ½ → APs .5
//	medium: ig ig TP ig (d_fp unmatched and outside, d_s on an ignored GT) → APm 1
//	large:  likewise → APl 1
func TestAPAreaRanges(t *testing.T) {
	e := NewInstanceEvaluator(1, &InstanceSettings{AreaScale: 100})
	e.Add(
		[]Instance{gtStrip(200, 0, 5, 0, false), gtStrip(200, 10, 30, 0, false), gtStrip(200, 50, 150, 0, false)},
		[]Detection{det(200, 0, 5, 0, .9), det(200, 10, 30, 0, .8), det(200, 50, 150, 0, .7), det(200, 160, 170, 0, .95)},
	)
	r := e.Result()
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"AP", r.AP, 0.75}, {"APs", r.APs, 0.5}, {"APm", r.APm, 1}, {"APl", r.APl, 1},
		{"AR", r.AR, 1}, {"ARs", r.ARs, 1}, {"ARm", r.ARm, 1}, {"ARl", r.ARl, 1},
	} {
		if !near(tc.got, tc.want, apTol) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	// An area of exactly 32² = 1024 is inside both small [0, 1024] and
	// medium [1024, 9216] (COCOeval tests area < lo or area > hi).
	e = NewInstanceEvaluator(1, nil)
	e.Add([]Instance{gtStrip(1100, 0, 1024, 0, false)}, []Detection{det(1100, 0, 1024, 0, .5)})
	r = e.Result()
	if !near(r.APs, 1, apTol) || !near(r.APm, 1, apTol) || r.APl != -1 {
		t.Errorf("boundary: APs %v APm %v APl %v", r.APs, r.APm, r.APl)
	}
}

// TestAPRecallGrid reproduces COCOeval's recall grid rounding. 10 GT, 10
// detections in score order: 7 TP, 1 FP, 1 TP, then an FP.
// Recall 0.1..0.7 at precision 1, then 0.7 at 7/8, 0.8 at 8/9, 0.8 at 8/10;
// envelope 1 (×7), 8/9, 8/9, 8/10. Recall point 70 is 0.7000000000000001 >
// 0.7, so it reads the first recall ≥ it, 0.8, at 8/9 instead of 1.
// Points 0..69 → 1 (70 points), 70..80 → 8/9 (11 points), 81..100 → 0:
// AP = (70 + 88/9)/101 = 718/909 at every threshold (all IoUs are 1).
func TestAPRecallGrid(t *testing.T) {
	var gt []Instance
	var dets []Detection
	for i := 0; i < 10; i++ {
		gt = append(gt, gtStrip(100, 5*i, 5*i+5, 0, false))
	}
	score := 1.0
	for _, i := range []int{0, 1, 2, 3, 4, 5, 6, -1, 7, -2} {
		score -= 0.05
		if i < 0 { // a false positive in the free area [50+…)
			dets = append(dets, det(100, 60-10*i, 65-10*i, 0, score))
			continue
		}
		dets = append(dets, det(100, 5*i, 5*i+5, 0, score))
	}
	e := NewInstanceEvaluator(1, nil)
	e.Add(gt, dets)
	if r := e.Result(); !near(r.AP, 718.0/909, apTol) {
		t.Errorf("AP %.17g, want 718/909 = %.17g", r.AP, 718.0/909)
	}
}

// TestAPCategoriesAndImages: AP averages per-category APs over categories
// with GT; a category with only detections is excluded (NaN per category).
// Equal scores across images keep image order: an FP in image 0 ranks
// before a TP in image 1 → precision 0, ½ → AP ½; reversing the images
// gives TP, FP → AP 1.
func TestAPCategoriesAndImages(t *testing.T) {
	e := NewInstanceEvaluator(3, nil)
	e.Add([]Instance{gtStrip(20, 0, 5, 0, false)}, []Detection{det(20, 10, 15, 0, .5), det(20, 10, 15, 2, .9)})
	e.Add([]Instance{gtStrip(20, 0, 5, 0, false), gtStrip(20, 5, 10, 1, false)}, []Detection{det(20, 0, 5, 0, .5), det(20, 5, 10, 1, .3)})
	r := e.Result()
	// Category 0: GT in both images (npig 2): FP (img 0), TP (img 1) →
	// recall 0, ½; precision 0, ½ → envelope ½ up to recall ½, then 0:
	// 51 points (0..0.50) at ½ → 25.5/101. Category 1: 1/(1+eps) → 1.
	c0 := 25.5 / 101
	if !near(r.PerCategoryAP[0], c0, apTol) || !near(r.PerCategoryAP[1], 1, apTol) || !math.IsNaN(r.PerCategoryAP[2]) {
		t.Errorf("per category %v", r.PerCategoryAP)
	}
	if !near(r.AP, (c0+1)/2, apTol) || r.Categories != 2 || r.Images != 2 {
		t.Errorf("AP %v over %d categories", r.AP, r.Categories)
	}

	e.Reset()
	e.Add([]Instance{gtStrip(20, 0, 5, 0, false)}, []Detection{det(20, 0, 5, 0, .5)})
	e.Add([]Instance{gtStrip(20, 0, 5, 0, false)}, []Detection{det(20, 10, 15, 0, .5)})
	// TP, FP with npig 2: recall ½, ½; precision 1, ½ → 51 points at 1.
	if r := e.Result(); !near(r.AP, 51.0/101, apTol) {
		t.Errorf("reversed images: AP %v, want 51/101", r.AP)
	}
	e.Reset()
	e.Add([]Instance{gtStrip(20, 0, 5, 0, false)}, []Detection{det(20, 10, 15, 0, .5)})
	e.Add([]Instance{gtStrip(20, 0, 5, 0, false)}, []Detection{det(20, 0, 5, 0, .5)})
	if r := e.Result(); !near(r.AP, 25.5/101, apTol) {
		t.Errorf("FP first: AP %v, want 25.5/101", r.AP)
	}
}

// TestAPMaxDets: only the MaxDets best detections per image and category
// count. With MaxDets 1 the second (true) detection is dropped.
func TestAPMaxDets(t *testing.T) {
	gt := []Instance{gtStrip(20, 0, 5, 0, false), gtStrip(20, 10, 15, 0, false)}
	dets := []Detection{det(20, 0, 5, 0, .9), det(20, 10, 15, 0, .8)}
	e := NewInstanceEvaluator(1, &InstanceSettings{MaxDets: 1})
	e.Add(gt, dets)
	// One TP of 2 GT: recall ½ at precision 1 → 51/101.
	if r := e.Result(); !near(r.AP, 51.0/101, apTol) {
		t.Errorf("AP %v, want 51/101", r.AP)
	}
	e = NewInstanceEvaluator(1, nil)
	e.Add(gt, dets)
	if r := e.Result(); !near(r.AP, 1, apTol) || !near(r.AR1, 0.5, apTol) {
		t.Errorf("AP %v AR1 %v, want 1, 0.5", r.AP, r.AR1)
	}
}

// TestAPMetamorphic: a monotone transform of the scores, and adding
// detections of a category without GT, change nothing; a perfect detector
// has AP 1; no detection at all gives AP 0 (not −1).
func TestAPMetamorphic(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	type img struct {
		gt   []Instance
		dets []Detection
	}
	var imgs []img
	for i := 0; i < 15; i++ {
		var im img
		for j := 0; j < 1+rng.IntN(4); j++ {
			x := rng.IntN(50)
			im.gt = append(im.gt, Instance{Mask: strip(64, x, x+1+rng.IntN(14)), Category: rng.IntN(2), Crowd: rng.IntN(8) == 0})
		}
		for j := 0; j < rng.IntN(6); j++ {
			x := rng.IntN(50)
			im.dets = append(im.dets, Detection{Mask: strip(64, x, x+1+rng.IntN(14)), Category: rng.IntN(2), Score: rng.Float64()})
		}
		imgs = append(imgs, im)
	}
	run := func(f func(Detection) Detection, extra bool) InstanceReport {
		e := NewInstanceEvaluator(3, nil)
		for _, im := range imgs {
			var ds []Detection
			for _, d := range im.dets {
				ds = append(ds, f(d))
			}
			if extra {
				ds = append(ds, Detection{Mask: strip(64, 0, 64), Category: 2, Score: 0.99})
			}
			e.Add(im.gt, ds)
		}
		return e.Result()
	}
	id := func(d Detection) Detection { return d }
	base := run(id, false)
	for name, r := range map[string]InstanceReport{
		"monotone": run(func(d Detection) Detection { d.Score = math.Exp(3*d.Score) - 7; return d }, false),
		"extra":    run(id, true),
	} {
		for _, p := range [][2]float64{{base.AP, r.AP}, {base.AP50, r.AP50}, {base.APs, r.APs}, {base.AR, r.AR}} {
			if p[0] != p[1] {
				t.Errorf("%s: %v vs %v", name, p[0], p[1])
			}
		}
	}
	// Perfect: every non-crowd GT detected exactly.
	e := NewInstanceEvaluator(2, nil)
	for _, im := range imgs {
		var ds []Detection
		for _, g := range im.gt {
			if !g.Crowd {
				ds = append(ds, Detection{Mask: g.Mask, Category: g.Category, Score: 1})
			}
		}
		e.Add(im.gt, ds)
	}
	if r := e.Result(); !near(r.AP, 1, apTol) || !near(r.AR, 1, apTol) {
		t.Errorf("perfect detector AP %v AR %v", r.AP, r.AR)
	}
	e.Reset()
	e.Add([]Instance{gtStrip(10, 0, 3, 0, false)}, nil)
	if r := e.Result(); r.AP != 0 || r.AR != 0 {
		t.Errorf("no detections: AP %v AR %v", r.AP, r.AR)
	}
}

func TestAPEmptyMasks(t *testing.T) {
	// pycocotools' IoU with an empty mask is 0, even against an empty GT.
	e := NewInstanceEvaluator(1, nil)
	e.Add([]Instance{{Mask: mask.New(1, 4), Category: 0}}, []Detection{{Mask: mask.New(1, 4), Category: 0, Score: 1}})
	if r := e.Result(); r.AP != 0 {
		t.Errorf("empty masks matched: AP %v", r.AP)
	}
}

func TestAPPanics(t *testing.T) {
	e := NewInstanceEvaluator(2, nil)
	m := strip(4, 0, 2)
	for i, f := range []func(){
		func() { e.Add([]Instance{{Mask: m, Category: 2}}, nil) },
		func() { e.Add(nil, []Detection{{Mask: m, Category: -1}}) },
		func() { e.Add(nil, []Detection{{Mask: nil, Category: 0}}) },
		func() { e.Add(nil, []Detection{{Mask: m, Category: 0, Score: math.NaN()}}) },
		func() { e.Add([]Instance{{Mask: m}}, []Detection{{Mask: strip(5, 0, 2)}}) }, // size mismatch
		func() { NewInstanceEvaluator(0, nil) },
	} {
		if !panics(f) {
			t.Errorf("case %d: no panic", i)
		}
	}
}
