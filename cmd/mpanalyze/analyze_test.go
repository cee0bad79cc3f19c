package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/probes"
)

// handTrace writes a small hand-made trace into dir and returns its path
// (without extension): 3 stages of 3 queries with 1×4 masks, K = 2. Image 1
// has 2 GT segments, image 2 none. The figures in the goldens are worked
// out by hand (see TestAnalyzeFigures).
func handTrace(t *testing.T, dir string) string {
	t.Helper()
	bits := func(s string) *mask.Bits { return mask.FromFunc(1, len(s), func(i int) bool { return s[i] == '1' }) }
	logits := func(qs ...string) []float32 {
		var out []float32
		for _, q := range qs {
			for _, c := range q {
				out = append(out, map[rune]float32{'1': 1.5, '0': -2}[c])
			}
		}
		return out
	}
	blocked := func(rows ...string) []bool {
		var out []bool
		for _, r := range rows {
			for _, c := range r {
				out = append(out, c == 'T')
			}
		}
		return out
	}
	gt := &probes.GroundTruth{Classes: []int{0, 1}, Masks: []*mask.Bits{bits("1110"), bits("0011")}}
	cls := []float32{0.5, -1, 0, 1, 0, -0.5, 0, 0, 2}
	st := func(img, s int, masks []string, match []int, g *probes.GroundTruth, aw int, attn, unb []bool) probes.Stage {
		ah := 0
		if aw > 0 {
			ah = 1
		}
		return probes.Stage{Image: img, Stage: s, NumQueries: 3, NumClasses: 2, H: 1, W: 4,
			MaskLogits: logits(masks...), ClassLogits: cls, AttnH: ah, AttnW: aw, AttnMask: attn, Unblocked: unb, Match: match, GT: g}
	}
	stages := []probes.Stage{
		st(1, 0, []string{"1100", "0000", "0011"}, []int{0, 2}, gt, 2, blocked("FT", "FF", "FF"), []bool{false, true, false}),
		st(1, 1, []string{"1110", "0001", "0000"}, []int{0, 1}, gt, 4, blocked("FFFT", "TTTF", "FFFF"), []bool{false, false, true}),
		st(1, 2, []string{"1110", "0011", "0000"}, []int{0, 1}, gt, 0, nil, nil),
		st(2, 0, []string{"1000", "0000", "0000"}, nil, nil, 2, blocked("FF", "FF", "FF"), nil),
		st(2, 1, []string{"1000", "0000", "0000"}, nil, nil, 4, blocked("FFFF", "FFFF", "FFFF"), nil),
		st(2, 2, []string{"1000", "0000", "0000"}, nil, nil, 0, nil, nil),
	}
	path := filepath.Join(dir, "hand")
	w := probes.NewTraceWriter(path, nil)
	info := probes.RunInfo{Model: "mask2former", NumStages: 3, NumQueries: 3, NumClasses: 2, MaskStride: 4, MaskH: 1, MaskW: 4,
		Seed: 1, ToolVersion: "test", Dataset: map[string]any{"kind": "hand-made"}}
	if err := w.Init(info); err != nil {
		t.Fatal(err)
	}
	for i := range stages {
		if err := w.Record(&stages[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// golden compares got with testdata/analyze/name, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "analyze", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestAnalyzeGolden(t *testing.T) {
	dir := t.TempDir()
	path := handTrace(t, dir)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"table.golden", nil},
		{"table_nonempty.golden", []string{"--query-set", "nonempty"}},
		{"table_images1.golden", []string{"--images", "1"}},
		{"csv.golden", []string{"--format", "csv"}},
		{"csv.golden", []string{"--csv"}}, // deprecated spelling, same output
		{"json.golden", []string{"--format", "json"}},
	} {
		out, errOut, code := runCLI(t, append([]string{"analyze", path}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, errOut)
		}
		golden(t, tc.name, strings.ReplaceAll(out, dir, "$TMP"))
	}
}

// TestAnalyzeFigures checks the JSON output against the hand-worked
// figures of handTrace (final-matched queries 0 and 1 of image 1):
// IoU(1100,1110) = 2/3, IoU(0000,0001) = 0, IoU(0001,0011) = 1/2.
func TestAnalyzeFigures(t *testing.T) {
	path := handTrace(t, t.TempDir())
	out, errOut, code := runCLI(t, "analyze", path+".npz", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got analyzeJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var stages []map[string]*float64
	if err := json.Unmarshal(got.Stages, &stages); err != nil {
		t.Fatalf("stages: %v", err)
	}
	if got.QuerySet != "final_matched" || got.TraceImages != 2 || got.Report.Images != 2 || len(stages) != 3 ||
		got.Report.Run.Model != "mask2former" || got.Report.Run.Matching != probes.MatchingRecorded {
		t.Fatalf("header: %+v", got)
	}
	f := func(p *float64) float64 {
		if p == nil {
			return -1 // null
		}
		return *p
	}
	s0, s1, s2 := stages[0], stages[1], stages[2]
	checks := []struct {
		name      string
		got, want float64
	}{
		{"consecutive 0→1", f(s0["consecutive_iou"]), (2.0/3 + 0) / 2},
		{"consecutive 1→2", f(s1["consecutive_iou"]), (1 + 0.5) / 2},
		{"consecutive at the last stage", f(s2["consecutive_iou"]), -1},
		{"to final 0", f(s0["iou_to_final"]), (2.0/3 + 0) / 2},
		{"Util-A 0", f(s0["util_a"]), 0.5}, // segment 1 moves from query 2 to 1
		{"Util-B 0", f(s0["util_b"]), 0.5}, // query 1's stage-0 mask is empty
		{"Util-C 1", f(s1["util_c"]), 1},   // IoU(0001, GT 0011) = 1/2 ≥ 0.5
		{"match change 0→1", f(s0["match_change"]), 0.5},
		{"match change 1→2", f(s1["match_change"]), 0},
		// attended share: image 1 rows 1/2, 1 (unblocked), 1; image 2 three open rows.
		{"attended 0", f(s0["attended"]), (0.5 + 1 + 1 + 3) / 6},
		{"unblocked 0", f(s0["unblocked"]), 1.0 / 6},
		{"attended at the last stage", f(s2["attended"]), -1},
		// empty share of the final-matched queries 0 and 1: query 1's
		// stage-0 mask 0000 is empty; none is at stages 1 and 2.
		{"empty 0", f(s0["empty"]), 0.5},
		{"empty 1", f(s1["empty"]), 0},
	}
	for _, c := range checks {
		if d := c.got - c.want; d > 1e-12 || d < -1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(got.Report.Layer.Matrix) != 3 {
		t.Errorf("matrix %v", got.Report.Layer.Matrix)
	}
	// Per image, the sums and counts behind the figures: image 1's
	// final-matched queries give the consecutive IoUs 2/3 + 0 and 1 + 1/2,
	// its stage-0 attention rows 1/2 + 1 + 1 over 3 rows; image 2 has no
	// final-matched query and three open rows.
	var raw struct {
		PerImage []map[string]json.RawMessage `json:"per_image"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	type mean struct {
		Sum float64 `json:"sum"`
		N   int     `json:"n"`
	}
	entry := func(img int, key string) []mean {
		t.Helper()
		var v []mean
		if err := json.Unmarshal(raw.PerImage[img][key], &v); err != nil {
			t.Fatalf("per_image[%d].%s: %v", img, key, err)
		}
		return v
	}
	if len(raw.PerImage) != 2 || string(raw.PerImage[0]["index"]) != "1" || string(raw.PerImage[1]["index"]) != "2" {
		t.Fatalf("per_image: %v", raw.PerImage)
	}
	if v := entry(0, "consecutive_iou"); len(v) != 2 || v[0].N != 2 || v[1].N != 2 || (v[0].Sum-2.0/3)*(v[0].Sum-2.0/3) > 1e-24 || v[1].Sum != 1.5 {
		t.Errorf("image 1 consecutive_iou %v", v)
	}
	if v := entry(1, "consecutive_iou"); len(v) != 2 || v[0].N != 0 || v[1].N != 0 {
		t.Errorf("image 2 consecutive_iou %v", v)
	}
	if v := entry(0, "attended"); len(v) != 3 || v[0] != (mean{2.5, 3}) || v[2] != (mean{0, 0}) {
		t.Errorf("image 1 attended %v", v)
	}
	if v := entry(1, "attended"); v[0] != (mean{3, 3}) {
		t.Errorf("image 2 attended %v", v)
	}
	if v := entry(0, "util_a"); len(v) != 3 || v[0] != (mean{1, 2}) || v[2] != (mean{2, 2}) {
		t.Errorf("image 1 util_a %v", v)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	dir := t.TempDir()
	path := handTrace(t, dir)
	npz, js := probes.TracePaths(path)

	truncated := filepath.Join(dir, "cut")
	b, _ := os.ReadFile(npz)
	os.WriteFile(truncated+".npz", b[:len(b)/2], 0o644)
	sj, _ := os.ReadFile(js)
	os.WriteFile(truncated+".json", sj, 0o644)

	badVersion := filepath.Join(dir, "v2")
	os.WriteFile(badVersion+".npz", b, 0o644)
	os.WriteFile(badVersion+".json", []byte(strings.Replace(string(sj), `"version": 2`, `"version": 3`, 1)), 0o644)

	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"analyze", filepath.Join(dir, "none")}, 1, "mpanalyze: probes: " + filepath.Join(dir, "none.json") + ": bad trace sidecar: cannot read the sidecar"},
		{[]string{"analyze", truncated}, 1, "mpanalyze: probes: " + truncated + ".npz: trace npz is truncated"},
		{[]string{"analyze", badVersion}, 1, "unsupported trace format version: format \"mpanalyze-trace\" version 3"},
		{[]string{"analyze", path, "--query-set", "all"}, 2, "--query-set all: want one of final, nonempty, stage"},
		{[]string{"analyze", path, "--format", "json", "--csv"}, 2, "--csv and --format json contradict each other"},
		{[]string{"analyze", path, "--format", "html"}, 2, `--format html: want one of text, markdown, csv, json`},
		{[]string{"analyze", path, "--images", "-1"}, 2, "--images -1: out of range (want a whole number ≥ 1, or 0 (all))"},
		{[]string{"analyze", path, "--workers", "0"}, 2, "--workers 0: out of range"},
		{[]string{"analyze"}, 2, "accepts 1 arg(s)"},
	}
	for _, c := range cases {
		out, errOut, code := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) || (code != 0 && out != "") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.msg)
		}
	}
}
