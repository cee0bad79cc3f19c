package main

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/testenv"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// The COCO fixture of data/coco/testdata/crowd (see its README.md and
// data/coco/crowd_fixture_test.go): three images of three sizes (one a
// grey JPEG, one without segments), RGB-encoded ids, categories person 1,
// dog 18 (things), sky 187, grass 193 (stuff), a crowd of people and a
// crowd region of grass, and predictions in both results formats.
const crowdFixture = "../../data/coco/testdata/crowd"

func fixturePath(p ...string) string { return filepath.Join(append([]string{crowdFixture}, p...)...) }

// predEval runs eval --gt --predictions --json.
func predEval(t *testing.T, args ...string) predEvalReport {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"eval", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("eval %v: exit %d: %s", args, code, errOut)
	}
	var rep predEvalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return rep
}

func apStats(r *metrics.InstanceReport) []float64 {
	return []float64{r.AP, r.AP50, r.AP75, r.APs, r.APm, r.APl, r.AR1, r.AR10, r.AR, r.ARs, r.ARm, r.ARl}
}

func pqStats(r *metrics.PanopticReport) []float64 {
	return []float64{r.All.PQ, r.All.SQ, r.All.RQ, r.Things.PQ, r.Things.SQ, r.Things.RQ, r.Stuff.PQ, r.Stuff.SQ, r.Stuff.RQ}
}

func closeAll(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s[%d] = %.17g, want %.17g", what, i, got[i], want[i])
		}
	}
}

