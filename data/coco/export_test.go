package coco

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// fakeDS is an in-memory data.Dataset.
type fakeDS struct {
	cats    []data.Category
	samples []*data.Sample
}

func (f *fakeDS) Name() string                       { return "fake" }
func (f *fakeDS) Len() int                           { return len(f.samples) }
func (f *fakeDS) Categories() []data.Category        { return f.cats }
func (f *fakeDS) Sample(i int) (*data.Sample, error) { return f.samples[i], nil }
func (f *fakeDS) Describe() map[string]any           { return map[string]any{"kind": "fake"} }

// shape is painted onto a panoptic map: a rectangle [x0, x1) × [y0, y1)
// or, with r > 0, a disc of radius r around (x0, y0).
type shape struct {
	id, class      int
	x0, y0, x1, y1 int
	r              int
}

func (s shape) covers(y, x int) bool {
	if s.r > 0 {
		dx, dy := x-s.x0, y-s.y0
		return dx*dx+dy*dy <= s.r*s.r
	}
	return x >= s.x0 && x < s.x1 && y >= s.y0 && y < s.y1
}

// paint builds a sample by painting shapes in order (id 0 paints void)
// and deriving Instances (in painting order, fully covered ones dropped)
// and Semantic from the final map, as the data.Sample contract says.
func paint(h, w int, cats []data.Category, rng *rand.Rand, shapes ...shape) *data.Sample {
	s := &data.Sample{H: h, W: w, RGB: make([]uint8, 3*h*w), Panoptic: make([]int32, h*w), Semantic: make([]int32, h*w)}
	for i := range s.RGB {
		s.RGB[i] = uint8(rng.IntN(256))
	}
	for _, sh := range shapes {
		for i := range s.Panoptic {
			if sh.covers(i/w, i%w) {
				s.Panoptic[i] = int32(sh.id)
			}
		}
	}
	classOf := map[int32]int{}
	for _, sh := range shapes {
		if sh.id == 0 {
			continue
		}
		classOf[int32(sh.id)] = sh.class
		m := maskWhere(h, w, s.Panoptic, int32(sh.id))
		if !m.Empty() {
			s.Instances = append(s.Instances, data.Instance{Class: sh.class, IsThing: cats[sh.class].IsThing, ID: sh.id, Mask: m})
		}
	}
	for i, id := range s.Panoptic {
		s.Semantic[i] = data.Void
		if id != 0 {
			s.Semantic[i] = int32(classOf[id])
		}
	}
	return s
}

// fakeDataset: things and stuff with non-contiguous COCO ids, overlaps,
// an instance hidden completely by later ones, a void hole, segment ids
// that need all three PNG channels, and an image with nothing in it.
func fakeDataset() *fakeDS {
	cats := []data.Category{
		{ID: 92, Name: "sky", IsThing: false, Color: [3]uint8{70, 130, 180}},
		{ID: 1, Name: "person", IsThing: true, Color: [3]uint8{220, 20, 60}},
		{ID: 17, Name: "road", IsThing: false, Color: [3]uint8{128, 64, 128}},
		{ID: 5, Name: "car", IsThing: true, Color: [3]uint8{0, 0, 142}},
	}
	rng := rand.New(rand.NewPCG(7, 7))
	return &fakeDS{cats: cats, samples: []*data.Sample{
		paint(12, 10, cats, rng,
			shape{id: 500, class: 0, x0: 0, y0: 0, x1: 10, y1: 5},    // sky
			shape{id: 70000, class: 2, x0: 0, y0: 5, x1: 10, y1: 12}, // road
			shape{id: 3, class: 3, x0: 2, y0: 5, x1: 6, y1: 9},       // car on the road
			shape{id: 8, class: 1, x0: 5, y0: 3, x1: 8, y1: 8},       // person in front of the car
			shape{id: 9, class: 1, x0: 6, y0: 4, x1: 7, y1: 6},       // person hidden by the next car
			shape{id: 1 << 20, class: 3, x0: 6, y0: 4, x1: 8, y1: 7}, // car id needing B
			shape{id: 0, x0: 0, y0: 10, x1: 3, y1: 12},               // void hole
		),
		paint(7, 9, cats, rng,
			shape{id: 1, class: 2, x0: 0, y0: 0, x1: 9, y1: 7},
			shape{id: 2, class: 1, x0: 4, y0: 3, r: 2},
			shape{id: 4, class: 1, x0: 7, y0: 5, r: 3},
		),
		paint(4, 4, cats, rng, shape{id: 0, x0: 0, y0: 0, x1: 4, y1: 4}),
	}}
}

