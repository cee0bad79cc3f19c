package mask

import (
	"fmt"
	"math/bits"
)

// Bits is a binary mask. The zero value is an empty 0×0 mask.
type Bits struct {
	H, W  int
	Words []uint64
}

// New returns an all-false h×w mask.
func New(h, w int) *Bits {
	if h < 0 || w < 0 {
		panic(fmt.Sprintf("mask: negative size %d×%d", h, w))
	}
	return &Bits{H: h, W: w, Words: make([]uint64, (h*w+63)/64)}
}

// FromBools packs a row-major []bool of length h·w.
func FromBools(h, w int, v []bool) *Bits {
	if len(v) != h*w {
		panic(fmt.Sprintf("mask: FromBools length %d, want %d×%d", len(v), h, w))
	}
	m := New(h, w)
	for i, b := range v {
		if b {
			m.Words[i>>6] |= 1 << uint(i&63)
		}
	}
	return m
}

// FromFunc builds an h×w mask whose pixel i (= y·w + x) is f(i).
func FromFunc(h, w int, f func(i int) bool) *Bits {
	m := New(h, w)
	for i := 0; i < h*w; i++ {
		if f(i) {
			m.Words[i>>6] |= 1 << uint(i&63)
		}
	}
	return m
}

// Len is the number of pixels, H·W.
func (m *Bits) Len() int { return m.H * m.W }

// Get reports pixel i = y·W + x.
func (m *Bits) Get(i int) bool { return m.Words[i>>6]>>uint(i&63)&1 != 0 }

// At reports pixel (y, x).
func (m *Bits) At(y, x int) bool { return m.Get(y*m.W + x) }

// Set sets pixel i = y·W + x to v.
func (m *Bits) Set(i int, v bool) {
	if v {
		m.Words[i>>6] |= 1 << uint(i&63)
	} else {
		m.Words[i>>6] &^= 1 << uint(i&63)
	}
}

// AnyIn reports whether any pixel i with lo ≤ i < hi is set (flat
// indices, as Get's), testing whole words: a row segment of a mask in one
// or two word operations.
func (m *Bits) AnyIn(lo, hi int) bool {
	if lo >= hi {
		return false
	}
	wl, wh := lo>>6, (hi-1)>>6
	first := ^uint64(0) << uint(lo&63)
	last := ^uint64(0) >> uint(63-(hi-1)&63)
	if wl == wh {
		return m.Words[wl]&first&last != 0
	}
	if m.Words[wl]&first != 0 {
		return true
	}
	for _, w := range m.Words[wl+1 : wh] {
		if w != 0 {
			return true
		}
	}
	return m.Words[wh]&last != 0
}

// Area is the number of true pixels.
func (m *Bits) Area() int {
	n := 0
	for _, w := range m.Words {
		n += bits.OnesCount64(w)
	}
	return n
}

// Empty reports whether no pixel is set.
func (m *Bits) Empty() bool {
	for _, w := range m.Words {
		if w != 0 {
			return false
		}
	}
	return true
}

func sameSize(a, b *Bits) {
	if a.H != b.H || a.W != b.W {
		panic(fmt.Sprintf("mask: size mismatch %d×%d vs %d×%d", a.H, a.W, b.H, b.W))
	}
}

// Intersection is |a ∧ b|. It panics if the sizes differ.
func Intersection(a, b *Bits) int {
	sameSize(a, b)
	n := 0
	for i, w := range a.Words {
		n += bits.OnesCount64(w & b.Words[i])
	}
	return n
}

// Union is |a ∨ b|. It panics if the sizes differ.
func Union(a, b *Bits) int {
	sameSize(a, b)
	n := 0
	for i, w := range a.Words {
		n += bits.OnesCount64(w | b.Words[i])
	}
	return n
}

// InterUnion returns |a ∧ b| and |a ∨ b| in one pass.
func InterUnion(a, b *Bits) (inter, union int) {
	sameSize(a, b)
	for i, w := range a.Words {
		v := b.Words[i]
		inter += bits.OnesCount64(w & v)
		union += bits.OnesCount64(w | v)
	}
	return inter, union
}

// Clone returns a deep copy.
func (m *Bits) Clone() *Bits {
	return &Bits{H: m.H, W: m.W, Words: append([]uint64(nil), m.Words...)}
}

// Or sets m to m ∨ o.
func (m *Bits) Or(o *Bits) {
	sameSize(m, o)
	for i, w := range o.Words {
		m.Words[i] |= w
	}
}

// AndNot sets m to m ∧ ¬o.
func (m *Bits) AndNot(o *Bits) {
	sameSize(m, o)
	for i, w := range o.Words {
		m.Words[i] &^= w
	}
}

// Bools unpacks the mask into a row-major []bool.
func (m *Bits) Bools() []bool {
	v := make([]bool, m.Len())
	for i := range v {
		v[i] = m.Get(i)
	}
	return v
}

// Equal reports whether a and b have the same size and pixels.
func Equal(a, b *Bits) bool {
	if a.H != b.H || a.W != b.W {
		return false
	}
	for i, w := range a.Words {
		if w != b.Words[i] {
			return false
		}
	}
	return true
}

// BBox returns the tight bounding box [x0, x1) × [y0, y1) of the set pixels,
// and ok = false for an empty mask.
func (m *Bits) BBox() (x0, y0, x1, y1 int, ok bool) {
	x0, y0, x1, y1 = m.W, m.H, 0, 0
	for i, w := range m.Words {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			w &= w - 1
			p := i*64 + b
			y, x := p/m.W, p%m.W
			x0, y0 = min(x0, x), min(y0, y)
			x1, y1 = max(x1, x+1), max(y1, y+1)
		}
	}
	if x1 == 0 {
		return 0, 0, 0, 0, false
	}
	return x0, y0, x1, y1, true
}
