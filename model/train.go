package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
	"github.com/mpanalyze/mpanalyze/internal/parallel"
	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/model/gemm"
	"github.com/mpanalyze/mpanalyze/model/optim"
)

// TrainConfig holds the optimisation settings of a training run.
type TrainConfig struct {
	// Steps is the length of the run. Default 1500.
	Steps int `json:"steps"`
	// Batch is the number of images per step. Default 8.
	Batch int `json:"batch"`
	// Seed fixes the model initialisation, the data order and every random
	// draw of training.
	Seed uint64 `json:"seed"`
	// Schedule is the learning-rate schedule. Default: base 3e-4 (the
	// small-scale runs of docs/papers.md#small-scale; official 1e-4 at batch 16 with
	// a pretrained backbone), multistep ×0.1 at 90 % of the steps, linear
	// warm-up over 50 steps from 0.01.
	Schedule optim.ScheduleConfig `json:"schedule"`
	// AdamW holds β1, β2, eps and the weight decay (default 0.05).
	AdamW optim.AdamWConfig `json:"adamw"`
	// ClipNorm is the full-model gradient-norm clip; 0 disables it.
	// Default 0.01 (the official configs).
	ClipNorm float64 `json:"clip_norm"`
	// GradSlots is the number of gradient accumulators of a step: image i
	// of the batch adds its gradient into slot i mod GradSlots (images of
	// a slot run one after another), and the slots are summed in order. It
	// bounds the parallelism of a step and fixes its summation order, so
	// results depend on GradSlots but never on Workers or GOMAXPROCS.
	// Default (0) 2, the cores of the machine this was built on.
	GradSlots int `json:"grad_slots,omitempty"`
	// Precision is the arithmetic of the matrix products: "fp32" (the
	// default, also "") or "bf16" — operands rounded to BF16 and
	// multiplied on the AMX tile unit with FP32 accumulation, all else
	// FP32 (gemm's "amx-bf16"; only on CPUs with AMX-BF16). Each is
	// deterministic; they give different results. It is process-wide:
	// NewTrainer switches package gemm to it, so trainers of different
	// precisions must not run at the same time in one process.
	Precision string `json:"precision,omitempty"`
}

// DefaultTrainConfig returns the default optimisation for a run of steps.
func DefaultTrainConfig(steps int) TrainConfig {
	s := optim.DefaultScheduleConfig()
	s.BaseLR = 3e-4
	s.MaxIter = steps
	s.Steps = []int{steps * 9 / 10}
	s.WarmupIters = min(50, steps/10)
	s.WarmupFactor = 0.01
	return TrainConfig{Steps: steps, Batch: 8, Schedule: s, AdamW: optim.DefaultAdamWConfig(), ClipNorm: 0.01}
}

// Trainer runs optimisation steps on a model. The images of a batch are
// spread over TrainConfig.GradSlots gradient slots; each slot has one Graph
// (reused across images and steps, so buffers are recycled) and one
// gradient buffer per parameter that its images add into in order; slots
// run in parallel on Workers goroutines and are summed in slot order, so a
// step's result does not depend on the number of workers or on GOMAXPROCS.
type Trainer struct {
	M       *Model
	Cfg     TrainConfig
	Opt     *optim.AdamW
	Workers int // 0 means GOMAXPROCS
	// KeepGrads makes TrainStep leave each Param.Grad holding the step's
	// summed gradient (before clipping) instead of zeroing it in the
	// optimiser's pass, for callers that inspect it; the next step then
	// zeroes the buffers in a pass of its own. The update is the same.
	KeepGrads bool
	step      int
	graphs    []*Graph       // one per slot
	slotGr    [][][]float32  // [slot ≥ 1][param] gradient buffers; slot 0 uses Param.Grad
	slotIdx   map[*Param]int // a parameter's index in m.Params(), for slotGr
	sqGroups  [][4]int       // reduceSlots' groups of parameter indices (sumGroups)
	// groupSize, when > 0, overrides imageGroup (tests)
	groupSize int
	// gradsZero is set when every gradient buffer (Param.Grad and the
	// slots') is known to be zero: TrainStep's optimiser pass clears them
	// as it reads them, so the next step skips a pass of its own.
	gradsZero bool
}

