package data

import (
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/mask"
)

func synth(t *testing.T, n, size int) Dataset {
	t.Helper()
	ds, err := NewSynthetic(SyntheticConfig{N: n, Size: size, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// flipSample mirrors a sample horizontally, image and ground truth.
func flipSample(s *Sample) *Sample {
	f := &Sample{Index: s.Index, H: s.H, W: s.W, RGB: make([]uint8, len(s.RGB)),
		Semantic: make([]int32, len(s.Semantic)), Panoptic: make([]int32, len(s.Panoptic))}
	for y := 0; y < s.H; y++ {
		for x := 0; x < s.W; x++ {
			i, j := y*s.W+x, y*s.W+s.W-1-x
			copy(f.RGB[3*j:3*j+3], s.RGB[3*i:3*i+3])
			f.Semantic[j], f.Panoptic[j] = s.Semantic[i], s.Panoptic[i]
		}
	}
	for _, in := range s.Instances {
		m := mask.New(s.H, s.W)
		for y := 0; y < s.H; y++ {
			for x := 0; x < s.W; x++ {
				if in.Mask.At(y, x) {
					m.Set(y*s.W+s.W-1-x, true)
				}
			}
		}
		in.Mask = m
		f.Instances = append(f.Instances, in)
	}
	return f
}

// checkBatchImage verifies the contract of a batch image against its
// sample: masks exact, non-overlapping and matching Panoptic/Semantic,
// stride-4 coverage recounted from the full masks, padding void and black.
func checkBatchImage(t *testing.T, im *BatchImage, s *Sample) {
	t.Helper()
	S := im.Size
	n := S * S
	if len(im.Input) != 3*n || len(im.Panoptic) != n || len(im.Semantic) != n {
		t.Fatalf("image %d: buffer lengths", im.Index)
	}
	k := len(im.Source)
	if len(im.Classes) != k || len(im.IsThing) != k || len(im.Masks) != k || len(im.Masks4) != k || len(im.Cover4) != k {
		t.Fatalf("image %d: per-segment lengths differ", im.Index)
	}
	for j, src := range im.Source {
		if j > 0 && src <= im.Source[j-1] {
			t.Fatalf("image %d: sources not increasing: %v", im.Index, im.Source)
		}
		if im.Classes[j] != s.Instances[src].Class || im.IsThing[j] != s.Instances[src].IsThing {
			t.Fatalf("image %d segment %d: class/kind differ from sample instance %d", im.Index, j, src)
		}
		if im.Masks[j].Empty() {
			t.Fatalf("image %d segment %d: empty mask kept", im.Index, j)
		}
	}
	s4 := S / 4
	cnt := make([][]int, k)
	for j := range cnt {
		cnt[j] = make([]int, s4*s4)
	}
	for i := 0; i < n; i++ {
		id := im.Panoptic[i]
		owners := 0
		for j, m := range im.Masks {
			if m.Get(i) {
				owners++
				if id != int32(j+1) {
					t.Fatalf("image %d pixel %d: in mask %d but panoptic id %d", im.Index, i, j, id)
				}
				cnt[j][(i/S/4)*s4+(i%S)/4]++
			}
		}
		if owners > 1 {
			t.Fatalf("image %d pixel %d: in %d masks", im.Index, i, owners)
		}
		if id == 0 {
			if owners != 0 || im.Semantic[i] != Void {
				t.Fatalf("image %d pixel %d: void but owned/semantic %d", im.Index, i, im.Semantic[i])
			}
		} else if owners != 1 || im.Semantic[i] != int32(im.Classes[id-1]) {
			t.Fatalf("image %d pixel %d: id %d, semantic %d", im.Index, i, id, im.Semantic[i])
		}
	}
	for j := range cnt {
		for c, v := range cnt[j] {
			if im.Cover4[j][c] != float32(v)/16 || im.Masks4[j].Get(c) != (v >= 8) {
				t.Fatalf("image %d segment %d cell %d: cover %g mask4 %v, recount %d/16", im.Index, j, c, im.Cover4[j][c], im.Masks4[j].Get(c), v)
			}
		}
	}
	// Padding: outside the scaled image, void and black.
	sw, sh := scaledSize(s.H, s.W, S, im.Aug.Scale)
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			X, Y := x+im.Aug.OffX, y+im.Aug.OffY
			if X >= 0 && X < sw && Y >= 0 && Y < sh {
				continue
			}
			i := y*S + x
			if im.Panoptic[i] != 0 || im.Input[i] != 0 || im.Input[n+i] != 0 || im.Input[2*n+i] != 0 {
				t.Fatalf("image %d: padding pixel (%d,%d) not void/black", im.Index, x, y)
			}
		}
	}
}

func TestMakeImageWithoutAugmentationIsIdentity(t *testing.T) {
	ds := synth(t, 3, 128)
	s, _ := ds.Sample(1)
	im := MakeImage(s, 128, AugParams{Scale: 1})
	checkBatchImage(t, &im, s)
	for i := range s.Panoptic {
		if im.Panoptic[i] != s.Panoptic[i] || im.Semantic[i] != s.Semantic[i] {
			t.Fatalf("pixel %d: panoptic %d/%d semantic %d/%d", i, im.Panoptic[i], s.Panoptic[i], im.Semantic[i], s.Semantic[i])
		}
		for c := 0; c < 3; c++ {
			if im.Input[c*128*128+i] != float32(float64(s.RGB[3*i+c])/255) {
				t.Fatalf("pixel %d channel %d: input %g, rgb %d", i, c, im.Input[c*128*128+i], s.RGB[3*i+c])
			}
		}
	}
}

func TestFlipMirrorsEverything(t *testing.T) {
	ds := synth(t, 3, 128)
	s, _ := ds.Sample(2)
	a := MakeImage(s, 128, AugParams{Scale: 1})
	b := MakeImage(s, 128, AugParams{Scale: 1, Flip: true})
	checkBatchImage(t, &b, s)
	const S, n = 128, 128 * 128
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			i, j := y*S+x, y*S+S-1-x
			if a.Panoptic[i] != b.Panoptic[j] || a.Semantic[i] != b.Semantic[j] {
				t.Fatalf("(%d,%d): GT not mirrored", x, y)
			}
			for c := 0; c < 3; c++ {
				if a.Input[c*n+i] != b.Input[c*n+j] {
					t.Fatalf("(%d,%d): image not mirrored", x, y)
				}
			}
		}
	}
	if !reflect.DeepEqual(a.Classes, b.Classes) {
		t.Fatalf("classes %v vs %v", a.Classes, b.Classes)
	}
}

