package coco

import (
	"slices"
	"testing"
)

// FuzzParseCounts: no RLE "counts" value (a compressed string or a JSON
// list of numbers) for an h×w mask makes parseCounts, Validate or
// DecodeRLE panic; a valid RLE decodes to a mask whose re-encoding has the
// same counts (after merging runs around zero counts, as pycocotools
// writes them) and the same area. Seeds: testdata/fuzz/FuzzParseCounts.
func FuzzParseCounts(f *testing.F) {
	f.Add(uint8(3), uint8(5), []byte(`[2, 3, 10]`))
	f.Add(uint8(3), uint8(5), []byte(`"52203"`))
	f.Add(uint8(2), uint8(2), []byte(`[0, 4]`))
	f.Fuzz(func(t *testing.T, h, w uint8, raw []byte) {
		r, err := parseCounts(int(h), int(w), raw)
		if err != nil {
			return
		}
		if r.Validate() != nil {
			if _, err := DecodeRLE(r); err == nil {
				t.Fatalf("DecodeRLE accepted counts Validate refuses: %v", r.Counts)
			}
			return
		}
		m, err := DecodeRLE(r)
		if err != nil {
			t.Fatalf("valid RLE %v does not decode: %v", r.Counts, err)
		}
		if m.H != int(h) || m.W != int(w) {
			t.Fatalf("decoded %d×%d, want %d×%d", m.H, m.W, h, w)
		}
		back := EncodeRLE(m)
		want := r.Counts
		if len(want) == 0 {
			want = []int{0} // an empty mask (H·W = 0) with no counts at all
		}
		if !slices.Equal(back.Counts, trimZeros(want)) {
			t.Fatalf("%s: counts %v re-encode to %v", raw, r.Counts, back.Counts)
		}
		if back.Area() != r.Area() || m.Area() != r.Area() {
			t.Fatalf("%s: area %d, re-encoded %d, mask %d", raw, r.Area(), back.Area(), m.Area())
		}
	})
}
