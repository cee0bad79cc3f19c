package coco

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

const V = data.Void

func tinySpec(format Format) data.Spec {
	s := data.Spec{Kind: "coco", Split: "val", Images: filepath.Join(tinyDir, "images")}
	if format == Panoptic {
		s.Annotations = filepath.Join(tinyDir, "panoptic.json")
		s.PanopticPNGs = filepath.Join(tinyDir, "panoptic")
	} else {
		s.Annotations = filepath.Join(tinyDir, "instances.json")
	}
	return s
}

// Image 1 of the tiny fixtures (5 rows × 6 columns). Classes are positions
// in the categories list: 0 = cat (id 3), 1 = grass (id 7, stuff), 2 =
// person (id 1). Derived by hand from instances.json, painting in file
// order: grass rows 3–4 (annotation 10), cat square x, y ∈ {1, 2} (11,
// pixels from TestPolygonHandComputed "square"), person x ∈ {2, 3}, y ∈
// {2, 3, 4} (12, RLE "<3208" = runs 12 3 2 3 10), a crowd x ∈ {4, 5}, y ∈
// {0, 1} (13) painted void, grass pixel (0, 0) (14).
var tinySemantic1 = []int32{
	1, V, V, V, V, V,
	V, 0, 0, V, V, V,
	V, 0, 2, 2, V, V,
	1, 1, 2, 2, 1, 1,
	1, 1, 2, 2, 1, 1,
}

// The instance format's panoptic ids: segments numbered in order of
// creation — grass 1 (annotation 10, joined by 14), cat 2, person 3.
var tinyInstPanoptic1 = []int32{
	1, 0, 0, 0, 0, 0,
	0, 2, 2, 0, 0, 0,
	0, 2, 3, 3, 0, 0,
	1, 1, 3, 3, 1, 1,
	1, 1, 3, 3, 1, 1,
}

// The panoptic format keeps the PNG ids (tinyPanoptic1) except crowd 5 →
// 0 and the second grass segment 9 → 7000.
var tinyPanPanoptic1 = []int32{
	7000, 0, 0, 0, 0, 0,
	0, 2, 2, 0, 0, 0,
	0, 2, 70001, 70001, 0, 0,
	7000, 7000, 70001, 70001, 7000, 7000,
	7000, 7000, 70001, 70001, 7000, 7000,
}

// Image 2 (4×4): the cat triangle of TestPolygonHandComputed.
var tinySemantic2 = []int32{
	0, 0, 0, V,
	0, 0, V, V,
	0, V, V, V,
	V, V, V, V,
}

func maskWhere(h, w int, m []int32, id int32) *mask.Bits {
	return mask.FromFunc(h, w, func(i int) bool { return m[i] == id })
}

// checkInstances verifies that s.Instances are the segments of s.Panoptic
// with the given ids and classes, in that order.
func checkInstances(t *testing.T, s *data.Sample, cats []data.Category, ids []int32, classes []int) {
	t.Helper()
	if len(s.Instances) != len(ids) {
		t.Fatalf("%d instances, want %d", len(s.Instances), len(ids))
	}
	for k, in := range s.Instances {
		if in.ID != int(ids[k]) || in.Class != classes[k] || in.IsThing != cats[classes[k]].IsThing {
			t.Errorf("instance %d = {ID %d class %d thing %v}, want {ID %d class %d thing %v}",
				k, in.ID, in.Class, in.IsThing, ids[k], classes[k], cats[classes[k]].IsThing)
		}
		if !mask.Equal(in.Mask, maskWhere(s.H, s.W, s.Panoptic, ids[k])) {
			t.Errorf("instance %d (id %d): mask is not Panoptic == id", k, ids[k])
		}
	}
}

