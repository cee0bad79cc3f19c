package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the goldens (ablate, compare, analyze) and the compare fixture in testdata/")

// tinySpecYAML is a two-point, two-seed experiment of 3-step runs of a
// tiny model on 4 validation images of 64 px (a fraction of a second each).
const tinySpecYAML = `name: tiny
base:
  steps: 3
  val_images: 4
  data: {size: 64}
  snapshots: [0.34, 1]
  set: {image_size: 64, queries: 8, hidden: 32, ffn: 64, heads: 4, backbone_widths: [16, 16, 32, 32], pixel_dim: 32, mask_dim: 32, batch: 2}
grid:
  - name: mask2former
    set: {arch: mask2former}
  - name: mpformer
    set: {arch: mpformer}
seeds: [1, 2]
`

func writeTiny(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(p, []byte(tinySpecYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// goldenExp compares got with testdata/<name> (rewritten with
// -update).
func goldenExp(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

func TestAblateList(t *testing.T) {
	out, errOut, code := runCLI(t, "ablate", "noise_ratio", "--list", "--seeds", "1", "--steps", "400")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	goldenExp(t, "ablate/list_noise_ratio.golden", out)
	out, _, code = runCLI(t, "ablate", "schedule", "--list", "--json", "--out", "x")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var got struct {
		Experiment string
		Runs       []ablateRun
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Experiment != "schedule" || len(got.Runs) != 12 || got.Runs[9].Point != "mpformer-quarter" || got.Runs[9].Steps != 375 ||
		got.Runs[9].Dir != filepath.Join("x", "mpformer-quarter", "seed-1") || got.Runs[10].Seed != 2 || got.Runs[3].Point != "mask2former-half" || got.Runs[3].Steps != 750 {
		t.Errorf("list %+v", got)
	}
}

func TestExperimentCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(tinySpecYAML, "mask_dim: 32", "mask_dims: 32", 1)), 0o644)
	badType := filepath.Join(dir, "badtype.yaml")
	os.WriteFile(badType, []byte(strings.Replace(tinySpecYAML, "{arch: mpformer}", "{arch: mpformer, mp.noise_ratio: lots}", 1)), 0o644)
	noRuns := filepath.Join(dir, "empty")
	os.MkdirAll(noRuns, 0o755)
	for _, c := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"ablate", "no_such_spec"}, 1, []string{"no_such_spec: no such file, and not a built-in spec", "diagnosis"}},
		{[]string{"ablate", bad, "--list"}, 1, []string{"spec " + bad, `base.set: key "mask_dims"`, "did you mean mask_dim"}},
		{[]string{"ablate", badType, "--list"}, 1, []string{"spec " + badType, `point "mpformer": key "mp.noise_ratio": want a number, got the string "lots"`}},
		{[]string{"ablate", "diagnosis", "--index", "2", "--out", dir}, 2, []string{"--index 2: diagnosis has 2 runs (0..1)"}},
		{[]string{"ablate", "diagnosis", "--steps", "-1"}, 2, []string{"--steps -1: out of range (want a whole number ≥ 1, or 0 (the spec's base.steps))"}},
		{[]string{"ablate"}, 2, []string{"accepts 1 arg"}},
		{[]string{"compare"}, 2, []string{"requires at least 1 arg"}},
		{[]string{"compare", noRuns}, 1, []string{noRuns + " holds no run"}},
		{[]string{"compare", noRuns, "--format", "xml"}, 2, []string{`--format xml: want one of text, markdown, csv, json`}},
		{[]string{"compare", noRuns, "--snapshot", "late"}, 2, []string{`--snapshot "late"`}},
		{[]string{"compare", noRuns, "--columns", "cons,speed"}, 2, []string{`unknown column "speed"`}},
		{[]string{"compare", filepath.Join(dir, "missing")}, 1, []string{"missing: no such file"}},
		{[]string{"plot", noRuns}, 2, []string{"--out is required"}},
		{[]string{"plot", noRuns, "--out", dir, "--format", "eps"}, 2, []string{`--format eps: want one of png, svg, pdf`}},
		{[]string{"reproduce", "--image-size", "50"}, 2, []string{"--image-size 50"}},
		{[]string{"reproduce", "--steps", "-1"}, 2, []string{"--steps -1: out of range (want a whole number ≥ 1, or 0 (the preset's length)"}},
	} {
		_, errOut, code := runCLI(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q lacks %q", c.args, errOut, w)
			}
		}
	}
}

