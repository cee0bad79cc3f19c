package model

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/version"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model/matcher"
	"github.com/mpanalyze/mpanalyze/probes"
)

// EvalOptions configures Evaluate.
type EvalOptions struct {
	// Images limits the evaluation to the first Images samples (0 = all).
	Images int
	// Infer holds the post-processing thresholds.
	Infer InferConfig
	// Workers is the number of images run in parallel (0 = GOMAXPROCS).
	Workers int
	// Probe, when set, receives every stage of every image (Init and
	// Record; the caller closes it). Matchings are computed against the
	// GT with the training cost, unless SkipMatching is set (then
	// Stage.Match is nil and matching-based metrics are undefined).
	Probe        probes.Probe
	SkipMatching bool
	// RunInfo fields the caller knows (checkpoint, seed); Evaluate fills
	// the model and data fields.
	Checkpoint string
	Seed       uint64
	// Progress, when set, is called after each chunk of images.
	Progress func(done, total int)
	// Predictions, when set, is called with every image's prediction and
	// its batch image, in dataset order (for exports and previews).
	Predictions func(img *data.BatchImage, p *Prediction) error
}

// EvalReport holds the task metrics of an evaluation.
type EvalReport struct {
	Images   int                    `json:"images"`
	Panoptic metrics.PanopticReport `json:"panoptic"`
	Instance metrics.InstanceReport `json:"instance"`
	Semantic metrics.SemanticReport `json:"semantic"`
	Seconds  float64                `json:"seconds"`
}

