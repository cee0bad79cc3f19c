package coco

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
)

// edit replaces the single occurrence of old in file dir/rel with new.
func edit(t *testing.T, dir, rel, old, new string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", rel, old, n)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writePNG(t *testing.T, path string, h, w int) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func specIn(dir string, format Format) data.Spec {
	s := data.Spec{Kind: "coco", Images: filepath.Join(dir, "images")}
	if format == Panoptic {
		s.Annotations = filepath.Join(dir, "panoptic.json")
		s.PanopticPNGs = filepath.Join(dir, "panoptic")
	} else {
		s.Annotations = filepath.Join(dir, "instances.json")
	}
	return s
}

// Each bad input gives one *Error of its own kind that names the file and
// the image / annotation / segment; under SkipInvalid the same input opens
// and the dropped item is counted.
func TestBadInput(t *testing.T) {
	const inst, pan = "instances.json", "panoptic.json"
	cases := []struct {
		name    string
		format  Format
		damage  func(t *testing.T, dir string)
		kind    error
		file    string // relative to the fixture copy
		img     int
		ann     int
		seg     int
		text    string // also in the message
		atLoad  int    // sample whose Load fails, or -1: Open fails
		notSkip bool   // SkipInvalid does not apply
		// with SkipInvalid: Len, counts, and a check of the loaded data
		len       int
		skipAnns  map[string]int
		skipImgs  map[string]int
		loadSkips map[string]int
	}{
		{
			name: "malformed JSON", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `"image_id": 2, "category_id": 3,`, `"image_id": 2 "category_id": 3,`)
			},
			// Annotation 20 is on line 18 of instances.json; the quote
			// after the missing comma is column 4 + len(`{"id": 20,
			// "image_id": 2 `) + 1 = 31.
			kind: ErrMalformedJSON, file: inst, img: NoID, ann: NoID, seg: NoID, text: "line 18, column 31", atLoad: -1, notSkip: true,
		},
		{
			name: "missing image file", format: Instances,
			damage: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "images/000000000002.jpg")) },
			kind:   ErrMissingImage, file: "images/000000000002.jpg", img: 2, ann: NoID, seg: NoID, atLoad: -1,
			len: 2, skipImgs: map[string]int{"missing_image": 1},
		},
		{
			name: "undecodable image file", format: Instances,
			damage: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "images/000000000003.png"), []byte("not a PNG"), 0o644)
			},
			kind: ErrBadImage, file: "images/000000000003.png", img: 3, ann: NoID, seg: NoID, atLoad: -1,
			len: 2, skipImgs: map[string]int{"bad_image": 1},
		},
		{
			name: "image size differs from JSON", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `"file_name": "000000000003.png", "height": 3, "width": 3`, `"file_name": "000000000003.png", "height": 3, "width": 4`)
			},
			kind: ErrSizeMismatch, file: "images/000000000003.png", img: 3, ann: NoID, seg: NoID, text: "file is 3×3", atLoad: -1,
			len: 2, skipImgs: map[string]int{"size_mismatch": 1},
		},
		{
			// W = 6: x = 7 (W + 1) is accepted, 7.5 is not.
			name: "polygon outside the image", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `[[1, 1, 3, 1, 3, 3, 1, 3]]`, `[[1, 1, 7.5, 1, 3, 3, 1, 3]]`)
			},
			kind: ErrPolygonOutside, file: inst, img: 1, ann: 11, seg: NoID, text: "(7.5, 1)", atLoad: -1,
			len: 3, skipAnns: map[string]int{"polygon_outside": 1},
		},
		{
			// 3+2+…+3 = 31 ≠ 5·6.
			name: "uncompressed RLE counts do not add up", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `[3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2]`, `[3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 3]`)
			},
			kind: ErrRLECounts, file: inst, img: 1, ann: 10, seg: NoID, text: "add up to 31", atLoad: -1,
			len: 3, skipAnns: map[string]int{"rle_counts": 1},
		},
		{
			// "<3209" = counts 12 3 2 3 (9+2 = 11): sum 31 ≠ 30.
			name: "compressed RLE counts do not add up", format: Instances,
			damage: func(t *testing.T, dir string) { edit(t, dir, inst, `"<3208"`, `"<3209"`) },
			kind:   ErrRLECounts, file: inst, img: 1, ann: 12, seg: NoID, text: "add up to 31", atLoad: -1,
			len: 3, skipAnns: map[string]int{"rle_counts": 1},
		},
		{
			name: "RLE size differs from the image", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `"size": [5, 6], "counts": "<3208"`, `"size": [6, 5], "counts": "<3208"`)
			},
			kind: ErrSizeMismatch, file: inst, img: 1, ann: 12, seg: NoID, atLoad: -1,
			len: 3, skipAnns: map[string]int{"size_mismatch": 1},
		},
		{
			name: "unknown category", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `{"id": 12, "image_id": 1, "category_id": 1,`, `{"id": 12, "image_id": 1, "category_id": 99,`)
			},
			kind: ErrUnknownCategory, file: inst, img: 1, ann: 12, seg: NoID, text: "99", atLoad: -1,
			len: 3, skipAnns: map[string]int{"unknown_category": 1},
		},
		{
			name: "unknown image", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `{"id": 20, "image_id": 2,`, `{"id": 20, "image_id": 42,`)
			},
			kind: ErrUnknownImage, file: inst, img: NoID, ann: 20, seg: NoID, text: "42", atLoad: -1,
			len: 3, skipAnns: map[string]int{"unknown_image": 1},
		},
		{
			name: "polygon with an odd number of coordinates", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `[[0, 0, 1, 0, 1, 1, 0, 1]]`, `[[0, 0, 1, 0, 1, 1, 0]]`)
			},
			kind: ErrMalformed, file: inst, img: 1, ann: 14, seg: NoID, text: "7 coordinates", atLoad: -1,
			len: 3, skipAnns: map[string]int{"malformed": 1},
		},
		{
			name: "iscrowd neither 0/1 nor a boolean", format: Instances,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, inst, `{"id": 12, "image_id": 1, "category_id": 1, "iscrowd": 0,`, `{"id": 12, "image_id": 1, "category_id": 1, "iscrowd": "yes",`)
			},
			kind: ErrMalformed, file: inst, img: 1, ann: 12, seg: NoID, text: `iscrowd is "yes"`, atLoad: -1,
			len: 3, skipAnns: map[string]int{"malformed": 1},
		},
		{
			name: "panoptic file without a PNG directory", format: Instances,
			damage: func(t *testing.T, dir string) {
				os.Rename(filepath.Join(dir, pan), filepath.Join(dir, inst))
			},
			kind: ErrMalformed, file: inst, img: NoID, ann: NoID, seg: NoID, text: "segments_info", atLoad: -1, notSkip: true,
		},
		{
			name: "PNG id not in the JSON", format: Panoptic,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, pan, `{"id": 70001, "category_id": 1, "iscrowd": 0, "area": 6, "bbox": [2, 2, 2, 3]},`, ``)
			},
			kind: ErrPanopticIDs, file: "panoptic/000000000001.png", img: 1, ann: NoID, seg: NoID, text: "PNG ids [70001]", atLoad: 0,
			len: 3, loadSkips: map[string]int{"unknown_png_ids": 1},
		},
		{
			name: "JSON segment absent from the PNG", format: Panoptic,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, pan, `{"id": 1, "category_id": 3,`, `{"id": 123, "category_id": 3}, {"id": 1, "category_id": 3,`)
			},
			kind: ErrPanopticIDs, file: "panoptic/000000000002.png", img: 2, ann: NoID, seg: NoID, text: "segments [123]", atLoad: 1,
			len: 3, loadSkips: map[string]int{"absent_segments": 1},
		},
		{
			name: "missing panoptic PNG", format: Panoptic,
			damage: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "panoptic/000000000002.png")) },
			kind:   ErrMissingImage, file: "panoptic/000000000002.png", img: 2, ann: NoID, seg: NoID, atLoad: -1,
			len: 2, skipImgs: map[string]int{"missing_image": 1},
		},
		{
			name: "panoptic PNG size differs", format: Panoptic,
			damage: func(t *testing.T, dir string) { writePNG(t, filepath.Join(dir, "panoptic/000000000003.png"), 4, 4) },
			kind:   ErrSizeMismatch, file: "panoptic/000000000003.png", img: 3, ann: NoID, seg: NoID, text: "4×4", atLoad: -1,
			len: 2, skipImgs: map[string]int{"size_mismatch": 1},
		},
		{
			// Skipped, segment 2's pixels become void (not "unknown").
			name: "panoptic unknown category", format: Panoptic,
			damage: func(t *testing.T, dir string) {
				edit(t, dir, pan, `{"id": 2, "category_id": 3,`, `{"id": 2, "category_id": 4,`)
			},
			kind: ErrUnknownCategory, file: pan, img: 1, ann: NoID, seg: 2, text: "category_id 4", atLoad: -1,
			len: 3, skipAnns: map[string]int{"unknown_category": 1},
		},
		{
			name: "instance file with a PNG directory", format: Panoptic,
			damage: func(t *testing.T, dir string) {
				os.Rename(filepath.Join(dir, inst), filepath.Join(dir, pan))
			},
			kind: ErrMalformed, file: pan, img: NoID, ann: NoID, seg: NoID, text: "no segments_info", atLoad: -1, notSkip: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTiny(t)
			c.damage(t, dir)
			spec := specIn(dir, c.format)
			d, err := Open(spec)
			if c.atLoad >= 0 {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				_, err = d.Sample(c.atLoad)
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v is not an *Error", err)
			}
			file := filepath.Join(dir, c.file)
			wantImg := data.ImageID("")
			if c.img != NoID {
				wantImg = data.IntImageID(c.img)
			}
			if e.File != file || e.ImageID != wantImg || e.AnnotationID != c.ann || e.SegmentID != c.seg {
				t.Errorf("Error{File %s image %s ann %d seg %d}, want {%s %s %d %d}",
					e.File, e.ImageID, e.AnnotationID, e.SegmentID, file, wantImg, c.ann, c.seg)
			}
			msg := err.Error()
			for _, part := range []string{file, c.text} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
			for id, word := range map[int]string{c.img: "image", c.ann: "annotation", c.seg: "segment"} {
				if id != NoID && !strings.Contains(msg, word+" "+strconv.Itoa(id)) {
					t.Errorf("message %q lacks %s %d", msg, word, id)
				}
			}

			spec.SkipInvalid = true
			d, err = Open(spec)
			if c.notSkip {
				if !errors.Is(err, c.kind) {
					t.Fatalf("SkipInvalid: err = %v, want %v", err, c.kind)
				}
				return
			}
			if err != nil {
				t.Fatalf("SkipInvalid: %v", err)
			}
			if d.Len() != c.len {
				t.Errorf("SkipInvalid: Len %d, want %d", d.Len(), c.len)
			}
			for i := 0; i < d.Len(); i++ {
				if _, err := d.Sample(i); err != nil {
					t.Errorf("SkipInvalid: Sample(%d): %v", i, err)
				}
			}
			d.Sample(0) // loading twice counts once
			desc := d.Describe()
			for key, want := range map[string]map[string]int{"skipped_annotations": c.skipAnns, "skipped_images": c.skipImgs} {
				got := desc[key].(map[string]int)
				if !maps.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("Describe()[%q] = %v, want %v", key, got, want)
				}
			}
			if got := d.SkippedOnLoad(); !maps.Equal(got, c.loadSkips) && !(len(got) == 0 && len(c.loadSkips) == 0) {
				t.Errorf("SkippedOnLoad() = %v, want %v", got, c.loadSkips)
			}
		})
	}
}

