package tables

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var nan = math.NaN()

// diagnosisRuns: two Mask2Former seeds with 4 stages, one MaskFormer seed
// whose stages are 1..3 layers (no stage 0), one undefined value.
func diagnosisRuns() []RunStages {
	return []RunStages{
		{Model: "mask2former", Seed: 1, Figures: map[string]metrics.Series{"consecutive_iou": {0.30, 0.50, 0.70}, "util_a": {0.20, 0.40, 0.80, 1}, "util_b": {0.1, 0.3, 0.6, 1}}},
		{Model: "mask2former", Seed: 2, Figures: map[string]metrics.Series{"consecutive_iou": {0.36, 0.52, 0.71}, "util_a": {0.26, 0.42, 0.85, 1}, "util_b": {0.2, 0.3, 0.7, 1}}},
		{Model: "maskformer", Seed: 7, StageLayers: []int{1, 2, 3}, Figures: map[string]metrics.Series{"consecutive_iou": {0.6, nan}, "util_a": {0.5, 0.7, 1}}},
	}
}

func accuracyRuns() []RunScores {
	return []RunScores{
		{Model: "mask2former", Seed: 1, PQ: 0.41, PQThings: 0.45, PQStuff: nan, AP: 0.30, AP50: 0.50, AP75: 0.31, MIoU: 0.60},
		{Model: "mask2former", Seed: 2, PQ: 0.43, PQThings: 0.47, PQStuff: nan, AP: 0.32, AP50: 0.52, AP75: 0.30, MIoU: 0.61},
		{Model: "mpformer", Seed: 1, PQ: 0.45, PQThings: 0.49, PQStuff: nan, AP: 0.34, AP50: 0.55, AP75: 0.35, MIoU: 0.63},
	}
}

func ablationRuns() []AblationRun {
	return []AblationRun{
		{Point: []Param{{"mp.noise", "0.1"}}, Seed: 1, Metrics: []Metric{{"PQ", 0.40, Fraction}, {"img/s", 3.2, Count}}},
		{Point: []Param{{"mp.noise", "0.1"}}, Seed: 2, Metrics: []Metric{{"PQ", 0.42, Fraction}, {"img/s", 3.4, Count}}},
		{Point: []Param{{"mp.noise", "0.1"}}, Seed: 3, Metrics: []Metric{{"PQ", 0.44, Fraction}, {"img/s", 3.6, Count}}},
		{Point: []Param{{"mp.noise", "0.2"}, {"decoder.layers", "6"}}, Seed: 1, Metrics: []Metric{{"PQ", 0.44, Fraction}}},
		{Point: []Param{{"mp.noise", "0.2"}, {"decoder.layers", "6"}}, Seed: 2, Metrics: []Metric{{"PQ", 0.46, Fraction}}},
	}
}

var extensions = map[string]string{"text": "txt", "markdown": "md", "csv": "csv", "json": "json"}

// TestGolden renders every builder's table in every format and compares
// the bytes with testdata/<table>.<ext> (rewrite with -update, then read
// the diff).
func TestGolden(t *testing.T) {
	tabs := map[string]Table{
		"diagnosis": Diagnosis(diagnosisRuns(), &DiagnosisSettings{Columns: []string{"consecutive_iou", "util_a", "util_b"}}),
		"accuracy":  Accuracy(accuracyRuns(), nil),
		"ablation":  Ablation(ablationRuns(), nil),
		"single":    Accuracy(accuracyRuns()[2:], &AccuracySettings{Title: "One seed"}),
	}
	for name, tab := range tabs {
		for _, f := range Formats {
			var buf bytes.Buffer
			if err := tab.Render(&buf, f); err != nil {
				t.Fatalf("%s %s: %v", name, f, err)
			}
			path := filepath.Join("testdata", name+"."+extensions[f])
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s %s differs from %s:\ngot:\n%s\nwant:\n%s", name, f, path, buf.Bytes(), want)
			}
		}
	}
}

func close(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-12
}