// Validate reports the first setting out of range, named by its JSON key.
func (cfg *TrainConfig) Validate() error {
	if err := cfg.Schedule.Validate(); err != nil {
		return fmt.Errorf("model: schedule: %w", err)
	}
	if err := cfg.AdamW.Validate(); err != nil {
		return fmt.Errorf("model: adamw: %w", err)
	}
	switch {
	case cfg.Steps < 0:
		return fmt.Errorf("model: steps %d is negative", cfg.Steps)
	case cfg.Batch <= 0:
		return fmt.Errorf("model: batch %d is not positive", cfg.Batch)
	case !(cfg.ClipNorm >= 0) || math.IsInf(cfg.ClipNorm, 0):
		return fmt.Errorf("model: clip_norm %g (want ≥ 0; 0 turns clipping off)", cfg.ClipNorm)
	case cfg.GradSlots < 0:
		return fmt.Errorf("model: grad_slots %d is negative", cfg.GradSlots)
	case cfg.Precision != "" && cfg.Precision != gemm.FP32 && cfg.Precision != gemm.BF16:
		return fmt.Errorf("model: precision %q (want %s or %s)", cfg.Precision, gemm.FP32, gemm.BF16)
	}
	return nil
}

// NewTrainer returns a trainer at step 0.
func NewTrainer(m *Model, cfg TrainConfig) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := gemm.SetPrecision(cfg.Precision); err != nil {
		return nil, fmt.Errorf("model: precision: %w", err)
	}
	return &Trainer{M: m, Cfg: cfg, Opt: optim.NewAdamW(m.Params(), cfg.AdamW)}, nil
}

// StepCount is the number of steps taken.
func (t *Trainer) StepCount() int { return t.step }

// SetStepCount sets the step counter (when resuming from a checkpoint).
func (t *Trainer) SetStepCount(s int) { t.step = s }

// StepResult summarises one optimisation step.
type StepResult struct {
	Step     int         // the step just taken (0-based)
	LR       float64     // learning rate used
	Loss     float64     // batch loss (sum over images of their normalised losses)
	GradNorm float64     // total gradient norm before clipping
	Images   []LossStats // per image
}

// ErrNonFinite is returned (wrapped) when a loss or gradient is NaN or Inf.
var ErrNonFinite = fmt.Errorf("non-finite loss or gradient")

// TrainStep runs forward, backward and one AdamW update on a batch. On a
// non-finite loss or gradient it returns an error wrapping ErrNonFinite
// and leaves the parameters untouched. The gradients are clipped and used
// in the optimiser's pass, which leaves Param.Grad zero unless KeepGrads
// is set (the trainer assumes that nothing else writes Param.Grad between
// its steps).
func (t *Trainer) TrainStep(batch []*Example) (StepResult, error) {
	step := t.step
	stats, sq, err := t.gradients(batch, step, nil)
	res := StepResult{Step: step, Images: stats}
	if err != nil {
		return res, err
	}
	for _, st := range stats {
		res.Loss += st.Total
	}
	params := t.M.Params()
	var total float64
	for k, s := range sq {
		if !optim.IsFinite(s) {
			return res, fmt.Errorf("model: step %d: gradient of %s: %w", step, params[k].Name, ErrNonFinite)
		}
		total += s
	}
	// optim.GradNorm and optim.ClipGradNorm, with the per-parameter sums
	// of squares taken in parallel (in gradients) and added in order.
	res.GradNorm = math.Sqrt(total)
	// Clipping (optim.ClipGradNorm's g *= c) happens inside the AdamW
	// pass, element by element with the same float32 product, and that
	// pass also zeroes the gradients for the next step.
	scale := float32(1)
	if c, clip := optim.ClipCoef(res.GradNorm, t.Cfg.ClipNorm); clip {
		scale = c
	}
	res.LR = t.Cfg.Schedule.LR(step)
	t.Opt.StepScaled(res.LR, scale, !t.KeepGrads)
	t.gradsZero = !t.KeepGrads
	t.step++
	return res, nil
}

