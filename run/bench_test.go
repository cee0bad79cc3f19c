package run

import (
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/testenv"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/probes"
)

// BenchmarkProbeOverhead runs inference with post-processing and task
// metrics on 16 validation images of the default Mask2Former: without a
// probe, with the streaming layer evaluator (which also needs every
// stage's Hungarian matching), and with the evaluator plus an .npz trace
// writer. Compare the cpu-ms/image of the sub-benchmarks.
func BenchmarkProbeOverhead(b *testing.B) {
	ds, err := data.Open(data.Spec{Kind: "synthetic", Split: "val", Seed: 1, N: 16})
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.New(model.ConfigForDataset(model.ArchMask2Former, ds), 1)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name    string
		probe   func(dir string) (probes.Probe, func() error)
		noMatch bool
	}{
		{"none", nil, false},
		{"noop-nomatch", func(string) (probes.Probe, func() error) { // the hook alone
			return noopProbe{}, func() error { return nil }
		}, true},
		{"noop", func(string) (probes.Probe, func() error) { // the hook and the matchings
			return noopProbe{}, func() error { return nil }
		}, false},
		{"evaluator", func(string) (probes.Probe, func() error) {
			return &probes.Evaluator{}, func() error { return nil }
		}, false},
		{"evaluator+trace", func(dir string) (probes.Probe, func() error) {
			w := probes.NewTraceWriter(filepath.Join(dir, "t"), nil)
			return probes.Multi{&probes.Evaluator{}, w}, w.Close
		}, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c0 := testenv.CPUTime()
			for i := 0; i < b.N; i++ {
				opt := EvalOptions{Workers: 1, SkipMatching: c.noMatch}
				var done func() error
				if c.probe != nil {
					opt.Probe, done = c.probe(b.TempDir())
				}
				if _, err := Evaluate(m, ds, opt); err != nil {
					b.Fatal(err)
				}
				if done != nil {
					if err := done(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64((testenv.CPUTime()-c0).Microseconds())/1000/float64(b.N*ds.Len()), "cpu-ms/image")
		})
	}
}

// noopProbe receives the stages and does nothing with them.
type noopProbe struct{}

func (noopProbe) Init(probes.RunInfo) error  { return nil }
func (noopProbe) Record(*probes.Stage) error { return nil }
func (noopProbe) Close() error               { return nil }
