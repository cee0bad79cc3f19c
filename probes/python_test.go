package probes

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/npy"
	"github.com/mpanalyze/mpanalyze/internal/testenv"
	"github.com/mpanalyze/mpanalyze/matcher"
	"github.com/mpanalyze/mpanalyze/metrics"
)

const python = testenv.Python

// packageDir is the Python package's project directory (python/ at the
// repository root), relative to this package.
const packageDir = "../python"

// pythonPackage is a command of the reference interpreter that imports the
// mpanalyze_trace package from the repository (PYTHONPATH), without
// installing it.
func pythonPackage(python string, args ...string) *exec.Cmd {
	cmd := exec.Command(python, args...)
	abs, err := filepath.Abs(packageDir)
	if err != nil {
		abs = packageDir
	}
	cmd.Env = append(os.Environ(), "PYTHONPATH="+abs)
	return cmd
}

// needPython is testenv.RequirePython for a comma-separated module list.
func needPython(t *testing.T, modules string) {
	t.Helper()
	testenv.RequirePython(t, strings.Split(strings.ReplaceAll(modules, " ", ""), ",")...)
}

// TestNumpyOpensTrace loads a Go-written trace with np.load and compares
// every array's dtype, shape and sum with what was recorded; run-length
// encoded masks (compact layout) are decoded with np.repeat as TRACE.md
// shows, and their sums are the set pixels.
func TestNumpyOpensTrace(t *testing.T) {
	t.Parallel() // waits on Python, like the tests below
	needPython(t, "numpy")
	mp := m2f
	mp.MP = 2
	imgs := mp.images(21, []int{2, -1}, true)
	odd := oddSizes.images(22, []int{3, 0}, true)
	for _, tc := range []struct {
		c    synth
		imgs []Image
		set  *TraceSettings
	}{
		{mp, imgs, &TraceSettings{KeepMP: true}},
		{mp, imgs, &TraceSettings{Float16: true, Compress: true}},
		{mp, imgs, &TraceSettings{Compact: true, KeepMP: true}},
		{oddSizes, odd, &TraceSettings{Compact: true, KeepMP: true, Float16: true}},
	} {
		npz, js := writeTrace(t, filepath.Join(t.TempDir(), "t"), tc.c, tc.set, tc.imgs)
		script := `
import json, sys, numpy as np
f = np.load(sys.argv[1])
side = json.load(open(sys.argv[2]))
out = {}
for a in side["arrays"]:
    x = f[a["name"]]
    s = x.astype(np.float64).sum()
    if "rle" in a:  # run-length encoded masks: decode as TRACE.md shows
        n = f[a["name"][:-len("runs")] + "nruns"].ravel()
        start = np.repeat(np.cumsum(n) - n, n)
        value = ((np.arange(len(x)) - start) % 2).astype(bool)
        s = np.repeat(value, x.astype(np.int64)).reshape(a["rle"]).sum()
    out[a["name"]] = [x.dtype.str, list(x.shape), float(s)]
print(json.dumps({"arrays": out, "files": len(f.files), "model": side["run"]["model"]}))
`
		b, err := exec.Command(python, "-c", script, npz, js).CombinedOutput()
		if err != nil {
			t.Fatalf("numpy: %v\n%s", err, b)
		}
		var got struct {
			Arrays map[string][3]any
			Files  int
			Model  string
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		r, back := readAll(t, npz, nil)
		side := r.Sidecar()
		if len(got.Arrays) != len(side.Arrays) || got.Files != len(side.Arrays) || got.Model != tc.c.Model {
			t.Fatalf("numpy sees %d arrays, the sidecar lists %d", got.Files, len(side.Arrays))
		}
		sums := arraySums(back)
		for _, a := range side.Arrays {
			g := got.Arrays[a.Name]
			if g[0] != a.DType || jsonOf(t, g[1]) != jsonOf(t, a.Shape) {
				t.Errorf("%+v: %s: numpy sees %v %v, sidecar %s %v", *tc.set, a.Name, g[0], g[1], a.DType, a.Shape)
			}
			want, ok := sums[a.Name]
			if !ok {
				t.Fatalf("no Go sum for %s", a.Name)
			}
			if s := g[2].(float64); math.Abs(s-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("%+v: %s: numpy sum %v, Go %v", *tc.set, a.Name, s, want)
			}
		}
	}
}

// arraySums computes, from images read back, the sum of each trace array
// (of the set bits for packed arrays).
func arraySums(imgs []Image) map[string]float64 {
	out := map[string]float64{}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, im := range imgs {
		p := imgPrefix(im.Index)
		for s := range im.Stages {
			st := &im.Stages[s]
			P, HW, K1 := st.NumMP, st.H*st.W, st.NumClasses+1
			cells := st.AttnH * st.AttnW
			for i, v := range st.MaskLogits {
				out[p+pick(i < P*HW, "mp_mask_logits", "mask_logits")] += float64(v)
			}
			for i, m := range st.Masks {
				out[p+pick(i < P, "mp_mask_runs", "mask_runs")] += float64(m.Area())
				out[p+pick(i < P, "mp_mask_nruns", "mask_nruns")] += float64(len(appendRuns(nil, m)))
			}
			for i, v := range st.ClassLogits {
				out[p+pick(i < P*K1, "mp_class_logits", "class_logits")] += float64(v)
			}
			for i, v := range st.Unblocked {
				out[p+pick(i < P, "mp_unblocked", "unblocked")] += b(v)
			}
			if cells > 0 {
				name := "attn_mask_s" + strconv.Itoa(s)
				for i, v := range st.AttnMask {
					out[p+pick(i < P*cells, "mp_"+name, name)] += b(v)
				}
				name = "attn_s" + strconv.Itoa(s)
				for i, m := range st.AttnBits {
					out[p+pick(i < P, "mp_"+name, name)+"_runs"] += float64(m.Area())
					out[p+pick(i < P, "mp_"+name, name)+"_nruns"] += float64(len(appendRuns(nil, m)))
				}
			}
			if st.Match != nil {
				out[p+"match"] += 0
			}
			for _, q := range st.Match {
				out[p+"match"] += float64(q)
			}
		}
		if im.GT != nil {
			compact := im.Stages[0].Masks != nil
			gtName := "gt_masks"
			if compact {
				gtName = "gt_runs"
				out[p+"gt_nruns"] += 0
			}
			out[p+gtName] += 0
			out[p+"gt_classes"] += 0
			for g, m := range im.GT.Masks {
				out[p+gtName] += float64(m.Area())
				out[p+"gt_classes"] += float64(im.GT.Classes[g])
				if compact {
					out[p+"gt_nruns"] += float64(len(appendRuns(nil, m)))
				}
			}
			if im.GT.Cover != nil {
				out[p+"gt_cover"] += 0
				for _, c := range im.GT.Cover {
					for _, v := range c {
						out[p+"gt_cover"] += float64(v) * 16 // stride 4: pixels per cell
					}
				}
			}
		}
	}
	return out
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// refArray is one array of a numpy-written .npz.
type refArray struct {
	shape []int
	f32   []float32
	i32   []int32
	u8    []byte
}

// readRef reads a .npz written by np.savez (float32, int32, uint8 arrays).
func readRef(t *testing.T, path string) map[string]refArray {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]refArray{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		br := bufio.NewReader(rc)
		h, err := npy.ReadHeader(br)
		if err == nil {
			err = checkNPYHeader(h)
		}
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		a := refArray{shape: h.Shape}
		n := h.NumElems()
		switch h.Descr {
		case dtF32:
			a.f32 = make([]float32, n)
			err = readFloats(br, dtF32, a.f32)
		case dtI32:
			a.i32 = make([]int32, n)
			err = npy.ReadElems(br, a.i32, nil)
		case dtU8:
			a.u8 = make([]byte, n)
			_, err = br.Read(a.u8)
		}
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		rc.Close()
		out[strings.TrimSuffix(f.Name, ".npy")] = a
	}
	return out
}

// bilinearLogits resizes an h×w map to oh×ow as torch's F.interpolate
// (mode="bilinear", align_corners=False, no antialias): source coordinate
// (i + 0.5)·in/out − 0.5, clamped at 0.
func bilinearLogits(src []float32, h, w, oh, ow int) []float64 {
	coord := func(i, in, out int) (int, int, float64) {
		x := (float64(i)+0.5)*float64(in)/float64(out) - 0.5
		if x < 0 {
			x = 0
		}
		i0 := int(x)
		i1 := min(i0+1, in-1)
		return i0, i1, x - float64(i0)
	}
	out := make([]float64, oh*ow)
	for y := range oh {
		y0, y1, ly := coord(y, h, oh)
		for x := range ow {
			x0, x1, lx := coord(x, w, ow)
			v := func(yy, xx int) float64 { return float64(src[yy*w+xx]) }
			out[y*ow+x] = (1-ly)*((1-lx)*v(y0, x0)+lx*v(y0, x1)) + ly*((1-lx)*v(y1, x0)+lx*v(y1, x1))
		}
	}
	return out
}

// TestPyTorchTrace records random outputs of a tiny decoder with the
// Python package's command line (python3 -m mpanalyze_trace demo) and reads
// the trace in Go: the
// logits equal the decoder outputs bit for bit, the attention masks equal
// the official rule recomputed here, the matchings equal matcher's
// (computed at read time when scipy is missing), and analysis runs.
func TestPyTorchTrace(t *testing.T) {
	t.Parallel()
	needPython(t, "numpy, torch")
	hasScipy := exec.Command(python, "-c", "import scipy.optimize").Run() == nil
	// Default: matchings from scipy when present, else computed at read time.
	t.Run("auto", func(t *testing.T) { testPyTorchTrace(t, "auto", hasScipy) })
	// Without: always computed at read time by matcher.
	t.Run("none", func(t *testing.T) { testPyTorchTrace(t, "none", false) })
}

func testPyTorchTrace(t *testing.T, matchings string, stored bool) {
	dir := t.TempDir()
	out, ref := filepath.Join(dir, "pt"), filepath.Join(dir, "ref.npz")
	cmd := pythonPackage(python, "-m", "mpanalyze_trace", "demo", out, "--ref", ref, "--images", "3", "--seed", "5", "--matchings", matchings)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python3 -m mpanalyze_trace: %v\n%s", err, b)
	}
	refs := readRef(t, ref)
	r, imgs := readAll(t, out, nil)
	info := r.Info()
	if info.Model != "mask2former" || info.NumStages != 4 || info.NumQueries != 5 || info.NumClasses != 3 ||
		info.MaskH != 8 || jsonOf(t, info.StageLayers) != "[0,1,2,3]" || !strings.HasPrefix(info.ToolVersion, "mpanalyze_trace/") {
		t.Fatalf("run info %+v", info)
	}
	wantMatching := MatchingComputed // image 2 has no GT; images 0, 1 have 1 and 2 segments
	if stored {
		wantMatching = MatchingRecorded
	}
	if info.Matching != wantMatching || (r.Sidecar().MatchingNote != "") != stored {
		t.Fatalf("matching %q (note %q), want %q", info.Matching, r.Sidecar().MatchingNote, wantMatching)
	}
	if len(imgs) != 3 {
		t.Fatalf("%d images", len(imgs))
	}
	levels := [][2]int{{2, 2}, {4, 4}, {8, 8}} // the demo's --feature-sizes
	for i, im := range imgs {
		if im.Index != 100+i {
			t.Fatalf("image %d has index %d", i, im.Index)
		}
		p := "img" + string(rune('0'+i)) + "_"
		ml, cl := refs[p+"mask_logits"], refs[p+"class_logits"]
		HW, K1 := 64, 4
		for s := range im.Stages {
			st := &im.Stages[s]
			if d := diffF32(st.MaskLogits, ml.f32[s*5*HW:(s+1)*5*HW]); d != "" {
				t.Fatalf("image %d stage %d mask logits: %s", i, s, d)
			}
			if d := diffF32(st.ClassLogits, cl.f32[s*5*K1:(s+1)*5*K1]); d != "" {
				t.Fatalf("image %d stage %d class logits: %s", i, s, d)
			}
			// Attention: level s mod 3 after stages 0..2, none after the last.
			if s == 3 {
				if st.AttnH != 0 {
					t.Fatalf("last stage has attention")
				}
				continue
			}
			lv := levels[s%3]
			if st.AttnH != lv[0] || st.AttnW != lv[1] {
				t.Fatalf("stage %d attention %d×%d, want %v", s, st.AttnH, st.AttnW, lv)
			}
			cells := lv[0] * lv[1]
			for q := range 5 {
				a := bilinearLogits(st.MaskLogits[q*HW:(q+1)*HW], 8, 8, lv[0], lv[1])
				all := true
				for _, v := range a {
					all = all && v < 0 // sigmoid < 0.5
				}
				if st.Unblocked[q] != all {
					t.Fatalf("image %d stage %d query %d: unblocked %v, want %v", i, s, q, st.Unblocked[q], all)
				}
				for c, v := range a {
					if want := v < 0 && !all; st.AttnMask[q*cells+c] != want {
						t.Fatalf("image %d stage %d query %d cell %d: blocked %v, logit %g", i, s, q, c, st.AttnMask[q*cells+c], v)
					}
				}
			}
		}
		gc, hasGT := refs[p+"gt_classes"]
		if !hasGT {
			if im.GT != nil || im.Stages[0].Match != nil {
				t.Fatalf("image %d: GT or matching without GT", i)
			}
			continue
		}
		if len(im.GT.Classes) != len(gc.i32) {
			t.Fatalf("image %d: %d GT segments, want %d", i, len(im.GT.Classes), len(gc.i32))
		}
		gm, gcov := refs[p+"gt_masks"], refs[p+"gt_cover"]
		targets := make([]float32, len(gm.u8))
		for g, m := range im.GT.Masks {
			if im.GT.Classes[g] != int(gc.i32[g]) {
				t.Fatalf("image %d GT %d class", i, g)
			}
			for px := range HW {
				if m.Get(px) != (gm.u8[g*HW+px] != 0) {
					t.Fatalf("image %d GT %d pixel %d", i, g, px)
				}
				// The matching targets are the coverage: count / 16.
				targets[g*HW+px] = float32(gcov.u8[g*HW+px]) / 16
				if im.GT.Cover[g][px] != targets[g*HW+px] {
					t.Fatalf("image %d GT %d pixel %d: coverage %v, want %v", i, g, px, im.GT.Cover[g][px], targets[g*HW+px])
				}
			}
		}
		for s := range im.Stages {
			st := &im.Stages[s]
			want := matcher.Match(st.ClassLogits, st.MaskLogits, targets, im.GT.Classes, 5, 3, HW, nil)
			if jsonOf(t, st.Match) != jsonOf(t, want) {
				t.Fatalf("image %d stage %d: matching %v, matcher %v", i, s, st.Match, want)
			}
		}
	}
	// The Evaluator reads it as any trace.
	var ev Evaluator
	if err := r.Replay(&ev, 0); err != nil {
		t.Fatal(err)
	}
	rep := ev.Report()
	if rep.Images != 3 || rep.Layer.GT != 3 || rep.Layer.FinalMatched != 3 {
		t.Fatalf("report: %d images, %d GT, %d final-matched", rep.Images, rep.Layer.GT, rep.Layer.FinalMatched)
	}
	toFinal := metrics.MustFigure("iou_to_final").Series(rep.Figures(), metrics.FinalMatched)
	attended := metrics.MustFigure("attended").Series(rep.Figures(), metrics.FinalMatched)
	if toFinal[3] != 1 || math.IsNaN(attended[0]) {
		t.Fatalf("IoU to final %v, attended %v", toFinal, attended)
	}
}