// TestEvalPredictionsCrowdFixture scores the fixture's predictions and
// checks every number against its derivation by hand.
//
// Instance GT (things): image 139: P1 person 10000 px (large), C1 person
// crowd 2400 px, D1 dog 600 px (small); image 285: D2 dog 3000 px
// (medium), P2 person 400 px (small). Detections, by score: person d1 .9
// (9200 px inside P1: IoU .92), d2 .8 (exactly C1: crowd IoU 1, so ignored
// at every threshold), d3 .7 (1600 px on no person: FP), d6 .5 (P2
// exactly: IoU 1); dog d5 .95 (2520 px of D2: IoU .84), d4 .6 (400 px of
// D1: IoU 2/3). A sky detection is no category of instances.json and is
// ignored (with the panoptic GT: a stuff class, left out).
//
//	person, t ≤ .90 (9 thresholds): TP d1, FP d3, TP d6 → recall .5, .5, 1,
//	  precision 1, ½, ⅔ → envelope 1, ⅔, ⅔ → 51 recall points at 1, 50 at
//	  ⅔: AP_t = (51 + 100/3)/101 = 253/303; t = .95: FP d1, FP d3, TP d6 →
//	  precision ⅓ up to recall .5 (51 points): 17/101.
//	  AP_person = (9·253/303 + 17/101)/10 = 388/505.
//	dog, t ≤ .65 (4): TP, TP → AP 1; t ∈ .70–.80 (3): TP d5, FP d4 → 51/101;
//	  t ≥ .85 (3): 0. AP_dog = (4 + 3·51/101)/10 = 557/1010.
//	AP   = (388/505 + 557/1010)/2 = 1333/2020 = 0.659901
//	AP50 = (253/303 + 1)/2 = 278/303;  AP75 = (253/303 + 51/101)/2 = 203/303
//	APs: person small GT is P2 only (d1, d2 matched to ignored GT, d3 out of
//	  range): AP 1; dog small GT D1: d4 TP for t ≤ .65, FP after (d5 on the
//	  ignored D2): 0.4 → APs = 0.7
//	APm: person has no medium GT (left out); dog: D2, d5 TP for t ≤ .80,
//	  FP after (d4 out of range, ignored): 0.7 → APm = 0.7
//	APl: person P1, d1 TP for t ≤ .90, at .95 out of range (9200 < 96²),
//	  ignored: 0.9; dog has no large GT → APl = 0.9
//	AR (1, 10, 100 detections): person (9·1 + .5)/10 = .95, dog (4·1 +
//	  3·.5)/10 = .55 → 0.75 each; ARs = (1 + .4)/2 = .7, ARm = .7, ARl = .9.
//
// Panoptic (pq_compute): image 139: sky exact (IoU 1); person 9200 px of
// P1 (IoU .92); a person segment exactly on the crowd C1 (not an FP: all
// of it on a crowd of its category); dog 400 px of D1 (IoU 2/3); a second
// dog segment (200 px of D1, 400 of grass: IoU .2, FP); grass 2400 px
// over 1900 px of GT grass, the 100-px VOID hole and 400 px of grass crowd:
// IoU = 1900 / (2400 + 2500 − 1900 − 100) = 19/29 (crowd pixels stay in the
// union, VOID ones leave it). Image 285: dog 2520 px of D2 (IoU .84),
// grass on the dog (FP), sky 3000 px over the 2400-px GT sky and 200 VOID
// px: 2400/(3000 + 2400 − 2400 − 200) = 6/7; P2 is missed (FN). Image 632:
// nothing, nothing predicted.
//
//	person: TP .92, FN 1 → PQ .92/1.5, SQ .92, RQ ⅔
//	dog: TP ⅔ and .84, FP 1 → PQ (⅔ + .84)/2.5, SQ (⅔ + .84)/2, RQ .8
//	sky: TP 1 and 6/7 → PQ = SQ = 13/14, RQ 1
//	grass: TP 19/29, FP 1 → PQ 38/87, SQ 19/29, RQ ⅔
func TestEvalPredictionsCrowdFixture(t *testing.T) {
	wantAP := []float64{1333.0 / 2020, 278.0 / 303, 203.0 / 303, 0.7, 0.7, 0.9, 0.75, 0.75, 0.75, 0.7, 0.7, 0.9}
	person := [3]float64{0.92 / 1.5, 0.92, 2.0 / 3}
	dog := [3]float64{(2.0/3 + 0.84) / 2.5, (2.0/3 + 0.84) / 2, 0.8}
	sky := [3]float64{13.0 / 14, 13.0 / 14, 1}
	grass := [3]float64{38.0 / 87, 19.0 / 29, 2.0 / 3}
	var wantPQ []float64
	for _, part := range [][][3]float64{{person, dog, sky, grass}, {person, dog}, {sky, grass}} {
		for k := 0; k < 3; k++ {
			s := 0.0
			for _, c := range part {
				s += c[k]
			}
			wantPQ = append(wantPQ, s/float64(len(part)))
		}
	}
	ins, pan := fixturePath("predictions", "instances_results.json"), fixturePath("predictions", "panoptic_results.json")
	rep := predEval(t, "--gt", fixturePath("panoptic.json"), "--predictions", ins, "--predictions", pan)
	if rep.Instance == nil || rep.PQ == nil || rep.Images != 3 {
		t.Fatalf("report %+v", rep)
	}
	closeAll(t, "AP (panoptic GT)", apStats(rep.Instance), wantAP, 1e-12)
	closeAll(t, "PQ", pqStats(rep.PQ), wantPQ, 1e-12)
	if rep.PQ.All.N != 4 || rep.PQ.Things.N != 2 || rep.PQ.Stuff.N != 2 {
		t.Errorf("PQ category counts %+v", rep.PQ)
	}
	// The same detections against the instance file (polygons, an
	// uncompressed-RLE crowd, "area" fields): the same numbers, and the sky
	// detection is counted as ignored.
	rep = predEval(t, "--gt", fixturePath("instances.json"), "--predictions", ins)
	closeAll(t, "AP (instance GT)", apStats(rep.Instance), wantAP, 1e-12)
	if rep.Ignored["unknown_category"] != 1 || rep.PQ != nil {
		t.Errorf("ignored %v, panoptic %v", rep.Ignored, rep.PQ)
	}

	// Deleting the crowd instead of ignoring it (issue #12): d2 becomes an
	// FP and AP falls. Flagged as an ordinary GT it would be a TP.
	dir := t.TempDir()
	raw, _ := os.ReadFile(fixturePath("instances.json"))
	var f map[string]any
	_ = json.Unmarshal(raw, &f)
	var kept []any
	for _, a := range f["annotations"].([]any) {
		if a.(map[string]any)["iscrowd"].(float64) == 0 {
			kept = append(kept, a)
		}
	}
	f["annotations"] = kept
	b, _ := json.Marshal(f)
	noCrowd := filepath.Join(dir, "nocrowd.json")
	_ = os.WriteFile(noCrowd, b, 0o644)
	if r := predEval(t, "--gt", noCrowd, "--predictions", ins); r.Instance.AP >= wantAP[0]-1e-3 {
		t.Errorf("AP with the crowd deleted = %v, want below %v", r.Instance.AP, wantAP[0])
	}
}