func TestFakeDatasetIsWhatItSays(t *testing.T) {
	ds := fakeDataset()
	s := ds.samples[0]
	ids := []int{}
	for _, in := range s.Instances {
		ids = append(ids, in.ID)
	}
	// Person 9 is covered by car 1<<20 and dropped.
	if !slices.Equal(ids, []int{500, 70000, 3, 8, 1 << 20}) {
		t.Fatalf("instance ids %v", ids)
	}
	// Car 3: rectangle x 2..5, y 5..8 (16 px) minus the person's x 5,
	// y 5..7 (3 px) = 13.
	if a := s.Instances[2].Mask.Area(); a != 13 {
		t.Errorf("car area %d, want 13", a)
	}
	for k, s := range ds.samples {
		if err := checkSample(s, len(ds.cats)); err != nil {
			t.Errorf("sample %d: %v", k, err)
		}
	}
}

// compareSamples checks b (loaded back) against a (exported): RGB,
// semantic, instances (class, thing, mask, in order) and the panoptic map
// exactly (sameIDs) or up to renaming.
func compareSamples(t *testing.T, i int, a, b *data.Sample, sameIDs bool) {
	t.Helper()
	if a.H != b.H || a.W != b.W || !bytes.Equal(a.RGB, b.RGB) {
		t.Errorf("sample %d: size or RGB differ", i)
	}
	if !slices.Equal(a.Semantic, b.Semantic) {
		t.Errorf("sample %d: semantic\n got %v\nwant %v", i, b.Semantic, a.Semantic)
	}
	if sameIDs && !slices.Equal(a.Panoptic, b.Panoptic) {
		t.Errorf("sample %d: panoptic\n got %v\nwant %v", i, b.Panoptic, a.Panoptic)
	}
	if !samePartition(a.Panoptic, b.Panoptic) {
		t.Errorf("sample %d: panoptic partitions differ", i)
	}
	if len(a.Instances) != len(b.Instances) {
		t.Fatalf("sample %d: %d instances, want %d", i, len(b.Instances), len(a.Instances))
	}
	for k := range a.Instances {
		x, y := a.Instances[k], b.Instances[k]
		if x.Class != y.Class || x.IsThing != y.IsThing || !mask.Equal(x.Mask, y.Mask) || (sameIDs && x.ID != y.ID) {
			t.Errorf("sample %d instance %d: {id %d class %d thing %v area %d} vs exported {id %d class %d thing %v area %d}",
				i, k, y.ID, y.Class, y.IsThing, y.Mask.Area(), x.ID, x.Class, x.IsThing, x.Mask.Area())
		}
	}
}

// thingsOnly is s as an instance export keeps it: the thing instances
// with their classes renumbered by class (old → new), stuff pixels void.
func thingsOnly(s *data.Sample, class map[int]int) *data.Sample {
	out := &data.Sample{Index: s.Index, H: s.H, W: s.W, RGB: s.RGB,
		Semantic: make([]int32, len(s.Semantic)), Panoptic: make([]int32, len(s.Panoptic))}
	for i := range out.Semantic {
		out.Semantic[i] = data.Void
	}
	for _, in := range s.Instances {
		c, ok := class[in.Class]
		if !ok {
			continue
		}
		in.Class = c
		out.Instances = append(out.Instances, in)
		forEachSet(in.Mask, func(i int) {
			out.Semantic[i] = int32(c)
			out.Panoptic[i] = int32(in.ID)
		})
	}
	return out
}