func TestLoadInstancesTiny(t *testing.T) {
	d, err := Open(tinySpec(Instances))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.Format() != Instances || d.Name() != "coco" {
		t.Fatalf("Len %d format %s name %s", d.Len(), d.Format(), d.Name())
	}
	cats := d.Categories()
	wantCats := []struct {
		id    int
		name  string
		thing bool
	}{{3, "cat", true}, {7, "grass", false}, {1, "person", true}}
	for k, c := range wantCats {
		if cats[k].ID != c.id || cats[k].Name != c.name || cats[k].IsThing != c.thing {
			t.Errorf("category %d = %+v, want %+v", k, cats[k], c)
		}
	}

	s, err := d.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	if s.H != 5 || s.W != 6 || s.ImageID != data.IntImageID(1) || s.FileName != "000000000001.png" || s.Index != 0 {
		t.Fatalf("sample header %d×%d image %s %q index %d", s.H, s.W, s.ImageID, s.FileName, s.Index)
	}
	for y := 0; y < 5; y++ {
		for x := 0; x < 6; x++ {
			r, g, b := tinyRGB1(y, x)
			i := 3 * (y*6 + x)
			if s.RGB[i] != r || s.RGB[i+1] != g || s.RGB[i+2] != b {
				t.Fatalf("RGB at (%d,%d) = %v, want %v", y, x, s.RGB[i:i+3], []uint8{r, g, b})
			}
		}
	}
	if !slices.Equal(s.Semantic, tinySemantic1) {
		t.Errorf("semantic\n got %v\nwant %v", s.Semantic, tinySemantic1)
	}
	if !slices.Equal(s.Panoptic, tinyInstPanoptic1) {
		t.Errorf("panoptic\n got %v\nwant %v", s.Panoptic, tinyInstPanoptic1)
	}
	checkInstances(t, s.Sample, cats, []int32{1, 2, 3}, []int{1, 0, 2})

	// Annotations: file order, un-occluded masks, crowd flag, segment.
	wantAnns := []struct {
		id, class, area int
		crowd           bool
		segment         int32
	}{
		{10, 1, 12, false, 1}, // grass rows 3–4, all 12 pixels before the person covers 4
		{11, 0, 4, false, 2},  // cat square, 4 pixels before the person covers (2, 2)
		{12, 2, 6, false, 3},  // person
		{13, 2, 4, true, 0},   // crowd: void
		{14, 1, 1, false, 1},  // grass (0, 0): merged into segment 1
	}
	if len(s.Annotations) != len(wantAnns) {
		t.Fatalf("%d annotations, want %d", len(s.Annotations), len(wantAnns))
	}
	for k, w := range wantAnns {
		a := s.Annotations[k]
		if a.ID != w.id || a.Class != w.class || a.Mask.Area() != w.area || a.IsCrowd != w.crowd || a.Segment != w.segment {
			t.Errorf("annotation %d = {%d class %d area %d crowd %v seg %d}, want %+v",
				k, a.ID, a.Class, a.Mask.Area(), a.IsCrowd, a.Segment, w)
		}
	}

	s2, err := d.Load(1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s2.Semantic, tinySemantic2) {
		t.Errorf("image 2 semantic %v, want %v", s2.Semantic, tinySemantic2)
	}
	checkInstances(t, s2.Sample, cats, []int32{1}, []int{0})
	// The JPEG holds a flat (100, 150, 200); JPEG rounding may move it a
	// little.
	for i, v := range s2.RGB {
		want := []int{100, 150, 200}[i%3]
		if d := int(v) - want; d < -3 || d > 3 {
			t.Fatalf("JPEG RGB[%d] = %d, want %d ± 3", i, v, want)
		}
	}

	s3, err := d.Sample(2) // the data.Dataset method
	if err != nil {
		t.Fatal(err)
	}
	if len(s3.Instances) != 0 {
		t.Errorf("image 3 has %d instances, want 0", len(s3.Instances))
	}
	for i := 0; i < 9; i++ {
		g := uint8(10 * i) // grey fixture value
		if s3.Semantic[i] != V || s3.Panoptic[i] != 0 || !slices.Equal(s3.RGB[3*i:3*i+3], []uint8{g, g, g}) {
			t.Fatalf("image 3 pixel %d: sem %d pan %d rgb %v", i, s3.Semantic[i], s3.Panoptic[i], s3.RGB[3*i:3*i+3])
		}
	}
	if _, err := d.Sample(3); err == nil {
		t.Error("Sample(3) of 3: want an error")
	}
}

