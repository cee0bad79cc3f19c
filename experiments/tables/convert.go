package tables

import (
	"math"

	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

// FromProbeReport returns the per-stage figures of a probed run over the
// primary query set (metrics.FinalMatched), labelled label, with the seed
// the run records. For another query set use FromStageRows with
// r.Rows(set).
func FromProbeReport(label string, r probes.Report) RunStages {
	return FromStageRows(label, r.Run.Seed, r.Rows(metrics.FinalMatched))
}

// FromStageRows returns the per-stage figures of rows (probes.Report.Rows),
// one row per stage: per-pair figures drop the last row's NaN. It panics if
// rows is empty.
func FromStageRows(label string, seed uint64, rows []probes.StageRow) RunStages {
	S := len(rows)
	if S == 0 {
		panic("tables: FromStageRows: no stage (empty report)")
	}
	rs := RunStages{
		Model: label, Seed: seed,
		StageLayers:    make([]int, S),
		ConsecutiveIoU: make([]float64, S-1),
		MatchChange:    make([]float64, S-1),
		IoUToFinal:     make([]float64, S),
		UtilA:          make([]float64, S),
		UtilB:          make([]float64, S),
		UtilC:          make([]float64, S),
		Attended:       make([]float64, S),
		Unblocked:      make([]float64, S),
	}
	for s, row := range rows {
		rs.StageLayers[s] = row.Layers
		if s < S-1 {
			rs.ConsecutiveIoU[s] = row.ConsecutiveIoU
			rs.MatchChange[s] = row.MatchChange
		}
		rs.IoUToFinal[s] = row.IoUToFinal
		rs.UtilA[s] = row.UtilA
		rs.UtilB[s] = row.UtilB
		rs.UtilC[s] = row.UtilC
		rs.Attended[s] = row.Attended
		rs.Unblocked[s] = row.Unblocked
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

// StageMetrics summarises per-stage figures as ablation metrics:
// "cons. IoU" is the mean consecutive IoU over the stage pairs and
// "Util-A" the mean Util-A over the stages before the last (whose Util-A is
// 1 by definition); NaN entries are left out of the means.
func StageMetrics(r RunStages) []Metric {
	mean := func(v []float64) float64 {
		m, _, _ := MeanSD(v)
		return m
	}
	util := math.NaN()
	if len(r.UtilA) > 1 {
		util = mean(r.UtilA[:len(r.UtilA)-1])
	}
	return []Metric{{Name: "cons. IoU", Value: mean(r.ConsecutiveIoU)}, {Name: "Util-A", Value: util}}
}