// Evaluate runs inference on a dataset at the model's input size and
// scores the panoptic, instance (things only) and semantic predictions,
// optionally feeding a probe with every decoder stage.
func Evaluate(m *Model, ds data.Dataset, opt EvalOptions) (*EvalReport, error) {
	c := &m.Cfg
	if got := len(ds.Categories()); got != c.NumClasses {
		return nil, fmt.Errorf("model: dataset %s has %d classes, the model %d", ds.Name(), got, c.NumClasses)
	}
	n := ds.Len()
	if opt.Images > 0 && opt.Images < n {
		n = opt.Images
	}
	if opt.Infer == (InferConfig{}) {
		opt.Infer = DefaultInferConfig()
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = defaultWorkers()
	}
	isThing := make([]bool, c.NumClasses)
	for k := range isThing {
		isThing[k] = ds.Categories()[k].IsThing
	}
	pan := metrics.NewPanopticEvaluator(isThing)
	ins := metrics.NewInstanceEvaluator(c.NumClasses, nil)
	sem := metrics.NewSemanticEvaluator(c.NumClasses, data.Void)
	if opt.Probe != nil {
		cfgJSON, _ := json.Marshal(c)
		info := probes.RunInfo{
			Model: c.Arch, NumStages: c.NumStages(), NumQueries: c.Queries, NumClasses: c.NumClasses,
			MaskStride: 4, MaskH: m.h4, MaskW: m.w4, Config: cfgJSON, Dataset: ds.Describe(),
			Checkpoint: opt.Checkpoint, Seed: opt.Seed, ToolVersion: version.String(),
			StageLayers: c.StageLayers(), Matching: probes.MatchingRecorded,
			MatchCost: &probes.MatchCost{Class: c.Loss.MatchClass, Mask: c.Loss.MatchMask, Dice: c.Loss.MatchDice},
		}
		if opt.SkipMatching {
			info.Matching = probes.MatchingNone
		}
		if err := opt.Probe.Init(info); err != nil {
			return nil, fmt.Errorf("model: probe: %w", err)
		}
	}
	start := time.Now()
	chunk := 2 * workers
	graphs := make([]*Graph, chunk)
	for i := range graphs {
		graphs[i] = newGraph()
	}
	type result struct {
		err     error
		stages  []StageOutput
		pred    *Prediction
		matches [][]int
		gt      *probes.GroundTruth
	}
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		b, err := data.MakeBatch(ds, idx, data.BatchConfig{Size: c.ImageSize, Workers: workers}, 0)
		if err != nil {
			return nil, err
		}
		res := make([]result, len(idx))
		parallelFor(len(idx), workers, func(i int) {
			g := graphs[i]
			g.Reset()
			bi := &b.Images[i]
			stages := m.Predict(g, bi.Input)
			if s := nonFiniteStage(stages); s >= 0 {
				res[i] = result{err: fmt.Errorf("model: image %d: stage %d predictions are NaN or infinite (a diverged checkpoint?): %w", bi.Index, s, ErrNonFinite)}
				return
			}
			r := result{stages: stages, pred: m.PostProcess(stages[len(stages)-1], 0, opt.Infer)}
			if opt.Probe != nil {
				ex := ExampleFromBatch(bi)
				r.gt = &probes.GroundTruth{Classes: ex.Classes, Masks: bi.Masks4, Cover: ex.Cover4}
				if !opt.SkipMatching {
					r.matches = m.stageMatches(stages, ex)
				}
			}
			res[i] = r
		})
		for i := range idx {
			if res[i].err != nil {
				return nil, res[i].err
			}
		}
		for i := range idx {
			bi := &b.Images[i]
			r := res[i]
			addScores(pan, ins, sem, isThing, bi, r.pred)
			if opt.Predictions != nil {
				if err := opt.Predictions(bi, r.pred); err != nil {
					return nil, err
				}
			}
			if opt.Probe != nil {
				if err := m.record(opt.Probe, bi.Index, r.stages, r.matches, r.gt); err != nil {
					return nil, fmt.Errorf("model: probe: %w", err)
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(hi, n)
		}
	}
	return &EvalReport{
		Images:   n,
		Panoptic: pan.Result(),
		Instance: ins.Result(),
		Semantic: sem.Result(),
		Seconds:  time.Since(start).Seconds(),
	}, nil
}

// addScores adds one image's prediction to the three evaluators. GT
// segment k has panoptic id k+1; instance GT are the thing segments.
func addScores(pan *metrics.PanopticEvaluator, ins *metrics.InstanceEvaluator, sem *metrics.SemanticEvaluator, isThing []bool, bi *data.BatchImage, p *Prediction) {
	gtSegs := make([]metrics.Segment, len(bi.Classes))
	var gtIns []metrics.Instance
	for k, cl := range bi.Classes {
		gtSegs[k] = metrics.Segment{ID: int32(k + 1), Category: cl}
		if bi.IsThing[k] {
			gtIns = append(gtIns, metrics.Instance{Mask: bi.Masks[k], Category: cl})
		}
	}
	predSegs := make([]metrics.Segment, len(p.Segments))
	for i, s := range p.Segments {
		predSegs[i] = metrics.Segment{ID: int32(s.ID), Category: s.Class}
	}
	pan.Add(bi.Panoptic, gtSegs, p.Panoptic, predSegs)
	dets := make([]metrics.Detection, 0, len(p.Detections))
	for _, d := range p.Detections {
		if isThing[d.Class] {
			dets = append(dets, metrics.Detection{Mask: d.Mask, Category: d.Class, Score: d.Score})
		}
	}
	ins.Add(gtIns, dets)
	sem.Add(bi.Semantic, p.Semantic)
}

// stageMatches computes every stage's Hungarian matching of the matching
// queries to the GT with the training cost on all stride-4 pixels, the
// fractional coverage as targets (matcher.MatchStages, which the trace
// reader also uses).
func (m *Model) stageMatches(stages []StageOutput, ex *Example) [][]int {
	c := &m.Cfg
	cls, msk := make([][]float32, len(stages)), make([][]float32, len(stages))
	for s, st := range stages {
		cls[s], msk[s] = st.ClassLogits.Data, st.MaskLogits.Data
	}
	P4 := m.h4 * m.w4
	w := c.Loss.matchWeights()
	return matcher.MatchStages(cls, msk, matcher.CoverTargets(ex.Cover4, P4), ex.Classes, c.Queries, c.NumClasses, P4, &w)
}

// record sends one image's stages to a probe.
func (m *Model) record(p probes.Probe, index int, stages []StageOutput, matches [][]int, gt *probes.GroundTruth) error {
	c := &m.Cfg
	for s, st := range stages {
		rec := probes.Stage{
			Image: index, Stage: s, NumQueries: c.Queries, NumClasses: c.NumClasses,
			H: m.h4, W: m.w4, MaskLogits: st.MaskLogits.Data, ClassLogits: st.ClassLogits.Data,
			AttnH: st.AttnH, AttnW: st.AttnW, AttnMask: st.AttnMask, Unblocked: st.Unblocked, GT: gt,
		}
		rec.NumMP = st.ClassLogits.Dim(0) - c.Queries
		if matches != nil {
			rec.Match = matches[s]
		}
		if err := p.Record(&rec); err != nil {
			return err
		}
	}
	return nil
}