func TestLoadPanopticTiny(t *testing.T) {
	d, err := Open(tinySpec(Panoptic))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.Format() != Panoptic {
		t.Fatalf("Len %d format %s", d.Len(), d.Format())
	}
	cats := d.Categories()
	if cats[0].Color != [3]uint8{220, 20, 60} || cats[1].IsThing {
		t.Errorf("categories %+v", cats)
	}
	s, err := d.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Semantic, tinySemantic1) {
		t.Errorf("semantic\n got %v\nwant %v", s.Semantic, tinySemantic1)
	}
	if !slices.Equal(s.Panoptic, tinyPanPanoptic1) {
		t.Errorf("panoptic\n got %v\nwant %v", s.Panoptic, tinyPanPanoptic1)
	}
	// segments_info order, without the crowd (5) and the merged grass (9).
	checkInstances(t, s.Sample, cats, []int32{7000, 2, 70001}, []int{1, 0, 2})
	wantAnns := []struct {
		id, class, area int
		crowd           bool
		segment         int32
	}{
		{7000, 1, 8, false, 7000}, {2, 0, 3, false, 2}, {70001, 2, 6, false, 70001},
		{5, 2, 4, true, 0}, {9, 1, 1, false, 7000},
	} // areas: pixels of each id in tinyPanoptic1
	if len(s.Annotations) != len(wantAnns) {
		t.Fatalf("%d annotations, want %d", len(s.Annotations), len(wantAnns))
	}
	for k, w := range wantAnns {
		a := s.Annotations[k]
		if a.ID != w.id || a.Class != w.class || a.Mask.Area() != w.area || a.IsCrowd != w.crowd || a.Segment != w.segment {
			t.Errorf("annotation %d = {%d class %d area %d crowd %v seg %d}, want %+v",
				k, a.ID, a.Class, a.Mask.Area(), a.IsCrowd, a.Segment, w)
		}
	}
	s2, err := d.Load(1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s2.Semantic, tinySemantic2) {
		t.Errorf("image 2 semantic %v, want %v", s2.Semantic, tinySemantic2)
	}
	s3, err := d.Load(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(s3.Instances) != 0 || slices.ContainsFunc(s3.Panoptic, func(v int32) bool { return v != 0 }) {
		t.Errorf("image 3: %d instances, panoptic %v", len(s3.Instances), s3.Panoptic)
	}
}

func TestDescribeAndRegistry(t *testing.T) {
	spec := tinySpec(Panoptic)
	ds, err := data.Open(spec) // registered kind "coco"
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(spec.Annotations)
	sum := sha256.Sum256(raw)
	desc := ds.Describe()
	want := map[string]any{
		"kind": "coco", "format": "panoptic", "split": "val",
		"annotations": spec.Annotations, "annotations_sha256": hex.EncodeToString(sum[:]),
		"images": spec.Images, "panoptic_pngs": spec.PanopticPNGs,
		"n": 3, "n_requested": 0, "images_in_file": 3, "annotations_in_file": 3,
		"categories": 3, "skip_invalid": false,
	}
	for k, v := range want {
		if desc[k] != v {
			t.Errorf("Describe()[%q] = %v, want %v", k, desc[k], v)
		}
	}
	if n := len(desc["skipped_annotations"].(map[string]int)) + len(desc["skipped_images"].(map[string]int)); n != 0 {
		t.Errorf("skipped %v %v", desc["skipped_annotations"], desc["skipped_images"])
	}

	spec = tinySpec(Instances)
	spec.N = 2
	d, err := Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 {
		t.Errorf("N = 2: Len %d", d.Len())
	}
	if id, name := d.ImageInfo(1); id != data.IntImageID(2) || name != "000000000002.jpg" {
		t.Errorf("ImageInfo(1) = %s %q", id, name)
	}
}

// The instance and panoptic fixtures describe the same scenes, so they
// must give the same semantic maps and the same partition into segments.
func TestFormatsAgree(t *testing.T) {
	di, err := Open(tinySpec(Instances))
	if err != nil {
		t.Fatal(err)
	}
	dp, err := Open(tinySpec(Panoptic))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < di.Len(); i++ {
		a, err := di.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := dp.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Semantic, b.Semantic) || !slices.Equal(a.RGB, b.RGB) {
			t.Errorf("image %d: semantic or RGB differ", i)
		}
		if !samePartition(a.Panoptic, b.Panoptic) {
			t.Errorf("image %d: panoptic partitions differ", i)
		}
	}
}

// samePartition reports whether a and b are the same map up to a
// one-to-one renaming of non-zero ids (0 stays 0).
func samePartition(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	ab, ba := map[int32]int32{}, map[int32]int32{}
	for i := range a {
		if (a[i] == 0) != (b[i] == 0) {
			return false
		}
		if v, ok := ab[a[i]]; ok && v != b[i] {
			return false
		}
		if v, ok := ba[b[i]]; ok && v != a[i] {
			return false
		}
		ab[a[i]], ba[b[i]] = b[i], a[i]
	}
	return true
}

// Load is safe for concurrent use and gives the same sample every time.
func TestConcurrentLoad(t *testing.T) {
	d, err := Open(tinySpec(Panoptic))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := d.Sample(0)
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			for k := 0; k < 5; k++ {
				s, err := d.Sample(0)
				if err == nil && !slices.Equal(s.Panoptic, want.Panoptic) {
					err = errors.New("panoptic map differs between loads")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
