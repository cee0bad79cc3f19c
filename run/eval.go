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
	if opt.Probe != nil {
		if err := opt.Probe.Init(probeRunInfo(m, ds, &opt)); err != nil {
			return nil, fmt.Errorf("run: probe: %w", err)
		}
	}
	start := time.Now()
	chunk := 2 * workers
	graphs := make([]*model.Graph, chunk)
	for i := range graphs {
		graphs[i] = model.NewGraph()
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
		res, err := predictChunk(m, graphs, b, &opt, workers)
		if err != nil {
			return nil, err
		}
		for i := range idx {
			if err := deliver(m, scorer, &b.Images[i], truths[i], res[i], &opt); err != nil {
				return nil, err
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

// probeRunInfo describes the evaluation of m on ds to its probe.
func probeRunInfo(m *model.Model, ds data.Dataset, opt *EvalOptions) probes.RunInfo {
	c := &m.Cfg
	h4, w4 := m.MaskSize()
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
	return info
}

// evalResult is one image's evaluation: its decoder stages, its
// prediction at the input size and in the image's frame and, for a probe,
// its ground truth and per-stage matchings.
type evalResult struct {
	stages  []model.StageOutput
	pred    *model.Prediction
	orig    *model.Prediction // pred in the image's frame
	matches [][]int
	gt      *probes.GroundTruth
}

// predictChunk runs the model on the batch's images in parallel, one
// graph per image, and post-processes them. A stage with NaN or ±Inf is
// an error naming the first such image in batch order.
func predictChunk(m *model.Model, graphs []*model.Graph, b *data.Batch, opt *EvalOptions, workers int) ([]evalResult, error) {
	res := make([]evalResult, len(b.Images))
	errs := make([]error, len(b.Images))
	parallel.For(len(b.Images), workers, func(i int) {
		g := graphs[i]
		g.Reset()
		bi := &b.Images[i]
		stages := m.Predict(g, bi.Input)
		if s := model.NonFiniteStage(stages); s >= 0 {
			errs[i] = fmt.Errorf("run: image %d: stage %d predictions are NaN or infinite (a diverged checkpoint?): %w", bi.Index, s, model.ErrNonFinite)
			return
		}
		r := evalResult{stages: stages, pred: m.PostProcess(stages[len(stages)-1], 0, opt.Infer)}
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
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// deliver hands one image's result to the scorer, the prediction
// callbacks and the probe, in that order.
func deliver(m *model.Model, scorer *Scorer, bi *data.BatchImage, truth *data.Truth, r evalResult, opt *EvalOptions) error {
	scorer.AddPrediction(truth, r.orig)
	if opt.Predictions != nil {
		if err := opt.Predictions(bi, r.pred); err != nil {
			return err
		}
	}
	if opt.Original != nil {
		if err := opt.Original(truth, r.orig); err != nil {
			return err
		}
	}
	if opt.Probe != nil {
		if err := record(m, opt.Probe, bi.Index, r.stages, r.matches, r.gt); err != nil {
			return fmt.Errorf("run: probe: %w", err)
		}
	}
	return nil
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
