package data

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// checkSample verifies the ground-truth contract of a sample: sizes,
// instance ids k+1, non-empty non-overlapping masks, Panoptic and Semantic
// maps that agree with the instances, stuff classes at most once, and
// every segment at least minArea pixels (0 skips that check).
func checkSample(t *testing.T, name string, s *Sample, cats []Category, minArea int) {
	t.Helper()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Fatalf("%s sample %d: %s", name, s.Index, fmt.Sprintf(format, a...))
	}
	n := s.H * s.W
	if len(s.RGB) != 3*n || len(s.Semantic) != n || len(s.Panoptic) != n {
		fail("buffer lengths %d %d %d for %d×%d", len(s.RGB), len(s.Semantic), len(s.Panoptic), s.H, s.W)
	}
	union := mask.New(s.H, s.W)
	stuffSeen := map[int]bool{}
	for k, in := range s.Instances {
		if in.ID != k+1 {
			fail("instance %d has id %d", k, in.ID)
		}
		if in.Class < 0 || in.Class >= len(cats) {
			fail("instance %d class %d out of range", k, in.Class)
		}
		if in.IsThing != cats[in.Class].IsThing {
			fail("instance %d IsThing %v, category says %v", k, in.IsThing, cats[in.Class].IsThing)
		}
		if in.Mask.H != s.H || in.Mask.W != s.W {
			fail("instance %d mask %d×%d", k, in.Mask.H, in.Mask.W)
		}
		a := in.Mask.Area()
		if a == 0 || a < minArea {
			fail("instance %d (%s) area %d below %d", k, cats[in.Class].Name, a, minArea)
		}
		if mask.Intersection(union, in.Mask) != 0 {
			fail("instance %d overlaps an earlier one", k)
		}
		union.Or(in.Mask)
		if !in.IsThing {
			if stuffSeen[in.Class] {
				fail("stuff class %s appears twice", cats[in.Class].Name)
			}
			stuffSeen[in.Class] = true
		}
	}
	for i := 0; i < n; i++ {
		id := s.Panoptic[i]
		if id < 0 || int(id) > len(s.Instances) {
			fail("pixel %d panoptic id %d out of range", i, id)
		}
		if id == 0 {
			if union.Get(i) || s.Semantic[i] != Void {
				fail("void pixel %d: in a mask %v, semantic %d", i, union.Get(i), s.Semantic[i])
			}
			continue
		}
		in := s.Instances[id-1]
		if !in.Mask.Get(i) {
			fail("pixel %d has id %d but is not in that mask", i, id)
		}
		if s.Semantic[i] != int32(in.Class) {
			fail("pixel %d semantic %d, instance class %d", i, s.Semantic[i], in.Class)
		}
	}
}