// A polygon vertex exactly 1 px outside is accepted (and clipped).
func TestPolygonOnTolerance(t *testing.T) {
	dir := copyTiny(t)
	edit(t, dir, "instances.json", `[[1, 1, 3, 1, 3, 3, 1, 3]]`, `[[-1, -1, 7, -1, 7, 6, -1, 6]]`)
	d, err := Open(specIn(dir, Instances))
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	if a := s.Annotations[1]; a.ID != 11 || a.Mask.Area() != 30 {
		t.Errorf("annotation %d area %d, want 11 covering all 30 pixels", a.ID, a.Mask.Area())
	}
}

// Under SkipInvalid the data left is consistent: the PNG id that is not in
// the JSON (the person, 70001) is void, everything else as before.
func TestSkipUnknownPNGIDs(t *testing.T) {
	dir := copyTiny(t)
	edit(t, dir, "panoptic.json", `{"id": 70001, "category_id": 1, "iscrowd": 0, "area": 6, "bbox": [2, 2, 2, 3]},`, ``)
	spec := specIn(dir, Panoptic)
	spec.SkipInvalid = true
	d, err := Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range tinyPanPanoptic1 {
		want := id
		if id == 70001 {
			want = 0
		}
		if s.Panoptic[i] != want {
			t.Fatalf("panoptic[%d] = %d, want %d", i, s.Panoptic[i], want)
		}
	}
	checkInstances(t, s.Sample, d.Categories(), []int32{7000, 2}, []int{1, 0})
}

// Opening damaged variants of the fixtures never panics.
func FuzzOpenInstances(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join(tinyDir, "instances.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"images":[],"annotations":[],"categories":[]}`))
	f.Add([]byte(`{"images":[{"id":1,"file_name":"000000000001.png","height":5,"width":6}],"categories":[{"id":1}],` +
		`"annotations":[{"id":1,"image_id":1,"category_id":1,"segmentation":{"size":[5,6],"counts":"0o"}}]}`))
	f.Add([]byte(`[]`))
	images, _ := filepath.Abs(filepath.Join(tinyDir, "images"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "a.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, skip := range []bool{false, true} {
			d, err := Open(data.Spec{Annotations: p, Images: images, SkipInvalid: skip})
			if err != nil {
				continue
			}
			for i := 0; i < d.Len(); i++ {
				d.Sample(i)
			}
		}
	})
}
