package model

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/internal/testenv"
	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// benchBatch is a Mask2Former-family model of the default config, except
// for the image side and the number of queries (0 = the defaults), with one
// training batch of synthetic scenes of that side.
func benchBatch(b testing.TB, arch string, size, queries, batch int) (*Model, []*Example) {
	return benchBatchPixel(b, arch, PixelFPN, size, queries, batch)
}

// benchBatchPixel is benchBatch with the given pixel decoder.
func benchBatchPixel(b testing.TB, arch, pixel string, size, queries, batch int) (*Model, []*Example) {
	b.Helper()
	ds, err := data.Open(data.Spec{Kind: "synthetic", Split: "train", Seed: 1, Size: size})
	if err != nil {
		b.Fatal(err)
	}
	cfg := ConfigForDataset(arch, ds)
	cfg.PixelDecoder = pixel
	if size > 0 {
		cfg.ImageSize = size
	}
	if queries > 0 {
		cfg.Queries = queries
	}
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	bt, err := data.MakeBatch(ds, idx, data.BatchConfig{Size: m.Cfg.ImageSize, Seed: 1}, 0)
	if err != nil {
		b.Fatal(err)
	}
	ex := make([]*Example, batch)
	for i := range ex {
		ex[i] = ExampleFromBatch(&bt.Images[i])
	}
	return m, ex
}

// benchTrainSteps times b.N training steps of m on ex and returns the CPU
// time they took; see benchTrainBatches.
func benchTrainSteps(b *testing.B, m *Model, ex []*Example) time.Duration {
	return benchTrainBatches(b, m, [][]*Example{ex})
}

// benchTrainBatches times b.N training steps of m on the batches in turn
// (after one untimed pass over them, which warms the buffer pools for
// every shape) and returns the CPU time they took.
func benchTrainBatches(b *testing.B, m *Model, batches [][]*Example) time.Duration {
	b.Helper()
	return benchTrainPrecision(b, m, batches, "")
}

