package experiments

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"

	"github.com/mpanalyze/mpanalyze/plots"
)

func TestParseLabels(t *testing.T) {
	m, err := ParseLabels([]string{"mpformer=MP-Former", " mask2former = Mask2Former (ours) "})
	if err != nil || m["mpformer"] != "MP-Former" || m["mask2former"] != "Mask2Former (ours)" || len(m) != 2 {
		t.Errorf("ParseLabels = %v, %v", m, err)
	}
	for _, bad := range [][]string{{"mpformer"}, {"=x"}, {"a="}, {"a=x", "a=y"}} {
		if _, err := ParseLabels(bad); err == nil {
			t.Errorf("ParseLabels(%q): no error", bad)
		}
	}
	s := &PlotSettings{Labels: map[string]string{"mpformer": "MPF"}}
	for _, c := range []struct{ label, want string }{{"mpformer", "MPF"}, {"mask2former", "Mask2Former"}, {"maskformer", "MaskFormer"}, {"noise0.2", "noise0.2"}} {
		if got := s.Name(c.label); got != c.want {
			t.Errorf("Name(%s) = %s, want %s", c.label, got, c.want)
		}
	}
	if got := (*PlotSettings)(nil).Name("mpformer"); got != "MP-Former" {
		t.Errorf("nil settings: Name(mpformer) = %s", got)
	}
}

