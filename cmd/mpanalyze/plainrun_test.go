package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComparePlotPlainRun: compare and plot read a plain `train` run
// directory (run.json and train.jsonl, no manifest.json): compare prints
// its steps, recent loss and last validation; plot draws its training
// figure; mixing it with an experiment in plot is a usage error.
func TestComparePlotPlainRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	args := append([]string{"train", "--out", out, "--steps", "3", "--eval-every", "2", "--n", "8", "--val-n", "2", "--eval-images", "2"}, tinyModel...)
	if _, errOut, code := runCLI(t, args...); code != 0 {
		t.Fatalf("train: %s", errOut)
	}
	text, errOut, code := runCLI(t, "compare", out)
	if code != 0 || !strings.Contains(text, "Training runs") || !strings.Contains(text, out) || !strings.Contains(text, "3 of 3") {
		t.Fatalf("compare: exit %d\n%s\n%s", code, text, errOut)
	}
	js, _, code := runCLI(t, "compare", dir, "--json") // a directory above the run
	var got struct {
		Training []struct {
			Run      string
			Model    string
			Steps    int
			EvalStep int `json:"eval_step"`
			MIoU     *float64
		}
	}
	if code != 0 || json.Unmarshal([]byte(js), &got) != nil || len(got.Training) != 1 {
		t.Fatalf("compare --json: exit %d: %s", code, js)
	}
	if r := got.Training[0]; r.Run != out || r.Model != "mask2former" || r.Steps != 3 || r.EvalStep != 3 || r.MIoU == nil {
		t.Errorf("compare --json row %+v", r)
	}
	figs := filepath.Join(dir, "figs")
	_, errOut, code = runCLI(t, "plot", out, "--out", figs)
	if code != 0 {
		t.Fatalf("plot: exit %d: %s", code, errOut)
	}
	for _, f := range []string{"training.png", "training.svg"} {
		if st, err := os.Stat(filepath.Join(figs, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	_, errOut, code = runCLI(t, "plot", out, compareFixture, "--out", figs)
	if code != 2 || !strings.Contains(errOut, "is a plain train run and") {
		t.Errorf("plot of a plain run and an experiment: exit %d: %s", code, errOut)
	}
}
