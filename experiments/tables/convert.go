package tables

import (
	"math"

	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

// FromProbeReport returns every registry figure (metrics.Figures) of a
// probed run over the query set set, labelled label, with the seed the run
// records.
func FromProbeReport(label string, r *probes.Report, set metrics.QuerySet) RunStages {
	rs := RunStages{Model: label, Seed: r.Run.Seed, StageLayers: make([]int, r.Layer.NumStages), Figures: map[string]metrics.Series{}}
	for s := range rs.StageLayers {
		rs.StageLayers[s] = r.Run.Layers(s)
	}
	f := r.Figures()
	for i := range metrics.Figures {
		fg := &metrics.Figures[i]
		if v := fg.Series(f, set); v != nil {
			rs.Figures[fg.Key] = v
		}
	}
	return rs
}

// FromEvalReport returns the task metrics of an evaluation, labelled label
// with the run's seed. Undefined scores become NaN: PQ over a category
// group with no category to average (N = 0) and AP values of −1 (no GT
// instance, as pycocotools reports them).
func FromEvalReport(label string, seed uint64, r metrics.EvalReport) RunScores {
	pq := func(p metrics.PQ) float64 {
		if p.N == 0 {
			return math.NaN()
		}
		return p.PQ
	}
	ap := func(v float64) float64 {
		if v < 0 {
			return math.NaN()
		}
		return v
	}
	return RunScores{
		Model: label, Seed: seed,
		PQ: pq(r.Panoptic.All), PQThings: pq(r.Panoptic.Things), PQStuff: pq(r.Panoptic.Stuff),
		AP: ap(r.Instance.AP), AP50: ap(r.Instance.AP50), AP75: ap(r.Instance.AP75),
		MIoU: r.Semantic.MIoU,
	}
}

// EvalMetrics returns the headline task metrics of scores as ablation
// metrics: PQ, AP, AP50 and mIoU.
func EvalMetrics(s RunScores) []Metric {
	return []Metric{{Name: "PQ", Value: s.PQ}, {Name: "AP", Value: s.AP}, {Name: "AP50", Value: s.AP50}, {Name: "mIoU", Value: s.MIoU}}
}

// StageMetrics summarises a probed run as ablation metrics (the verdict's
// two numbers, metrics.Summarize): "cons. IoU", the mean consecutive IoU
// over the stage pairs, and "Util-A", the mean Util-A over the stages
// before the last.
func StageMetrics(sum metrics.Summary) []Metric {
	return []Metric{{Name: "cons. IoU", Value: sum.ConsecutiveIoU}, {Name: "Util-A", Value: sum.UtilA}}
}
