package main

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/testenv"
	"github.com/mpanalyze/mpanalyze/model/gemm"
	"github.com/mpanalyze/mpanalyze/model/torchref"
)

// TestBenchTorch runs a miniature race (Mask2Former with each pixel
// decoder at 64×64, batch 2,
// 1 warm-up + 2 timed steps, PyTorch on one thread) and checks the report:
// both sides ran and timed the steps, and they trained the same model on
// the same batches — the step-0 losses (same weights, same batch, no
// random draw) agree to 1e-3, and the later ones stay within 1e-2.
func TestBenchTorch(t *testing.T) {
	testenv.RequirePython(t, "torch", "numpy", "scipy")
	for _, pd := range []string{"fpn", "msdeform"} {
		t.Run(pd, func(t *testing.T) { testBenchTorch(t, pd) })
	}
}

// TestBenchTorchBF16: with --precision bf16 (AMX machines only) our side
// trains in BF16 and PyTorch is timed in FP32 and under bf16 autocast;
// the report says so, the per-core headline is against the faster
// PyTorch, the tile unit's speed is recorded before our race, and the
// step-0 losses still agree to 1e-3.
func TestBenchTorchBF16(t *testing.T) {
	testenv.RequirePython(t, "torch", "numpy", "scipy")
	if !slices.Contains(gemm.Names(), "amx-bf16") {
		t.Skip("no AMX-BF16 on this machine")
	}
	defer gemm.SetPrecision(gemm.FP32)
	out, errOut, code := runCLI(t, "bench", "torch", "--json", "--models", "mask2former", "--image-size", "64",
		"--batch", "2", "--steps", "2", "--warmup", "1", "--repeat", "1", "--threads", "1", "--precision", "bf16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		GEMM      string               `json:"gemm"`
		Precision string               `json:"precision"`
		Models    []torchref.RaceModel `json:"models"`
		Sides     []map[string]any     `json:"sides"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.GEMM != "amx-bf16" || rep.Precision != "bf16" || len(rep.Models) != 1 {
		t.Fatalf("gemm %q precision %q, %d models", rep.GEMM, rep.Precision, len(rep.Models))
	}
	bm := rep.Models[0]
	if len(bm.Torch) != 2 || bm.Torch[0].Precision != "fp32" || bm.Torch[1].Precision != "bf16" || bm.Ours[0].Precision != "bf16" {
		t.Fatalf("sides: ours %+v, PyTorch %+v", bm.Ours, bm.Torch)
	}
	fast := bm.Torch[0]
	if bm.Torch[1].Median > fast.Median {
		fast = bm.Torch[1]
	}
	if bm.PerCore.Precision != fast.Precision || math.Abs(bm.PerCore.Ratio-bm.Ours[0].Median/fast.Median) > 1e-12 {
		t.Errorf("per core %+v, want against the faster PyTorch (%s, %.4g images/s)", bm.PerCore, fast.Precision, fast.Median)
	}
	// the tile unit timed before our race, in the sides table too
	if tn := bm.Ours[0].TileNs; len(tn) != 1 || !(tn[0] > 1 && tn[0] < 1e4) || len(rep.Sides) != 3 || rep.Sides[0]["tile_ns"] != tn[0] || rep.Sides[1]["tile_ns"] != nil {
		t.Errorf("tile ns: ours %v, sides table %v", tn, rep.Sides)
	}
	for _, sd := range bm.Torch {
		if e := math.Abs(bm.Ours[0].Losses[0]-sd.Losses[0]) / math.Abs(sd.Losses[0]); !(e <= 1e-3) {
			t.Errorf("step 0 loss: ours (bf16) %.6g, PyTorch %s %.6g: relative difference %.2g > 1e-3", bm.Ours[0].Losses[0], sd.Precision, sd.Losses[0], e)
		}
	}
}

func testBenchTorch(t *testing.T, pixel string) {
	out, errOut, code := runCLI(t, "bench", "torch", "--json", "--models", "mask2former", "--image-size", "64",
		"--batch", "2", "--steps", "2", "--warmup", "1", "--repeat", "1", "--threads", "1", "--torch-threads", "1", "--pixel-decoder", pixel)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Models    []torchref.RaceModel `json:"models"`
		Headlines []map[string]any     `json:"headlines"`
		Ratios    []map[string]any     `json:"ratios"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rep.Models) != 1 || len(rep.Models[0].Torch) != 1 || len(rep.Models[0].Ratios) != 1 {
		t.Fatalf("report shape: %s", out)
	}
	bm := rep.Models[0]
	if bm.PixelDecoder != pixel {
		t.Errorf("report's pixel decoder %q, want %q", bm.PixelDecoder, pixel)
	}
	if len(bm.Ours) != 1 {
		t.Fatalf("%d mpanalyze sides, want 1", len(bm.Ours))
	}
	ours, torch := bm.Ours[0], bm.Torch[0]
	if !(ours.MedianCPU > 0 && torch.MedianCPU > 0 && bm.PerCoreCPU.Ratio > 0) {
		t.Errorf("images per CPU-second: ours %v, PyTorch %v, ratio %v", ours.MedianCPU, torch.MedianCPU, bm.PerCoreCPU.Ratio)
	}
	if ours.Threads != 1 || torch.Threads != 1 || torch.WaitPolicy != "" || !bm.Ratios[0].Headline {
		t.Errorf("threads: ours %d, PyTorch %d (%q), headline %v", ours.Threads, torch.Threads, torch.WaitPolicy, bm.Ratios[0].Headline)
	}
	// with one thread each, both headlines are the one ratio
	if bm.PerCore != bm.Ratios[0] || bm.Best.Ratio != bm.Ratios[0].Ratio || bm.Best.Threads != 1 || bm.Best.TorchThreads != 1 {
		t.Errorf("headlines: per core %+v, best %+v, ratio %+v", bm.PerCore, bm.Best, bm.Ratios[0])
	}
	// the tables carry the same figures
	if len(rep.Headlines) != 1 || rep.Headlines[0]["per_core_ratio"] != bm.PerCore.Ratio || rep.Headlines[0]["image_size"] != 64.0 {
		t.Errorf("headline table %v, want per-core ratio %v at 64 px", rep.Headlines, bm.PerCore.Ratio)
	}
	if ours.TileNs != nil || torch.TileNs != nil {
		t.Errorf("FP32 sides with tile timings: ours %v, PyTorch %v", ours.TileNs, torch.TileNs)
	}
	if len(rep.Ratios) != 1 || rep.Ratios[0]["ratio"] != bm.Ratios[0].Ratio {
		t.Errorf("ratio table %v, want %v", rep.Ratios, bm.Ratios[0].Ratio)
	}
	for _, sd := range []torchref.Side{ours, torch} {
		if len(sd.ImagesPerSec) != 1 || !(sd.Median > 0) || math.IsInf(sd.Median, 0) {
			t.Errorf("%s: images/s %v", sd.Side, sd.ImagesPerSec)
		}
		if len(sd.Losses) != 3 {
			t.Fatalf("%s: %d losses, want 3", sd.Side, len(sd.Losses))
		}
	}
	if r := bm.Ratios[0].Ratio; math.Abs(r-ours.Median/torch.Median) > 1e-12 {
		t.Errorf("ratio %v, want %v", r, ours.Median/torch.Median)
	}
	for k := range ours.Losses {
		tol := 1e-2
		if k == 0 {
			tol = 1e-3
		}
		if e := math.Abs(ours.Losses[k]-torch.Losses[k]) / math.Abs(torch.Losses[k]); !(e <= tol) {
			t.Errorf("step %d loss: ours %.6g, PyTorch %.6g (relative difference %.2g > %g)", k, ours.Losses[k], torch.Losses[k], e, tol)
		}
	}
	t.Logf("ours %.4g images/s, PyTorch %.4g; losses ours %v, PyTorch %v", ours.Median, torch.Median, ours.Losses, torch.Losses)
}

// TestBenchTorchFlags: thread counts and image sides out of range are
// usage errors (exit 2) named by their flag, before anything runs.
func TestBenchTorchFlags(t *testing.T) {
	for _, tc := range []struct{ args []string }{
		{[]string{"--threads", "0"}},
		{[]string{"--threads", "1,-2"}},
		{[]string{"--image-size", "-32"}},
		{[]string{"--image-size", "96,100"}},
		{[]string{"--torch-threads", "0"}},
		{[]string{"--format", "html"}},
		{[]string{"--precision", "fp16"}},
		{[]string{"--torch-precision", "fp32,int8"}},
	} {
		_, errOut, code := runCLI(t, append([]string{"bench", "torch"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.args[0]) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %s", tc.args, code, errOut, tc.args[0])
		}
	}
}
