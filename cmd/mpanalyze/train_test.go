package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/run"
)

// TestTrainFlagsMapped fails when train gains a flag that is neither
// mapped to the run.json keys it sets (configFlags, checked on --resume)
// nor listed as outside the config, or when a mapped key is not in
// run.json.
func TestTrainFlagsMapped(t *testing.T) {
	var out bytes.Buffer
	cmd := newTrainCmd(&streams{In: strings.NewReader(""), Out: &out, Err: &out})
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		_, mapped := configFlags[f.Name]
		if mapped == slices.Contains(otherFlags, f.Name) {
			t.Errorf("--%s: want it in exactly one of configFlags and otherFlags", f.Name)
		}
	})
	for name := range configFlags {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("configFlags maps --%s, which train does not have", name)
		}
	}
	// Every key exists in a config whose optional fields are all set.
	rc, err := run.DefaultConfig("mpformer", 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	full := data.Spec{Kind: "coco", Split: "train", Seed: 3, Size: 64, N: 5, Annotations: "a", Images: "i", PanopticPNGs: "p", SkipInvalid: true, MaxThings: 2, ShapeOnly: true}
	rc.Data, rc.Val = full, full
	rc.Train.Precision = "bf16"
	for name, keys := range configFlags {
		for _, k := range keys {
			if jsonAt(&rc, k) == "null" {
				t.Errorf("--%s: run.json has no key %s", name, k)
			}
		}
	}
}

// TestTrainCOCOValidationFiles: --val-annotations makes validation use
// another file (recorded in run.json, no warning); a validation file with
// other categories is refused.
func TestTrainCOCOValidationFiles(t *testing.T) {
	dir := t.TempDir()
	pan, pngs, imgs := fixturePath("panoptic.json"), fixturePath("panoptic"), fixturePath("images")
	val := filepath.Join(dir, "val.json")
	b, err := os.ReadFile(pan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(val, b, 0o644); err != nil {
		t.Fatal(err)
	}
	base := append([]string{"train", "--kind", "coco", "--annotations", pan, "--panoptic-pngs", pngs, "--image-dir", imgs,
		"--steps", "1", "--eval-images", "2"}, tinyModel...)
	out := filepath.Join(dir, "run")
	_, errOut, code := runCLI(t, append(base, "--out", out, "--val-annotations", val, "--val-panoptic-pngs", pngs)...)
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rc, err := run.ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Val.Annotations != val || rc.Val.Images != imgs || rc.Val.PanopticPNGs != pngs || rc.Data.Annotations != pan {
		t.Errorf("run.json data %+v, val %+v", rc.Data, rc.Val)
	}
	_, errOut, code = runCLI(t, append(base, "--out", filepath.Join(dir, "other"), "--val-annotations", fixturePath("instances.json"))...)
	if code != 1 || !strings.Contains(errOut, "has other categories than --annotations") {
		t.Errorf("other categories: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCLI(t, append(base, "--out", filepath.Join(dir, "x"), "--val-panoptic-pngs", pngs)...)
	if code != 2 || !strings.Contains(errOut, "--val-image-dir and --val-panoptic-pngs need --val-annotations") {
		t.Errorf("val PNGs alone: exit %d: %s", code, errOut)
	}
}

// TestTrainResumeFlags: on --resume, flags that agree with run.json are
// accepted (the run's settings come from run.json, so --out and --resume
// are enough), and one that contradicts it names both values.
func TestTrainResumeFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	args := append([]string{"train", "--out", out, "--steps", "2", "--ckpt-every", "1", "--n", "8", "--val-n", "2", "--eval-images", "2", "--mp-noise", "point"}, tinyModel...)
	if _, errOut, code := runCLI(t, args...); code != 0 {
		t.Fatalf("train: %s", errOut)
	}
	for _, c := range []struct {
		flags []string
		code  int
		want  string
	}{
		{nil, 0, "all 2 steps were done already"},
		{[]string{"--steps", "2", "--lr", "0.0003", "--kind", "synthetic", "--queries", "8", "--workers", "1"}, 0, "all 2 steps"},
		{[]string{"--queries", "9"}, 2, "--queries 9 contradicts the run being resumed: model.queries is 8 in " + filepath.Join(out, "run.json") + " but 9 with this flag"},
		{[]string{"--mp-noise", "none"}, 2, `model.mp.noise is "point"`},
		{[]string{"--no-augment"}, 2, "--no-augment true contradicts"},
		{[]string{"--precision", "fp32"}, 0, "all 2 steps"},
		{[]string{"--precision", "bf16"}, 2, `--precision bf16 contradicts the run being resumed: train.precision is null`},
		{[]string{"--precision", "fp16"}, 2, "--precision fp16: want one of fp32, bf16"},
	} {
		stdout, errOut, code := runCLI(t, append([]string{"train", "--out", out, "--resume"}, c.flags...)...)
		if code != c.code || !strings.Contains(stdout+errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.flags, code, stdout, errOut, c.code, c.want)
		}
	}
}

// TestTrainPixelDecoderFlag: --pixel-decoder msdeform (and --enc-layers)
// reach the run's model config, the run trains, and a bad value is a usage
// error naming the cause.
func TestTrainPixelDecoderFlag(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	stdout, errOut, code := runCLI(t, "train", "--pixel-decoder", "msdeform", "--enc-layers", "2", "--steps", "2", "--batch", "2",
		"--image-size", "64", "--size", "64", "--n", "8", "--val-n", "2", "--eval-images", "2", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var sum struct{ Steps int }
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Steps != 2 {
		t.Fatalf("summary %q: %v", stdout, err)
	}
	b, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rc struct {
		Model struct {
			PixelDecoder string `json:"pixel_decoder"`
			MSDeform     struct {
				Layers int `json:"layers"`
			} `json:"msdeform"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Model.PixelDecoder != "msdeform" || rc.Model.MSDeform.Layers != 2 {
		t.Errorf("run.json model: pixel decoder %q, %d encoder layers", rc.Model.PixelDecoder, rc.Model.MSDeform.Layers)
	}
	_, errOut, code = runCLI(t, "train", "--pixel-decoder", "deformable", "--steps", "1", "--out", filepath.Join(t.TempDir(), "x"))
	if code != 2 || !strings.Contains(errOut, `--pixel-decoder deformable: want one of fpn, msdeform`) {
		t.Errorf("bad --pixel-decoder: exit %d, %s", code, errOut)
	}
}
