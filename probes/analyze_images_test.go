package probes

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/metrics"
)

// TestAnalyzeImages: AnalyzeImages reports what Analyze reports, and one
// metrics.ImageFigures per image in trace order whose sums and counts,
// pooled, give every figure of the report (for the query set asked),
// whatever the number of workers; with maxImages, the first images only.
func TestAnalyzeImages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t")
	imgs := m2f.images(5, []int{2, -1, 0, 3, 1, 2}, true)
	writeTrace(t, path, m2f, &TraceSettings{Compact: true}, imgs)
	r, err := OpenTrace(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want, err := r.Analyze(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []metrics.QuerySet{metrics.FinalMatched, metrics.NonEmpty} {
		for _, workers := range []int{1, 3} {
			rep, per, err := r.AnalyzeImages(0, workers, set)
			if err != nil {
				t.Fatal(err)
			}
			if jsonOf(t, rep) != jsonOf(t, want) {
				t.Fatalf("AnalyzeImages reports otherwise than Analyze")
			}
			if len(per) != len(imgs) {
				t.Fatalf("%d per-image entries for %d images", len(per), len(imgs))
			}
			for k, p := range per {
				if p.Index != imgs[k].Index {
					t.Fatalf("entry %d is image %d, want %d", k, p.Index, imgs[k].Index)
				}
			}
			for i := range metrics.Figures {
				fg := &metrics.Figures[i]
				series := fg.Series(rep.Figures(), set)
				var sum []float64
				var n []int
				for _, p := range per {
					v := p.Figures[fg.KeyFor(set)]
					if sum == nil {
						sum, n = make([]float64, len(v)), make([]int, len(v))
					}
					for s, m := range v {
						sum[s] += m.Sum
						n[s] += m.N
					}
				}
				if len(sum) != len(series) {
					t.Fatalf("%s: %d per-image entries, %d in the report", fg.KeyFor(set), len(sum), len(series))
				}
				for s := range series {
					got := math.NaN()
					if n[s] > 0 {
						got = sum[s] / float64(n[s])
					}
					if got != series[s] && !(math.IsNaN(got) && math.IsNaN(series[s])) {
						t.Fatalf("%s[%d]: pooled %v, report %v", fg.KeyFor(set), s, got, series[s])
					}
				}
			}
		}
	}
	if _, per, err := r.AnalyzeImages(2, 0, metrics.FinalMatched); err != nil || len(per) != 2 {
		t.Fatalf("maxImages 2: %d entries, %v", len(per), err)
	}
}
