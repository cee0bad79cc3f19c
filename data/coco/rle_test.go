package coco

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// Expected compressed strings are computed by hand from the rules in
// RLE.String (pycocotools maskApi.c rleToString): each value (count[i], or
// count[i] − count[i−2] for i > 2) is cut into 5-bit groups from the low
// end; a group gets 0x20 when more follow; the last group is the one after
// which only copies of its sign bit (0x10) remain; each group is written as
// byte(group + 48).
var compressedCases = []struct {
	name   string
	h, w   int
	counts []int
	want   string
}{
	// [4]: 4 < 16, one group, sign bit clear → '0'+4 = '4'.
	{"empty 2×2", 2, 2, []int{4}, "4"},
	// [0 4]: '0'+0, '0'+4.
	{"full 2×2", 2, 2, []int{0, 4}, "04"},
	// 16 = 0b10000: the low group is 16, whose sign bit is set while the
	// rest (0) is not −1, so a second group 0 follows:
	// '0'+(16|0x20) = 48+48 = '`', then '0'.
	{"sign bit needs a second char", 1, 16, []int{0, 16}, "0`0"},
	// 100 = 3·32 + 4: groups 4 (+0x20 → 36, '0'+36 = 'T') and 3 ('3').
	{"two chars", 1, 100, []int{100}, "T3"},
	// 1000 = 31·32 + 8: 8|0x20 = 40 → 'X'; 31 has its sign bit set and
	// the rest (0) is not −1, so 31|0x20 = 63 → 'o', then 0 → '0'.
	{"three chars", 1, 1000, []int{1000}, "Xo0"},
	// counts [5 10 3 2]: '5', 10 → ':' (58), '3'; i = 3 is delta-coded:
	// 2 − 10 = −8; low group of −8 = 0b11000 = 24 with the sign bit set,
	// and −8 >> 5 = −1, so it ends: '0'+24 = 'H'.
	{"negative delta", 1, 20, []int{5, 10, 3, 2}, "5:3H"},
	// counts [0 100 0 1]: '0', "T3" (as above), '0'; i = 3: 1 − 100 = −99
	// = …1111_00011101b: low group 29 (+0x20 = 61 → 'm'), −99 >> 5 = −4
	// whose low group is 28 with the sign bit set and −4 >> 5 = −1, so
	// it ends: '0'+28 = 'L'.
	{"negative two-char delta", 1, 101, []int{0, 100, 0, 1}, "0T30mL"},
	// counts [3 1 3 1 3 1]: i = 2 is not delta-coded ('3'); i = 3, 4, 5
	// are 1−1 = 0, 3−3 = 0, 1−1 = 0 → "000".
	{"delta only from i = 3", 4, 3, []int{3, 1, 3, 1, 3, 1}, "313000"},
}

