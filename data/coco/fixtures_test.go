package coco

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the image fixtures under testdata/tiny")

const tinyDir = "testdata/tiny"

// tinyPanoptic1 is the raw id map of testdata/tiny/panoptic/000000000001.png
// (5 rows × 6 columns), matching panoptic.json: 7000 and 9 are grass
// (stuff; 9 is a second grass segment that Load merges into 7000), 2 a
// cat, 70001 a person, 5 a crowd of people, 0 void. It is the same scene
// as image 1 of instances.json: 7000 = annotation 10 minus what later
// annotations cover, 9 = annotation 14, 2 = annotation 11 minus the
// person, 70001 = annotation 12, 5 = crowd annotation 13.
var tinyPanoptic1 = []int32{
	9, 0, 0, 0, 5, 5,
	0, 2, 2, 0, 5, 5,
	0, 2, 70001, 70001, 0, 0,
	7000, 7000, 70001, 70001, 7000, 7000,
	7000, 7000, 70001, 70001, 7000, 7000,
}

// tinyPanoptic2 is the 4×4 id map of image 2: the cat triangle of
// annotation 20, whose pixels TestPolygonHandComputed derives by hand.
var tinyPanoptic2 = []int32{
	1, 1, 1, 0,
	1, 1, 0, 0,
	1, 0, 0, 0,
	0, 0, 0, 0,
}

// tinyRGB1 is image 1's colour at (y, x): a gradient that makes the pixel
// order visible.
func tinyRGB1(y, x int) (r, g, b uint8) { return uint8(40 * x), uint8(50 * y), 200 }

type fixture struct {
	path string
	img  image.Image
	jpeg bool
}

func idImage(h, w int, ids []int32) image.Image {
	var buf bytes.Buffer
	if err := writeIDPNG(&buf, h, w, ids); err != nil {
		panic(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		panic(err)
	}
	return img
}

func tinyFixtures() []fixture {
	im1 := image.NewRGBA(image.Rect(0, 0, 6, 5))
	for y := 0; y < 5; y++ {
		for x := 0; x < 6; x++ {
			r, g, b := tinyRGB1(y, x)
			im1.Set(x, y, color.RGBA{r, g, b, 255})
		}
	}
	// A flat colour survives JPEG almost exactly.
	im2 := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := 0; i < 16; i++ {
		im2.Set(i%4, i/4, color.RGBA{100, 150, 200, 255})
	}
	// A grey PNG exercises the grey → RGB path.
	im3 := image.NewGray(image.Rect(0, 0, 3, 3))
	for i := range im3.Pix {
		im3.Pix[i] = uint8(10 * i)
	}
	return []fixture{
		{path: "images/000000000001.png", img: im1},
		{path: "images/000000000002.jpg", img: im2, jpeg: true},
		{path: "images/000000000003.png", img: im3},
		{path: "panoptic/000000000001.png", img: idImage(5, 6, tinyPanoptic1)},
		{path: "panoptic/000000000002.png", img: idImage(4, 4, tinyPanoptic2)},
		{path: "panoptic/000000000003.png", img: idImage(3, 3, make([]int32, 9))},
	}
}

func encodeFixture(f fixture) []byte {
	var buf bytes.Buffer
	var err error
	if f.jpeg {
		err = jpeg.Encode(&buf, f.img, &jpeg.Options{Quality: 95})
	} else {
		err = png.Encode(&buf, f.img)
	}
	if err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// TestFixtures checks that the committed images decode to what
// tinyFixtures describes (with -update it writes them).
func TestFixtures(t *testing.T) {
	for _, f := range tinyFixtures() {
		path := filepath.Join(tinyDir, f.path)
		want := encodeFixture(f)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with go test -run TestFixtures -update)", err)
		}
		gi, _, err := image.Decode(bytes.NewReader(got))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		wi, _, _ := image.Decode(bytes.NewReader(want))
		if !bytes.Equal(toRGB(gi), toRGB(wi)) {
			t.Errorf("%s differs from the fixture generator (regenerate with -update)", path)
		}
	}
}

// copyTiny copies testdata/tiny into a fresh temporary directory, for
// tests that damage files.
func copyTiny(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(tinyDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tinyDir, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
