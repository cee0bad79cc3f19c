package coco

import (
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// pixels lists the set pixels of m as (x, y) pairs in row-major order.
func pixels(m *mask.Bits) [][2]int {
	var p [][2]int
	for i := 0; i < m.Len(); i++ {
		if m.Get(i) {
			p = append(p, [2]int{i % m.W, i / m.W})
		}
	}
	return p
}

// The expected pixel sets are worked out by hand with the four steps in
// PolygonRLE's comment (pycocotools rleFrPoly); the derivations are below.
func TestPolygonHandComputed(t *testing.T) {
	cases := []struct {
		name   string
		xy     []float64
		h, w   int
		counts []int    // expected RLE
		want   [][2]int // expected (x, y) pixels, row-major
	}{
		{
			// Square (1,1)–(3,1)–(3,3)–(1,3) on 5×5. Scaled ×5: corners
			// 5 and 15. The top edge walks u = 5..15 at v = 5; crossings
			// at xmin = 7 and 12 (= 5c+2) toggle columns 1 and 2 at row
			// ceil((5+.5)/5 − .5) = ceil(0.6) = 1. The bottom edge (v =
			// 15) toggles the same columns at ceil(2.6) = 3. The sides
			// never change u. Toggles at c·5 + row: 6, 8, 11, 13; runs
			// 6, 2, 3, 2 and 25 − 13 = 12. Pixels: x ∈ {1, 2}, y ∈ {1, 2}
			// — area 4, the polygon's area.
			name: "square", xy: []float64{1, 1, 3, 1, 3, 3, 1, 3}, h: 5, w: 5,
			counts: []int{6, 2, 3, 2, 12},
			want:   [][2]int{{1, 1}, {2, 1}, {1, 2}, {2, 2}},
		},
		{
			// Triangle (0,0)–(4,0)–(0,4) on 5×5. Scaled: 0 and 20. Top
			// edge: v = 0, crossings xmin = 2, 7, 12, 17 → columns 0..3
			// toggled at row ceil(−0.4 → clamped 0) = 0. Hypotenuse from
			// (20,0) to (0,20): one point per u, v = 20 − u; the step
			// from u+1 to u has ymin = 19 − u, so xmin = 17, 12, 7, 2
			// gives ymin = 2, 7, 12, 17 → rows ceil(0) = 0, ceil(1) = 1,
			// 2, 3 for columns 3, 2, 1, 0. The left edge never changes
			// u. Toggles (c·5 + row): 0, 5, 10, 15 and 15, 11, 7, 3;
			// sorted 0 3 5 7 10 11 15 15 25 → runs 0 3 2 2 3 1 4 0 10, and
			// the zero run (the two toggles at 15 cancel) folds into its
			// neighbour: 0 3 2 2 3 1 14. Pixels: column 0 rows 0–2,
			// column 1 rows 0–1, column 2 row 0, i.e. the pixels whose
			// centre has x + y < 4 − 1; the three centres on the
			// hypotenuse (x + y + 1 = 4) are out. Area 6 vs. the
			// triangle's 8.
			name: "triangle", xy: []float64{0, 0, 4, 0, 0, 4}, h: 5, w: 5,
			counts: []int{0, 3, 2, 2, 3, 1, 14},
			want:   [][2]int{{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {0, 2}},
		},
		{
			// Half-pixel square (0.5,0.5)–(2.5,2.5) on 4×4: the edges
			// run through pixel centres, showing the tie rule. Scaled:
			// int(2.5 + .5) = 3 and int(12.5 + .5) = 13. Top edge: xmin =
			// 3..12, so columns 1 (7) and 2 (12) — not 0, whose centre
			// line (xmin = 2) lies left of the edge's start; row
			// ceil((3.5)/5 − .5) = ceil(0.2) = 1. Bottom: ceil(13.5/5 −
			// .5) = ceil(2.2) = 3. So centres on the left or top edge
			// are out, on the right or bottom edge in: x, y ∈ {1, 2}.
			// Toggles 4·1+1 = 5, 7, 9, 11 → runs 5 2 2 2 5.
			name: "half-pixel square", xy: []float64{0.5, 0.5, 2.5, 0.5, 2.5, 2.5, 0.5, 2.5}, h: 4, w: 4,
			counts: []int{5, 2, 2, 2, 5},
			want:   [][2]int{{1, 1}, {2, 1}, {1, 2}, {2, 2}},
		},
		{
			// A rectangle 1 px beyond every border of a 5×6 (H×W) image
			// is clipped to the full image: columns 0..5 toggle at row 0
			// (ceil of the clamped −1.4) and at row 5 (clamped to h);
			// each bottom toggle c·5 + 5 meets the next column's top
			// toggle and cancels, leaving runs 0 and 30.
			name: "clipped", xy: []float64{-1, -1, 7, -1, 7, 6, -1, 6}, h: 5, w: 6,
			counts: []int{0, 30},
		},
		{
			// Degenerate: all vertices on one point. No step changes u,
			// so no toggle: the empty mask.
			name: "point", xy: []float64{2, 2, 2, 2, 2, 2}, h: 4, w: 4,
			counts: []int{16},
		},
	}
	for _, c := range cases {
		r := PolygonRLE(c.xy, c.h, c.w)
		if !slices.Equal(r.Counts, c.counts) {
			t.Errorf("%s: counts %v, want %v", c.name, r.Counts, c.counts)
		}
		m, err := DecodeRLE(r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.want != nil && !slices.Equal(pixels(m), c.want) {
			t.Errorf("%s: pixels %v, want %v", c.name, pixels(m), c.want)
		}
	}
}

// TestPolygonOrientation: pycocotools' result does not depend on the
// vertex order or the starting vertex.
func TestPolygonOrientation(t *testing.T) {
	poly := []float64{0.3, 0.2, 5.7, 1.1, 4.2, 6.8, 1.4, 3.3}
	want := PolygonRLE(poly, 8, 7)
	rev := make([]float64, 0, len(poly))
	for i := len(poly) - 2; i >= 0; i -= 2 {
		rev = append(rev, poly[i], poly[i+1])
	}
	rot := append(append([]float64{}, poly[4:]...), poly[:4]...)
	for name, p := range map[string][]float64{"reversed": rev, "rotated": rot} {
		if got := PolygonRLE(p, 8, 7); !slices.Equal(got.Counts, want.Counts) {
			t.Errorf("%s: %v, want %v", name, got.Counts, want.Counts)
		}
	}
	if want.Area() == 0 {
		t.Error("empty test polygon")
	}
}