func TestCompressedKnownStrings(t *testing.T) {
	for _, c := range compressedCases {
		r := RLE{H: c.h, W: c.w, Counts: c.counts}
		if got := r.String(); got != c.want {
			t.Errorf("%s: String(%v) = %q, want %q", c.name, c.counts, got, c.want)
		}
		back, err := ParseCompressed(c.h, c.w, c.want)
		if err != nil {
			t.Errorf("%s: ParseCompressed(%q): %v", c.name, c.want, err)
			continue
		}
		if !slices.Equal(back.Counts, c.counts) || back.H != c.h || back.W != c.w {
			t.Errorf("%s: ParseCompressed(%q) = %v, want %d×%d %v", c.name, c.want, back, c.h, c.w, c.counts)
		}
		if err := back.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestEncodeColumnMajor pins the pixel order: COCO runs go down columns,
// while mask.Bits is row-major.
func TestEncodeColumnMajor(t *testing.T) {
	// H = 2, W = 3 with only (y=0, x=2) set. Column-major position
	// x·H + y = 4, so the runs are 4 zeros, 1 one, 1 zero.
	m := mask.New(2, 3)
	m.Set(0*3+2, true)
	if got := EncodeRLE(m); !slices.Equal(got.Counts, []int{4, 1, 1}) {
		t.Errorf("counts = %v, want [4 1 1]", got.Counts)
	}
	// H = 2, W = 2 with (1,0) and (0,1) set: positions 1 (x=0, y=1) and
	// 2 (x=1, y=0) → runs 1 zero, 2 ones, 1 zero → "121".
	m = mask.New(2, 2)
	m.Set(1*2+0, true)
	m.Set(0*2+1, true)
	r := EncodeRLE(m)
	if !slices.Equal(r.Counts, []int{1, 2, 1}) || r.String() != "121" {
		t.Errorf("counts = %v %q, want [1 2 1] \"121\"", r.Counts, r.String())
	}
	if r.Area() != 2 {
		t.Errorf("area = %d, want 2", r.Area())
	}
}

func TestRLERoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := [][2]int{{0, 0}, {1, 1}, {1, 7}, {7, 1}, {5, 6}, {13, 17}, {64, 3}, {40, 70}}
	for _, sz := range sizes {
		h, w := sz[0], sz[1]
		for _, p := range []float64{0, 1, 0.02, 0.5, 0.97} {
			m := mask.FromFunc(h, w, func(int) bool { return rng.Float64() < p })
			r := EncodeRLE(m)
			if r.H != h || r.W != w {
				t.Fatalf("%d×%d: RLE size %d×%d", h, w, r.H, r.W)
			}
			if r.Area() != m.Area() {
				t.Errorf("%d×%d p=%v: RLE area %d, mask area %d", h, w, p, r.Area(), m.Area())
			}
			for i, c := range r.Counts {
				if c == 0 && i > 0 {
					t.Errorf("%d×%d p=%v: zero count at %d in %v", h, w, p, i, r.Counts)
				}
			}
			got, err := DecodeRLE(r)
			if err != nil {
				t.Fatalf("%d×%d p=%v: %v", h, w, p, err)
			}
			if !mask.Equal(got, m) {
				t.Errorf("%d×%d p=%v: decode(encode(m)) != m", h, w, p)
			}
			back, err := ParseCompressed(h, w, r.String())
			if err != nil {
				t.Fatalf("%d×%d p=%v: %v", h, w, p, err)
			}
			if !slices.Equal(back.Counts, r.Counts) {
				t.Errorf("%d×%d p=%v: compressed round trip %v != %v", h, w, p, back.Counts, r.Counts)
			}
		}
	}
	// Empty and full masks have the pycocotools counts [H·W] and [0, H·W].
	if c := EncodeRLE(mask.New(3, 4)).Counts; !slices.Equal(c, []int{12}) {
		t.Errorf("empty: %v", c)
	}
	full := mask.FromFunc(3, 4, func(int) bool { return true })
	if c := EncodeRLE(full).Counts; !slices.Equal(c, []int{0, 12}) {
		t.Errorf("full: %v", c)
	}
	if c := EncodeRLE(mask.New(0, 0)).Counts; !slices.Equal(c, []int{0}) {
		t.Errorf("0×0: %v", c)
	}
}

func TestRLEErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		s    string
	}{
		{"outside alphabet", "4!"},           // '!' = 33 < 48
		{"above alphabet", "4p"},             // 'p' = 112 > 111
		{"ends inside a number", "X"},        // 'X' = 40|0x20: a continuation
		{"negative count", "H"},              // −8 as the first count
		{"negative after delta", "0303H"},    // counts[4] = counts[2] + (−8) = 0 − 8
		{"too long", "oooooooooooooooooooo"}, // continuation bits forever
	} {
		_, err := ParseCompressed(1, 100, c.s)
		if !errors.Is(err, ErrRLECounts) {
			t.Errorf("%s: ParseCompressed(%q) err = %v, want ErrRLECounts", c.name, c.s, err)
		}
	}
	// Counts that do not add up to H·W.
	for _, counts := range [][]int{{3}, {2, 3}, {0, 5}, {1, -1, 4}} {
		_, err := DecodeRLE(RLE{H: 2, W: 2, Counts: counts})
		if !errors.Is(err, ErrRLECounts) {
			t.Errorf("DecodeRLE(%v) err = %v, want ErrRLECounts", counts, err)
		}
	}
}

func FuzzParseCompressed(f *testing.F) {
	for _, c := range compressedCases {
		f.Add(c.want)
	}
	f.Add("")
	f.Add("oooooooooooo0")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseCompressed(3, 5, s)
		if err != nil {
			return
		}
		if r.String() != s {
			// Non-canonical spellings (extra sign groups) may parse but
			// re-encode shorter; the counts must still round-trip.
			back, err := ParseCompressed(3, 5, r.String())
			if err != nil || !slices.Equal(back.Counts, r.Counts) {
				t.Fatalf("%q → %v → %q → %v, %v", s, r.Counts, r.String(), back.Counts, err)
			}
		}
		if m, err := DecodeRLE(r); err == nil && !slices.Equal(EncodeRLE(m).Counts, trimZeros(r.Counts)) {
			t.Fatalf("%q: decode/encode changed counts %v → %v", s, r.Counts, EncodeRLE(m).Counts)
		}
	})
}

// trimZeros merges runs around interior zero counts, as EncodeRLE would
// write them.
func trimZeros(c []int) []int {
	out := []int{c[0]}
	for i := 1; i < len(c); i++ {
		if c[i] == 0 && i+1 < len(c) {
			out[len(out)-1] += c[i+1]
			i++
			continue
		}
		if c[i] == 0 {
			continue
		}
		out = append(out, c[i])
	}
	return out
}
