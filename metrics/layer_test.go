package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// handImage is a 3-stage, 3-query, 2-GT image of 2×2 masks ("ab/cd"):
//
//	        q0       q1       q2      σ_s = [g0→, g1→]
//	s0    10/00    00/00    11/00     [q2, q0]
//	s1    11/00    00/00    01/00     [q0, q2]
//	s2    11/10    00/01    00/00     [q0, q1]
//	GT    g0 = 11/10, g1 = 00/01
//
// Per-query IoUs (|∧|/|∨|, IoU(∅, ∅) = 1):
//
//	s0→s1: q0 1/2, q1 1 (both ∅), q2 1/2
//	s1→s2: q0 2/3, q1 0/1 = 0, q2 0/1 = 0
//	s0→s2: q0 1/3, q1 0, q2 0 (11/00 vs ∅: 0/2)
func handImage() *ImageStages {
	return &ImageStages{
		Masks: [][]*mask.Bits{
			{pic("10/00"), pic("00/00"), pic("11/00")},
			{pic("11/00"), pic("00/00"), pic("01/00")},
			{pic("11/10"), pic("00/01"), pic("00/00")},
		},
		Match: [][]int{{2, 0}, {0, 2}, {0, 1}},
		GT:    []*mask.Bits{pic("11/10"), pic("00/01")},
	}
}

func checkMeans(t *testing.T, name string, got, want []Mean) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", name, len(got), len(want))
	}
	for i := range want {
		if got[i].N != want[i].N || !near(got[i].Sum, want[i].Sum, 1e-12) {
			t.Errorf("%s[%d] = %+v, want %+v", name, i, got[i], want[i])
		}
	}
}

func TestLayerHand(t *testing.T) {
	img := handImage()
	for _, tc := range []struct {
		name string
		got  []Mean
		want []Mean
	}{
		// FinalMatched = {q0 (g0), q1 (g1)}: s0→s1 1/2 + 1; s1→s2 2/3 + 0.
		{"consecutive/final", ConsecutiveIoU(img, FinalMatched), []Mean{{1.5, 2}, {2.0 / 3, 2}}},
		// NonEmpty: s0→s1 skips q1 (∅, ∅): 1/2 + 1/2; s1→s2 all three: 2/3 + 0 + 0.
		{"consecutive/nonempty", ConsecutiveIoU(img, NonEmpty), []Mean{{1, 2}, {2.0 / 3, 3}}},
		// StageMatched: s0 matches {q2, q0}: 1/2 + 1/2; s1 matches {q0, q2}: 2/3 + 0.
		{"consecutive/stage", ConsecutiveIoU(img, StageMatched), []Mean{{1, 2}, {2.0 / 3, 2}}},
		// To the last stage, FinalMatched {q0, q1}: s0 1/3 + 0; s1 2/3 + 0; s2 1 + 1.
		{"tofinal/final", IoUToFinal(img, FinalMatched), []Mean{{1.0 / 3, 2}, {2.0 / 3, 2}, {2, 2}}},
		// NonEmpty: s0 q0 1/3, q1 0, q2 0; s1 q0 2/3, q1 0, q2 0; s2 q0, q1 (q2 ∅ twice, skipped).
		{"tofinal/nonempty", IoUToFinal(img, NonEmpty), []Mean{{1.0 / 3, 3}, {2.0 / 3, 3}, {2, 2}}},
		// StageMatched: s0 {q2: 0, q0: 1/3}; s1 {q0: 2/3, q2: 0}; s2 {q0, q1}: 2.
		{"tofinal/stage", IoUToFinal(img, StageMatched), []Mean{{1.0 / 3, 2}, {2.0 / 3, 2}, {2, 2}}},
		// Util-A: σ_0 = [2,0] vs σ_2 = [0,1]: 0 of 2; σ_1 = [0,2]: g0 only, 1 of 2; s2: 2 of 2.
		{"utilA", UtilA(img), []Mean{{0, 2}, {1, 2}, {2, 2}}},
		// Util-B: q0's IoU to its last mask 1/3 (<.5), 2/3, 1; q1's 0, 0, 1.
		{"utilB", UtilB(img), []Mean{{0, 2}, {1, 2}, {2, 2}}},
		// Util-C: q0 vs g0 = 11/10: 1/3, 2/3, 1; q1 vs g1 = 00/01: 0, 0, 1.
		{"utilC", UtilC(img), []Mean{{0, 2}, {1, 2}, {2, 2}}},
		// Changes: s0→s1 both GT change (2→0, 0→2); s1→s2 g1 changes (2→1).
		{"change", MatchChange(img), []Mean{{2, 2}, {1, 2}}},
	} {
		checkMeans(t, tc.name, tc.got, tc.want)
	}
	// Matrix over {q0, q1}: (0,1) 1/2 + 1, (0,2) 1/3 + 0, (1,2) 2/3 + 0, diagonal 1 + 1.
	mat := StageIoUMatrix(img)
	want := [][]Mean{
		{{2, 2}, {1.5, 2}, {1.0 / 3, 2}},
		{{1.5, 2}, {2, 2}, {2.0 / 3, 2}},
		{{1.0 / 3, 2}, {2.0 / 3, 2}, {2, 2}},
	}
	for i := range want {
		checkMeans(t, "matrix", mat[i], want[i])
	}
}

