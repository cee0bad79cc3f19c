package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareTraces: compare --trace LABEL=T puts two traces side by side
// (the hand-made trace of TestAnalyzeFigures under two labels): the
// per-stage table has each label's columns with the hand-worked figures,
// and the summary one row per label; plot --trace draws the per-stage
// figures, heat maps and mask evolution of each label, no training figure.
func TestCompareTraces(t *testing.T) {
	dir := t.TempDir()
	a := handTrace(t, mkdir(t, filepath.Join(dir, "a")))
	b := handTrace(t, mkdir(t, filepath.Join(dir, "b")))
	out, errOut, code := runCLI(t, "compare", "--trace", "Mask2Former="+a+".npz", "--trace", "Mine="+b, "--json")
	if code != 0 {
		t.Fatalf("compare: exit %d: %s", code, errOut)
	}
	var got struct {
		Diagnosis []map[string]*float64 `json:"diagnosis"`
		Summary   []map[string]any      `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(got.Diagnosis) != 3 || len(got.Summary) != 2 {
		t.Fatalf("%d diagnosis rows, %d summary rows:\n%s", len(got.Diagnosis), len(got.Summary), out)
	}
	// handTrace: consecutive IoU 0→1 is (2/3 + 0)/2, Util-A at stage 0 1/2.
	for _, label := range []string{"Mask2Former", "Mine"} {
		if v := got.Diagnosis[0][label+" cons. IoU"]; v == nil || math.Abs(*v-1.0/3) > 1e-12 {
			t.Errorf("%s cons. IoU at stage 0: %v", label, v)
		}
		if v := got.Diagnosis[0][label+" Util-A"]; v == nil || *v != 0.5 {
			t.Errorf("%s Util-A at stage 0: %v", label, v)
		}
	}
	if got.Summary[0]["model"] != "Mask2Former" || got.Summary[1]["model"] != "Mine" || got.Summary[0]["images"] != 2.0 {
		t.Errorf("summary %v", got.Summary)
	}
	text, _, code := runCLI(t, "compare", "--trace", "Mask2Former="+a, "--trace", "Mine="+b, "--columns", "cons,util_a,attended")
	if code != 0 || !strings.Contains(text, "Mine attended") || !strings.Contains(text, "Traces (cons. IoU and Util-A are means over stages)") {
		t.Errorf("compare text:\n%s", text)
	}

	figs := filepath.Join(dir, "figs")
	out, errOut, code = runCLI(t, "plot", "--trace", "Mask2Former="+a, "--trace", "Mine="+b, "--out", figs, "--format", "svg", "--json")
	if code != 0 {
		t.Fatalf("plot: exit %d: %s", code, errOut)
	}
	var plotted struct {
		Figures []struct {
			Name  string
			Files []string
		}
	}
	if err := json.Unmarshal([]byte(out), &plotted); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range plotted.Figures {
		names = append(names, f.Name)
		for _, file := range f.Files {
			if st, err := os.Stat(file); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", file, err)
			}
		}
	}
	all := strings.Join(names, ",")
	for _, want := range []string{"consecutive_iou", "util_a", "iou_matrix", "iou_matrix_diff", "mask_evolution_Mask2Former", "mask_evolution_Mine"} {
		if !strings.Contains(all, want) {
			t.Errorf("plot wrote %s: no %s", all, want)
		}
	}
	if strings.Contains(all, "training") {
		t.Errorf("plot wrote a training figure for traces: %s", all)
	}
}

func TestCompareTraceErrors(t *testing.T) {
	dir := t.TempDir()
	a := handTrace(t, dir)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"compare", a + ".npz"}, 2, "is a trace: give it as --trace LABEL="},
		{[]string{"plot", a, "--out", filepath.Join(dir, "f")}, 2, "is a trace: give it as --trace LABEL="},
		{[]string{"compare", "--trace", "A=" + a, compareFixture}, 2, "give run directories or --trace, not both"},
		{[]string{"compare", "--trace", "A=" + a, "--snapshot", "0.5"}, 2, "a trace is one checkpoint"},
		{[]string{"compare", "--trace", "=" + a}, 2, "no label before '='"},
		{[]string{"compare", "--trace", "A=" + a, "--trace", "B=" + a}, 1, "is given twice"},
		{[]string{"compare", "--trace", "A=" + filepath.Join(dir, "missing")}, 1, "missing.json"},
		{[]string{"plot", "--trace", "A=" + a}, 2, "--out is required"},
		{[]string{"compare"}, 2, "requires at least 1 arg"},
	} {
		_, errOut, code := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d, %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