// needReference skips (or, with MPANALYZE_REQUIRE_TORCH set as in CI,
// fails) unless the reference port can run (numpy).
func needReference(t *testing.T) { t.Helper(); testenv.RequirePython(t, "numpy") }

// reference runs metrics/testdata/reference/cocoref.py (the test-time port of
// COCOeval and pq_compute) and returns its JSON.
func reference(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, err := exec.Command(testenv.Python, append([]string{"../../metrics/testdata/reference/cocoref.py"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("cocoref.py %v: %v\n%s", args, err, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("cocoref.py: %v\n%s", err, out)
	}
	return m
}

func refAP(m map[string]any) []float64 {
	var out []float64
	for _, v := range m["stats"].([]any) {
		out = append(out, v.(float64))
	}
	return out
}

func refPQ(m map[string]any) []float64 {
	var out []float64
	for _, part := range []string{"All", "Things", "Stuff"} {
		p := m[part].(map[string]any)
		out = append(out, p["pq"].(float64), p["sq"].(float64), p["rq"].(float64))
	}
	return out
}

// TestEvalPredictionsMatchReference compares eval --predictions with the
// port of COCOeval and pq_compute on the fixture and on random COCO files
// (random sizes, RGB ids, crowd things and stuff, VOID, overlapping and
// tied detections, unknown categories).
func TestEvalPredictionsMatchReference(t *testing.T) {
	needReference(t)
	ins, pan := fixturePath("predictions", "instances_results.json"), fixturePath("predictions", "panoptic_results.json")
	rep := predEval(t, "--gt", fixturePath("panoptic.json"), "--predictions", ins, "--predictions", pan)
	closeAll(t, "fixture AP vs port", apStats(rep.Instance), refAP(reference(t, "instances", fixturePath("instances.json"), ins)), 1e-12)
	closeAll(t, "fixture PQ vs port", pqStats(rep.PQ), refPQ(reference(t, "panoptic", fixturePath("panoptic.json"), fixturePath("panoptic"), pan, fixturePath("predictions", "panoptic_results"))), 1e-12)
	for seed := uint64(1); seed <= 6; seed++ {
		dir := t.TempDir()
		writeRandomCOCO(t, dir, seed)
		rep := predEval(t, "--gt", filepath.Join(dir, "gt.json"), "--predictions", filepath.Join(dir, "res.json"), "--predictions", filepath.Join(dir, "pred.json"))
		closeAll(t, "random AP vs port", apStats(rep.Instance), refAP(reference(t, "instances-from-panoptic", filepath.Join(dir, "gt.json"), filepath.Join(dir, "gt"), filepath.Join(dir, "res.json"))), 1e-12)
		closeAll(t, "random PQ vs port", pqStats(rep.PQ), refPQ(reference(t, "panoptic", filepath.Join(dir, "gt.json"), filepath.Join(dir, "gt"), filepath.Join(dir, "pred.json"), filepath.Join(dir, "pred"))), 1e-12)
		if t.Failed() {
			t.Fatalf("seed %d (files in %s)", seed, dir)
		}
		t.Logf("seed %d: AP %.4f AP50 %.4f APs %.4f ARl %.4f; PQ %.4f things %.4f stuff %.4f", seed,
			rep.Instance.AP, rep.Instance.AP50, rep.Instance.APs, rep.Instance.ARl, rep.PQ.All.PQ, rep.PQ.Things.PQ, rep.PQ.Stuff.PQ)
	}
}

// writeRandomCOCO writes a random panoptic GT (gt.json + gt/), panoptic
// predictions that perturb it (pred.json + pred/) and instance results
// that perturb its thing segments, plus random ones (res.json), into dir.
// Images are 8–140 px a side, so all three COCO area ranges occur.
func writeRandomCOCO(t *testing.T, dir string, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 12))
	cats := []map[string]any{
		{"id": 3, "name": "a", "isthing": 1}, {"id": 44, "name": "b", "isthing": 1},
		{"id": 90, "name": "c", "isthing": 0}, {"id": 200, "name": "d", "isthing": 0},
	}
	for _, sub := range []string{"gt", "pred"} {
		_ = os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	type seg struct {
		id    int32
		cat   int
		crowd int
	}
	rect := func(h, w int) (x0, y0, x1, y1 int) {
		x0, y0 = r.IntN(w), r.IntN(h)
		return x0, y0, x0 + 1 + r.IntN(w-x0), y0 + 1 + r.IntN(h-y0)
	}
	var images, gtAnns, predAnns, results []map[string]any
	for im := 0; im < 3; im++ {
		id := 1000 + 7*im
		h, w := 8+r.IntN(193), 8+r.IntN(193)
		name := "img" + string(rune('a'+im)) + ".jpg"
		png := strings.TrimSuffix(name, ".jpg") + ".png"
		images = append(images, map[string]any{"id": id, "file_name": name, "height": h, "width": w})
		// GT: random rectangles with 24-bit ids, some crowd; VOID holes.
		gt := make([]int32, h*w)
		var segs []seg
		for k := 0; k < 1+r.IntN(8); k++ {
			sg := seg{id: int32(1 + r.IntN(1<<24-1)), cat: r.IntN(4)}
			if r.IntN(5) == 0 {
				sg.crowd = 1
			}
			x0, y0, x1, y1 := rect(h, w)
			if k == 0 { // a large first segment
				x0, y0, x1, y1 = r.IntN(w/4+1), r.IntN(h/4+1), w-r.IntN(w/4+1), h-r.IntN(h/4+1)
			}
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					gt[y*w+x] = sg.id
				}
			}
			segs = append(segs, sg)
		}
		for k := 0; k < 2; k++ {
			x0, y0, _, _ := rect(h, w)
			for y := y0; y < min(h, y0+1+r.IntN(12)); y++ {
				for x := x0; x < min(w, x0+1+r.IntN(12)); x++ {
					gt[y*w+x] = 0
				}
			}
		}
		// Predictions: the GT's segments renumbered 1, 2, ... (a stuff
		// class once), sometimes relabelled, then random rectangles on top.
		pred := make([]int32, h*w)
		to := map[int32]int32{}
		var psegs []seg
		stuffID := map[int]int32{}
		for _, sg := range segs {
			c := sg.cat
			if r.IntN(8) == 0 {
				c = r.IntN(4)
			}
			if c >= 2 && stuffID[c] != 0 {
				to[sg.id] = stuffID[c]
				continue
			}
			nid := int32(len(psegs) + 1)
			psegs = append(psegs, seg{id: nid, cat: c})
			to[sg.id] = nid
			if c >= 2 {
				stuffID[c] = nid
			}
		}
		for i, v := range gt {
			pred[i] = to[v]
		}
		for k := 0; k < r.IntN(4); k++ {
			nid := int32(len(psegs) + 1)
			psegs = append(psegs, seg{id: nid, cat: r.IntN(2)})
			x0, y0, x1, y1 := rect(h, w)
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					pred[y*w+x] = nid
				}
			}
		}
		infos := func(ids []int32, segs []seg, gt bool) []map[string]any {
			area := map[int32]int{}
			for _, v := range ids {
				area[v]++
			}
			info := []map[string]any{}
			for _, sg := range segs {
				if area[sg.id] == 0 {
					continue
				}
				e := map[string]any{"id": sg.id, "category_id": cats[sg.cat]["id"]}
				if gt {
					e["iscrowd"], e["area"] = sg.crowd, area[sg.id]
				}
				info = append(info, e)
			}
			return info
		}
		// A GT id painted over completely is gone; keep one entry per id.
		seen := map[int32]bool{}
		var uniq []seg
		for _, sg := range segs {
			if !seen[sg.id] {
				seen[sg.id] = true
				uniq = append(uniq, sg)
			}
		}
		writeIDPNGFile(t, filepath.Join(dir, "gt", png), h, w, gt)
		writeIDPNGFile(t, filepath.Join(dir, "pred", png), h, w, pred)
		gtAnns = append(gtAnns, map[string]any{"image_id": id, "file_name": png, "segments_info": infos(gt, uniq, true)})
		predAnns = append(predAnns, map[string]any{"image_id": id, "file_name": png, "segments_info": infos(pred, psegs, false)})
		// Instance results: most thing segments found with a perturbed
		// mask, some with the wrong class; random boxes; tied scores;
		// stuff and unknown categories.
		add := func(cat int, m []bool) {
			results = append(results, map[string]any{"image_id": id, "category_id": cat,
				"segmentation": map[string]any{"size": []int{h, w}, "counts": compressedRLE(h, w, m)},
				"score":        float64(r.IntN(6)) / 5})
		}
		for _, sg := range uniq {
			if sg.cat >= 2 || r.IntN(5) == 0 {
				continue
			}
			m := make([]bool, h*w)
			for i, v := range gt {
				m[i] = v == sg.id
			}
			x0, y0, x1, y1 := rect(h, w)
			on := r.IntN(2) == 0
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					m[y*w+x] = on
				}
			}
			c := cats[sg.cat]["id"].(int)
			if r.IntN(8) == 0 {
				c = 47 - c // the other thing class
			}
			add(c, m)
		}
		for k := 0; k < r.IntN(6); k++ {
			m := make([]bool, h*w)
			x0, y0, x1, y1 := rect(h, w)
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					m[y*w+x] = true
				}
			}
			add([]int{3, 44, 3, 44, 90, 7}[r.IntN(6)], m)
		}
	}
	writeJSONFile(t, filepath.Join(dir, "gt.json"), map[string]any{"images": images, "annotations": gtAnns, "categories": cats})
	writeJSONFile(t, filepath.Join(dir, "pred.json"), map[string]any{"annotations": predAnns})
	if results == nil {
		results = []map[string]any{}
	}
	writeJSONFile(t, filepath.Join(dir, "res.json"), results)
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeIDPNGFile(t *testing.T, path string, h, w int, ids []int32) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, id := range ids {
		img.Set(i%w, i/w, color.RGBA{uint8(id), uint8(id >> 8), uint8(id >> 16), 255})
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// compressedRLE is COCO's compressed counts string of a row-major mask
// (maskApi.c rleToString), written here independently of data/coco.
func compressedRLE(h, w int, m []bool) string {
	var cnts []int
	prev, c := false, 0
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			if v := m[y*w+x]; v != prev {
				cnts = append(cnts, c)
				c, prev = 0, v
			}
			c++
		}
	}
	cnts = append(cnts, c)
	var s []byte
	for i := range cnts {
		x := int64(cnts[i])
		if i > 2 {
			x -= int64(cnts[i-2])
		}
		for more := true; more; {
			ch := byte(x & 0x1f)
			x >>= 5
			if ch&0x10 != 0 {
				more = x != -1
			} else {
				more = x != 0
			}
			if more {
				ch |= 0x20
			}
			s = append(s, ch+48)
		}
	}
	return string(s)
}