// TestUtilAJump: 3 GT matched to queries 0, 1, 2 at every stage of 4, except
// that at stage 1 g0 and g1 swap queries. Util-A(1) = 1/3 (only g2 keeps its
// last-stage query), every other stage 3/3; the matching changes for 2 of 3
// GT between stages 0→1 and 1→2, and for none between 2→3.
func TestUtilAJump(t *testing.T) {
	m := pic("1")
	masks := make([][]*mask.Bits, 4)
	for s := range masks {
		masks[s] = []*mask.Bits{m, m, m, m}
	}
	img := &ImageStages{Masks: masks, Match: [][]int{{0, 1, 2}, {1, 0, 2}, {0, 1, 2}, {0, 1, 2}}}
	checkMeans(t, "utilA", UtilA(img), []Mean{{3, 3}, {1, 3}, {3, 3}, {3, 3}})
	checkMeans(t, "change", MatchChange(img), []Mean{{2, 3}, {2, 3}, {0, 3}})
	var e LayerEvaluator
	e.Add(img)
	r := e.Result()
	if !near(r.UtilA.Mean[1], 1.0/3, 1e-15) || r.UtilA.Mean[0] != 1 {
		t.Errorf("evaluator Util-A %v", r.UtilA.Mean)
	}
}

// TestLayerIdentical: when every stage equals the last and the last equals
// the GT, all IoUs and utilisations are 1 and nothing changes.
func TestLayerIdentical(t *testing.T) {
	gt := []*mask.Bits{pic("110/000"), pic("000/011")}
	other := pic("001/000") // an unmatched query
	masks := make([][]*mask.Bits, 5)
	match := make([][]int, 5)
	for s := range masks {
		masks[s] = []*mask.Bits{other, gt[1], gt[0]}
		match[s] = []int{2, 1}
	}
	var e LayerEvaluator
	e.Add(&ImageStages{Masks: masks, Match: match, GT: gt})
	r := e.Result()
	for name, c := range map[string]Curve{
		"cons/final": r.Consecutive.FinalMatched, "cons/nonempty": r.Consecutive.NonEmpty,
		"cons/stage": r.Consecutive.StageMatched, "final/final": r.ToFinal.FinalMatched,
		"utilA": r.UtilA, "utilB": r.UtilB, "utilC": r.UtilC,
	} {
		for i, v := range c.Mean {
			if v != 1 || c.ImageMean[i] != 1 {
				t.Errorf("%s[%d] = %v / %v, want 1", name, i, v, c.ImageMean[i])
			}
		}
	}
	for i, v := range r.MatchChange.Mean {
		if v != 0 {
			t.Errorf("change[%d] = %v", i, v)
		}
	}
	for i := range r.Matrix {
		for j, v := range r.Matrix[i] {
			if v != 1 {
				t.Errorf("matrix[%d][%d] = %v", i, j, v)
			}
		}
	}
	if r.NumStages != 5 || r.GT != 2 || r.FinalMatched != 2 || r.Images != 1 {
		t.Errorf("counts %+v", r)
	}
	// NonEmpty includes the unmatched query: 3 pairs per stage pair.
	if r.Consecutive.NonEmpty.N[0] != 3 {
		t.Errorf("non-empty pairs %v", r.Consecutive.NonEmpty.N)
	}
}