// ImageStep is one image's forward pass inside a training step, as
// Gradients shows it to an observer: what the step drew for the image and
// what it computed. model/torchref writes it out so that the PyTorch
// reference can redo the step with no random draw of its own. The slices
// alias the step's buffers; an observer copies what it keeps.
type ImageStep struct {
	Slot    int // position of the image in the batch
	Example *Example
	Stages  []StageOutput
	Loss    *LossStats
	// MP parts of the image (MP-Former with GT in the batch, else nil):
	// the MP slots' input labels (−1 padding), the (P+N)×(P+N)
	// self-attention mask and, per decoder layer, the pilot masks of the
	// MP rows (P × h·w of the layer's level, true = blocked; nil where the
	// layer is not piloted). All masks: true = blocked.
	MPLabels   []int
	MPSelfMask []bool
	MPPilots   [][]bool
	// MPNoise are the random draws of the MP mask noise (nil without MP
	// or without mask noise), Points the criterion's sampled points (nil
	// when Loss.Points is 0): recorded only when Gradients has an
	// observer, so that the reference can redo the official code's random
	// steps on the same draws.
	MPNoise *MPNoiseDraws
	Points  *PointDraws
}

// Gradients runs the forward and backward passes of training step `step`
// on batch exactly as TrainStep does (the same random draws, gradient slots
// and summation order) but without clipping or the optimiser update,
// leaving Σ_images gradient in Param.Grad. observe, when not nil, is called
// once per image after its backward pass, on the goroutine of the image's
// gradient slot (so concurrently for images of different slots).
func (t *Trainer) Gradients(batch []*Example, step int, observe func(*ImageStep)) ([]LossStats, error) {
	stats, _, err := t.gradients(batch, step, observe)
	return stats, err
}

// gradients runs forward and backward on every image of the batch and
// leaves Σ_images gradient in Param.Grad (slot 0's images in order, plus
// slot 1's, …), returning the per-image loss statistics and each
// parameter's squared gradient norm (float64). A non-finite loss returns an
// error wrapping ErrNonFinite.
func (t *Trainer) gradients(batch []*Example, step int, observe func(*ImageStep)) ([]LossStats, []float64, error) {
	B := len(batch)
	S := t.Cfg.GradSlots
	if S <= 0 {
		S = 2
	}
	S = max(1, min(S, B))
	params := t.M.Params()
	t.prepareSlots(S, params)
	// Linear weights are multiplied transposed by every image: store each
	// 2-D parameter's transpose once for the step (the same products, so
	// the same bits, where the GEMM does not depend on operand layout).
	// A GEMM that converts its operands (BF16) instead keeps each weight
	// converted for the step, in both orientations Linear uses.
	if convert := gemm.Precision() == gemm.BF16; convert || gemm.LayoutIndependent() {
		t.parallel(len(params), func(k int) {
			if convert {
				params[k].FreezeConverted()
			} else {
				params[k].FreezeTransposed()
			}
		})
		defer func() {
			for _, p := range params {
				p.Thaw()
			}
		}()
	}
	norms := ComputeNorms(&t.M.Cfg, batch)
	stats := make([]LossStats, B)
	errs := make([]error, B)
	t.parallel(S, func(s int) {
		t.slotImages(s, S, batch, step, norms, stats, errs, observe)
	})
	for _, e := range errs {
		if e != nil {
			return stats, nil, e
		}
	}
	return stats, t.reduceSlots(S, params), nil
}

