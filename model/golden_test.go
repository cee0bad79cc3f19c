package model

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

var update = flag.Bool("update", false, "rewrite testdata/train_golden.json from this run (for this machine's GEMM kernel)")

const goldenFile = "testdata/train_golden.json"

// goldenRun is what TestTrainStepGolden records of a short training run.
type goldenRun struct {
	Losses []float64 `json:"losses"`
	Params string    `json:"params"` // FNV-64a of every parameter's float32 bits, in Params order
}

// TestTrainStepGolden trains the default config of each architecture at
// 96 px (batch 2, 2 steps; MP-Former with its label noise; Mask2Former also
// with the msdeform pixel decoder) and compares the
// step losses and a hash of every parameter bit with the golden file. The
// golden values were written by the code before the speed-ups of issue #18
// (main at the merge of the speed branch), so the test proves that those
// speed-ups — and any later one — leave training bit-identical. Batch 2 in
// two gradient slots runs one image at a time. The "/batch8" runs (four
// images per slot, which go through the network as one group) pin the
// grouped step: its decoder runs the images in lockstep, whose weight
// gradients round differently from one image at a time (TestImageGroups
// bounds the difference); their golden values were written by the code
// that introduced it. Float
// results depend on the GEMM micro-kernel (FMA or not), so the file holds
// one entry per kernel; on a machine whose kernel has no entry the test
// skips, and `go test ./model -run TrainStepGolden -update` adds it (only
// from code whose results are known to be right).
func TestTrainStepGolden(t *testing.T) {
	kernel := gemm.Current().Name() + "/" + gemm.KernelName()
	golden := map[string]map[string]goldenRun{}
	if b, err := os.ReadFile(goldenFile); err == nil {
		if err := json.Unmarshal(b, &golden); err != nil {
			t.Fatalf("%s: %v", goldenFile, err)
		}
	} else if !*update {
		t.Fatal(err)
	}
	got := map[string]goldenRun{}
	for _, run := range []struct {
		key, arch, pixel string
		batch            int
	}{
		{ArchMask2Former, ArchMask2Former, PixelFPN, 2},
		{ArchMPFormer, ArchMPFormer, PixelFPN, 2},
		{ArchMask2Former + "/" + PixelMSDeform, ArchMask2Former, PixelMSDeform, 2},
		{ArchMask2Former + "/batch8", ArchMask2Former, PixelFPN, 8},
		{ArchMPFormer + "/batch8", ArchMPFormer, PixelFPN, 8},
	} {
		m, ex := benchBatchPixel(t, run.arch, run.pixel, 96, 0, run.batch)
		tc := DefaultTrainConfig(100)
		tc.Batch = len(ex)
		tr, err := NewTrainer(m, tc)
		if err != nil {
			t.Fatal(err)
		}
		var g goldenRun
		for s := 0; s < 2; s++ {
			r, err := tr.TrainStep(ex)
			if err != nil {
				t.Fatal(err)
			}
			g.Losses = append(g.Losses, r.Loss)
		}
		h := fnv.New64a()
		for _, p := range m.Params() {
			for _, v := range p.Data {
				_ = binary.Write(h, binary.LittleEndian, math.Float32bits(v))
			}
		}
		g.Params = fmt.Sprintf("%016x", h.Sum64())
		got[run.key] = g
	}
	if *update {
		golden[kernel] = got
		b, err := json.MarshalIndent(golden, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, ok := golden[kernel]
	if !ok {
		t.Skipf("%s has no entry for GEMM kernel %s (run with -update on known-good code)", goldenFile, kernel)
	}
	for arch, g := range got {
		w, ok := want[arch]
		if !ok {
			t.Errorf("%s: no golden entry", arch)
			continue
		}
		if len(w.Losses) != len(g.Losses) {
			t.Errorf("%s: %d losses, golden %d", arch, len(g.Losses), len(w.Losses))
			continue
		}
		for s := range g.Losses {
			if math.Float64bits(g.Losses[s]) != math.Float64bits(w.Losses[s]) {
				t.Errorf("%s step %d loss %.17g, golden %.17g", arch, s, g.Losses[s], w.Losses[s])
			}
		}
		if g.Params != w.Params {
			t.Errorf("%s: parameter hash %s after %d steps, golden %s: training is no longer bit-identical", arch, g.Params, len(g.Losses), w.Params)
		}
	}
}