func TestExportInstancesRoundTrip(t *testing.T) {
	ds := fakeDataset()
	for _, uncompressed := range []bool{false, true} {
		dir := t.TempDir()
		jsonPath := filepath.Join(dir, "ann", "instances.json")
		if err := ExportInstances(ds, jsonPath, filepath.Join(dir, "img"), &ExportOptions{UncompressedRLE: uncompressed}); err != nil {
			t.Fatal(err)
		}
		d, err := Open(data.Spec{Annotations: jsonPath, Images: filepath.Join(dir, "img")})
		if err != nil {
			t.Fatal(err)
		}
		// Things only: person (class 0 of the file) and car (class 1).
		things := []data.Category{ds.cats[1], ds.cats[3]}
		if !slices.Equal(d.Categories(), things) {
			t.Errorf("categories %v, want %v", d.Categories(), things)
		}
		if d.Len() != ds.Len() {
			t.Fatalf("Len %d", d.Len())
		}
		for i := 0; i < d.Len(); i++ {
			s, err := d.Load(i)
			if err != nil {
				t.Fatal(err)
			}
			if id, name := d.ImageInfo(i); id != data.IntImageID(i+1) || name != []string{"000000000001.png", "000000000002.png", "000000000003.png"}[i] {
				t.Errorf("image %d: id %s name %s", i, id, name)
			}
			compareSamples(t, i, thingsOnly(ds.samples[i], map[int]int{1: 0, 3: 1}), s.Sample, false)
		}

		// The JSON fields pycocotools reads, for the car of sample 0.
		var f struct {
			Annotations []map[string]any `json:"annotations"`
			Categories  []map[string]any `json:"categories"`
		}
		raw, _ := os.ReadFile(jsonPath)
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		car := f.Annotations[0]
		// id 1 (the first thing annotation; sky and road are stuff),
		// image 1, COCO category 5, area 13 (TestFakeDatasetIsWhatItSays),
		// bbox x 2..5, y 5..8.
		want := map[string]any{"id": 1.0, "image_id": 1.0, "category_id": 5.0, "area": 13.0, "iscrowd": 0.0}
		for k, v := range want {
			if car[k] != v {
				t.Errorf("car %s = %v, want %v", k, car[k], v)
			}
		}
		if b := car["bbox"].([]any); len(b) != 4 || b[0] != 2.0 || b[1] != 5.0 || b[2] != 4.0 || b[3] != 4.0 {
			t.Errorf("car bbox %v, want [2 5 4 4]", b)
		}
		seg := car["segmentation"].(map[string]any)
		if _, isString := seg["counts"].(string); isString == uncompressed {
			t.Errorf("uncompressed=%v but counts is %T", uncompressed, seg["counts"])
		}
		if c := f.Categories[0]; len(f.Categories) != 2 || c["id"] != 1.0 || c["isthing"] != 1.0 || c["name"] != "person" {
			t.Errorf("categories = %v, want person and car", f.Categories)
		}

		// Deterministic: a second export is byte-identical.
		again := filepath.Join(dir, "again.json")
		if err := ExportInstances(ds, again, filepath.Join(dir, "img2"), &ExportOptions{UncompressedRLE: uncompressed}); err != nil {
			t.Fatal(err)
		}
		raw2, _ := os.ReadFile(again)
		if !bytes.Equal(raw, raw2) {
			t.Error("two exports differ")
		}
	}
}