// TestFigureSettings: the style, names, y range and baseline reach the
// figures, and the CSV holds the plotted values.
func TestFigureSettings(t *testing.T) {
	rs, err := Load(tinyRun(t, "[1, 2]"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "figures.csv")
	set := &PlotSettings{Formats: []string{"pdf", "svg"}, EvolutionQueries: 2, CSV: csvPath,
		Style:  plots.Style{Size: plots.Size{Width: 7 * vg.Inch, Height: 4 * vg.Inch}, NoTitle: true, FontScale: 1.2},
		Labels: map[string]string{"mpformer": "MPF (ours)"}, YMin: 10, YMax: 90, Baseline: "mpformer"}
	figs, err := rs.WritePlots(dir, set)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Figure{}
	for _, f := range figs {
		byName[f.Name] = f
		if len(f.Files) != 2 || !strings.HasSuffix(f.Files[0], ".pdf") {
			t.Errorf("%s: files %v", f.Name, f.Files)
		}
		b, err := os.ReadFile(f.Files[0])
		if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Errorf("%s: not a PDF (%v)", f.Files[0], err)
		}
	}
	// The names: in the SVG text (legend, panel titles), not the raw labels.
	svg, _ := os.ReadFile(filepath.Join(dir, "consecutive_iou.svg"))
	if !bytes.Contains(svg, []byte("MPF (ours) (2 seeds)")) || !bytes.Contains(svg, []byte("Mask2Former (2 seeds)")) {
		t.Error("consecutive_iou.svg: the legend does not name MPF (ours) and Mask2Former")
	}
	if bytes.Contains(svg, []byte(">mpformer")) || bytes.Contains(svg, []byte("Consecutive")) {
		t.Error("consecutive_iou.svg: a raw label or the title (with NoTitle) is drawn")
	}
	// 7 × 4 inches = 504 × 288 pt.
	if !bytes.Contains(svg, []byte(`width="504pt" height="288pt"`)) {
		t.Errorf("consecutive_iou.svg is not 504 × 288 pt: %.200s", svg)
	}
	// The y range 10..90 %: its ticks.
	for _, tick := range []string{">10<", ">90<"} {
		if !bytes.Contains(svg, []byte(tick)) {
			t.Errorf("consecutive_iou.svg: no tick %s for --ylim 10,90", tick)
		}
	}
	// The difference map subtracts the baseline MPF from Mask2Former.
	diff := byName["iou_matrix_diff"]
	if !strings.Contains(diff.Title, "difference from MPF (ours)") || !strings.Contains(diff.Alt, "Mask2Former − MPF (ours):") {
		t.Errorf("iou_matrix_diff: title %q, alt %.120q", diff.Title, diff.Alt)
	}
	if _, ok := byName["mask_evolution_mpformer"]; !ok {
		t.Errorf("no mask_evolution_mpformer among %v", figs)
	}

	// The CSV: its header, then rows whose values are those of the
	// reports: consecutive IoU of seed 1's final snapshot, the IoU matrix,
	// the difference (a mean over seeds), a training loss.
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != strings.Join(DataColumns, ",") {
		t.Fatalf("header %v", recs[0])
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	get := func(figure, config, seed, stage, stageTo, metric string) []string {
		for _, r := range recs[1:] {
			if r[col["figure"]] == figure && r[col["configuration"]] == config && r[col["seed"]] == seed &&
				r[col["stage"]] == stage && r[col["stage_to"]] == stageTo && r[col["metric"]] == metric {
				return r
			}
		}
		t.Fatalf("no row %s %s seed %q stage %s→%s %s", figure, config, seed, stage, stageTo, metric)
		return nil
	}
	val := func(r []string) float64 {
		v, err := strconv.ParseFloat(r[col["value"]], 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	var m2f []*Result
	for _, r := range rs.Runs {
		if r.Label == "mask2former" {
			m2f = append(m2f, r)
		}
	}
	rep, _ := m2f[0].Snapshot("final")
	seed := strconv.FormatUint(m2f[0].Manifest.Seed, 10)
	r := get("consecutive_iou", "mask2former", seed, "0", "1", "consecutive_iou")
	if want := rep.Probe.Layer.Consecutive.FinalMatched.Mean[0]; val(r) != want || r[col["name"]] != "Mask2Former" || r[col["step"]] != strconv.Itoa(rep.Step) {
		t.Errorf("consecutive IoU row %v, want value %v at step %d", r, want, rep.Step)
	}
	r = get("iou_matrix", "mask2former", seed, "0", "2", "iou")
	if want := rep.Probe.Layer.Matrix[0][2]; val(r) != want {
		t.Errorf("matrix row %v, want %v", r, want)
	}
	// Difference of the means over the two seeds of each configuration.
	mean := func(label string) float64 {
		sum, n := 0.0, 0
		for _, x := range rs.Runs {
			if x.Label == label {
				rp, _ := x.Snapshot("final")
				sum += rp.Probe.Layer.Matrix[0][2]
				n++
			}
		}
		return sum / float64(n)
	}
	r = get("iou_matrix_diff", "mask2former", "", "0", "2", "iou_difference")
	if want := mean("mask2former") - mean("mpformer"); math.Abs(val(r)-want) > 1e-15 || r[col["baseline"]] != "mpformer" {
		t.Errorf("difference row %v, want %v against mpformer", r, want)
	}
	r = get("training", "mask2former", seed, "", "", "loss")
	if r[col["step"]] == "" || math.IsNaN(val(r)) {
		t.Errorf("training row %v", r)
	}
	evo := 0
	for _, r := range recs[1:] {
		if r[col["figure"]] == "mask_evolution_mpformer" && r[col["metric"]] == "iou_with_previous" {
			evo++
			if v := val(r); !(v >= 0 && v <= 1) || r[col["query"]] == "" || r[col["image"]] == "" {
				t.Errorf("mask evolution row %v", r)
			}
		}
	}
	if evo == 0 {
		t.Error("no iou_with_previous row of mask_evolution_mpformer")
	}

	for _, c := range []struct {
		set  PlotSettings
		want string
	}{
		{PlotSettings{Labels: map[string]string{"mpformr": "x"}}, "label mpformr: no such configuration (have mask2former, mpformer)"},
		{PlotSettings{Baseline: "m2f"}, "baseline m2f: no such configuration"},
		{PlotSettings{YMin: 50, YMax: 40}, "y range [50, 40] is empty"},
		{PlotSettings{Style: plots.Style{FontScale: 9}}, "font scale 9 out of range"},
		{PlotSettings{Formats: []string{"jpg"}}, `figure format "jpg"`},
	} {
		if _, err := rs.WritePlots(t.TempDir(), &c.set); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.set, err, c.want)
		}
	}
}
