package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComparePlotPlainRun: compare and plot read plain `train` run
// directories (run.json and train.jsonl, no manifest.json): compare prints
// each run's steps, recent loss and last validation; plot draws their
// training figure; mixing one with an experiment in plot is a usage error.
func TestComparePlotPlainRun(t *testing.T) {
	dir := t.TempDir()
	out, out2 := filepath.Join(dir, "run"), filepath.Join(dir, "run2")
	for i, o := range []string{out, out2} {
		args := append([]string{"train", "--out", o, "--steps", "3", "--eval-every", "2", "--n", "8", "--val-n", "2", "--eval-images", "2",
			"--seed", string(rune('1' + i))}, tinyModel...)
		if _, errOut, code := runCLI(t, args...); code != 0 {
			t.Fatalf("train: %s", errOut)
		}
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
	if code != 0 || json.Unmarshal([]byte(js), &got) != nil || len(got.Training) != 2 {
		t.Fatalf("compare --json: exit %d: %s", code, js)
	}
	for i, o := range []string{out, out2} {
		if r := got.Training[i]; r.Run != o || r.Model != "mask2former" || r.Steps != 3 || r.EvalStep != 3 || r.MIoU == nil {
			t.Errorf("compare --json row %+v", r)
		}
	}
	text, _, code = runCLI(t, "compare", out, out2)
	if code != 0 || !strings.Contains(text, out) || !strings.Contains(text, out2) {
		t.Fatalf("compare of two runs: exit %d\n%s", code, text)
	}
	figs := filepath.Join(dir, "figs")
	_, errOut, code = runCLI(t, "plot", out, out2, "--out", figs)
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