func TestFlippedGTIsGTOfFlippedImage(t *testing.T) {
	// With scale and crop: flipping inside MakeImage must equal building
	// the batch image from the mirrored sample without the flip.
	ds := synth(t, 4, 128)
	for _, p := range []AugParams{
		{Scale: 1.37, OffX: 21, OffY: 9},
		{Scale: 0.61, OffX: -11, OffY: -3},
	} {
		for i := 0; i < 4; i++ {
			s, _ := ds.Sample(i)
			pf := p
			pf.Flip = true
			a := MakeImage(s, 96, pf)
			b := MakeImage(flipSample(s), 96, p)
			checkBatchImage(t, &a, s)
			if !reflect.DeepEqual(a.Panoptic, b.Panoptic) || !reflect.DeepEqual(a.Semantic, b.Semantic) ||
				!reflect.DeepEqual(a.Classes, b.Classes) || !reflect.DeepEqual(a.Cover4, b.Cover4) {
				t.Fatalf("sample %d %+v: ground truth differs", i, p)
			}
			for k := range a.Masks {
				if !mask.Equal(a.Masks[k], b.Masks[k]) || !mask.Equal(a.Masks4[k], b.Masks4[k]) {
					t.Fatalf("sample %d %+v: mask %d differs", i, p, k)
				}
			}
			for k := range a.Input {
				if math.Abs(float64(a.Input[k]-b.Input[k])) > 1e-5 {
					t.Fatalf("sample %d %+v: input %d: %g vs %g", i, p, k, a.Input[k], b.Input[k])
				}
			}
		}
	}
}

// idColoured paints each pixel of a dataset's samples with the palette
// colour of its panoptic id, so the image itself shows the ground truth.
type idColoured struct{ Dataset }

