package run

import (
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/crashpoint"
	"github.com/mpanalyze/mpanalyze/internal/parallel"
	"github.com/mpanalyze/mpanalyze/internal/version"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/probes"
)

// EvalOptions configures Evaluate.
type EvalOptions struct {
	// Images limits the evaluation to the first Images samples (0 = all).
	Images int
	// Infer holds the post-processing thresholds (zero: the defaults).
	Infer model.InferConfig
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
	Predictions func(img *data.BatchImage, p *model.Prediction) error
	// Original, when set, is called with every image's ground truth and
	// prediction in the image's own frame (what is scored), in dataset
	// order (for exports).
	Original func(t *data.Truth, p *model.Prediction) error
}

// Evaluate runs inference on a dataset at the model's input size (the
// letterbox of data.Frame), maps each prediction back to the image's own
// frame and scores the panoptic, instance (things only) and semantic
// predictions there against the image's data.Truth (crowd regions flagged,
// see Scorer), optionally feeding a probe with every decoder stage (at the
// model's size, against the batch's ground truth).
func Evaluate(m *model.Model, ds data.Dataset, opt EvalOptions) (*metrics.EvalReport, error) {
	c := &m.Cfg
	if got := len(ds.Categories()); got != c.NumClasses {
		return nil, fmt.Errorf("run: dataset %s has %d classes, the model %d", ds.Name(), got, c.NumClasses)
	}
	n := ds.Len()
	if opt.Images > 0 && opt.Images < n {
		n = opt.Images
	}
	if opt.Infer == (model.InferConfig{}) {
		opt.Infer = model.DefaultInferConfig()
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	scorer := NewScorer(ds.Categories())
	h4, w4 := m.MaskSize()
	if opt.Probe != nil {
		cfgJSON, _ := json.Marshal(c)
		info := probes.RunInfo{
			Model: c.Arch, NumStages: c.NumStages(), NumQueries: c.Queries, NumClasses: c.NumClasses,
			MaskStride: 4, MaskH: h4, MaskW: w4, Config: cfgJSON, Dataset: ds.Describe(),
			Checkpoint: opt.Checkpoint, Seed: opt.Seed, ToolVersion: version.String(),
			StageLayers: c.StageLayers(), Matching: probes.MatchingRecorded,
			MatchCost: &probes.MatchCost{Class: c.Loss.MatchClass, Mask: c.Loss.MatchMask, Dice: c.Loss.MatchDice},
		}
		if opt.SkipMatching {
			info.Matching = probes.MatchingNone
		}
		if err := opt.Probe.Init(info); err != nil {
			return nil, fmt.Errorf("run: probe: %w", err)
		}
	}
	start := time.Now()
	chunk := 2 * workers
	graphs := make([]*model.Graph, chunk)
	for i := range graphs {
		graphs[i] = model.NewGraph()
	}
	type result struct {
		err     error
		stages  []model.StageOutput
		pred    *model.Prediction
		orig    *model.Prediction // pred in the image's frame
		matches [][]int
		gt      *probes.GroundTruth
	}
	for lo := 0; lo < n; lo += chunk {
		crashpoint.Hit("eval")
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
		parallel.For(len(idx), workers, func(i int) {
			g := graphs[i]
			g.Reset()
			bi := &b.Images[i]
			stages := m.Predict(g, bi.Input)
			if s := model.NonFiniteStage(stages); s >= 0 {
				res[i] = result{err: fmt.Errorf("run: image %d: stage %d predictions are NaN or infinite (a diverged checkpoint?): %w", bi.Index, s, model.ErrNonFinite)}
				return
			}
			r := result{stages: stages, pred: m.PostProcess(stages[len(stages)-1], 0, opt.Infer)}
			r.orig = r.pred.InFrame(bi.Frame)
			if opt.Probe != nil {
				ex := model.ExampleFromBatch(bi)
				r.gt = &probes.GroundTruth{Classes: ex.Classes, Masks: bi.Masks4, Cover: ex.Cover4}
				if !opt.SkipMatching {
					r.matches = m.StageMatches(stages, ex)
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
				if err := record(m, opt.Probe, bi.Index, r.stages, r.matches, r.gt); err != nil {
					return nil, fmt.Errorf("run: probe: %w", err)
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(hi, n)
		}
	}
	pan, ins, sem := scorer.Results()
	return &metrics.EvalReport{
		Images:   n,
		Panoptic: pan,
		Instance: ins,
		Semantic: sem,
		Seconds:  time.Since(start).Seconds(),
	}, nil
}

// record sends one image's stages to a probe.
func record(m *model.Model, p probes.Probe, index int, stages []model.StageOutput, matches [][]int, gt *probes.GroundTruth) error {
	c := &m.Cfg
	h4, w4 := m.MaskSize()
	for s, st := range stages {
		rec := probes.Stage{
			Image: index, Stage: s, NumQueries: c.Queries, NumClasses: c.NumClasses,
			H: h4, W: w4, MaskLogits: st.MaskLogits.Data, ClassLogits: st.ClassLogits.Data,
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