// sampleHash fingerprints a sample's image and ground truth.
func sampleHash(s *Sample) [32]byte {
	h := sha256.New()
	h.Write(s.RGB)
	fmt.Fprint(h, s.Semantic, s.Panoptic)
	for _, in := range s.Instances {
		fmt.Fprint(h, in.Class, in.ID, in.Mask.Words)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func samplesEqual(a, b *Sample) bool {
	if a.H != b.H || a.W != b.W || !bytes.Equal(a.RGB, b.RGB) || len(a.Instances) != len(b.Instances) {
		return false
	}
	for k := range a.Instances {
		x, y := a.Instances[k], b.Instances[k]
		if x.Class != y.Class || x.ID != y.ID || x.IsThing != y.IsThing || !mask.Equal(x.Mask, y.Mask) {
			return false
		}
	}
	for i := range a.Panoptic {
		if a.Panoptic[i] != b.Panoptic[i] || a.Semantic[i] != b.Semantic[i] {
			return false
		}
	}
	return true
}

// classCoverage counts the instances of each class over samples 0..n-1.
func classCoverage(t *testing.T, ds Dataset, n int) []int {
	t.Helper()
	count := make([]int, len(ds.Categories()))
	for i := 0; i < n; i++ {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range s.Instances {
			count[in.Class]++
		}
	}
	return count
}

// checkGenerated runs the checks every generated kind must pass: ground
// truth consistency over n samples, determinism, seed and split
// sensitivity, and coverage of every class.
func checkGenerated(t *testing.T, kind string, n int) {
	t.Helper()
	open := func(split string, seed uint64) Dataset {
		t.Helper()
		ds, err := Open(Spec{Kind: kind, Split: split, Seed: seed, N: n})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	ds := open("train", 7)
	cats := ds.Categories()
	rules := generatedRules(128)
	for i := 0; i < n; i++ {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if s.H != 128 || s.W != 128 || s.Index != i {
			t.Fatalf("sample %d: index %d size %d×%d, want 128×128", i, s.Index, s.H, s.W)
		}
		checkSample(t, kind, s, cats, rules.MinArea)
	}

	// Determinism: a fresh dataset gives the identical sample, in any
	// order; another seed or the other split gives a different one.
	again := open("train", 7)
	for _, i := range []int{n - 1, 0, 3} {
		a, _ := ds.Sample(i)
		b, _ := again.Sample(i)
		if !samplesEqual(a, b) {
			t.Fatalf("sample %d differs between two opens with the same seed", i)
		}
	}
	other := open("train", 8)
	val := open("val", 7)
	trainHashes := map[[32]byte]int{}
	for i := 0; i < 20; i++ {
		a, _ := ds.Sample(i)
		trainHashes[sampleHash(a)] = i
	}
	for i := 0; i < 20; i++ {
		b, _ := other.Sample(i)
		if j, ok := trainHashes[sampleHash(b)]; ok {
			t.Fatalf("seed 8 sample %d equals seed 7 sample %d", i, j)
		}
		v, _ := val.Sample(i)
		if j, ok := trainHashes[sampleHash(v)]; ok {
			t.Fatalf("val sample %d equals train sample %d", i, j)
		}
	}

	// Every class shows up in the first samples.
	for c, k := range classCoverage(t, ds, n) {
		if k == 0 {
			t.Errorf("%s: class %q never appears in %d samples", kind, cats[c].Name, n)
		}
	}
}

func TestSplitIndexRangesDisjoint(t *testing.T) {
	// The largest train index stays below the first val index for any
	// allowed N (fillGenerated caps N at valBase).
	if globalIndex("train", valBase-1) >= globalIndex("val", 0) {
		t.Fatal("train and val index ranges overlap")
	}
	if _, err := Open(Spec{Kind: "synthetic", Split: "test"}); err == nil {
		t.Fatal("split \"test\" accepted")
	}
	if _, err := Open(Spec{Kind: "synthetic", Size: 8}); err == nil {
		t.Fatal("size 8 accepted")
	}
}

func TestComposeOcclusionRules(t *testing.T) {
	// A 10×10 image of one stuff class; a 4×4 thing at (1,1) fully covered
	// by a 6×6 thing at (0,0) is dropped; a 5×5 thing at (5,5), drawn over
	// the 6×6 one's corner pixel (5,5) and partly hidden by a 3×3 thing at
	// (7,7), keeps 25−9 = 16 pixels (64 %) and stays.
	cats := makeCategories([]string{"a", "b"}, []string{"s"})
	bg := &background{rgb: make([]uint8, 300), seg: make([]int8, 100), class: []int{2}}
	box := func(class, x0, y0, side int) sprite {
		sp := sprite{class: class, x0: x0, y0: y0, w: side, h: side, alpha: make([]uint8, side*side), rgb: make([]uint8, 3*side*side)}
		for i := range sp.alpha {
			sp.alpha[i] = 255
			sp.rgb[3*i] = uint8(50 * (class + 1))
		}
		return sp
	}
	things := []sprite{box(0, 1, 1, 4), box(1, 0, 0, 6), box(0, 5, 5, 5), box(1, 7, 7, 3)}
	s := compose(0, 10, 10, bg, things, cats, composeRules{MinArea: 4, MinFrac: 0.3})
	checkSample(t, "compose", s, cats, 4)
	var got []string
	for _, in := range s.Instances {
		got = append(got, fmt.Sprintf("%s:%d", cats[in.Class].Name, in.Mask.Area()))
	}
	// Hand-computed: things bottom-up b 36−1 = 35, a 16, b 9; stuff
	// 100 − 35 − 16 − 9 = 40.
	want := "[s:40 b:35 a:16 b:9]"
	if fmt.Sprint(got) != want {
		t.Fatalf("instances %v, want %s", got, want)
	}
	// The dropped thing is not drawn: pixel (2,2) shows the 6×6 box.
	if s.RGB[3*(2*10+2)] != 100 {
		t.Fatalf("pixel (2,2) red %d, want 100 (class b's colour)", s.RGB[3*(2*10+2)])
	}
}