// prepareSlots makes sure the trainer has S graphs and gradient slots
// (slot 0 is Param.Grad, the others buffers of their own) and that they
// are zero (a pass of its own unless the last step left them so).
func (t *Trainer) prepareSlots(S int, params []*Param) {
	for len(t.graphs) < S {
		t.graphs = append(t.graphs, NewGraph())
	}
	for len(t.slotGr) < S {
		bufs := make([][]float32, len(params))
		for k, p := range params {
			bufs[k] = make([]float32, len(p.Data))
		}
		t.slotGr = append(t.slotGr, bufs)
	}
	if t.slotIdx == nil { // the model's parameters never change
		t.slotIdx = make(map[*Param]int, len(params))
		for k, p := range params {
			t.slotIdx[p] = k
		}
	}
	if !t.gradsZero {
		t.parallel(len(params), func(k int) {
			params[k].ZeroGrad()
			for s := 1; s < len(t.slotGr); s++ {
				clear(t.slotGr[s][k])
			}
		})
	}
	t.gradsZero = false
}

// slotImages runs forward and backward, into gradient slot s of S, on the
// batch images s, s+S, s+2S, … in order, each with its own random stream
// derived from the seed, the step and the image's position. It fills
// stats[i] and, for a non-finite loss, errs[i] (that image gets no
// backward pass).
//
// The images go through in groups (imageGroup): a group's backbone and
// pixel decoder run as one batch, and its images go through the
// transformer decoder in lockstep (maskedDecoder.forward), so that the
// weights and their gradient buffers serve every image of the group while
// in cache and the decoder's products have the group's rows. Each image's
// predictions and loss have the bits it gets alone; the batched
// convolutions and norms add each weight's per-image gradients in image
// order (the bits of one image at a time), while a decoder weight's
// gradient is one product over the group's rows, which rounds differently
// (TestImageGroups).
func (t *Trainer) slotImages(s, S int, batch []*Example, step int, norms BatchNorms, stats []LossStats, errs []error, observe func(*ImageStep)) {
	g := t.graphs[s]
	if s == 0 {
		g.AccumulateInto(func(p *Param) []float32 { return p.Grad })
	} else {
		bufs, index := t.slotGr[s], t.slotIdx
		g.AccumulateInto(func(p *Param) []float32 { return bufs[index[p]] })
	}
	var idx []int
	for i := s; i < len(batch); i += S {
		idx = append(idx, i)
	}
	group := t.imageGroup()
	for len(idx) > 0 {
		n := min(group, len(idx))
		t.groupImages(g, idx[:n], batch, step, norms, stats, errs, observe)
		idx = idx[n:]
	}
}

// imageGroup is how many images of a slot go through the network as one
// group: up to four 128-pixel images' worth (4·128² pixels, so that large
// images do not multiply the memory of the activations), one with the
// MSDeformAttn pixel decoder or when Trainer.groupSize says so.
func (t *Trainer) imageGroup() int {
	if t.groupSize > 0 {
		return t.groupSize
	}
	if !t.M.batchPixels() {
		return 1
	}
	S := t.M.Cfg.ImageSize
	return max(1, 4*128*128/(S*S))
}

