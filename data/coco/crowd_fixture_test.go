package coco

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
)

// The fixture under testdata/crowd follows the COCO formats with what real
// files have and the tiny fixture lacks: RGB-encoded segment ids that need
// all three channels, non-contiguous category ids (person 1, dog 18,
// sky-other-merged 187, grass-merged 193), crowd segments of a thing
// (person) and of a stuff class (grass), VOID pixels, three image sizes
// (120×160, 100×60, 30×40, H×W), a grayscale JPEG and an image with no
// segment; and predictions in the two results formats of the reference
// tools. testdata/crowd/README.md lists every region; the JSON files are
// written by hand, the images, PNGs and the RLE strings of the results file
// by this file (go test -run TestCrowdFixture -update).
const crowdDir = "testdata/crowd"

// rect is the pixel set y ∈ [Y0, Y1), x ∈ [X0, X1) painted with ID.
type rect struct {
	ID             int32
	X0, Y0, X1, Y1 int
}

// paintIDs paints rects in order (later on top) on an h×w map of zeros.
func paintIDs(h, w int, rs ...rect) []int32 {
	ids := make([]int32, h*w)
	for _, r := range rs {
		for y := r.Y0; y < r.Y1; y++ {
			for x := r.X0; x < r.X1; x++ {
				ids[y*w+x] = r.ID
			}
		}
	}
	return ids
}

// The ground truth of image 139 (120×160): sky on top, a large person,
// a crowd of people, grass with a dog on it and a crowd region of grass,
// and a 10×10 VOID hole.
var (
	crowdGT139 = paintIDs(120, 160,
		rect{4194432, 0, 0, 160, 20},      // sky (187): 3200 px
		rect{2330219, 0, 20, 100, 120},    // person P1 (1): 10000 px, large
		rect{5263440, 100, 20, 160, 60},   // person crowd C1 (1): 2400 px
		rect{65793, 100, 60, 160, 120},    // grass (193), minus what follows: 2500 px
		rect{12345, 110, 60, 140, 80},     // dog D1 (18): 600 px, small
		rect{8421504, 140, 100, 160, 120}, // grass crowd (193): 400 px
		rect{0, 100, 80, 110, 90},         // VOID: 100 px
	)
	// Image 285 (100×60, a grey JPEG): a dog over sky, a small person.
	crowdGT285 = paintIDs(100, 60,
		rect{6579300, 0, 0, 60, 50},  // dog D2 (18): 3000 px, medium
		rect{197121, 0, 50, 60, 100}, // sky (187), minus what follows: 2400 px
		rect{70001, 0, 50, 20, 70},   // person P2 (1): 400 px, small
		rect{0, 40, 90, 60, 100},     // VOID: 200 px
	)
	// Image 632 (30×40): no segment.
	crowdGT632 = make([]int32, 30*40)

	crowdPred139 = paintIDs(120, 160,
		rect{1, 0, 0, 160, 20},     // sky
		rect{2, 0, 20, 92, 120},    // person: 9200 px of P1
		rect{3, 100, 20, 160, 60},  // person on the crowd C1
		rect{4, 110, 60, 130, 80},  // dog: 400 px of D1
		rect{5, 130, 60, 160, 80},  // dog: 200 px of D1, 400 of grass
		rect{6, 100, 80, 160, 120}, // grass
	)
	crowdPred285 = paintIDs(100, 60,
		rect{1, 0, 0, 60, 42},   // dog: 2520 px of D2
		rect{2, 0, 42, 60, 50},  // grass, on the dog
		rect{3, 0, 50, 60, 100}, // sky
	)
	crowdPred632 = make([]int32, 30*40)
)

// crowdDetections are the instance results (image id, category id, score,
// the mask's rectangle).
var crowdDetections = []struct {
	image, cat int
	score      float64
	r          rect
}{
	{139, 1, 0.9, rect{0, 0, 20, 92, 120}},    // d1: IoU 9200/10000 = 0.92 with P1
	{139, 1, 0.8, rect{0, 100, 20, 160, 60}},  // d2: on the crowd C1 (crowd IoU 1)
	{139, 1, 0.7, rect{0, 100, 60, 140, 100}}, // d3: no person there (1600 px)
	{139, 18, 0.6, rect{0, 110, 60, 130, 80}}, // d4: IoU 400/600 with D1
	{285, 18, 0.95, rect{0, 0, 0, 60, 42}},    // d5: IoU 2520/3000 = 0.84 with D2
	{285, 1, 0.5, rect{0, 0, 50, 20, 70}},     // d6: P2 exactly
	{139, 187, 0.99, rect{0, 0, 0, 160, 20}},  // sky: not a category of instances.json
}

