package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plot on the compare fixture, which has no traces: every figure but the
// mask evolution, and a note saying why.
func TestPlotFixture(t *testing.T) {
	ensureCompareFixture(t)
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "plot", compareFixture, "--out", dir, "--format", "png")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "no mask-evolution figure") {
		t.Errorf("stderr %q", errOut)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		names = append(names, strings.Fields(line)[0])
	}
	want := "consecutive_iou iou_to_final util_a util_b util_c empty iou_matrix_mask2former iou_matrix_mpformer training"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("figures %s, want %s", got, want)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() < 200 {
			t.Errorf("%s.png: %v", n, err)
		}
	}
}
