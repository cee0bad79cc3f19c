package metrics

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// randomCacheImage makes an image of S stages, Q queries and G GT segments with
// random masks (some empty, some equal across stages) and matchings.
func randomCacheImage(r *rand.Rand, S, Q, G, h, w int) *ImageStages {
	img := &ImageStages{Masks: make([][]*mask.Bits, S), Match: make([][]int, S)}
	for s := range S {
		img.Masks[s] = make([]*mask.Bits, Q)
		for q := range Q {
			switch {
			case q%5 == 0:
				img.Masks[s][q] = mask.New(h, w) // empty
			case q%5 == 1 && s > 0:
				img.Masks[s][q] = img.Masks[s-1][q].Clone() // unchanged
			default:
				p := r.Float64()
				img.Masks[s][q] = mask.FromFunc(h, w, func(int) bool { return r.Float64() < p })
			}
		}
		perm := r.Perm(Q)
		img.Match[s] = make([]int, G)
		for g := range G {
			img.Match[s][g] = -1
			if g < Q && r.IntN(6) > 0 {
				img.Match[s][g] = perm[g]
			}
		}
	}
	for range G {
		img.GT = append(img.GT, mask.FromFunc(h, w, func(int) bool { return r.IntN(3) == 0 }))
	}
	return img
}

// TestLayerImageEqualsPerImageFunctions: NewLayerImage (with its cache of
// popcounts) gives exactly the per-image figures of the exported functions
// (which count every IoU afresh), and pooling LayerImages in order equals
// Add.
func TestLayerImageEqualsPerImageFunctions(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var viaAdd, viaImages LayerEvaluator
	for trial := range 40 {
		S, Q, G := 2+r.IntN(6), 1+r.IntN(12), r.IntN(8)
		img := randomCacheImage(r, S, Q, G, 1+r.IntN(20), 1+r.IntN(90))
		if trial%7 == 0 {
			img.Match, img.GT = nil, nil
		}
		li := NewLayerImage(img)
		if img.cache != nil {
			t.Fatal("NewLayerImage changed its argument")
		}
		for i, set := range []QuerySet{FinalMatched, NonEmpty, StageMatched} {
			if !reflect.DeepEqual(li.cons[i], ConsecutiveIoU(img, set)) || !reflect.DeepEqual(li.toFinal[i], IoUToFinal(img, set)) {
				t.Fatalf("trial %d, %v: cached IoUs differ", trial, set)
			}
		}
		if !reflect.DeepEqual(li.matrix, StageIoUMatrix(img)) || !reflect.DeepEqual(li.utilA, UtilA(img)) ||
			!reflect.DeepEqual(li.utilB, UtilB(img)) || !reflect.DeepEqual(li.utilC, UtilC(img)) || !reflect.DeepEqual(li.chang, MatchChange(img)) {
			t.Fatalf("trial %d: cached figures differ", trial)
		}
		if trial%3 == 0 { // one stage count per evaluator
			continue
		}
		img.Masks = img.Masks[:2]
		if img.Match != nil {
			img.Match = img.Match[:2]
		}
		viaAdd.Add(img)
		viaImages.AddImage(NewLayerImage(img))
	}
	if !reflect.DeepEqual(viaAdd.Result(), viaImages.Result()) {
		t.Fatal("AddImage pools differently from Add")
	}
}

// TestAttentionStatsPacked: packed rows (BlockedBits) give the figures of
// the boolean rows, bit for bit.
func TestAttentionStatsPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 50 {
		P, Q, h, w := r.IntN(3), 1+r.IntN(6), 1+r.IntN(9), 1+r.IntN(70)
		rows, cells := P+Q, h*w
		a := AttnStage{NumMP: P, NumQueries: Q, Cells: cells, Blocked: make([]bool, rows*cells), Unblocked: make([]bool, rows)}
		b := a
		b.Blocked = nil
		for row := range rows {
			p := r.Float64()
			for c := range cells {
				a.Blocked[row*cells+c] = r.Float64() < p
			}
			a.Unblocked[row] = r.IntN(4) == 0
			b.BlockedBits = append(b.BlockedBits, mask.FromBools(h, w, a.Blocked[row*cells:(row+1)*cells]))
		}
		m1, p1 := AttentionStats(&a)
		m2, p2 := AttentionStats(&b)
		if m1 != m2 || p1 != p2 {
			t.Fatalf("packed %+v %+v, bools %+v %+v", m2, p2, m1, p1)
		}
	}
	bad := AttnStage{NumQueries: 2, Cells: 4, BlockedBits: []*mask.Bits{mask.New(2, 2)}}
	if !panics(func() { AttentionStats(&bad) }) {
		t.Error("one packed row for two queries did not panic")
	}
}