// randomImage draws S stages of Q random 4×4 masks (some empty) and
// injective random matchings of G ≤ Q segments.
func randomImage(rng *rand.Rand, S, Q, G int) *ImageStages {
	img := &ImageStages{Masks: make([][]*mask.Bits, S), Match: make([][]int, S)}
	for s := 0; s < S; s++ {
		img.Masks[s] = make([]*mask.Bits, Q)
		for q := range img.Masks[s] {
			p := rng.Float64()
			if rng.IntN(4) == 0 {
				p = 0
			}
			img.Masks[s][q] = mask.FromFunc(4, 4, func(int) bool { return rng.Float64() < p })
		}
		perm := rng.Perm(Q)
		img.Match[s] = perm[:G]
	}
	img.GT = make([]*mask.Bits, G)
	for g := range img.GT {
		img.GT[g] = mask.FromFunc(4, 4, func(int) bool { return rng.IntN(2) == 0 })
	}
	return img
}

func sameReport(t *testing.T, name string, a, b LayerReport) {
	t.Helper()
	ja, _ := json.Marshal(a)
	var fa, fb []float64
	flatten(&fa, a)
	flatten(&fb, b)
	if len(fa) != len(fb) {
		t.Fatalf("%s: report shapes differ", name)
	}
	for i := range fa {
		if !near(fa[i], fb[i], 1e-12) {
			t.Fatalf("%s: value %d differs: %v vs %v\n%s", name, i, fa[i], fb[i], ja)
		}
	}
}

// flatten lists every number of a report in a fixed order.
func flatten(dst *[]float64, r LayerReport) {
	add := func(c Curve) {
		*dst = append(*dst, c.Mean...)
		*dst = append(*dst, c.ImageMean...)
		for i := range c.N {
			*dst = append(*dst, float64(c.N[i]), float64(c.Images[i]))
		}
	}
	for _, qs := range []QuerySetCurves{r.Consecutive, r.ToFinal} {
		add(qs.FinalMatched)
		add(qs.NonEmpty)
		add(qs.StageMatched)
	}
	add(r.UtilA)
	add(r.UtilB)
	add(r.UtilC)
	add(r.MatchChange)
	for _, row := range r.Matrix {
		*dst = append(*dst, row...)
	}
	*dst = append(*dst, float64(r.GT), float64(r.FinalMatched), float64(r.Images), float64(r.NumStages))
}

// TestLayerPermutation: renumbering the queries (and the matchings with
// them), or reordering the GT segments, changes no figure.
func TestLayerPermutation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var base, permQ, permG LayerEvaluator
	for i := 0; i < 20; i++ {
		img := randomImage(rng, 4, 6, 1+rng.IntN(4))
		base.Add(img)

		pi := rng.Perm(6) // query q becomes pi[q]
		pq := &ImageStages{Masks: make([][]*mask.Bits, 4), Match: make([][]int, 4), GT: img.GT}
		for s := range img.Masks {
			pq.Masks[s] = make([]*mask.Bits, 6)
			for q, m := range img.Masks[s] {
				pq.Masks[s][pi[q]] = m
			}
			pq.Match[s] = make([]int, len(img.Match[s]))
			for g, q := range img.Match[s] {
				pq.Match[s][g] = pi[q]
			}
		}
		permQ.Add(pq)

		G := len(img.GT)
		rho := rng.Perm(G) // segment g becomes rho[g]
		pg := &ImageStages{Masks: img.Masks, Match: make([][]int, 4), GT: make([]*mask.Bits, G)}
		for g := range img.GT {
			pg.GT[rho[g]] = img.GT[g]
		}
		for s := range img.Match {
			pg.Match[s] = make([]int, G)
			for g, q := range img.Match[s] {
				pg.Match[s][rho[g]] = q
			}
		}
		permG.Add(pg)
	}
	sameReport(t, "queries permuted", base.Result(), permQ.Result())
	sameReport(t, "GT permuted", base.Result(), permG.Result())
}

