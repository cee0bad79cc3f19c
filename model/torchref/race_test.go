package torchref

import (
	"math"
	"slices"
	"testing"
)

// TestWithOne: 1 first, then the other counts in order, once each.
func TestWithOne(t *testing.T) {
	for _, tc := range []struct{ in, want []int }{
		{[]int{2}, []int{1, 2}}, {[]int{1, 2}, []int{1, 2}}, {[]int{2, 1, 2, 4}, []int{1, 2, 4}}, {nil, []int{1}},
	} {
		if got := WithOne(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("WithOne(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestRaceSummary checks the medians, ranges, ratios and headlines of a
// race from made-up images/s of three races, worked out by hand:
//
//	ours 1 thread   10, 12, 11 → median 11
//	ours 2 threads  18, 20, 16 → median 18 (the faster: best)
//	torch 1 thread   5,  6,  4 → median 5
//	torch 2 passive  8,  8,  9 → median 8
//	torch 2 active   9, 10, 10 → median 10 (fastest variant: best, and the
//	                              headline of ours at 2 threads)
//
// per core = 11/5 = 2.2, race by race 10/5=2, 12/6=2, 11/4=2.75;
// best = 18/10 = 1.8, race by race 18/9=2, 20/10=2, 16/10=1.6. Images
// per CPU-second (1 thread only): ours 12, 13, 14, PyTorch 6, 5, 6.5.
func TestRaceSummary(t *testing.T) {
	rm := &RaceModel{
		Ours: []Side{{Side: "mpanalyze", Threads: 1, ImagesPerSec: []float64{10, 12, 11}, ImagesPerCPUSec: []float64{12, 13, 14}},
			{Side: "mpanalyze", Threads: 2, ImagesPerSec: []float64{18, 20, 16}}},
		Torch: []Side{{Side: "pytorch", Threads: 1, ImagesPerSec: []float64{5, 6, 4}, ImagesPerCPUSec: []float64{6, 5, 6.5}},
			{Side: "pytorch", Threads: 2, WaitPolicy: "passive", ImagesPerSec: []float64{8, 8, 9}},
			{Side: "pytorch", Threads: 2, WaitPolicy: "active", ImagesPerSec: []float64{9, 10, 10}}},
	}
	rm.summarise()
	for _, c := range []struct {
		sd            Side
		med, min, max float64
		label         string
	}{
		{rm.Ours[0], 11, 10, 12, "mpanalyze, 1 thread"},
		{rm.Ours[1], 18, 16, 20, "mpanalyze, 2 threads"},
		{rm.Torch[0], 5, 4, 6, "PyTorch, 1 thread"},
		{rm.Torch[1], 8, 8, 9, "PyTorch, 2 threads, OMP passive"},
		{rm.Torch[2], 10, 9, 10, "PyTorch, 2 threads, OMP active"},
	} {
		if c.sd.Median != c.med || c.sd.Min != c.min || c.sd.Max != c.max || c.sd.Label() != c.label {
			t.Errorf("%s: median %v [%v–%v], want %v [%v–%v] labelled %q", c.sd.Label(), c.sd.Median, c.sd.Min, c.sd.Max, c.med, c.min, c.max, c.label)
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if p := rm.PerCore; p.Threads != 1 || p.TorchThreads != 1 || !p.Headline || !p.SameThreads || !near(p.Ratio, 2.2) || !near(p.Min, 2) || !near(p.Max, 2.75) {
		t.Errorf("per core %+v, want 1/1 thread, 2.2× [2–2.75]", p)
	}
	// on CPU time: 13/6 (medians), race by race 12/6=2, 13/5=2.6, 14/6.5
	if p := rm.PerCoreCPU; !near(p.Ratio, 13.0/6) || !near(p.Min, 2) || !near(p.Max, 2.6) {
		t.Errorf("per core on CPU time %+v, want 13/6 [2–2.6]", p)
	}
	if rm.Ours[1].MedianCPU != 0 {
		t.Errorf("median images per CPU-second of a side without them: %v, want 0", rm.Ours[1].MedianCPU)
	}
	if b := rm.Best; b.Threads != 2 || b.TorchThreads != 2 || b.WaitPolicy != "active" || !near(b.Ratio, 1.8) || !near(b.Min, 1.6) || !near(b.Max, 2) {
		t.Errorf("best %+v, want 2 threads / 2 active, 1.8× [1.6–2]", b)
	}
	if len(rm.Ratios) != 6 {
		t.Fatalf("%d ratios, want 2×3", len(rm.Ratios))
	}
	var heads []Ratio
	for _, r := range rm.Ratios {
		if r.Headline {
			heads = append(heads, r)
		}
	}
	// one headline per thread count of ours: 1/1, and 2/2 active
	if len(heads) != 2 || heads[0].TorchThreads != 1 || heads[1].WaitPolicy != "active" || heads[1].Threads != 2 {
		t.Errorf("headlines %+v", heads)
	}
	if r := rm.Ratios[1]; r.Threads != 1 || r.TorchThreads != 2 || r.SameThreads || !near(r.Ratio, 11.0/8) {
		t.Errorf("ours 1 / PyTorch 2 passive: %+v, want ratio 11/8", r)
	}
}

// TestRacePerCoreFastestVariant: with PyTorch timed in two precisions at
// one thread, the per-core headline is against the faster one (here bf16:
// median 6 against fp32's 5, so 11/6), and the labels name the precision
// when it is not FP32.
func TestRacePerCoreFastestVariant(t *testing.T) {
	rm := &RaceModel{
		Ours: []Side{{Side: "mpanalyze", Threads: 1, Precision: "bf16", ImagesPerSec: []float64{10, 12, 11}}},
		Torch: []Side{{Side: "pytorch", Threads: 1, Precision: "fp32", ImagesPerSec: []float64{5, 6, 4}},
			{Side: "pytorch", Threads: 1, Precision: "bf16", ImagesPerSec: []float64{6, 7, 5}}},
	}
	rm.summarise()
	if p := rm.PerCore; p.Precision != "bf16" || !p.Headline || math.Abs(p.Ratio-11.0/6) > 1e-12 {
		t.Errorf("per core %+v, want against PyTorch bf16, 11/6", p)
	}
	if l := rm.Torch[1].Label(); l != "PyTorch, 1 thread, bf16" {
		t.Errorf("label %q", l)
	}
	if l := rm.Torch[0].Label(); l != "PyTorch, 1 thread" {
		t.Errorf("label %q", l)
	}
	if l := rm.Ours[0].Label(); l != "mpanalyze, 1 thread, bf16" {
		t.Errorf("label %q", l)
	}
}