// TestPyTorchCompact records the demo outputs in both layouts with the
// Python package and reads them in Go: the compact trace holds the full
// trace's binary masks, attention masks, matchings and GT, its class
// logits rounded to float16, and analyses the same; with --float16 it also
// keeps float16 mask logits.
func TestPyTorchCompact(t *testing.T) {
	t.Parallel()
	needPython(t, "numpy, torch, scipy")
	dir := t.TempDir()
	full, compact, compact16 := filepath.Join(dir, "full"), filepath.Join(dir, "compact"), filepath.Join(dir, "compact16")
	// One Python process runs the three command lines and the refusal
	// below (one torch start-up).
	script := `
import sys
import mpanalyze_trace.trace as rt
from mpanalyze_trace import cli
full, compact, compact16, refused = sys.argv[1:]
for out, extra in ((full, []), (compact, ["--compact"]), (compact16, ["--compact", "--float16"])):
    cli.main(["demo", out, "--images", "4", "--seed", "9"] + extra)
# Without scipy a compact trace without logits is refused, unless no
# matchings are asked for.
rt.have_scipy = lambda: False
outs, gts = cli.demo_outputs(seed=1, images=1)
try:
    rt.record(refused, outs, gts, compact=True)
except ValueError as e:
    print("refused:", e)
rt.record(refused, outs, gts, compact=True, matchings="none")
`
	b, err := pythonPackage(python, "-c", script, full, compact, compact16, filepath.Join(dir, "refused")).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "refused: image 0: a compact trace without mask logits needs its matchings") {
		t.Fatalf("mpanalyze_trace: %v\n%s", err, b)
	}
	_, want := readAll(t, full, nil)
	for _, c := range []struct {
		path string
		keep bool
	}{{compact, false}, {compact16, true}} {
		r, got := readAll(t, c.path, nil)
		st := r.Sidecar().Storage
		if !st.Compact() || st.ClassDType != "float16" || (st.MaskDType == "none") == c.keep || r.Info().Matching != MatchingRecorded {
			t.Fatalf("%s: storage %+v, matching %q", c.path, st, r.Info().Matching)
		}
		if d := diffImages(asCompact(want, c.keep), got); d != "" {
			t.Fatalf("%s: %s", c.path, d)
		}
		var a, b Evaluator
		if err := r.Replay(&b, 0); err != nil {
			t.Fatal(err)
		}
		feed(t, &a, r.Info(), want)
		if jsonOf(t, a.Report().Layer) != jsonOf(t, b.Report().Layer) || jsonOf(t, a.Report().Attention) != jsonOf(t, b.Report().Attention) {
			t.Fatalf("%s: the compact trace analyses differently", c.path)
		}
	}
	if r, _ := readAll(t, filepath.Join(dir, "refused"), nil); r.Info().Matching != MatchingNone {
		t.Fatalf("compact trace without matchings: matching %q", r.Info().Matching)
	}
}