func TestExportPanopticRoundTrip(t *testing.T) {
	ds := fakeDataset()
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "panoptic.json")
	if err := ExportPanoptic(ds, jsonPath, filepath.Join(dir, "img"), filepath.Join(dir, "png")); err != nil {
		t.Fatal(err)
	}
	d, err := Open(data.Spec{Annotations: jsonPath, Images: filepath.Join(dir, "img"), PanopticPNGs: filepath.Join(dir, "png")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Categories(), ds.cats) {
		t.Errorf("categories %v, want %v", d.Categories(), ds.cats)
	}
	for i := 0; i < d.Len(); i++ {
		s, err := d.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		compareSamples(t, i, ds.samples[i], s, true)
	}
	var f struct {
		Annotations []struct {
			ImageID      int           `json:"image_id"`
			FileName     string        `json:"file_name"`
			SegmentsInfo []SegmentInfo `json:"segments_info"`
		} `json:"annotations"`
	}
	raw, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	// Person 8: rectangle x 5..7, y 3..7 (15 px), of which the later car
	// 1<<20 covers x 6..7, y 4..6 (6 px) → 9 px; the rest still spans
	// x 5..7, y 3..7, so bbox [5 3 3 5].
	p := f.Annotations[0].SegmentsInfo[3]
	if p.ID != 8 || p.CategoryID != 1 || p.Area != 9 || p.BBox != [4]int{5, 3, 3, 5} || p.IsCrowd != 0 {
		t.Errorf("person segment %+v, want {8 1 9 [5 3 3 5] 0}", p)
	}
}

