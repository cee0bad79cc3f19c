package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// TestImageFiguresPoolToSeries: every registry figure has per-image
// values, and pooling them over the images in order (Σ Sum / Σ N) gives
// the figure's Series of the evaluators' report bit for bit, for every
// query set; with attention rows, the attention figures too.
func TestImageFiguresPoolToSeries(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const S, Q = 5, 7
	var le LayerEvaluator
	var ae AttentionEvaluator
	type pair struct {
		li *LayerImage
		ai *AttnImage
	}
	var imgs []pair
	for k := range 9 {
		img := randomCacheImage(r, S, Q, r.IntN(6), 6, 9)
		img.Index = 10 + k
		stages := make([]AttnStage, S)
		for s := range S - 1 {
			cells := (s + 1) * 4
			stages[s] = AttnStage{NumQueries: Q, Cells: cells, Unblocked: make([]bool, Q)}
			for q := range Q {
				stages[s].Blocked = append(stages[s].Blocked, make([]bool, cells)...)
				if q%3 == 0 {
					stages[s].Unblocked[q] = true
					continue
				}
				for c := range cells {
					stages[s].Blocked[q*cells+c] = r.IntN(2) == 0
				}
			}
		}
		li, ai := NewLayerImage(img), NewAttnImage(stages)
		le.AddImage(li)
		ae.AddImage(ai)
		imgs = append(imgs, pair{li, ai})
	}
	lr, ar := le.Result(), ae.Result()
	figs := &StageFigures{Layer: &lr, Attention: &ar}
	for i := range Figures {
		fg := &Figures[i]
		sets := []QuerySet{FinalMatched}
		if fg.QuerySets {
			sets = append(sets, NonEmpty, StageMatched)
		}
		for _, set := range sets {
			want := fg.Series(figs, set)
			var sum []float64
			var n []int
			for _, p := range imgs {
				f := NewImageFigures(p.li, p.ai, set)
				v, ok := f.Figures[fg.KeyFor(set)]
				if !ok {
					t.Fatalf("%s: image %d has no per-image values", fg.KeyFor(set), f.Index)
				}
				if sum == nil {
					sum, n = make([]float64, len(v)), make([]int, len(v))
				}
				for s, m := range v {
					sum[s] += m.Sum
					n[s] += m.N
				}
			}
			if len(sum) != len(want) {
				t.Fatalf("%s: %d per-image entries, series %d", fg.KeyFor(set), len(sum), len(want))
			}
			for s := range want {
				got := math.NaN()
				if n[s] > 0 {
					got = sum[s] / float64(n[s])
				}
				if got != want[s] && !(math.IsNaN(got) && math.IsNaN(want[s])) {
					t.Errorf("%s[%d]: pooled per-image values %v, series %v", fg.KeyFor(set), s, got, want[s])
				}
			}
		}
	}
	// Without attention rows the attention figures are left out; the JSON
	// names each figure by its key for the set, in registry order.
	f := NewImageFigures(imgs[0].li, nil, NonEmpty)
	if _, ok := f.Figures["attended"]; ok {
		t.Fatal("attended without attention")
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	if !strings.HasPrefix(js, `{"index":10,"consecutive_iou_non_empty":[{"sum":`) || !strings.Contains(js, `"util_a":[`) ||
		strings.Index(js, `"util_a"`) > strings.Index(js, `"empty"`) {
		t.Fatalf("JSON %s", js)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
}

// TestImageFiguresHandCase: one image of 3 stages and 2 queries, worked by
// hand. GT 0 is matched to query 1 at every stage, GT 1 to query 0 at
// stage 0 and to nothing after. Query 1's masks (4 pixels): {0,1}, {0,1},
// {0,1,2}; so its consecutive IoUs are 1 and 2/3, Util-A 1, 1, 1 over the
// one segment matched at the last stage, and the matching change 1/2 at
// 0→1 (GT 1 moves from query 0 to none) and 0 at 1→2.
func TestImageFiguresHandCase(t *testing.T) {
	bits := func(set ...int) *mask.Bits {
		return mask.FromFunc(2, 2, func(i int) bool {
			for _, j := range set {
				if i == j {
					return true
				}
			}
			return false
		})
	}
	img := &ImageStages{
		Index: 4,
		Masks: [][]*mask.Bits{{bits(3), bits(0, 1)}, {bits(3), bits(0, 1)}, {bits(), bits(0, 1, 2)}},
		Match: [][]int{{1, 0}, {1, -1}, {1, -1}},
		GT:    []*mask.Bits{bits(0, 1), bits(3)},
	}
	f := NewImageFigures(NewLayerImage(img), nil, FinalMatched)
	check := func(key string, want ...Mean) {
		t.Helper()
		got := f.Figures[key]
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", key, got, want)
		}
		for i := range want {
			if got[i].N != want[i].N || math.Abs(got[i].Sum-want[i].Sum) > 1e-15 {
				t.Fatalf("%s: %v, want %v", key, got, want)
			}
		}
	}
	check("consecutive_iou", Mean{1, 1}, Mean{2.0 / 3, 1})
	check("util_a", Mean{1, 1}, Mean{1, 1}, Mean{1, 1})
	check("match_change", Mean{1, 2}, Mean{0, 2})
	check("empty", Mean{0, 1}, Mean{0, 1}, Mean{0, 1})
}
