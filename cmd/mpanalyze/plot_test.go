package main

import (
	"bytes"
	"encoding/json"
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
	want := "consecutive_iou iou_to_final util_a util_b util_c empty iou_matrix iou_matrix_diff training"
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

// plot with the publication flags: PDF at 7 × 4 inches, names, y range,
// no titles, and the CSV of everything plotted.
func TestPlotPublication(t *testing.T) {
	ensureCompareFixture(t)
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "data.csv")
	out, errOut, code := runCLI(t, "plot", compareFixture, "--out", dir, "--format", "pdf", "--width", "7", "--height", "4",
		"--font-scale", "1.2", "--no-title", "--label", "mpformer=MPF", "--label", "mask2former=M2F", "--ylim", "20,100",
		"--baseline", "mpformer", "--csv", csvPath, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		CSV     string
		Figures []struct {
			Name  string
			Title string
			Alt   string
			Files []string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if res.CSV != csvPath || len(res.Figures) != 9 {
		t.Fatalf("csv %q, %d figures", res.CSV, len(res.Figures))
	}
	for _, f := range res.Figures {
		b, err := os.ReadFile(f.Files[0])
		if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Errorf("%s: not a PDF (%v)", f.Files[0], err)
		}
		// A 7 × 4 inch page is 504 × 288 points.
		if !bytes.Contains(b, []byte("/MediaBox [0 0 504.00 288.00]")) {
			t.Errorf("%s: no 504 × 288 pt page", f.Files[0])
		}
		if f.Name == "iou_matrix_diff" && !strings.Contains(f.Alt, "M2F − MPF:") {
			t.Errorf("difference map alt %.100q: want M2F − MPF", f.Alt)
		}
	}
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "figure,configuration,name,baseline,seed,step,stage,layers,stage_to,layers_to,image,query,metric,value" {
		t.Errorf("CSV header %q", lines[0])
	}
	if !strings.Contains(string(b), "\nconsecutive_iou,mpformer,MPF,,1,3,0,0,1,1,,,consecutive_iou,") {
		t.Errorf("CSV has no consecutive IoU row of MPF seed 1 at step 3")
	}
}

func TestPlotFlagErrors(t *testing.T) {
	ensureCompareFixture(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "jpg"}, `--format jpg: want one of png, svg, pdf`},
		{[]string{"--width", "-1"}, "--width -1: out of range (want a number in [2, 50], or 0 (each figure's default))"},
		{[]string{"--width", "1"}, "--width 1: out of range"},
		{[]string{"--dpi", "0"}, "--dpi 0: out of range (want a whole number in [10, 2400])"},
		{[]string{"--font-scale", "9"}, "--font-scale 9: out of range (want a number in [0.25, 4])"},
		{[]string{"--label", "mpformer"}, `--label "mpformer": want key=Name`},
		{[]string{"--ylim", "90,10"}, `--ylim "90,10": want lo,hi in percent with lo < hi`},
		{[]string{"--ylim", "x"}, `--ylim "x"`},
	} {
		args := append([]string{"plot", compareFixture, "--out", t.TempDir()}, c.args...)
		_, errOut, code := runCLI(t, args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	// Names that are not configurations: an error naming them (not a
	// usage error: the command line parsed, the runs do not have them).
	for _, c := range []struct{ flag, want string }{
		{"--label=mpformr=MPF", "label mpformr: no such configuration (have mask2former, mpformer)"},
		{"--baseline=m2f", "baseline m2f: no such configuration"},
	} {
		_, errOut, code := runCLI(t, "plot", compareFixture, "--out", t.TempDir(), c.flag)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", c.flag, code, errOut, c.want)
		}
	}
}