func TestDiagnosisValues(t *testing.T) {
	tab := Diagnosis(diagnosisRuns(), nil)
	wantHeader := []string{"layers", "mask2former cons. IoU", "mask2former Util-A", "maskformer cons. IoU", "maskformer Util-A"}
	if strings.Join(tab.Header, "|") != strings.Join(wantHeader, "|") {
		t.Fatalf("header %q, want %q", tab.Header, wantHeader)
	}
	// Rows are the union of layer counts 0..3.
	if len(tab.Rows) != 4 {
		t.Fatalf("%d rows, want 4", len(tab.Rows))
	}
	for i, c := range []struct {
		row, col int
		text     string
		mean, sd float64
		n        int
		noNumber bool
	}{
		// hand-computed: mean(0.30, 0.36) = 0.33, sd = 0.06/√2; two seeds
		// show no sd in text (MinSeedsForSD), the value still has it
		{0, 1, "33.0", 0.33, 0.06 / math.Sqrt2, 2, false},
		{2, 2, "82.5", 0.825, 0.05 / math.Sqrt2, 2, false},
		{3, 1, Dash, nan, nan, 0, false}, // last stage has no next
		{0, 3, "", 0, 0, 0, true},        // MaskFormer has no stage 0
		{1, 3, "60.0", 0.6, nan, 1, false},
		{2, 3, Dash, nan, nan, 0, false}, // the NaN of seed 7
		{3, 4, "100.0", 1, nan, 1, false},
	} {
		if got := tab.Rows[c.row][c.col]; got != c.text {
			t.Errorf("case %d: cell (%d, %d) = %q, want %q", i, c.row, c.col, got, c.text)
		}
		v := tab.Values[c.row][c.col]
		if c.noNumber {
			if v != nil {
				t.Errorf("case %d: value %+v, want none", i, *v)
			}
			continue
		}
		if v == nil || !close(v.Value, c.mean) || !close(v.SD, c.sd) || v.N != c.n {
			t.Errorf("case %d: value %+v, want {%v %v %d}", i, v, c.mean, c.sd, c.n)
		}
	}
}

func TestAccuracyOneSeedEach(t *testing.T) {
	runs := accuracyRuns()
	runs[1].Model = "other"
	tab := Accuracy(runs, nil)
	// No configuration has two seeds: no "±" and no sd columns.
	for _, r := range tab.Rows {
		for _, c := range r {
			if strings.Contains(c, "±") {
				t.Fatalf("cell %q has a spread with one seed per model", c)
			}
		}
	}
	if got, want := tab.Rows[0][2], "41.0"; got != want {
		t.Errorf("PQ cell %q, want %q", got, want)
	}
	var buf bytes.Buffer
	if err := tab.Render(&buf, "csv"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), " sd") {
		t.Errorf("CSV has sd columns without spread:\n%s", buf.String())
	}
}

func TestMachineFormatsParse(t *testing.T) {
	tab := Diagnosis(diagnosisRuns(), nil)
	var buf bytes.Buffer
	if err := tab.Render(&buf, "json"); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rows); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, buf.String())
	}
	if len(rows) != 4 {
		t.Fatalf("%d JSON rows, want 4", len(rows))
	}
	if v, ok := rows[0]["mask2former cons. IoU"].(float64); !ok || !close(v, 0.33) {
		t.Errorf("JSON cons. IoU %v (%T), want the fraction 0.33", rows[0]["mask2former cons. IoU"], rows[0]["mask2former cons. IoU"])
	}
	if v := rows[0]["maskformer Util-A"]; v != nil {
		t.Errorf("JSON cell of a missing stage = %v, want null", v)
	}
	if v, ok := rows[2]["layers"].(float64); !ok || v != 2 {
		t.Errorf("JSON layers = %v, want the number 2", rows[2]["layers"])
	}

	buf.Reset()
	if err := tab.Render(&buf, "csv"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHead := "layers,mask2former cons. IoU,mask2former cons. IoU sd,mask2former Util-A,mask2former Util-A sd,maskformer cons. IoU,maskformer Util-A"
	if got := strings.Join(recs[0], ","); got != wantHead {
		t.Errorf("CSV header %s, want %s", got, wantHead)
	}
	if len(recs) != 5 {
		t.Errorf("%d CSV records, want 5", len(recs))
	}
}

func TestRenderErrors(t *testing.T) {
	tab := Table{Header: []string{"a", "b"}, Rows: [][]string{{"1", "2"}}}
	if err := tab.Render(&bytes.Buffer{}, "html"); err == nil || !strings.Contains(err.Error(), `unknown format "html"`) {
		t.Errorf("Render(html) error %v", err)
	}
	for i, c := range []struct {
		tab  Table
		want string
	}{
		{Table{Header: []string{"a", "b"}, Rows: [][]string{{"1"}}}, "tables: row 0 has 1 cells, the header 2"},
		{Table{Header: []string{"a"}, Rows: [][]string{{"1"}}, Values: [][]*Number{}}, "tables: 0 rows of values for 1 rows"},
		{Table{}, "tables: table without header"},
	} {
		if msg := panics(func() { _ = c.tab.Render(&bytes.Buffer{}, "text") }); msg != c.want {
			t.Errorf("case %d: panic %q, want %q", i, msg, c.want)
		}
	}
}

