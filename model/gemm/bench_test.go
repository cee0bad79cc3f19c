package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/testenv"
)

// benchShapes are the model's GEMMs: convolutions as im2col (Cout × H·W ×
// Cin·9), attention products, projections, plus two square references.
// The transposed cases are those of the backward pass: for Y = W·X,
// dX = Wᵀ·dY (TN) and dW = dY·Xᵀ (NT).
var benchShapes = []struct {
	m, n, k int
	tA, tB  bool
}{
	{64, 1024, 576, false, false},
	{576, 1024, 64, true, false}, // dX of the conv above
	{64, 576, 1024, false, true}, // dW of the conv above
	{128, 256, 1152, false, false},
	{32, 4096, 288, false, false},
	{256, 64, 2304, false, false},
	{4096, 64, 576, false, false},
	{2304, 64, 256, true, false},
	{256, 2304, 64, false, true},
	{100, 1024, 128, false, false},
	{100, 128, 1024, false, false},
	{100, 128, 1024, false, true},
	{1024, 128, 128, false, false},
	{1024, 128, 128, true, false},
	{128, 128, 1024, false, false},
	{128, 128, 1024, false, true},
	{50, 128, 128, false, false},
	{256, 256, 256, false, false},
	{256, 256, 256, true, false},
	{256, 256, 256, false, true},
	{1024, 1024, 1024, false, false},
	{1024, 1024, 1024, true, false},
	{1024, 1024, 1024, false, true},
	// the decoder's per-image products at 20 queries, 128 channels, 8
	// heads of 16, keys of a 12×12 level (96 px): projections and their
	// backward, per-head scores and context, the weight gradient of a
	// 1×1 conv of a 3×3 level
	{20, 128, 128, false, false},
	{20, 128, 128, false, true},
	{128, 128, 20, true, false},
	{20, 144, 16, false, true},
	{20, 16, 144, false, false},
	{144, 16, 20, true, false},
	{20, 20, 16, false, true},
	{1152, 9, 128, true, false},
	// mask logits (queries × pixels of a 96 px image) and their backward;
	// conv weight gradients (col·Gᵀ) and column gradients at the small
	// levels
	{20, 576, 64, false, false},
	{20, 64, 576, false, true},
	{64, 576, 20, true, false},
	{576, 64, 576, false, true},
	{864, 96, 36, false, true},
	{864, 36, 96, true, false},
	{128, 9, 1152, false, false},
}

// benchImpls: every registered implementation but the slow reference, and,
// for comparison, the packed driver on each other kernel of this machine.
func benchImpls() []testImpl {
	var ts []testImpl
	for _, n := range Names() {
		if n == "ref" {
			continue
		}
		mu.RLock()
		ts = append(ts, testImpl{n, impls[n]})
		mu.RUnlock()
	}
	for _, k := range append(asmKernels(), &goKernel) {
		if k != asmImpl.k {
			ts = append(ts, testImpl{"asm-" + k.name, packed{k: k}})
		}
	}
	if im, ok := registered("amx-bf16"); ok {
		ts = append(ts, testImpl{"amx-bf16-scratch", withScratchOnly(im)})
	}
	if asmImpl.k.direct != nil {
		ts = append(ts, testImpl{"asm-packonly", packed{k: asmImpl.k, mode: packOnly}},
			testImpl{"asm-direct", packed{k: asmImpl.k, mode: directAlways}})
	}
	return ts
}

// BenchmarkSgemm reports GFLOP/s (2·m·n·k per call). Names are
// impl=<name>/<m>x<n>x<k>[/tA][/tB]; compare implementations with
//
//	go test -run '^$' -bench Sgemm -cpu 1 -count 6 ./model/gemm/ > new.txt
//	benchstat -col /impl new.txt
//
// (-cpu 1 keeps gonum, which starts goroutines of its own, on one core like
// the others.)
func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, ti := range benchImpls() {
		for _, s := range benchShapes {
			name := fmt.Sprintf("impl=%s/%dx%dx%d", ti.name, s.m, s.n, s.k)
			lda, ldb := s.k, s.n
			if s.tA {
				name += "/tA"
				lda = s.m
			}
			if s.tB {
				name += "/tB"
				ldb = s.k
			}
			a := randMat(rng, s.m, s.k)
			bm := randMat(rng, s.k, s.n)
			c := make([]float32, s.m*s.n)
			b.Run(name, func(b *testing.B) {
				c0 := testenv.CPUTime()
				for b.Loop() {
					ti.impl.Sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				}
				cpu := testenv.CPUTime() - c0
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				// per CPU-second: what load on a shared machine disturbs least
				b.ReportMetric(flops/cpu.Seconds()/1e9, "cpu-GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmCold is BenchmarkSgemm's decoder shapes with operands that
// are not in the caches, as in a training step, where the rest of the
// step evicts a layer's weights and gradient buffer between its uses: each
// call takes the next of 500 distinct B matrices (cold=B: a linear
// layer's forward, B the weights) or C matrices (cold=C: its weight
// gradient, accumulated into C), 25–65 MB in all. The variants with
// images=4 make four products in a row with the same cold matrix (four
// images' products of one layer while its weights or gradient are hot,
// each image's product unchanged): what running a gradient slot's images
// in lockstep through the decoder would gain per product.
func BenchmarkSgemmCold(b *testing.B) {
	rng := rand.New(rand.NewPCG(13, 14))
	const distinct = 500
	for _, s := range []struct {
		m, n, k int
		tA      bool
		cold    string
		images  int
	}{
		{20, 128, 128, false, "B", 1}, {20, 256, 128, false, "B", 1}, {128, 128, 20, true, "C", 1}, {128, 256, 20, true, "C", 1},
		{20, 128, 128, false, "B", 4}, {128, 128, 20, true, "C", 4},
	} {
		name := fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k)
		lda := s.k
		if s.tA {
			name += "/tA"
			lda = s.m
		}
		if s.images > 1 {
			name += fmt.Sprintf("/images=%d", s.images)
		}
		a := randMat(rng, s.m, s.k)
		bs := make([][]float32, distinct)
		cs := make([][]float32, distinct)
		for i := range bs {
			if i == 0 || s.cold == "B" {
				bs[i] = randMat(rng, s.k, s.n)
			} else {
				bs[i] = bs[0]
			}
			if i == 0 || s.cold == "C" {
				cs[i] = make([]float32, s.m*s.n)
			} else {
				cs[i] = cs[0]
			}
		}
		b.Run(name+"/cold="+s.cold, func(b *testing.B) {
			i := 0
			c0 := testenv.CPUTime()
			for b.Loop() {
				for range s.images {
					Sgemm(s.tA, false, s.m, s.n, s.k, 1, a, lda, bs[i], s.n, 1, cs[i], s.n)
				}
				i = (i + 1) % distinct
			}
			cpu := testenv.CPUTime() - c0
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N*s.images)
			b.ReportMetric(flops/cpu.Seconds()/1e9, "cpu-GFLOP/s")
		})
	}
}
