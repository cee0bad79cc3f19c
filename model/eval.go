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
	// Predictions, when set, is called with every image's prediction at
	// the model's input size and its batch image, in dataset order (for
	// previews).
	Predictions func(img *data.BatchImage, p *Prediction) error
	// Original, when set, is called with every image's ground truth and
	// prediction in the image's own frame (what is scored), in dataset
	// order (for exports).
	Original func(t *data.Truth, p *Prediction) error
}

// EvalReport holds the task metrics of an evaluation.
type EvalReport struct {
	Images   int                    `json:"images"`
	Panoptic metrics.PanopticReport `json:"panoptic"`
	Instance metrics.InstanceReport `json:"instance"`
	Semantic metrics.SemanticReport `json:"semantic"`
	Seconds  float64                `json:"seconds"`
}

// Evaluate runs inference on a dataset at the model's input size (the
// letterbox of data.Frame), maps each prediction back to the image's own
// frame and scores the panoptic, instance (things only) and semantic
// predictions there against the image's data.Truth (crowd regions flagged,
// see Scorer), optionally feeding a probe with every decoder stage (at the
// model's size, against the batch's ground truth).
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
	scorer := NewScorer(ds.Categories())
	if opt.Probe != nil {
		cfgJSON, _ := json.Marshal(c)
		info := probes.RunInfo{
			Model: c.Arch, NumStages: c.NumStages(), NumQueries: c.Queries, NumClasses: c.NumClasses,
			MaskStride: 4, MaskH: m.h4, MaskW: m.w4, Config: cfgJSON, Dataset: ds.Describe(),
			Checkpoint: opt.Checkpoint, Seed: opt.Seed, ToolVersion: version.String(),
			StageLayers: c.StageLayers(), Matching: probes.MatchingRecorded,
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
		orig    *Prediction // pred in the image's frame
		matches [][]int
		gt      *probes.GroundTruth
	}
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		b, truths, err := data.MakeEvalBatch(ds, idx, c.ImageSize, workers)
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
			r.orig = r.pred.InFrame(bi.Frame)
			if opt.Probe != nil {
				ex := ExampleFromBatch(bi)
				r.gt = &probes.GroundTruth{Classes: ex.Classes, Masks: bi.Masks4}
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
			scorer.AddPrediction(truths[i], r.orig)
			if opt.Predictions != nil {
				if err := opt.Predictions(bi, r.pred); err != nil {
					return nil, err
				}
			}
			if opt.Original != nil {
				if err := opt.Original(truths[i], r.orig); err != nil {
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
	pan, ins, sem := scorer.Results()
	return &EvalReport{
		Images:   n,
		Panoptic: pan,
		Instance: ins,
		Semantic: sem,
		Seconds:  time.Since(start).Seconds(),
	}, nil
}

// stageMatches computes every stage's Hungarian matching of the matching
// queries to the GT with the training cost on all stride-4 pixels.
func (m *Model) stageMatches(stages []StageOutput, ex *Example) [][]int {
	c := &m.Cfg
	if len(ex.Classes) == 0 {
		return nil
	}
	P4 := m.h4 * m.w4
	tflat := make([]float32, len(ex.Classes)*P4)
	for j, cov := range ex.Cover4 {
		copy(tflat[j*P4:], cov)
	}
	w := c.Loss.matchWeights()
	out := make([][]int, len(stages))
	for s, st := range stages {
		out[s] = matcher.Match(st.ClassLogits.Data, st.MaskLogits.Data, tflat, ex.Classes, c.Queries, c.NumClasses, P4, &w)
	}
	return out
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