func TestBuilderPanics(t *testing.T) {
	dup := accuracyRuns()
	dup[1].Seed = 1
	bad := diagnosisRuns()
	bad[0].Figures["util_a"] = bad[0].Figures["util_a"][:3]
	twoKinds := ablationRuns()
	twoKinds[1].Metrics[1].Kind = Fraction
	for i, c := range []struct {
		f    func()
		want string
	}{
		{func() { Accuracy(dup, nil) }, `tables: model "mask2former": seed 1 appears twice`},
		{func() { Diagnosis(bad, nil) }, `tables: run "mask2former" seed 1: util_a implies 3 stages, other figures 4`},
		{func() { Diagnosis(nil, nil) }, "tables: Diagnosis: no runs"},
		{func() { Ablation(twoKinds, nil) }, `tables: Ablation: metric "img/s" has two kinds`},
	} {
		if msg := panics(c.f); msg != c.want {
			t.Errorf("case %d: panic %q, want %q", i, msg, c.want)
		}
	}
}

func panics(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = r.(string)
		}
	}()
	f()
	return ""
}

func TestFromProbeReport(t *testing.T) {
	// A 3-stage MaskFormer-like report (1..3 layers) with hand-set curves.
	r := probes.Report{Run: probes.RunInfo{Seed: 5, NumStages: 3, StageLayers: []int{1, 2, 3}}}
	r.Layer.NumStages = 3
	r.Layer.Consecutive.FinalMatched.Mean = metrics.Series{0.5, 0.8}
	r.Layer.Consecutive.NonEmpty.Mean = metrics.Series{0.1, 0.2}
	r.Layer.ToFinal.FinalMatched.Mean = metrics.Series{0.4, 0.8, 1}
	r.Layer.UtilA.Mean = metrics.Series{0.3, 0.6, 1}
	r.Layer.UtilB.Mean = metrics.Series{0.2, 0.5, 1}
	r.Layer.UtilC.Mean = metrics.Series{0.1, 0.4, 0.9}
	r.Layer.MatchChange.Mean = metrics.Series{0.25, 0.05}
	r.Attention.NumStages = 3
	r.Attention.Matching.Attended = metrics.Series{0.7, 0.6, nan}
	r.Attention.Matching.Unblocked = metrics.Series{0.01, 0, nan}
	got := FromProbeReport("maskformer", &r, metrics.FinalMatched)
	want := RunStages{
		Model: "maskformer", Seed: 5, StageLayers: []int{1, 2, 3}, Figures: map[string]metrics.Series{
			"consecutive_iou": {0.5, 0.8}, "iou_to_final": {0.4, 0.8, 1},
			"util_a": {0.3, 0.6, 1}, "util_b": {0.2, 0.5, 1}, "util_c": {0.1, 0.4, 0.9},
			"match_change": {0.25, 0.05}, "attended": {0.7, 0.6, nan}, "unblocked": {0.01, 0, nan},
		},
	}
	if !sameRun(got, want) {
		t.Errorf("FromProbeReport = %+v\nwant %+v", got, want)
	}
	ne := FromProbeReport("m", &r, metrics.NonEmpty)
	if c := ne.Figures["consecutive_iou"]; !close(c[1], 0.2) {
		t.Errorf("FromProbeReport(NonEmpty) consecutive IoU %v, want [0.1 0.2]", c)
	}
}

func sameRun(a, b RunStages) bool {
	eq := func(x, y []float64) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !close(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if a.Model != b.Model || a.Seed != b.Seed || !slices.Equal(a.StageLayers, b.StageLayers) || len(a.Figures) != len(b.Figures) {
		return false
	}
	for k, v := range a.Figures {
		if !eq(v, b.Figures[k]) {
			return false
		}
	}
	return true
}

func TestFromEvalReport(t *testing.T) {
	var r metrics.EvalReport
	r.Panoptic.All = metrics.PQ{PQ: 0.4, N: 3}
	r.Panoptic.Things = metrics.PQ{PQ: 0.5, N: 3}
	r.Panoptic.Stuff = metrics.PQ{N: 0}                            // no stuff category: undefined
	r.Instance.AP, r.Instance.AP50, r.Instance.AP75 = 0.3, 0.5, -1 // −1: pycocotools' "no GT"
	r.Semantic.MIoU = 0.6
	got := FromEvalReport("m2f", 3, r)
	if got.Model != "m2f" || got.Seed != 3 || got.PQ != 0.4 || got.PQThings != 0.5 || !math.IsNaN(got.PQStuff) ||
		got.AP != 0.3 || got.AP50 != 0.5 || !math.IsNaN(got.AP75) || got.MIoU != 0.6 {
		t.Errorf("FromEvalReport = %+v", got)
	}
	m := EvalMetrics(got)
	if len(m) != 4 || m[0].Name != "PQ" || m[0].Value != 0.4 || m[3].Name != "mIoU" {
		t.Errorf("EvalMetrics = %+v", m)
	}
}

func TestStageMetrics(t *testing.T) {
	m := StageMetrics(metrics.Summary{ConsecutiveIoU: 0.5, UtilA: 0.25})
	if len(m) != 2 || m[0].Name != "cons. IoU" || m[0].Value != 0.5 || m[1].Name != "Util-A" || m[1].Value != 0.25 {
		t.Errorf("StageMetrics = %+v", m)
	}
}
