package coco

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/mpanalyze/mpanalyze/mask"
)

// RLE is COCO's run-length encoding of an H×W binary mask. Counts are the
// lengths of alternating runs of 0s and 1s over the pixels in column-major
// order (pixel (y, x) is position x·H + y), starting with a run of 0s that
// may be empty. The counts of a valid RLE add up to H·W.
type RLE struct {
	H, W   int
	Counts []int
}

// EncodeRLE returns the RLE of m, as pycocotools' mask.encode does: the
// counts start with the (possibly empty) run of 0s and never hold another
// zero. An empty mask is [H·W]; a 0×0 mask is [0].
func EncodeRLE(m *mask.Bits) RLE {
	r := RLE{H: m.H, W: m.W}
	prev, run := false, 0
	for x := 0; x < m.W; x++ {
		for y := 0; y < m.H; y++ {
			v := m.At(y, x)
			if v != prev {
				r.Counts = append(r.Counts, run)
				run, prev = 0, v
			}
			run++
		}
	}
	r.Counts = append(r.Counts, run)
	return r
}

// Validate checks that the counts are non-negative and add up to H·W. Its
// errors wrap ErrRLECounts (and ErrSizeMismatch for a negative size).
func (r RLE) Validate() error {
	if r.H < 0 || r.W < 0 {
		return fmt.Errorf("%w: negative size %d×%d", ErrSizeMismatch, r.H, r.W)
	}
	sum := 0
	for i, c := range r.Counts {
		if c < 0 {
			return fmt.Errorf("%w: count %d is negative (%d)", ErrRLECounts, i, c)
		}
		sum += c
		if sum > r.H*r.W {
			break
		}
	}
	if sum != r.H*r.W {
		return fmt.Errorf("%w: counts add up to %s, want H·W = %d·%d = %d",
			ErrRLECounts, countSum(r.Counts), r.H, r.W, r.H*r.W)
	}
	return nil
}

// countSum formats the sum of counts without overflowing.
func countSum(c []int) string {
	var hi, lo uint64
	for _, v := range c {
		if v < 0 {
			return "a negative total"
		}
		var carry uint64
		lo, carry = bits.Add64(lo, uint64(v), 0)
		hi += carry
	}
	if hi != 0 {
		return "more than 2^64"
	}
	return fmt.Sprint(lo)
}

// DecodeRLE returns the mask r encodes. It fails (wrapping ErrRLECounts)
// when r is not valid (see Validate); pycocotools would instead read or
// write past the mask.
func DecodeRLE(r RLE) (*mask.Bits, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	m := mask.New(r.H, r.W)
	p, one := 0, false
	for _, c := range r.Counts {
		if one {
			for q := p; q < p+c; q++ {
				y, x := q%r.H, q/r.H
				i := y*r.W + x
				m.Words[i>>6] |= 1 << uint(i&63)
			}
		}
		p += c
		one = !one
	}
	return m, nil
}

// Area is the number of 1 pixels: the sum of the odd-indexed counts.
func (r RLE) Area() int {
	a := 0
	for i := 1; i < len(r.Counts); i += 2 {
		a += r.Counts[i]
	}
	return a
}

// String is the compressed form of the counts that COCO JSON files and
// pycocotools use ("counts" as a string). Each count, or for i > 2 its
// difference from counts[i-2], is written as a signed little-endian
// base-32 number, 5 bits per character: bit 0x20 of a character says that
// more characters follow, bit 0x10 of the last character is the sign bit,
// and each character is stored as its 6-bit value + 48 (so the alphabet is
// ASCII 48 '0' .. 111 'o').
func (r RLE) String() string {
	var b strings.Builder
	for i, c := range r.Counts {
		x := int64(c)
		if i > 2 {
			x -= int64(r.Counts[i-2])
		}
		for {
			ch := byte(x & 0x1f)
			x >>= 5 // arithmetic shift: negative numbers stay negative
			// The number is complete once the remaining bits are all
			// copies of the sign bit just written.
			more := x != 0
			if ch&0x10 != 0 {
				more = x != -1
			}
			if more {
				ch |= 0x20
			}
			b.WriteByte(ch + 48)
			if !more {
				break
			}
		}
	}
	return b.String()
}

// ParseCompressed decodes a compressed counts string (see String) of an h×w
// mask. It fails, wrapping ErrRLECounts, on a character outside 48..111, a
// string that ends inside a number, a number too long to be a count, or a
// negative count. It does not check that the counts add up to h·w: use
// Validate or DecodeRLE for that.
func ParseCompressed(h, w int, s string) (RLE, error) {
	r := RLE{H: h, W: w}
	p := 0
	for p < len(s) {
		start := p
		var x int64
		k := 0
		for {
			if p >= len(s) {
				return RLE{}, fmt.Errorf("%w: compressed counts end inside a number at byte %d", ErrRLECounts, start)
			}
			if s[p] < 48 || s[p] > 111 {
				return RLE{}, fmt.Errorf("%w: compressed counts byte %d is %q, outside COCO's alphabet '0'..'o'", ErrRLECounts, p, s[p])
			}
			if k >= 12 { // 12 chars = 60 bits; a uint32 count needs at most 7
				return RLE{}, fmt.Errorf("%w: compressed count at byte %d is too long", ErrRLECounts, start)
			}
			c := int64(s[p] - 48)
			x |= (c & 0x1f) << (5 * k)
			p++
			k++
			if c&0x20 == 0 {
				if c&0x10 != 0 { // sign-extend
					x |= -1 << (5 * k)
				}
				break
			}
		}
		i := len(r.Counts)
		if i > 2 {
			x += int64(r.Counts[i-2])
		}
		if x < 0 || x > 1<<40 {
			return RLE{}, fmt.Errorf("%w: compressed count %d is %d", ErrRLECounts, i, x)
		}
		r.Counts = append(r.Counts, int(x))
	}
	return r, nil
}

// bboxOf is the tight box [x, y, w, h] of m's set pixels in pixel units,
// or all zeros for an empty mask (what pycocotools' toBbox gives for the
// mask's RLE).
func bboxOf(m *mask.Bits) [4]int {
	x0, y0, x1, y1, ok := m.BBox()
	if !ok {
		return [4]int{}
	}
	return [4]int{x0, y0, x1 - x0, y1 - y0}
}