func (d idColoured) Sample(i int) (*Sample, error) {
	s, err := d.Dataset.Sample(i)
	if err != nil {
		return nil, err
	}
	for p, id := range s.Panoptic {
		c := categoryPalette[id]
		copy(s.RGB[3*p:3*p+3], c[:])
	}
	return s, nil
}

func TestAugmentedGroundTruthAlignsWithImage(t *testing.T) {
	// Where a pixel and its 8 neighbours carry one segment id, the
	// bilinear image must show that segment's colour: a misaligned flip,
	// crop or scale of the GT would break this for many pixels. Thin
	// structures between sampled pixels allow a few exceptions (< 1 %).
	ds := idColoured{synth(t, 16, 128)}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	b, err := MakeBatch(ds, idx, BatchConfig{Size: 96, Seed: 5, Augment: Augment{Flip: true, ScaleMin: 0.6, ScaleMax: 1.8}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	flips, checked, bad := 0, 0, 0
	for _, im := range b.Images {
		if im.Aug.Flip {
			flips++
		}
		s, _ := ds.Sample(im.Index)
		checkBatchImage(t, &im, s)
		checkSample(t, "batch", im.AsSample(), ds.Categories(), 1)
		S, n := im.Size, im.Size*im.Size
		for y := 1; y < S-1; y++ {
			for x := 1; x < S-1; x++ {
				id := im.Panoptic[y*S+x]
				if id == 0 {
					continue
				}
				uniform := true
				for dy := -1; dy <= 1 && uniform; dy++ {
					for dx := -1; dx <= 1; dx++ {
						if im.Panoptic[(y+dy)*S+x+dx] != id {
							uniform = false
							break
						}
					}
				}
				if !uniform {
					continue
				}
				checked++
				want := categoryPalette[s.Instances[im.Source[id-1]].ID]
				for c := 0; c < 3; c++ {
					if math.Abs(float64(im.Input[c*n+y*S+x])*255-float64(want[c])) > 1 {
						bad++
						break
					}
				}
			}
		}
	}
	if flips == 0 || flips == len(idx) {
		t.Fatalf("%d of %d images flipped; the test needs both", flips, len(idx))
	}
	if checked < 50000 || float64(bad) > 0.01*float64(checked) {
		t.Fatalf("%d of %d interior pixels show another segment's colour", bad, checked)
	}
}

func TestMakeBatchIndependentOfWorkers(t *testing.T) {
	ds := synth(t, 12, 128)
	idx := []int{5, 3, 11, 0, 7, 5}
	cfg := BatchConfig{Size: 64, Seed: 9, Augment: Augment{Flip: true, ScaleMin: 0.5, ScaleMax: 1.5}}
	ref, err := MakeBatch(ds, idx, cfg, 17)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(procs)
		for _, w := range []int{0, 1, 2, 6, 13} {
			cfg.Workers = w
			b, err := MakeBatch(ds, idx, cfg, 17)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ref, b) {
				t.Fatalf("GOMAXPROCS %d, %d workers: batch differs", procs, w)
			}
		}
	}
	// The augmentation depends on the step.
	other, _ := MakeBatch(ds, idx, cfg, 18)
	if reflect.DeepEqual(ref, other) {
		t.Fatal("steps 17 and 18 gave identical augmentations")
	}
}

// failingDS fails on index 3.
type failingDS struct{ Dataset }

func (d failingDS) Sample(i int) (*Sample, error) {
	if i == 3 {
		return nil, errors.New("disk on fire")
	}
	return d.Dataset.Sample(i)
}

func TestMakeBatchErrors(t *testing.T) {
	ds := synth(t, 8, 128)
	if _, err := MakeBatch(ds, []int{0}, BatchConfig{Size: 100}, 0); err == nil || !strings.Contains(err.Error(), "multiple of 32") {
		t.Errorf("size 100: error %v", err)
	}
	if _, err := MakeBatch(ds, []int{0}, BatchConfig{Size: 64, Augment: Augment{ScaleMin: 2, ScaleMax: 1}}, 0); err == nil {
		t.Error("scale range [2, 1] accepted")
	}
	_, err := MakeBatch(failingDS{ds}, []int{1, 3, 5}, BatchConfig{Size: 64, Workers: 2}, 0)
	if err == nil || !strings.Contains(err.Error(), "index 3") || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("failing sample: error %v", err)
	}
}