// benchTrainPrecision is benchTrainBatches with TrainConfig.Precision prec.
func benchTrainPrecision(b *testing.B, m *Model, batches [][]*Example, prec string) time.Duration {
	b.Helper()
	tc := DefaultTrainConfig(1 << 30)
	tc.Batch = len(batches[0])
	tc.Precision = prec
	tr, err := NewTrainer(m, tc)
	if err != nil {
		b.Fatal(err)
	}
	for _, ex := range batches {
		if _, err := tr.TrainStep(ex); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	c0 := testenv.CPUTime()
	for i := 0; i < b.N; i++ {
		if _, err := tr.TrainStep(batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	return testenv.CPUTime() - c0
}

// BenchmarkTrainStep is one training step of the default config, batch 8,
// with the workers GOMAXPROCS allows. It reports images/s.
func BenchmarkTrainStep(b *testing.B) {
	for _, arch := range []string{ArchMask2Former, ArchMPFormer} {
		b.Run(arch, func(b *testing.B) {
			m, ex := benchBatch(b, arch, 0, 0, 8)
			cpu := benchTrainSteps(b, m, ex)
			b.ReportMetric(float64(b.N*len(ex))/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkTrainStepSizes is BenchmarkTrainStep at the two image sides of
// the PyTorch comparison (bench torch --image-size 96,128), for both
// architectures; run it with -cpu 1 for the per-core figures.
func BenchmarkTrainStepSizes(b *testing.B) {
	for _, arch := range []string{ArchMask2Former, ArchMPFormer} {
		for _, size := range []int{96, 128} {
			b.Run(fmt.Sprintf("%s/size=%d", arch, size), func(b *testing.B) {
				m, ex := benchBatch(b, arch, size, 0, 8)
				cpu := benchTrainSteps(b, m, ex)
				b.ReportMetric(float64(b.N*len(ex))/b.Elapsed().Seconds(), "images/s")
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// BenchmarkTrainStepPrecision is BenchmarkTrainStepSizes' step in each
// precision this machine has: fp32 (the default) and, where the CPU has
// AMX-BF16, bf16 (TrainConfig.Precision). Compare with benchstat
// -col /precision.
func BenchmarkTrainStepPrecision(b *testing.B) {
	precs := []string{gemm.FP32}
	if slices.Contains(gemm.Names(), "amx-bf16") {
		precs = append(precs, gemm.BF16)
	}
	defer gemm.SetPrecision(gemm.FP32)
	for _, prec := range precs {
		for _, arch := range []string{ArchMask2Former, ArchMPFormer} {
			for _, size := range []int{96, 128} {
				b.Run(fmt.Sprintf("precision=%s/%s/size=%d", prec, arch, size), func(b *testing.B) {
					m, ex := benchBatch(b, arch, size, 0, 8)
					cpu := benchTrainPrecision(b, m, [][]*Example{ex}, prec)
					b.ReportMetric(float64(b.N*len(ex))/b.Elapsed().Seconds(), "images/s")
					b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
				})
			}
		}
	}
}

// BenchmarkTrainStepBatches is BenchmarkTrainStepSizes' step at 96 px on
// ten different batches in turn (a loader's, as in training and in bench
// torch), where BenchmarkTrainStepSizes repeats one: with MP-Former the
// number of pilot rows, and so the shapes of the decoder's tensors,
// follow each batch's largest number of GT segments.
func BenchmarkTrainStepBatches(b *testing.B) {
	for _, arch := range []string{ArchMask2Former, ArchMPFormer} {
		b.Run(arch, func(b *testing.B) {
			ds, err := data.Open(data.Spec{Kind: "synthetic", Split: "train", Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			cfg := ConfigForDataset(arch, ds)
			cfg.ImageSize = 96
			m, err := New(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			ld, err := data.NewLoader(ds, 8, data.BatchConfig{Size: cfg.ImageSize, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			batches := make([][]*Example, 10)
			for k := range batches {
				bt, err := ld.Batch(k)
				if err != nil {
					b.Fatal(err)
				}
				for i := range bt.Images {
					batches[k] = append(batches[k], ExampleFromBatch(&bt.Images[i]))
				}
			}
			cpu := benchTrainBatches(b, m, batches)
			b.ReportMetric(float64(b.N*8)/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkTrainStepPixel is BenchmarkTrainStep's Mask2Former step with
// each pixel decoder (compare with benchstat -col /pixel).
func BenchmarkTrainStepPixel(b *testing.B) {
	for _, pd := range []string{PixelFPN, PixelMSDeform} {
		b.Run("pixel="+pd, func(b *testing.B) {
			m, ex := benchBatchPixel(b, ArchMask2Former, pd, 0, 0, 8)
			cpu := benchTrainSteps(b, m, ex)
			b.ReportMetric(float64(b.N*len(ex))/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkTrainStepScaling measures how the cost of a Mask2Former
// training step grows with the image size, the number of queries and the
// batch (one varied at a time from the default 128 px, 20 queries, batch
// 8), reporting CPU ms per image.
func BenchmarkTrainStepScaling(b *testing.B) {
	type point struct {
		name                 string
		size, queries, batch int
	}
	points := []point{
		{"size=64", 64, 20, 8}, {"size=128", 128, 20, 8}, {"size=192", 192, 20, 8}, {"size=256", 256, 20, 8},
		{"queries=50", 128, 50, 8}, {"queries=100", 128, 100, 8},
		{"batch=4", 128, 20, 4}, {"batch=16", 128, 20, 16},
	}
	for _, pt := range points {
		b.Run(pt.name, func(b *testing.B) {
			m, ex := benchBatch(b, ArchMask2Former, pt.size, pt.queries, pt.batch)
			cpu := benchTrainSteps(b, m, ex)
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N*pt.batch), "cpu-ms/image")
		})
	}
}

// BenchmarkPixelDecoder is the forward and backward of each pixel decoder
// alone, at the default config, on one image's backbone features (N(0, 1)
// values, the loss Σ of all outputs), reporting CPU ms per image.
// Compare with the per-image cost of BenchmarkTrainStepPixel.
func BenchmarkPixelDecoder(b *testing.B) {
	for _, pd := range []string{PixelFPN, PixelMSDeform} {
		b.Run("pixel="+pd, func(b *testing.B) {
			cfg := DefaultConfig(ArchMask2Former, 10)
			cfg.PixelDecoder = pd
			m, err := New(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			r := rng.New(1)
			var data [4][]float32
			for s := range data {
				n := cfg.ImageSize / (4 << s)
				data[s] = make([]float32, cfg.BackboneWidths[s]*n*n)
				for i := range data[s] {
					data[s][i] = float32(r.Normal())
				}
			}
			g := NewGraph()
			step := func() {
				g.Reset()
				var feats [4]*Tensor
				for s := range feats {
					n := cfg.ImageSize / (4 << s)
					feats[s] = g.Leaf(data[s], 1, cfg.BackboneWidths[s], n, n)
				}
				mf, out := m.pixel.Forward(g, feats)
				g.Backward(g.AddN(g.SumAll(mf), g.SumAll(out[0]), g.SumAll(out[1]), g.SumAll(out[2]), g.SumAll(out[3])))
			}
			step()
			b.ResetTimer()
			c0 := testenv.CPUTime()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.ReportMetric(float64((testenv.CPUTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/image")
		})
	}
}

// BenchmarkTrainStepPaper is one training step (batch 8) in the setting of
// the built-in `paper` spec: 192 px scenes with up to 12 things, 100
// queries, the msdeform pixel decoder, loss weights 2/5/5 on 12,544
// sampled points, MP-Former with point noise 0.2. It reports CPU ms per
// step.
func BenchmarkTrainStepPaper(b *testing.B) {
	for _, arch := range []string{ArchMask2Former, ArchMPFormer} {
		b.Run(arch, func(b *testing.B) {
			ds, err := data.Open(data.Spec{Kind: "synthetic", Split: "train", Seed: 1, Size: 192, MaxThings: 12})
			if err != nil {
				b.Fatal(err)
			}
			cfg := ConfigForDataset(arch, ds)
			cfg.ImageSize, cfg.Queries, cfg.PixelDecoder = 192, 100, PixelMSDeform
			cfg.Loss.ClassWeight, cfg.Loss.MaskWeight, cfg.Loss.DiceWeight, cfg.Loss.Points = 2, 5, 5, 12544
			cfg.MP.Noise, cfg.MP.NoiseRatio = "point", 0.2
			m, err := New(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			bt, err := data.MakeBatch(ds, []int{0, 1, 2, 3, 4, 5, 6, 7}, data.BatchConfig{Size: 192, Seed: 1}, 0)
			if err != nil {
				b.Fatal(err)
			}
			ex := make([]*Example, len(bt.Images))
			for i := range ex {
				ex[i] = ExampleFromBatch(&bt.Images[i])
			}
			cpu := benchTrainSteps(b, m, ex)
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
