package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/metrics"
)

// tinyModel are train flags for a model small enough to train 5 steps in
// about a second.
var tinyModel = []string{"--image-size", "64", "--queries", "8", "--hidden", "32", "--ffn", "64", "--heads", "2", "--layers", "2", "--batch", "2"}

// TestRealDataCommands runs train, eval, probe and predict from the command
// line on the crowd fixture, in its panoptic and its instance format, and
// checks that the exports are in each image's own frame with its own id
// and file name, and that scoring the exports (eval --predictions, against
// the original file and against the exported ground truth) reproduces
// eval's own numbers.
func TestRealDataCommands(t *testing.T) {
	for _, format := range []struct {
		name string
		data []string
	}{
		{"panoptic", []string{"--kind", "coco", "--annotations", fixturePath("panoptic.json"), "--image-dir", fixturePath("images"), "--panoptic-pngs", fixturePath("panoptic")}},
		{"instances", []string{"--kind", "coco", "--annotations", fixturePath("instances.json"), "--image-dir", fixturePath("images")}},
	} {
		t.Run(format.name, func(t *testing.T) {
			dir := t.TempDir()
			run := filepath.Join(dir, "run")
			args := append(append([]string{"train", "--steps", "5", "--ckpt-every", "5", "--eval-images", "3", "--out", run, "--json"}, tinyModel...), format.data...)
			if _, errOut, code := runCLI(t, args...); code != 0 {
				t.Fatalf("train: exit %d: %s", code, errOut)
			}
			ckpt := filepath.Join(run, "checkpoints", "latest.npz")
			// Low thresholds so that the 5-step model predicts segments.
			loose := []string{"--object-threshold", "0", "--overlap-threshold", "0"}

			preds, gt := filepath.Join(dir, "preds"), filepath.Join(dir, "gt")
			out, errOut, code := runCLI(t, append([]string{"eval", "--checkpoint", ckpt, "--json", "--coco-out", preds, "--export-gt", gt}, loose...)...)
			if code != 0 {
				t.Fatalf("eval: exit %d: %s", code, errOut)
			}
			var rep metrics.EvalReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Images != 3 || rep.Panoptic.Images != 3 || rep.Instance.Images != 3 {
				t.Fatalf("eval report %+v", rep)
			}
			checkExports(t, preds)

			// The exports score to eval's numbers, against the exported GT
			// and (panoptic format) against the original file.
			insRes, panRes := filepath.Join(preds, "instances_results.json"), filepath.Join(preds, "panoptic_results.json")
			gts := []string{filepath.Join(gt, "panoptic.json")}
			if format.name == "panoptic" {
				gts = append(gts, fixturePath("panoptic.json"))
			}
			for _, g := range gts {
				pr := predEval(t, "--gt", g, "--predictions", insRes, "--predictions", panRes)
				closeAll(t, "AP of the exports vs eval ("+g+")", apStats(pr.Instance), apStats(&rep.Instance), 1e-12)
				closeAll(t, "PQ of the exports vs eval ("+g+")", pqStats(pr.PQ), pqStats(&rep.Panoptic), 1e-12)
			}
			// The exported instance GT holds thing categories only.
			var ig struct {
				Categories []struct{ ID int } `json:"categories"`
			}
			raw, _ := os.ReadFile(filepath.Join(gt, "instances.json"))
			_ = json.Unmarshal(raw, &ig)
			if len(ig.Categories) != 2 || ig.Categories[0].ID != 1 || ig.Categories[1].ID != 18 {
				t.Errorf("exported instance categories %+v, want person 1 and dog 18", ig.Categories)
			}
			pr := predEval(t, "--gt", filepath.Join(gt, "instances.json"), "--predictions", insRes)
			closeAll(t, "AP against the exported instance GT", apStats(pr.Instance), apStats(&rep.Instance), 1e-12)

			if _, errOut, code := runCLI(t, "probe", "--checkpoint", ckpt, "--out", filepath.Join(dir, "trace")); code != 0 {
				t.Fatalf("probe: exit %d: %s", code, errOut)
			}
			if _, errOut, code := runCLI(t, "analyze", filepath.Join(dir, "trace")); code != 0 {
				t.Fatalf("analyze: exit %d: %s", code, errOut)
			}
			pdir := filepath.Join(dir, "predict")
			if _, errOut, code := runCLI(t, append([]string{"predict", "--checkpoint", ckpt, "--out", pdir}, loose...)...); code != 0 {
				t.Fatalf("predict: exit %d: %s", code, errOut)
			}
			checkExports(t, pdir)
			for name, hw := range map[string][2]int{"000000000139.png": {120, 160}, "000000000285.png": {100, 60}, "000000000632.png": {30, 40}} {
				f, err := os.Open(filepath.Join(pdir, "semantic", name))
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(f)
				f.Close()
				if err != nil || img.Bounds().Dy() != hw[0] || img.Bounds().Dx() != hw[1] {
					t.Errorf("semantic/%s: %v, size %v, want %v", name, err, img.Bounds(), hw)
				}
			}
		})
	}
}

