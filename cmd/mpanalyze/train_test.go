package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
	if code != 2 || !strings.Contains(errOut, `unknown pixel decoder "deformable"`) {
		t.Errorf("bad --pixel-decoder: exit %d, %s", code, errOut)
	}
}