// TestAblateCompareRun runs a tiny experiment through ablate (JSON), again
// (everything skipped), with --index, then compare and plot on it.
func TestAblateCompareRun(t *testing.T) {
	spec := writeTiny(t)
	out := filepath.Join(t.TempDir(), "out")
	// --index 3 alone first: the last run (mpformer seed 2).
	stdout, errOut, code := runCLI(t, "ablate", spec, "--out", out, "--index", "3")
	if code != 0 {
		t.Fatalf("ablate --index 3: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(stdout, "3  mpformer") || !strings.Contains(stdout, "done") || strings.Contains(stdout, "Ablation") {
		t.Errorf("ablate --index output:\n%s", stdout)
	}
	stdout, errOut, code = runCLI(t, "ablate", spec, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("ablate: exit %d\n%s", code, errOut)
	}
	var res struct {
		Experiment string
		Runs       []struct {
			Index  int
			Status string
		}
		Ablation []map[string]any
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.Experiment != "tiny" || len(res.Runs) != 4 || res.Runs[3].Status != "skipped" || res.Runs[0].Status != "done" || len(res.Ablation) != 2 {
		t.Errorf("ablate JSON %+v", res)
	}
	if !strings.Contains(errOut, "run 1/4 mask2former seed 1") || !strings.Contains(errOut, "already done") {
		t.Errorf("progress on stderr:\n%s", errOut)
	}
	stdout, _, code = runCLI(t, "ablate", spec, "--out", out)
	if code != 0 || strings.Count(stdout, "skipped") != 4 || !strings.Contains(stdout, "Ablation (final checkpoint") {
		t.Errorf("rerun: exit %d\n%s", code, stdout)
	}

	stdout, errOut, code = runCLI(t, "compare", out, "--json", "--snapshot", "0.34")
	if code != 0 {
		t.Fatalf("compare: %d %s", code, errOut)
	}
	var cmp map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &cmp); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"snapshot", "diagnosis", "accuracy", "ablation", "through_training"} {
		if _, ok := cmp[k]; !ok {
			t.Errorf("compare JSON lacks %s", k)
		}
	}
	var diag []map[string]any
	json.Unmarshal(cmp["diagnosis"], &diag)
	if len(diag) != 10 || diag[0]["mpformer Util-A sd"] == nil {
		t.Errorf("diagnosis rows %d: %v", len(diag), diag[0])
	}

	plotDir := filepath.Join(t.TempDir(), "plots")
	stdout, errOut, code = runCLI(t, "plot", out, "--out", plotDir, "--format", "svg", "--json")
	if code != 0 {
		t.Fatalf("plot: %d %s", code, errOut)
	}
	var pl struct {
		Figures []struct {
			Name  string
			Files []string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &pl); err != nil {
		t.Fatal(err)
	}
	if len(pl.Figures) != 11 { // 6 stage curves, the heat maps and their difference, 2 mask evolutions, training
		t.Errorf("%d figures", len(pl.Figures))
	}
	for _, f := range pl.Figures {
		for _, p := range f.Files {
			b, err := os.ReadFile(p)
			if err != nil || !strings.Contains(string(b), "<svg") {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	// At an early snapshot there is no trace: a note, no mask evolution.
	stdout, errOut, code = runCLI(t, "plot", out, "--out", plotDir, "--snapshot", "0.34", "--format", "png")
	if code != 0 || strings.Contains(stdout, "mask_evolution") || !strings.Contains(errOut, "no trace at the 0.34 snapshot") {
		t.Errorf("early plot: %d\n%s\n%s", code, stdout, errOut)
	}
}
