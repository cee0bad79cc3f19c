package plots

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Goldens live in testdata/<name>_golden.<format>. Run
//
//	go test ./plots -update
//
// to rewrite them, and look at every regenerated PNG before committing it.
// A mismatch writes the new rendering to testdata/<name>_got.<format>
// (git-ignored) for inspection.
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// checkGolden renders f as format and compares it with its golden file:
// PNGs pixel by pixel (so a change of PNG compression alone does not
// fail), SVGs byte by byte.
func checkGolden(t *testing.T, f *Figure, name, format string) {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Write(&buf, format); err != nil {
		t.Fatalf("%s: write %s: %v", name, format, err)
	}
	golden := filepath.Join("testdata", name+"_golden."+format)
	if runtime.GOARCH != "amd64" && !*update {
		// Font rasterisation and curve flattening round differently
		// where the compiler fuses multiply-adds (arm64, …).
		t.Skipf("%s: goldens are rendered on amd64", name)
	}
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%s: %v (run go test -update to create it)", name, err)
	}
	var same bool
	switch format {
	case "png":
		same = samePixels(t, buf.Bytes(), want)
	default:
		same = bytes.Equal(buf.Bytes(), want)
	}
	if !same {
		got := filepath.Join("testdata", name+"_got."+format)
		_ = os.WriteFile(got, buf.Bytes(), 0o644)
		t.Errorf("%s: rendering differs from %s; see %s", name, golden, got)
	}
}

func samePixels(t *testing.T, a, b []byte) bool {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("decode rendering: %v", err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	return equalImages(ia, ib)
}

func equalImages(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}
	return true
}