func TestDrawAugParams(t *testing.T) {
	r := rng.New(1)
	if p := DrawAugParams(Augment{}, r, 100, 200, 64); p != (AugParams{Scale: 1}) {
		t.Fatalf("zero Augment drew %+v", p)
	}
	flips := 0
	for i := 0; i < 400; i++ {
		p := DrawAugParams(Augment{Flip: true, ScaleMin: 0.5, ScaleMax: 2}, r, 100, 200, 64)
		if p.Flip {
			flips++
		}
		if p.Scale < 0.5 || p.Scale > 2 {
			t.Fatalf("scale %g outside [0.5, 2]", p.Scale)
		}
		sw, sh := scaledSize(100, 200, 64, p.Scale)
		// The window always overlaps the scaled image.
		if p.OffX <= -64 || p.OffX >= sw || p.OffY <= -64 || p.OffY >= sh {
			t.Fatalf("%+v: window misses the %d×%d image", p, sw, sh)
		}
	}
	// 400 fair coin flips: 200 ± 40 is beyond 4 standard deviations (10).
	if flips < 160 || flips > 240 {
		t.Fatalf("%d flips in 400", flips)
	}
}

func TestSamplerAndLoaderResume(t *testing.T) {
	s := Sampler{N: 10, BatchSize: 3, Seed: 4}
	if s.StepsPerEpoch() != 3 {
		t.Fatalf("steps per epoch %d, want 10/3 = 3", s.StepsPerEpoch())
	}
	e0, e1 := s.Epoch(0), s.Epoch(1)
	for _, e := range [][]int{e0, e1} {
		seen := make([]bool, 10)
		for _, v := range e {
			seen[v] = true
		}
		for v, ok := range seen {
			if !ok {
				t.Fatalf("epoch %v misses %d", e, v)
			}
		}
	}
	if reflect.DeepEqual(e0, e1) {
		t.Fatal("epochs 0 and 1 have the same order")
	}
	// Step 4 is batch 4 mod 3 = 1 of epoch 4 / 3 = 1.
	if ep, idx := (&Loader{Sampler: s, epoch: -1}).Indices(4); ep != 1 || !reflect.DeepEqual(idx, e1[3:6]) {
		t.Fatalf("step 4 = epoch %d %v, want epoch 1 %v", ep, idx, e1[3:6])
	}

	ds := synth(t, 10, 128)
	cfg := BatchConfig{Size: 64, Seed: 4, Augment: Augment{Flip: true, ScaleMin: 0.8, ScaleMax: 1.25}, Workers: 2}
	run, err := NewLoader(ds, 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seq []*Batch
	for k := 0; k < 7; k++ {
		b, err := run.Batch(k)
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, b)
	}
	// A run resumed at step 5 sees the same batches.
	resumed, _ := NewLoader(ds, 3, cfg)
	for k := 5; k < 7; k++ {
		b, err := resumed.Batch(k)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(b, seq[k]) {
			t.Fatalf("resumed step %d differs", k)
		}
	}
	if _, idx := run.Indices(5); !reflect.DeepEqual(idx, []int{seq[5].Images[0].Index, seq[5].Images[1].Index, seq[5].Images[2].Index}) {
		t.Fatalf("indices of step 5 %v disagree with its batch", idx)
	}
	if _, err := NewLoader(ds, 11, cfg); err == nil {
		t.Fatal("batch size 11 for 10 images accepted")
	}
}

// TestBatchOrder checks that a batch holds the requested images in the
// requested order, each with a 3×S×S input.
func TestBatchOrder(t *testing.T) {
	ds := synth(t, 3, 128)
	b, err := MakeBatch(ds, []int{2, 0}, BatchConfig{Size: 32}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size != 32 || len(b.Images) != 2 || b.Images[0].Index != 2 || b.Images[1].Index != 0 {
		t.Fatalf("batch of size %d with %d images", b.Size, len(b.Images))
	}
	for i := range b.Images {
		if len(b.Images[i].Input) != 3*32*32 {
			t.Fatalf("image %d has %d input values, want 3×32×32", i, len(b.Images[i].Input))
		}
	}
}
