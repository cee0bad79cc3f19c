package probes

import (
	"path/filepath"
	"testing"
)

// benchRun is the size the project trains at: 10 stages (9 layers), 100
// queries, 32×32 mask logits (128-pixel inputs), attention on 4×4, 8×8 and
// 16×16 levels, 3 GT segments per image.
func benchRun() (synth, []Image) {
	c := synth{S: 10, Q: 100, K: 10, H: 32, W: 32, Model: "mask2former"}
	c.Attn = make([][2]int, c.S)
	for s := 0; s < c.S-1; s++ {
		side := 4 << (s % 3)
		c.Attn[s] = [2]int{side, side}
	}
	return c, c.images(1, []int{3, 3, 3, 3}, true)
}

// benchProbe records b.N images through the probe made by mk and reports
// the time per image (all its stages).
func benchProbe(b *testing.B, mk func(b *testing.B) Probe) {
	c, imgs := benchRun()
	p := mk(b)
	if err := p.Init(c.info()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(c.S * c.Q * c.H * c.W * 4)) // mask logits per image
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		im := &imgs[i%len(imgs)]
		for s := range im.Stages {
			im.Stages[s].Image = i
			if err := p.Record(&im.Stages[s]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEvaluatorRecord: binarising, stage metrics and attention
// statistics of one image.
func BenchmarkEvaluatorRecord(b *testing.B) {
	benchProbe(b, func(*testing.B) Probe { return &Evaluator{} })
}

// BenchmarkMemoryRecord: deep copies of one image's stages.
func BenchmarkMemoryRecord(b *testing.B) {
	benchProbe(b, func(*testing.B) Probe { return &Memory{} })
}

// BenchmarkTraceWriterRecord: one image into an uncompressed float32 trace.
func BenchmarkTraceWriterRecord(b *testing.B) {
	benchProbe(b, func(b *testing.B) Probe { return NewTraceWriter(filepath.Join(b.TempDir(), "t"), nil) })
}

// BenchmarkTraceWriterRecordFloat16: the same with float16 mask logits.
func BenchmarkTraceWriterRecordFloat16(b *testing.B) {
	benchProbe(b, func(b *testing.B) Probe {
		return NewTraceWriter(filepath.Join(b.TempDir(), "t"), &TraceSettings{Float16: true})
	})
}

// BenchmarkTraceReaderImage: reading one image back (validated, CRC).
func BenchmarkTraceReaderImage(b *testing.B) {
	c, imgs := benchRun()
	path := filepath.Join(b.TempDir(), "t")
	writeTrace(b, path, c, nil, imgs)
	r, err := OpenTrace(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	b.SetBytes(int64(c.S * c.Q * c.H * c.W * 4))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Image(i % r.Len()); err != nil {
			b.Fatal(err)
		}
	}
}