// groupImages runs one group of a slot's images (see slotImages).
func (t *Trainer) groupImages(g *Graph, idx []int, batch []*Example, step int, norms BatchNorms, stats []LossStats, errs []error, observe func(*ImageStep)) {
	m := t.M
	c := &m.Cfg
	g.Reset()
	type image struct {
		r     *rng.RNG
		mp    *mpInput
		noise *MPNoiseDraws
		pts   *PointDraws
		st    []StageOutput
		loss  *Tensor
	}
	ims := make([]image, len(idx))
	for j, i := range idx {
		im := &ims[j]
		im.r = rng.New(rng.Derive(t.Cfg.Seed, uint64(step), uint64(i), 0x7e))
		ex := batch[i]
		// draws are recorded for an observer only; recording changes no
		// draw
		if observe != nil {
			if c.MP.Noise != "none" {
				im.noise = &MPNoiseDraws{}
			}
			if c.Loss.Points > 0 {
				im.pts = &PointDraws{}
			}
		}
		if c.Arch == ArchMPFormer && norms.MaxGT > 0 {
			im.mp = buildMP(c, ex.Classes, ex.Full, norms.MaxGT, m.levels, im.r, im.noise)
		} else {
			im.noise = nil
		}
	}
	inputs := make([][]float32, len(idx))
	mps := make([]*mpInput, len(idx))
	for j, i := range idx {
		inputs[j], mps[j] = batch[i].Input, ims[j].mp
	}
	maskFeat, levels := m.pixelFeatures(g, inputs)
	stages := m.decode(g, maskFeat, levels, mps)
	var roots []*Tensor
	for j, i := range idx {
		im, ex := &ims[j], batch[i]
		im.st = stages[j]
		loss, st := m.criterion(g, im.st, im.mp.numMP(), ex, norms, im.r, im.pts)
		stats[i] = st
		if math.IsNaN(st.Total) || math.IsInf(st.Total, 0) {
			errs[i] = fmt.Errorf("model: step %d, image %d (dataset index %d): loss is %v: %w", step, i, ex.Index, st.Total, ErrNonFinite)
			continue
		}
		im.loss = loss
		roots = append(roots, loss)
	}
	g.BackwardRoots(roots...)
	if observe == nil {
		return
	}
	for j, i := range idx {
		im := &ims[j]
		if im.loss == nil {
			continue
		}
		is := &ImageStep{Slot: i, Example: batch[i], Stages: im.st, Loss: &stats[i], MPNoise: im.noise, Points: im.pts}
		if im.mp != nil {
			is.MPLabels, is.MPSelfMask, is.MPPilots = im.mp.labels, im.mp.selfMask, im.mp.pilots
		}
		observe(is)
	}
}

// reduceSlots adds gradient slots 1..S−1 into Param.Grad in slot order,
// clearing them for the next step as they are read, and, in the same
// pass, takes each parameter's squared norm (for clipping and the
// finiteness check), which it returns.
//
// The squared norms are taken four parameters at a time
// (optim.SumSquares4: four float64 chains side by side, each with
// SumSquares' bits), the parameters grouped by size, largest first, so
// that a group's four chains are about as long and the big groups are
// handed out first.
func (t *Trainer) reduceSlots(S int, params []*Param) []float64 {
	if len(t.sqGroups) == 0 { // the model's parameters never change
		t.sqGroups = sumGroups(params)
	}
	sq := make([]float64, len(params))
	t.parallel(len(t.sqGroups), func(q int) {
		grp := t.sqGroups[q]
		var gs [4][]float32
		for i, k := range grp {
			if k < 0 {
				continue
			}
			g := params[k].Grad
			for s := 1; s < S; s++ {
				sl := t.slotGr[s][k]
				fmath.AddTo(g, sl) // g[j] += sl[j]: the element loop's bits
				clear(sl)
			}
			gs[i] = g
		}
		var sums [4]float64
		sums[0], sums[1], sums[2], sums[3] = optim.SumSquares4(gs[0], gs[1], gs[2], gs[3])
		for i, k := range grp {
			if k >= 0 {
				sq[k] = sums[i]
			}
		}
	})
	return sq
}

// sumGroups lists the parameters' indices by size, largest first (ties in
// index order), four to a group; −1 fills the last group.
func sumGroups(params []*Param) [][4]int {
	idx := make([]int, len(params))
	for k := range idx {
		idx[k] = k
	}
	slices.SortStableFunc(idx, func(a, b int) int { return len(params[b].Data) - len(params[a].Data) })
	groups := make([][4]int, 0, (len(idx)+3)/4)
	for i := 0; i < len(idx); i += 4 {
		g := [4]int{-1, -1, -1, -1}
		copy(g[:], idx[i:min(i+4, len(idx))])
		groups = append(groups, g)
	}
	return groups
}

// parallel runs f(0..n-1) on the trainer's workers.
func (t *Trainer) parallel(n int, f func(i int)) {
	parallel.For(n, t.Workers, f)
}