// Exporting a COCO dataset keeps its image ids; JPEG names become .png.
func TestExportKeepsImageIDs(t *testing.T) {
	src, err := Open(tinySpec(Instances))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "p.json")
	if err := ExportPanoptic(src, jsonPath, filepath.Join(dir, "img"), filepath.Join(dir, "png")); err != nil {
		t.Fatal(err)
	}
	d, err := Open(data.Spec{Annotations: jsonPath, Images: filepath.Join(dir, "img"), PanopticPNGs: filepath.Join(dir, "png")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < d.Len(); i++ {
		id, name := d.ImageInfo(i)
		if wantID := data.IntImageID(i + 1); id != wantID || name != []string{"000000000001.png", "000000000002.png", "000000000003.png"}[i] {
			t.Errorf("image %d: id %s name %s", i, id, name)
		}
		a, _ := src.Sample(i)
		b, err := d.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		compareSamples(t, i, a, b, true)
	}
}

func TestExportRejectsInconsistentSamples(t *testing.T) {
	ds := fakeDataset()
	s := ds.samples[1]
	s.Panoptic[0] = 4 // pixel (0,0) is road (1) in Instances
	err := ExportInstances(ds, filepath.Join(t.TempDir(), "a.json"), t.TempDir(), nil)
	if !errors.Is(err, ErrInconsistent) {
		t.Errorf("err = %v, want ErrInconsistent", err)
	}
}

// TestResultsWriterInstances: hand-encoded COCO instance results, in the
// order added.
func TestResultsWriterInstances(t *testing.T) {
	// The 2×2 mask of TestEncodeColumnMajor: counts [1 2 1] → "121".
	m := mask.New(2, 2)
	m.Set(1*2+0, true)
	m.Set(0*2+1, true)
	dir := t.TempDir()
	w, err := NewResultsWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = w.AddInstances([]InstancePrediction{
		{ImageID: data.IntImageID(7), CategoryID: 3, Score: 0.75, Mask: m},
		{ImageID: data.IntImageID(2), CategoryID: 1, Score: 0.5, Mask: mask.New(2, 2)}, // empty: [4] → "4"
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p, _, _ := ResultsPaths(dir)
	got, _ := os.ReadFile(p)
	want := `[{"image_id":7,"category_id":3,"segmentation":{"size":[2,2],"counts":"121"},"score":0.75},` +
		`{"image_id":2,"category_id":1,"segmentation":{"size":[2,2],"counts":"4"},"score":0.5}]` + "\n"
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if err := w.AddInstances([]InstancePrediction{{ImageID: data.IntImageID(1)}}); err == nil {
		t.Error("nil mask: want an error")
	}
	if err := w.AddInstances([]InstancePrediction{{ImageID: data.IntImageID(1), Mask: m, Score: math.NaN()}}); err == nil {
		t.Error("NaN score: want an error")
	}
}

// TestResultsWriterPanoptic: hand-computed panoptic results (segments
// sorted, areas and boxes from the maps, images sorted by id) and the
// checks pq_compute would otherwise fail on.
func TestResultsWriterPanoptic(t *testing.T) {
	dir := t.TempDir()
	w, err := NewResultsWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Image 9 (2×3): segment 5 at (0,1), (0,2); segment 70000 at (1,0),
	// (1,1); void elsewhere. Image 4: one segment 1 over the 1×2 image.
	preds := []PanopticPrediction{
		{ImageID: data.IntImageID(9), FileName: "x.png", H: 2, W: 3, Segments: []int32{0, 5, 5, 70000, 70000, 0},
			Info: []SegmentInfo{{ID: 70000, CategoryID: 17}, {ID: 5, CategoryID: 1, Area: 99}}},
		{ImageID: data.IntImageID(4), H: 1, W: 2, Segments: []int32{1, 1}, Info: []SegmentInfo{{ID: 1, CategoryID: 92}}},
	}
	for _, p := range preds {
		if err := w.AddPanoptic(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, jsonPath, pngDir := ResultsPaths(dir)
	got, _ := os.ReadFile(jsonPath)
	// Sorted by image id, segments by id; areas and bboxes [x y w h] from
	// the maps: 5 → 2 px at x 1..2, y 0; 70000 → 2 px at x 0..1, y 1.
	want := `{"annotations":[` +
		`{"image_id":4,"file_name":"000000000004.png","segments_info":[{"id":1,"category_id":92,"area":2,"bbox":[0,0,2,1],"iscrowd":0}]},` +
		`{"image_id":9,"file_name":"x.png","segments_info":[{"id":5,"category_id":1,"area":2,"bbox":[1,0,2,1],"iscrowd":0},` +
		`{"id":70000,"category_id":17,"area":2,"bbox":[0,1,2,1],"iscrowd":0}]}]}` + "\n"
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	img, err := readImage(filepath.Join(pngDir, "x.png"), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ids := idsFromImage(img); !slices.Equal(ids, preds[0].Segments) {
		t.Errorf("PNG ids %v, want %v", ids, preds[0].Segments)
	}
	if err := w.AddPanoptic(preds[1]); err == nil {
		t.Error("image 4 added twice: want an error")
	}

	bad := []struct {
		name string
		p    PanopticPrediction
		kind error
	}{
		{"map id without info", PanopticPrediction{ImageID: data.IntImageID(1), H: 1, W: 2, Segments: []int32{1, 2}, Info: []SegmentInfo{{ID: 1}}}, ErrPanopticIDs},
		{"info without pixels", PanopticPrediction{ImageID: data.IntImageID(1), H: 1, W: 2, Segments: []int32{1, 1}, Info: []SegmentInfo{{ID: 1}, {ID: 3}}}, ErrPanopticIDs},
		{"duplicate info", PanopticPrediction{ImageID: data.IntImageID(1), H: 1, W: 2, Segments: []int32{1, 1}, Info: []SegmentInfo{{ID: 1}, {ID: 1}}}, ErrPanopticIDs},
		{"wrong length", PanopticPrediction{ImageID: data.IntImageID(1), H: 2, W: 2, Segments: []int32{1, 1}, Info: []SegmentInfo{{ID: 1}}}, ErrSizeMismatch},
	}
	for _, c := range bad {
		w, err := NewResultsWriter(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddPanoptic(c.p); !errors.Is(err, c.kind) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.kind)
		}
	}
}