// checkExports checks predictions written by eval --coco-out or predict:
// the fixture's image ids, PNGs named after the image files at the
// images' own sizes, segments_info a list for every image, masks at the
// images' sizes.
func checkExports(t *testing.T, dir string) {
	t.Helper()
	sizes := map[int][2]int{139: {120, 160}, 285: {100, 60}, 632: {30, 40}}
	raw, err := os.ReadFile(filepath.Join(dir, "panoptic_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "null") {
		t.Errorf("panoptic_results.json contains null: %s", raw)
	}
	var pan struct {
		Annotations []struct {
			ImageID      int               `json:"image_id"`
			FileName     string            `json:"file_name"`
			SegmentsInfo []json.RawMessage `json:"segments_info"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(raw, &pan); err != nil {
		t.Fatal(err)
	}
	if len(pan.Annotations) != 3 {
		t.Fatalf("%d panoptic annotations, want 3", len(pan.Annotations))
	}
	for _, a := range pan.Annotations {
		hw, ok := sizes[a.ImageID]
		if !ok || a.SegmentsInfo == nil {
			t.Errorf("panoptic annotation %+v", a)
			continue
		}
		f, err := os.Open(filepath.Join(dir, "panoptic_results", a.FileName))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dy() != hw[0] || img.Bounds().Dx() != hw[1] {
			t.Errorf("%s: %v, size %v, want %v", a.FileName, err, img.Bounds(), hw)
		}
	}
	raw, err = os.ReadFile(filepath.Join(dir, "instances_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ins []struct {
		ImageID      int `json:"image_id"`
		CategoryID   int `json:"category_id"`
		Segmentation struct {
			Size [2]int `json:"size"`
		} `json:"segmentation"`
	}
	if err := json.Unmarshal(raw, &ins); err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Error("no instance results")
	}
	for _, d := range ins {
		if hw := sizes[d.ImageID]; d.Segmentation.Size != hw || (d.CategoryID != 1 && d.CategoryID != 18) {
			t.Errorf("result on image %d, category %d, size %v", d.ImageID, d.CategoryID, d.Segmentation.Size)
		}
	}
}

// TestDataSeedFlag: data takes --data-seed like every other command;
// --seed still works, with a deprecation notice.
func TestDataSeedFlag(t *testing.T) {
	a, _, code := runCLI(t, "data", "--n", "4", "--data-seed", "5", "--json")
	if code != 0 {
		t.Fatal("data --data-seed failed")
	}
	b, errOut, code := runCLI(t, "data", "--n", "4", "--seed", "5", "--json")
	if code != 0 || !strings.Contains(errOut, "deprecated") || !strings.Contains(errOut, "--data-seed") {
		t.Fatalf("data --seed: exit %d, stderr %q", code, errOut)
	}
	strip := func(s string) string { // the timing differs
		var m map[string]any
		_ = json.Unmarshal([]byte(s), &m)
		delete(m, "ms_per_image")
		out, _ := json.Marshal(m)
		return string(out)
	}
	if strip(a) != strip(b) || !strings.Contains(a, `"seed": 5`) {
		t.Errorf("--data-seed and --seed differ:\n%s\n%s", a, b)
	}
}

// TestEvalPredictionsBadInput: wrong files give one clear error naming the
// file and the cause, never a panic.
func TestEvalPredictionsBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gt := fixturePath("panoptic.json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--gt", gt, "--predictions", write("a.json", `[{"image_id": 5, "category_id": 1, "score": 1, "segmentation": {"size": [1, 1], "counts": "01"}}]`)}, "image_id 5 is not an image of the ground truth"},
		{[]string{"--gt", gt, "--predictions", write("b.json", `[{"image_id": 139, "category_id": 1, "score": 1, "segmentation": {"size": [10, 10], "counts": "0"}}]`)}, "RLE size [10 10], the image is [120, 160]"},
		{[]string{"--gt", gt, "--predictions", write("c.json", `{"annotations": [{"image_id": 139, "file_name": "x.png", "segments_info": []}]}`)}, "no prediction for the image with id: 285"},
		{[]string{"--gt", gt, "--predictions", write("d.json", `{"annotations": [{"image_id": 139, "file_name": "x.png", "segments_info": null}]}`)}, "segments_info is missing or null"},
		{[]string{"--gt", gt, "--predictions", write("e.json", `[{"image_id": 139,`)}, "malformed JSON"},
		{[]string{"--gt", gt, "--predictions", write("f.json", `hello`)}, "is not JSON"},
		{[]string{"--predictions", write("g.json", `[]`)}, "--predictions needs --gt"},
	} {
		_, errOut, code := runCLI(t, append([]string{"eval"}, c.args...)...)
		if code == 0 || code == 2 && !strings.Contains(c.want, "--") || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "panic") {
			t.Errorf("eval %v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}
}