// TestPyTorchConvert saves decoder outputs with torch.save, converts them
// with `python3 -m mpanalyze_trace convert` (float16) and compares the trace with the
// demo trace of the same outputs: the same stages, with float16 logits that
// keep every binary mask.
func TestPyTorchConvert(t *testing.T) {
	t.Parallel()
	needPython(t, "numpy, torch")
	dir := t.TempDir()
	pt, demo, conv := filepath.Join(dir, "out.pt"), filepath.Join(dir, "demo"), filepath.Join(dir, "conv")
	script := `
import sys, torch
import mpanalyze_trace.trace as rt
from mpanalyze_trace import cli
outs, gts = cli.demo_outputs(seed=3, images=2)
stage0 = outs[0]["aux_outputs"][0]["pred_masks"]
stage0[0, 0, 0, :3] = torch.tensor([1e-9, -1e-9, 0.0])  # float16 would flush the first two to 0
torch.save({"outputs": outs, "gt": gts, "indices": [100, 101], "run_info": {"model": "mask2former", "seed": 3}}, sys.argv[1])
rt.record(sys.argv[2], outs, gts, {"model": "mask2former", "seed": 3}, feature_sizes=[(2, 2), (4, 4), (8, 8)], indices=[100, 101], matchings="none")
# The command line, in this process (one torch start-up is enough).
cli.main(["convert", sys.argv[1], sys.argv[3], "--feature-sizes", "2x2,4x4,8x8", "--float16", "--matchings", "none"])
`
	if b, err := pythonPackage(python, "-c", script, pt, demo, conv).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	_, want := readAll(t, demo, nil)
	r, got := readAll(t, conv, nil)
	if r.Sidecar().Storage.MaskDType != "float16" || len(got) != 2 {
		t.Fatalf("storage %+v, %d images", r.Sidecar().Storage, len(got))
	}
	if v := got[0].Stages[0].MaskLogits[:3]; !(v[0] > 0 && v[1] < 0 && v[2] == 0) {
		t.Fatalf("tiny logits read back as %v", v)
	}
	for i := range want {
		a, b := want[i].ImageStages(), got[i].ImageStages()
		if jsonOf(t, a.Match) != jsonOf(t, b.Match) {
			t.Fatalf("image %d: matchings differ", i)
		}
		for s := range a.Masks {
			for q := range a.Masks[s] {
				if metrics.IoU(a.Masks[s][q], b.Masks[s][q]) != 1 {
					t.Fatalf("image %d stage %d query %d: binary mask changed", i, s, q)
				}
			}
			want[i].Stages[s].MaskLogits = got[i].Stages[s].MaskLogits
		}
	}
	if d := diffImages(want, got); d != "" {
		t.Fatal(d)
	}
}