// TestLayerEvaluatorPooling: the pooled mean weighs pairs, the image mean
// weighs images. Image 1 is handImage (FinalMatched s0→s1: 1/2 and 1);
// image 2 has one matched query whose mask goes from 10 to 01 (IoU 0).
// Pooled: (1/2 + 1 + 0)/3 = 1/2; image mean: ((1/2+1)/2 + 0)/2 = 3/8.
func TestLayerEvaluatorPooling(t *testing.T) {
	var e LayerEvaluator
	e.Add(handImage())
	e.Add(&ImageStages{
		Masks: [][]*mask.Bits{{pic("10/00")}, {pic("01/00")}, {pic("01/00")}},
		Match: [][]int{{0}, {0}, {0}},
	})
	// An image without ground truth counts only in NonEmpty (its one
	// query is non-empty at every stage: IoU 1 between stages).
	e.Add(&ImageStages{Masks: [][]*mask.Bits{{pic("11/00")}, {pic("11/00")}, {pic("11/00")}}})
	r := e.Result()
	c := r.Consecutive.FinalMatched
	if !near(c.Mean[0], 0.5, 1e-15) || !near(c.ImageMean[0], 0.375, 1e-15) || c.N[0] != 3 || c.Images[0] != 2 {
		t.Errorf("pooling: %+v", c)
	}
	// NonEmpty s0→s1: hand image 1/2 + 1/2 (2 pairs), image 2 0 (1 pair),
	// image 3 1 (1 pair): pooled 2/4; image mean (1/2 + 0 + 1)/3 = 1/2.
	ne := r.Consecutive.NonEmpty
	if !near(ne.Mean[0], 0.5, 1e-15) || !near(ne.ImageMean[0], 0.5, 1e-15) || ne.N[0] != 4 || ne.Images[0] != 3 {
		t.Errorf("non-empty: %+v", ne)
	}
	// Util-C is only defined for the hand image (the others have no GT masks):
	// stage 1 → 1 of 2.
	if r.UtilC.N[1] != 2 || r.UtilC.Mean[1] != 0.5 {
		t.Errorf("util C %+v", r.UtilC)
	}
	if r.GT != 3 || r.FinalMatched != 3 || r.Images != 3 {
		t.Errorf("counts: GT %d, final matched %d, images %d", r.GT, r.FinalMatched, r.Images)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("JSON: %v", err)
	}
	e.Reset()
	if r := e.Result(); r.Images != 0 || r.NumStages != 0 {
		t.Errorf("after Reset: %+v", r)
	}
}

// TestLayerUndefined: an entry with no pair is NaN (JSON null), with N = 0.
func TestLayerUndefined(t *testing.T) {
	var e LayerEvaluator
	e.Add(&ImageStages{Masks: [][]*mask.Bits{{pic("00")}, {pic("00")}}})
	r := e.Result()
	if !math.IsNaN(r.UtilA.Mean[0]) || r.UtilA.N[0] != 0 || !math.IsNaN(r.Consecutive.NonEmpty.Mean[0]) {
		t.Errorf("want NaN: %+v", r)
	}
	b, err := json.Marshal(r.UtilA)
	if err != nil || string(b) != `{"mean":[null,null],"image_mean":[null,null],"n":[0,0],"images":[0,0]}` {
		t.Errorf("JSON %s %v", b, err)
	}
}

func TestLayerPanics(t *testing.T) {
	m := pic("1")
	for name, img := range map[string]*ImageStages{
		"no stage":         {},
		"ragged queries":   {Masks: [][]*mask.Bits{{m, m}, {m}}},
		"nil mask":         {Masks: [][]*mask.Bits{{nil}}},
		"size":             {Masks: [][]*mask.Bits{{m, pic("11")}}},
		"match stages":     {Masks: [][]*mask.Bits{{m}, {m}}, Match: [][]int{{0}}},
		"match range":      {Masks: [][]*mask.Bits{{m}}, Match: [][]int{{1}}},
		"match duplicate":  {Masks: [][]*mask.Bits{{m, m}}, Match: [][]int{{0, 0}}},
		"match ragged":     {Masks: [][]*mask.Bits{{m, m}, {m, m}}, Match: [][]int{{0, 1}, {0}}},
		"GT count":         {Masks: [][]*mask.Bits{{m}}, Match: [][]int{{0}}, GT: []*mask.Bits{m, m}},
		"GT size":          {Masks: [][]*mask.Bits{{m}}, Match: [][]int{{0}}, GT: []*mask.Bits{pic("11")}},
		"bad match value":  {Masks: [][]*mask.Bits{{m}}, Match: [][]int{{-2}}},
		"negative matched": {Masks: [][]*mask.Bits{{m}}, Match: [][]int{{-3, 0}}},
	} {
		if !panics(func() { ConsecutiveIoU(img, FinalMatched) }) {
			t.Errorf("%s: no panic", name)
		}
	}
	var e LayerEvaluator
	e.Add(&ImageStages{Masks: [][]*mask.Bits{{m}, {m}}})
	if !panics(func() { e.Add(&ImageStages{Masks: [][]*mask.Bits{{m}}}) }) {
		t.Error("stage count change: no panic")
	}
	if !panics(func() { ConsecutiveIoU(&ImageStages{Masks: [][]*mask.Bits{{m}, {m}}}, QuerySet(7)) }) {
		t.Error("unknown query set: no panic")
	}
}
