package mask

import (
	"math/rand/v2"
	"testing"
)

func TestAreaInterUnionAgainstBools(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{1, 1}, {3, 5}, {8, 8}, {7, 13}, {33, 31}} {
		h, w := sz[0], sz[1]
		a := make([]bool, h*w)
		b := make([]bool, h*w)
		for i := range a {
			a[i], b[i] = r.IntN(2) == 0, r.IntN(3) == 0
		}
		ma, mb := FromBools(h, w, a), FromBools(h, w, b)
		area, inter, union := 0, 0, 0
		for i := range a {
			if a[i] {
				area++
			}
			if a[i] && b[i] {
				inter++
			}
			if a[i] || b[i] {
				union++
			}
		}
		gi, gu := InterUnion(ma, mb)
		if ma.Area() != area || gi != inter || gu != union || Intersection(ma, mb) != inter || Union(ma, mb) != union {
			t.Fatalf("%d×%d: area %d/%d inter %d/%d union %d/%d", h, w, ma.Area(), area, gi, inter, gu, union)
		}
		for i, v := range ma.Bools() {
			if v != a[i] {
				t.Fatalf("round trip differs at %d", i)
			}
		}
	}
}

func TestBBox(t *testing.T) {
	m := New(5, 6)
	if _, _, _, _, ok := m.BBox(); ok {
		t.Fatal("empty mask has a box")
	}
	m.Set(1*6+2, true)
	m.Set(3*6+4, true)
	x0, y0, x1, y1, ok := m.BBox()
	// pixels (y=1,x=2) and (y=3,x=4): box x∈[2,5), y∈[1,4)
	if !ok || x0 != 2 || y0 != 1 || x1 != 5 || y1 != 4 {
		t.Fatalf("bbox %d %d %d %d", x0, y0, x1, y1)
	}
}

func TestSizeMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Intersection(New(2, 2), New(2, 3))
}

// TestAnyIn compares AnyIn with a loop over Get for every range of masks
// of 0, 1 and a few set pixels placed at and around word boundaries, in
// masks of one, two and several words.
func TestAnyIn(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 130, 300} {
		for _, set := range [][]int{{}, {0}, {n - 1}, {63 % n}, {64 % n}, {n / 2, n - 1}, {127 % n, 128 % n}} {
			m := New(1, n)
			for _, i := range set {
				m.Set(i, true)
			}
			for lo := 0; lo <= n; lo++ {
				for hi := lo; hi <= n; hi++ {
					want := false
					for i := lo; i < hi; i++ {
						want = want || m.Get(i)
					}
					if got := m.AnyIn(lo, hi); got != want {
						t.Fatalf("n=%d set %v: AnyIn(%d, %d) = %v, want %v", n, set, lo, hi, got, want)
					}
				}
			}
		}
	}
}