// TestEvalPredictionsStringIDs: the COCO-panoptic conversions of ADE20K
// (Mask2Former's prepare_ade20k_pan_seg.py) and Cityscapes
// (cityscapesscripts' createPanopticImgs.py) write string image ids
// ("ADE_val_00000001", "frankfurt_000000_000294"), and ADE20K's category
// ids start at 0. The fixture rewritten that way (ids 139/285/632 →
// strings, person 1 → 0) scores exactly as before, and the exports keep
// the string ids.
func TestEvalPredictionsStringIDs(t *testing.T) {
	dir := t.TempDir()
	ids := map[string]string{"139": `"frankfurt_000000_000139"`, "285": `"ADE_val_00000285"`, "632": `"munster_000000_000632"`}
	rewrite := func(src, dst string) string {
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		for n, str := range ids {
			s = strings.ReplaceAll(s, `"id": `+n+`,`, `"id": `+str+`,`)
			s = strings.ReplaceAll(s, `"image_id": `+n+`,`, `"image_id": `+str+`,`)
			s = strings.ReplaceAll(s, `"image_id":`+n+`,`, `"image_id":`+str+`,`)
		}
		s = strings.ReplaceAll(s, `"category_id": 1,`, `"category_id": 0,`)
		s = strings.ReplaceAll(s, `"category_id":1,`, `"category_id":0,`)
		s = strings.ReplaceAll(s, `"category_id": 1}`, `"category_id": 0}`)
		s = strings.ReplaceAll(s, `{"id": 1, "name": "person"`, `{"id": 0, "name": "person"`)
		p := filepath.Join(dir, dst)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gt := rewrite(fixturePath("panoptic.json"), "gt.json")
	ins := rewrite(fixturePath("predictions", "instances_results.json"), "res.json")
	pan := rewrite(fixturePath("predictions", "panoptic_results.json"), "pred.json")
	if raw, _ := os.ReadFile(gt); !strings.Contains(string(raw), `"image_id": "ADE_val_00000285"`) || !strings.Contains(string(raw), `"id": 0, "name": "person"`) {
		t.Fatalf("rewrite failed:\n%s", raw)
	}
	want := predEval(t, "--gt", fixturePath("panoptic.json"), "--predictions", fixturePath("predictions", "instances_results.json"), "--predictions", fixturePath("predictions", "panoptic_results.json"))
	out := filepath.Join(dir, "gt-export")
	got := predEval(t, "--gt", gt, "--gt-pngs", fixturePath("panoptic"), "--predictions", ins, "--predictions", pan, "--pred-pngs", fixturePath("predictions", "panoptic_results"), "--export-gt", out)
	closeAll(t, "AP with string ids", apStats(got.Instance), apStats(want.Instance), 0)
	closeAll(t, "PQ with string ids", pqStats(got.PQ), pqStats(want.PQ), 0)
	raw, err := os.ReadFile(filepath.Join(out, "panoptic.json"))
	if err != nil || !strings.Contains(string(raw), `"image_id":"ADE_val_00000285"`) || !strings.Contains(string(raw), `"id":"frankfurt_000000_000139"`) {
		t.Errorf("exported GT lost the string ids: %v\n%.400s", err, raw)
	}
	if needReferenceOK() {
		closeAll(t, "string ids vs port", pqStats(got.PQ), refPQ(reference(t, "panoptic", gt, fixturePath("panoptic"), pan, fixturePath("predictions", "panoptic_results"))), 1e-12)
	}
}

// needReferenceOK reports whether the reference port can run.
func needReferenceOK() bool {
	return exec.Command(testenv.Python, "-c", "import numpy").Run() == nil
}
