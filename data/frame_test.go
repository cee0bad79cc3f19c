package data

import (
	"fmt"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/mask"
)

// TestLetterboxFrameHandComputed checks the policy on a 3×5 (H×W) image at
// S = 8: t = 8/5, SW×SH = 8×round(4.8) = 8×5; rows 5..7 are padding.
// Model column X samples floor((X+0.5)·5/8): 0.3125→0, 0.9375→0, 1.5625→1,
// 2.1875→2, 2.8125→2, 3.4375→3, 4.0625→4, 4.6875→4. Model row Y samples
// floor((Y+0.5)·3/5): 0.3→0, 0.9→0, 1.5→1, 2.1→2, 2.7→2, then padding.
// Inverse: source column x is carried back by the run of model columns
// that sample it, choosing floor((x+0.5)·8/5) inside the run: x=0 → runs
// {0,1}, floor(0.8)=0 → 0; x=1 → {2}; x=2 → {3,4}, floor(4)=4 → 4; x=3 →
// {5}; x=4 → {6,7}, floor(7.2)=7 → 7. Source row y: y=0 → {0,1},
// floor(0.8333)=0 → 0; y=1 → {2}; y=2 → {3,4}, floor(4.1667)=4 → 4.
func TestLetterboxFrameHandComputed(t *testing.T) {
	f := LetterboxFrame(3, 5, 8)
	if f.SW != 8 || f.SH != 5 || f.OffX != 0 || f.OffY != 0 || f.Flip {
		t.Fatalf("frame %+v", f)
	}
	eq := func(name string, got, want []int) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	eq("source columns", f.SourceColumns(), []int{0, 0, 1, 2, 2, 3, 4, 4})
	eq("source rows", f.SourceRows(), []int{0, 0, 1, 2, 2, -1, -1, -1})
	eq("model columns", f.ModelColumns(), []int{0, 2, 4, 5, 7})
	eq("model rows", f.ModelRows(), []int{0, 2, 4})
}

// TestFrameRoundTrips checks the two exactness properties of the inverse
// for many sizes and aspects: upscaling, image → model → image is the
// identity; downscaling, model → image → model is the identity on the
// scaled image.
func TestFrameRoundTrips(t *testing.T) {
	r := rng.New(7)
	for trial := 0; trial < 400; trial++ {
		h, w := 1+r.IntN(300), 1+r.IntN(300)
		s := 4 * (1 + r.IntN(64))
		f := LetterboxFrame(h, w, s)
		up := f.SW >= w && f.SH >= h
		down := f.SW <= w && f.SH <= h
		if !up && !down {
			continue
		}
		// A random id map in the image frame.
		ids := make([]int32, h*w)
		for i := range ids {
			ids[i] = int32(r.IntN(5))
		}
		if up {
			toModel := make([]int32, s*s)
			cols, rows := f.SourceColumns(), f.SourceRows()
			for y, sy := range rows {
				for x, sx := range cols {
					if sy >= 0 && sx >= 0 {
						toModel[y*s+x] = ids[sy*w+sx]
					}
				}
			}
			back := f.IDsToImage(toModel, -1)
			for i := range ids {
				if back[i] != ids[i] {
					t.Fatalf("%d×%d at S=%d (up): pixel %d: %d → model → %d", h, w, s, i, ids[i], back[i])
				}
			}
		}
		if down {
			model := make([]int32, s*s)
			for i := range model {
				model[i] = int32(r.IntN(5))
			}
			img := f.IDsToImage(model, -1)
			cols, rows := f.SourceColumns(), f.SourceRows()
			for y, sy := range rows {
				for x, sx := range cols {
					if sy < 0 || sx < 0 {
						continue
					}
					if got := img[sy*w+sx]; got != model[y*s+x] {
						t.Fatalf("%d×%d at S=%d (down): model pixel (%d,%d): %d → image → %d", h, w, s, x, y, model[y*s+x], got)
					}
				}
			}
		}
	}
}

// TestFrameMaskMatchesIDs checks MaskToImage against IDsToImage, with a
// flip and a window offset (the augmented case), where the window does
// not cover the whole image: pixels outside it come back empty.
func TestFrameMaskMatchesIDs(t *testing.T) {
	r := rng.New(3)
	for _, p := range []AugParams{{Scale: 1}, {Scale: 1.7, OffX: 9, OffY: 4, Flip: true}, {Scale: 0.6, OffX: -5, OffY: -2}} {
		f := AugmentedFrame(37, 53, 32, p)
		m := mask.FromFunc(32, 32, func(int) bool { return r.Bernoulli(0.4) })
		ids := make([]int32, 32*32)
		for i := range ids {
			if m.Get(i) {
				ids[i] = 1
			}
		}
		got := f.MaskToImage(m)
		want := f.IDsToImage(ids, 0)
		for i := range want {
			if got.Get(i) != (want[i] == 1) {
				t.Fatalf("%+v: pixel %d differs", p, i)
			}
		}
		// Every image pixel the inverse maps inside the window is sampled
		// forward from a model pixel with the same value when upscaled.
		if p.Scale > 1 {
			cols, rows := f.SourceColumns(), f.SourceRows()
			mc, mr := f.ModelColumns(), f.ModelRows()
			for x, cx := range mc {
				if cx >= 0 && cols[cx] != x {
					t.Fatalf("%+v: column %d → model %d → %d", p, x, cx, cols[cx])
				}
			}
			for y, ry := range mr {
				if ry >= 0 && rows[ry] != y {
					t.Fatalf("%+v: row %d → model %d → %d", p, y, ry, rows[ry])
				}
			}
		}
	}
}

// TestMakeImageRealIDs is the panic of issue #12: a COCO panoptic sample
// keeps the PNG's RGB-encoded ids (here 2330219 = R 107 + 256·G 142 +
// 256²·B 35), non-contiguous, and a crowd region whose pixels are void in
// Panoptic. MakeImage must map any ids, and void what no instance claims.
func TestMakeImageRealIDs(t *testing.T) {
	const h, w = 6, 10
	pan := make([]int32, h*w)
	a := mask.New(h, w)
	b := mask.New(h, w)
	for i := range pan {
		switch x := i % w; {
		case x < 4:
			pan[i] = 2330219
			a.Set(i, true)
		case x < 7:
			pan[i] = 5 // a crowd id Load would have voided; not an instance
		default:
			pan[i] = 7000
			b.Set(i, true)
		}
	}
	s := &Sample{H: h, W: w, RGB: make([]uint8, 3*h*w), Panoptic: pan,
		Instances: []Instance{{Class: 1, IsThing: true, ID: 2330219, Mask: a}, {Class: 0, ID: 7000, Mask: b}}}
	im := MakeImage(s, 20, AugParams{Scale: 1})
	if len(im.Classes) != 2 || im.Classes[0] != 1 || im.Classes[1] != 0 {
		t.Fatalf("classes %v", im.Classes)
	}
	// 10 columns → 20: each source column twice; 6 rows → 12.
	if im.Masks[0].Area() != 8*12 || im.Masks[1].Area() != 6*12 {
		t.Fatalf("areas %d %d, want 96 72", im.Masks[0].Area(), im.Masks[1].Area())
	}
	void := 0
	for _, v := range im.Semantic {
		if v == Void {
			void++
		}
	}
	// 6 crowd columns × 12 rows + 8 padding rows × 20.
	if void != 6*12+8*20 {
		t.Fatalf("%d void pixels, want %d", void, 6*12+8*20)
	}
}
