package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/internal/browser"
)

// reproduce end to end at the smallest size it accepts: 2 steps of the
// default models on 64 px scenes (the defaults take ~10 minutes), then
// again as JSON, reusing the finished runs.
func TestReproduceTiny(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rep")
	stdout, errOut, code := runCLI(t, "reproduce", "--steps", "2", "--image-size", "64", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	verdict := lines[len(lines)-1]
	if !strings.HasPrefix(verdict, "MP-Former vs Mask2Former (final checkpoint, 1 seed): mean consecutive IoU ") || !strings.Contains(verdict, "; mean Util-A ") ||
		!strings.Contains(verdict, "bootstrap over 64 validation images") || !strings.Contains(verdict, "With 1 seed the interval") ||
		!strings.Contains(verdict, "not evidence of a difference") || !strings.Contains(verdict, "have not learned the task") {
		t.Errorf("verdict line %q", verdict)
	}
	for _, w := range []string{"Layer-to-layer consistency and query utilisation (final checkpoint)", "Task metrics", "Through training", "summary: " + filepath.Join(out, "summary.md"), "report: " + filepath.Join(out, "report.html")} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q", w)
		}
	}
	if strings.Contains(stdout, "Ablation") {
		t.Errorf("reproduce printed the ablation table")
	}
	if !strings.Contains(errOut, "training mask2former for 2 steps") || !strings.Contains(errOut, "training mpformer for 2 steps") {
		t.Errorf("progress:\n%s", errOut)
	}
	sum, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"**" + verdict + "**", "| layers |", "![consecutive_iou](plots/consecutive_iou.png)",
		"![mask_evolution_mpformer](plots/mask_evolution_mpformer.png)", "2 training steps per model, seed 1, 64 px images, 20 queries", "at 50 % and 100 % of training"} {
		if !strings.Contains(string(sum), w) {
			t.Errorf("summary.md lacks %q", w)
		}
	}
	for _, f := range []string{"plots/util_a.png", "plots/util_a.svg", "plots/iou_matrix.png", "plots/training.svg", "mpformer/seed-1/DONE", "report.html",
		"mask2former/seed-1/traces/step-000001.npz", "mpformer/seed-1/traces/step-000001.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}

	// report.html in a browser: compare's numbers, and the viewer of both
	// models at both traced checkpoints.
	if _, err := browser.Find(); err == nil || os.Getenv(browser.RequireEnv) == "1" {
		cmp, errOut, code := runCLI(t, "compare", out, "--format", "json")
		if code != 0 {
			t.Fatalf("compare: %s", errOut)
		}
		b := browser.ForTest(t)
		p, ctx := openPage(t, b, filepath.Join(out, "report.html"))
		checkTablesMatch(t, ctx, p, []byte(cmp))
		if err := p.WaitFor(ctx, `document.getElementById("viewer-app").dataset.state !== "loading"`); err != nil {
			t.Fatal(err)
		}
		var v struct {
			State, Models, Ckpt string
			Checkpoints, Grids  int
		}
		err := p.Eval(ctx, `(() => { const a = document.getElementById("viewer-app").dataset;
			return {State: a.state, Models: a.models, Ckpt: a.ckpt, Checkpoints: document.querySelectorAll("#v-ckpt option").length,
				Grids: document.querySelectorAll("table.grid").length}; })()`, &v)
		if err != nil {
			t.Fatal(err)
		}
		if v.State != "ready" || v.Models != "0,1" || v.Ckpt != "1" || v.Checkpoints != 2 || v.Grids != 2 {
			t.Errorf("viewer %+v, want both models at the last of 2 checkpoints", v)
		}
		// The viewer opens on the image of the mask-evolution figures.
		m := regexp.MustCompile(`validation image (\d+):`).FindStringSubmatch(string(sum))
		if m == nil {
			t.Fatal("summary.md names no mask-evolution image")
		}
		var note, opt string
		p.Eval(ctx, `document.getElementById("viewer-images").textContent`, &note)
		p.Eval(ctx, `document.querySelector("#v-image option").textContent`, &opt)
		if !strings.Contains(note, "8 of 64 images embedded (image "+m[1]+", the one of the mask-evolution figures, then the first 7 others;") ||
			!strings.HasSuffix(opt, "(dataset index "+m[1]+")") {
			t.Errorf("viewer images: %q, first option %q; want image %s first", note, opt, m[1])
		}
	}

	stdout, _, code = runCLI(t, "reproduce", "--steps", "2", "--image-size", "64", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("JSON rerun: exit %d", code)
	}
	var res struct {
		Verdict    string
		Comparison struct {
			Seeds []uint64
			Cons  struct {
				Diff struct{ Mean, Lo *float64 }
			} `json:"consecutive_iou"`
			Caveats []string
		}
		Report    string
		Runs      []struct{ Status string }
		Diagnosis []map[string]any
		Accuracy  []map[string]any
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.Verdict != verdict || res.Report != filepath.Join(out, "report.html") || len(res.Runs) != 2 || res.Runs[0].Status != "skipped" || len(res.Diagnosis) != 10 || len(res.Accuracy) != 2 ||
		len(res.Comparison.Seeds) != 1 || res.Comparison.Cons.Diff.Mean == nil || res.Comparison.Cons.Diff.Lo == nil || len(res.Comparison.Caveats) != 2 {
		t.Errorf("JSON %+v", res)
	}
}

// --queries reaches both models' configs (and the summary); bad values are
// usage errors.
func TestReproduceQueries(t *testing.T) {
	sp, err := experiments.ReproduceSpec(experiments.ReproduceOptions{Steps: 2, Seeds: 1, ImageSize: 64, Queries: 7})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sp.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs", len(runs))
	}
	for _, r := range runs {
		if r.Config.Model.Queries != 7 {
			t.Errorf("%s: %d queries, want 7", r.Point.Name, r.Config.Model.Queries)
		}
	}
	for _, q := range []string{"-1", "1001"} {
		_, errOut, code := runCLI(t, "reproduce", "--queries", q, "--out", filepath.Join(t.TempDir(), "x"))
		if code != 2 || !strings.Contains(errOut, "--queries "+q) {
			t.Errorf("--queries %s: exit %d, %s", q, code, errOut)
		}
	}
}