// crowdImages draws the images: 139 an RGB JPEG of flat colours, 285 a
// grey JPEG, 632 an RGB PNG.
func crowdImages() map[string]image.Image {
	a := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for i, id := range crowdGT139 {
		a.Set(i%160, i/160, color.RGBA{uint8(id * 37), uint8(id >> 8), uint8(id >> 16), 255})
	}
	b := image.NewGray(image.Rect(0, 0, 60, 100))
	for i, id := range crowdGT285 {
		b.Pix[i] = uint8(40 + id%200)
	}
	c := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := 0; i < 30*40; i++ {
		c.Set(i%40, i/40, color.RGBA{uint8(6 * (i % 40)), uint8(8 * (i / 40)), 90, 255})
	}
	return map[string]image.Image{"images/000000000139.jpg": a, "images/000000000285.jpg": b, "images/000000000632.png": c}
}

func crowdPNGs() map[string][]int32 {
	return map[string][]int32{
		"panoptic/000000000139.png": crowdGT139, "panoptic/000000000285.png": crowdGT285, "panoptic/000000000632.png": crowdGT632,
		"predictions/panoptic_results/000000000139.png": crowdPred139,
		"predictions/panoptic_results/000000000285.png": crowdPred285,
		"predictions/panoptic_results/000000000632.png": crowdPred632,
	}
}

var crowdSizes = map[int][2]int{139: {120, 160}, 285: {100, 60}, 632: {30, 40}}

func crowdResultsJSON() []byte {
	var preds []InstancePrediction
	for _, d := range crowdDetections {
		hw := crowdSizes[d.image]
		m := mask.FromFunc(hw[0], hw[1], func(i int) bool {
			y, x := i/hw[1], i%hw[1]
			return y >= d.r.Y0 && y < d.r.Y1 && x >= d.r.X0 && x < d.r.X1
		})
		preds = append(preds, InstancePrediction{ImageID: data.IntImageID(d.image), CategoryID: d.cat, Score: d.score, Mask: m})
	}
	dir, err := os.MkdirTemp("", "crowd_results")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	w, err := NewResultsWriter(dir)
	if err == nil {
		err = w.AddInstances(preds)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		panic(err)
	}
	path, _, _ := ResultsPaths(dir)
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}

// TestCrowdFixture checks that the committed files are what this file
// describes (with -update it writes them), and that the hand-written
// JSON's areas and boxes are those of the painted regions.
func TestCrowdFixture(t *testing.T) {
	for name, img := range crowdImages() {
		path := filepath.Join(crowdDir, name)
		var buf bytes.Buffer
		var err error
		if filepath.Ext(name) == ".jpg" {
			err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
		} else {
			err = png.Encode(&buf, img)
		}
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with go test -run TestCrowdFixture -update)", err)
		}
		gi, _, err := image.Decode(bytes.NewReader(got))
		if err != nil || gi.Bounds() != img.Bounds() {
			t.Fatalf("%s: %v, bounds %v", path, err, gi.Bounds())
		}
		if _, grey := gi.(*image.Gray); grey != (name == "images/000000000285.jpg") {
			t.Errorf("%s: decoded as %T", path, gi)
		}
	}
	for name, ids := range crowdPNGs() {
		path := filepath.Join(crowdDir, name)
		b := crowdSizes[map[string]int{"000000000139.png": 139, "000000000285.png": 285, "000000000632.png": 632}[filepath.Base(name)]]
		if *update {
			var buf bytes.Buffer
			if err := writeIDPNG(&buf, b[0], b[1], ids); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		img, err := readImage(path, b[0], b[1])
		if err != nil {
			t.Fatal(err)
		}
		if got := idsFromImage(img); !bytes.Equal(int32Bytes(got), int32Bytes(ids)) {
			t.Errorf("%s differs from the fixture (regenerate with -update)", path)
		}
	}
	resPath := filepath.Join(crowdDir, "predictions", "instances_results.json")
	if *update {
		if err := os.WriteFile(resPath, crowdResultsJSON(), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if got, err := os.ReadFile(resPath); err != nil || !bytes.Equal(got, crowdResultsJSON()) {
		t.Errorf("%s differs from the fixture (regenerate with -update): %v", resPath, err)
	}

	// The hand-written areas and boxes of panoptic.json.
	var f struct {
		Annotations []struct {
			ImageID      int `json:"image_id"`
			SegmentsInfo []struct {
				ID   int32  `json:"id"`
				Area int    `json:"area"`
				BBox [4]int `json:"bbox"`
			} `json:"segments_info"`
		} `json:"annotations"`
	}
	raw, err := os.ReadFile(filepath.Join(crowdDir, "panoptic.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	gts := map[int][]int32{139: crowdGT139, 285: crowdGT285, 632: crowdGT632}
	for _, a := range f.Annotations {
		hw := crowdSizes[a.ImageID]
		for _, s := range a.SegmentsInfo {
			m := mask.FromFunc(hw[0], hw[1], func(i int) bool { return gts[a.ImageID][i] == s.ID })
			if m.Area() != s.Area || bboxOf(m) != s.BBox {
				t.Errorf("image %d segment %d: area %d bbox %v in the JSON, %d %v painted", a.ImageID, s.ID, s.Area, s.BBox, m.Area(), bboxOf(m))
			}
		}
	}
}

func int32Bytes(v []int32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return b
}