// TestTraceDocSnippet runs TRACE.md's numpy reader (the python block under
// "Opening a trace in numpy") on a full and a compact trace and compares
// what it yields with the Go reader: per image and stage, the binary
// masks' set pixels, the class logits' sum, the attention masks' blocked
// cells, the matchings and the GT.
func TestTraceDocSnippet(t *testing.T) {
	t.Parallel()
	needPython(t, "numpy")
	doc, err := os.ReadFile("TRACE.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "## Opening a trace in numpy")
	_, code, ok2 := strings.Cut(after, "```python\n")
	code, _, ok3 := strings.Cut(code, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("TRACE.md has no python block under \"Opening a trace in numpy\"")
	}
	script := code + `
import sys
out = []
for im, a in load(sys.argv[1]):
    d = {"index": im["index"],
         "masks": [int(x) for x in a["masks"].sum((1, 2, 3))],
         "cls": float(a["class_logits"].astype(np.float64).sum()),
         "attn": {str(s): int(v.sum()) for s, v in a["attention"].items()}}
    if "match" in a:
        d["match"] = a["match"].tolist()
    if "gt_masks" in a:
        d["gt"] = [int(x) for x in a["gt_masks"].sum((1, 2))]
        d["gt_classes"] = a["gt_classes"].tolist()
    if "gt_cover" in a:
        d["cover"] = float(a["gt_cover"].sum())
    out.append(d)
print(json.dumps(out))
`
	mp := oddSizes
	imgs := mp.images(31, []int{2, -1, 0}, true)
	for _, set := range []*TraceSettings{nil, {Compact: true}, {Compact: true, Float16: true, Compress: true}} {
		path := filepath.Join(t.TempDir(), "t")
		writeTrace(t, path, mp, set, imgs)
		b, err := exec.Command(python, "-c", script, path).CombinedOutput()
		if err != nil {
			t.Fatalf("%+v: %v\n%s", set, err, b)
		}
		type entry struct {
			Index     int            `json:"index"`
			Masks     []int          `json:"masks"`
			Cls       float64        `json:"cls"`
			Attn      map[string]int `json:"attn"`
			Match     [][]int        `json:"match"`
			GT        []int          `json:"gt"`
			GTClasses []int          `json:"gt_classes"`
			Cover     *float64       `json:"cover"`
		}
		var got []entry
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		_, back := readAll(t, path, nil)
		if len(got) != len(back) {
			t.Fatalf("numpy read %d images, Go %d", len(got), len(back))
		}
		for i, im := range back {
			w := entry{Index: im.Index, Attn: map[string]int{}}
			for s := range im.Stages {
				st := &im.Stages[s]
				n := 0
				for _, m := range st.QueryMasks() {
					n += m.Area()
				}
				w.Masks = append(w.Masks, n)
				for _, v := range st.ClassLogits[st.NumMP*(st.NumClasses+1):] {
					w.Cls += float64(v)
				}
				if cells := st.AttnH * st.AttnW; cells > 0 {
					k := strconv.Itoa(s)
					for r := st.NumMP; r < st.NumMP+st.NumQueries; r++ {
						if st.AttnBits != nil {
							w.Attn[k] += st.AttnBits[r].Area()
						} else {
							for _, v := range st.AttnMask[r*cells : (r+1)*cells] {
								if v {
									w.Attn[k]++
								}
							}
						}
					}
				}
				if st.Match != nil {
					w.Match = append(w.Match, st.Match)
				}
			}
			if im.GT != nil {
				w.GTClasses, w.GT = im.GT.Classes, []int{}
				for _, m := range im.GT.Masks {
					w.GT = append(w.GT, m.Area())
				}
				if im.GT.Cover != nil {
					c := 0.0
					for _, v := range im.GT.Cover {
						for _, x := range v {
							c += float64(x)
						}
					}
					w.Cover = &c
				}
			}
			g := got[i]
			if math.Abs(g.Cls-w.Cls) > 1e-6*math.Max(1, math.Abs(w.Cls)) {
				t.Errorf("%+v image %d: class logits sum %v, Go %v", set, i, g.Cls, w.Cls)
			}
			if g.Cover != nil && w.Cover != nil && math.Abs(*g.Cover-*w.Cover) < 1e-9 {
				g.Cover = w.Cover
			}
			g.Cls = w.Cls
			if jsonOf(t, g) != jsonOf(t, w) {
				t.Errorf("%+v image %d:\nnumpy %s\n   Go %s", set, i, jsonOf(t, g), jsonOf(t, w))
			}
		}
	}
}