// --preset paper runs the paper spec: its model, loss and scenes reach
// both runs, the options still change it, and it runs end to end (2 steps
// at 64 px with 5 queries: the preset's own size takes hours).
func TestReproducePaperPreset(t *testing.T) {
	sp, err := experiments.ReproduceSpec(experiments.ReproduceOptions{Preset: experiments.PresetPaper})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sp.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Point.Name != "mask2former" || runs[1].Point.Name != "mpformer" {
		t.Fatalf("runs %+v", runs)
	}
	for _, r := range runs {
		c := r.Config
		if c.Train.Steps != experiments.PaperSteps || c.Model.Queries != 100 || c.Model.ImageSize != 192 || c.Data.Size != 192 || c.Data.MaxThings != 12 ||
			c.Model.PixelDecoder != "msdeform" || c.Model.Loss.Points != 12544 || c.Model.Loss.MaskWeight != 5 {
			t.Errorf("%s: %+v", r.Point.Name, c)
		}
	}
	if mp := runs[1].Config.Model.MP; mp.Noise != "point" || mp.NoiseRatio != 0.2 || mp.LabelNoise != 0.2 || mp.PilotLayers != 0 {
		t.Errorf("MP-Former %+v", mp)
	}
	sp, err = experiments.ReproduceSpec(experiments.ReproduceOptions{Preset: experiments.PresetPaper, Steps: 3, Seeds: 2, ImageSize: 64, Queries: 5})
	if err != nil {
		t.Fatal(err)
	}
	if runs, err = sp.Runs(); err != nil {
		t.Fatal(err)
	}
	if c := runs[3].Config; len(runs) != 4 || c.Train.Steps != 3 || c.Model.ImageSize != 64 || c.Data.Size != 64 || c.Val.Size != 64 || c.Model.Queries != 5 || c.Model.PixelDecoder != "msdeform" {
		t.Errorf("adjusted paper spec: %d runs, last %+v", len(runs), c)
	}

	_, errOut, code := runCLI(t, "reproduce", "--preset", "coco", "--out", filepath.Join(t.TempDir(), "x"))
	if code != 2 || !strings.Contains(errOut, "--preset") || !strings.Contains(errOut, "default, paper") {
		t.Errorf("--preset coco: exit %d, %s", code, errOut)
	}

	out := filepath.Join(t.TempDir(), "paper")
	stdout, errOut, code := runCLI(t, "reproduce", "--preset", "paper", "--steps", "2", "--image-size", "64", "--queries", "5", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Verdict string
		Runs    []struct{ Status string }
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(res.Runs) != 2 || !strings.HasPrefix(res.Verdict, "MP-Former vs Mask2Former (final checkpoint, 1 seed)") {
		t.Errorf("JSON %+v", res)
	}
	sum, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sum), "Built-in paper spec on the synthetic scenes: 2 training steps per model, seed 1, 64 px images, 5 queries") {
		t.Errorf("summary.md:\n%s", sum)
	}
	b, err := os.ReadFile(filepath.Join(out, "mpformer", "seed-1", "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"pixel_decoder": "msdeform"`) {
		t.Errorf("mpformer run.json lacks the msdeform pixel decoder:\n%s", b)
	}
}
