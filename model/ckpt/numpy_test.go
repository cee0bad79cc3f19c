package ckpt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/testenv"
)

const python = testenv.Python

func requireNumpy(t *testing.T) { t.Helper(); testenv.RequirePython(t, "numpy") }

// numpyReport loads a checkpoint with np.load and prints, per array, its
// dtype, shape, the SHA-256 of its little-endian bytes and its math.fsum
// over finite values; and the decoded meta.json.
const numpyReport = `
import hashlib, json, math, sys
import numpy as np
f = np.load(sys.argv[1])
out = {"arrays": {}, "files": sorted(f.files)}
for k in f.files:
    if k == "meta.json":
        continue
    a = f[k]
    out["arrays"][k] = {
        "dtype": str(a.dtype),
        "shape": list(a.shape),
        "sha256": hashlib.sha256(a.astype("<f4").tobytes()).hexdigest(),
        "fsum": math.fsum(float(x) for x in a.ravel() if np.isfinite(x)),
    }
out["meta"] = json.loads(f["meta.json"].tobytes())
print(json.dumps(out))
`

func TestNumpyReadsCheckpoint(t *testing.T) {
	requireNumpy(t)
	p := filepath.Join(t.TempDir(), "model.ckpt.npz")
	c := sampleCheckpoint()
	if err := Save(p, c); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", numpyReport, p).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy could not read the checkpoint: %v\n%s", err, out)
	}
	var rep struct {
		Arrays map[string]struct {
			DType  string
			Shape  []int
			SHA256 string
			FSum   float64
		}
		Files []string
		Meta  map[string]any
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantFiles := []string{MetaName}
	for name, a := range c.Arrays {
		wantFiles = append(wantFiles, name)
		r, ok := rep.Arrays[name]
		if !ok {
			t.Errorf("numpy does not see %q (files %v)", name, rep.Files)
			continue
		}
		sum := sha256.Sum256(f32Bytes(a.Data...))
		// fsum of the finite values, exact in float64 for these few values
		// up to the final rounding (max float32 appears at most once per array).
		var fs []float64
		for _, x := range a.Data {
			if !math.IsInf(float64(x), 0) && !math.IsNaN(float64(x)) {
				fs = append(fs, float64(x))
			}
		}
		if r.DType != "float32" || !slices.Equal(r.Shape, a.Shape) && !(len(r.Shape) == 0 && len(a.Shape) == 0) ||
			r.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: numpy sees %s %v sha %s…; want float32 %v sha %s…",
				name, r.DType, r.Shape, r.SHA256[:12], a.Shape, hex.EncodeToString(sum[:])[:12])
		}
		if want := kahan(fs); math.Abs(r.FSum-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: numpy sum %v, Go %v", name, r.FSum, want)
		}
	}
	slices.Sort(wantFiles)
	if !slices.Equal(rep.Files, wantFiles) {
		t.Errorf("numpy files %v, want %v", rep.Files, wantFiles)
	}
	if rep.Meta["format"] != FormatVersion || rep.Meta["step"] != 1234.0 || rep.Meta["tool_version"] != "mpanalyze test" {
		t.Errorf("meta via numpy: %v", rep.Meta)
	}
	if m, _ := rep.Meta["model"].(map[string]any); m["layers"] != 9.0 {
		t.Errorf("meta.model via numpy: %v", rep.Meta["model"])
	}
	if tr, _ := rep.Meta["train"].(map[string]any); tr["note"] != `héllo "quoted"` {
		t.Errorf("meta.train via numpy: %v", rep.Meta["train"])
	}
}

// kahan is a compensated sum (close to math.fsum for few terms).
func kahan(xs []float64) float64 {
	var s, c float64
	for _, x := range xs {
		y := x - c
		t := s + y
		c = (t - s) - y
		s = t
	}
	return s
}

// numpyWrite writes a checkpoint with numpy.savez / savez_compressed: the
// Go reader must accept numpy's own header layout and compression.
const numpyWrite = `
import json, sys
import numpy as np
meta = {"format": "mpanalyze-checkpoint/1", "step": 7, "model": {"q": 3}}
arrays = {
    "param/w": np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8,
    "param/s": np.float32(-2.5),
    "param/e": np.zeros((0, 5), dtype=np.float32),
    "meta.json": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
}
(np.savez_compressed if sys.argv[2] == "compressed" else np.savez)(sys.argv[1], **arrays)
`

func TestLoadNumpyWritten(t *testing.T) {
	requireNumpy(t)
	for _, mode := range []string{"plain", "compressed"} {
		p := filepath.Join(t.TempDir(), mode+".npz")
		if out, err := exec.Command(python, "-c", numpyWrite, p, mode).CombinedOutput(); err != nil {
			t.Fatalf("%s: numpy: %v\n%s", mode, err, out)
		}
		c, err := Load(p)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		w := make([]float32, 24)
		for i := range w {
			w[i] = float32(i) / 8 // np.arange(24)/8, exact in float32
		}
		sameArrays(t, c.Arrays, map[string]Array{
			"param/w": {Shape: []int{2, 3, 4}, Data: w},
			"param/s": {Shape: []int{}, Data: []float32{-2.5}},
			"param/e": {Shape: []int{0, 5}, Data: []float32{}},
		})
		if c.Meta.Step != 7 || string(c.Meta.Model) != `{"q": 3}` {
			t.Errorf("%s: meta %+v", mode, c.Meta)
		}
	}
}
