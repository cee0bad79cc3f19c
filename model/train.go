package model

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/mpanalyze/mpanalyze/internal/rng"
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
	// small-scale runs of papers.md §8; official 1e-4 at batch 16 with
	// a pretrained backbone), multistep ×0.1 at 90 % of the steps, linear
	// warm-up over 50 steps from 0.01.
	Schedule optim.ScheduleConfig `json:"schedule"`
	// AdamW holds β1, β2, eps and the weight decay (default 0.05).
	AdamW optim.AdamWConfig `json:"adamw"`
	// ClipNorm is the full-model gradient-norm clip; 0 disables it.
	// Default 0.01 (the official configs).
	ClipNorm float64 `json:"clip_norm"`
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

// Trainer runs optimisation steps on a model. Each image of a batch has its
// own Graph (reused across steps, so buffers are recycled); images run in
// parallel on Workers goroutines, and their parameter gradients are summed
// in image order, so a step's result does not depend on the number of
// workers or on GOMAXPROCS.
type Trainer struct {
	M       *Model
	Cfg     TrainConfig
	Opt     *optim.AdamW
	Workers int // 0 means GOMAXPROCS
	step    int
	graphs  []*Graph
}

// NewTrainer returns a trainer at step 0.
func NewTrainer(m *Model, cfg TrainConfig) (*Trainer, error) {
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, fmt.Errorf("model: schedule: %w", err)
	}
	if err := cfg.AdamW.Validate(); err != nil {
		return nil, fmt.Errorf("model: adamw: %w", err)
	}
	if cfg.Batch <= 0 || cfg.Steps < 0 {
		return nil, fmt.Errorf("model: batch %d, steps %d", cfg.Batch, cfg.Steps)
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
// and leaves the parameters untouched.
func (t *Trainer) TrainStep(batch []*Example) (StepResult, error) {
	m := t.M
	c := &m.Cfg
	B := len(batch)
	for len(t.graphs) < B {
		t.graphs = append(t.graphs, newGraph())
	}
	norms := computeNorms(c, batch)
	stats := make([]LossStats, B)
	errs := make([]error, B)
	step := t.step
	t.parallel(B, func(i int) {
		g := t.graphs[i]
		g.Reset()
		r := rng.New(rng.Derive(t.Cfg.Seed, uint64(step), uint64(i), 0x7e))
		ex := batch[i]
		var mp *mpInput
		if c.Arch == ArchMPFormer && norms.maxGT > 0 {
			mp = buildMP(c, ex.Classes, ex.Full, norms.maxGT, m.levels, r)
		}
		stages := m.forward(g, ex.Input, mp)
		loss, st := m.criterion(g, stages, mp.numMP(), ex, norms, r)
		stats[i] = st
		if math.IsNaN(st.Total) || math.IsInf(st.Total, 0) {
			errs[i] = fmt.Errorf("model: step %d, image %d (dataset index %d): loss is %v: %w", step, i, ex.Index, st.Total, ErrNonFinite)
			return
		}
		g.Backward(loss)
	})
	res := StepResult{Step: step, Images: stats}
	for _, e := range errs {
		if e != nil {
			return res, e
		}
	}
	for _, st := range stats {
		res.Loss += st.Total
	}
	// Sum the images' gradients into Param.Grad in image order and, in the
	// same pass, each parameter's squared gradient norm (float64), so the
	// clipping norm and the finiteness check need no extra pass over the
	// gradients. Everything per parameter is independent of the workers.
	params := m.Params()
	sq := make([]float64, len(params))
	t.parallel(len(params), func(k int) {
		p := params[k]
		first := true
		for i := 0; i < B; i++ {
			gr := t.graphs[i].ParamGrad(p)
			if gr == nil {
				continue
			}
			if first {
				copy(p.Grad, gr)
				first = false
				continue
			}
			dst := p.Grad[:len(gr)]
			for j, v := range gr {
				dst[j] += v
			}
		}
		if first {
			p.ZeroGrad()
		}
		var s float64
		for _, v := range p.Grad {
			s += float64(v) * float64(v)
		}
		sq[k] = s
	})
	var total float64
	for k, s := range sq {
		if !optim.IsFinite(s) {
			return res, fmt.Errorf("model: step %d: gradient of %s: %w", step, params[k].Name, ErrNonFinite)
		}
		total += s
	}
	res.GradNorm = math.Sqrt(total)
	// clip_grad_norm_: scale by max/(norm+1e-6) when that is below 1
	if coef := t.Cfg.ClipNorm / (res.GradNorm + 1e-6); t.Cfg.ClipNorm > 0 && coef < 1 {
		c := float32(coef)
		t.parallel(len(params), func(k int) {
			g := params[k].Grad
			for j := range g {
				g[j] *= c
			}
		})
	}
	res.LR = t.Cfg.Schedule.LR(step)
	t.Opt.Step(res.LR)
	t.step++
	return res, nil
}

// parallel runs f(0..n-1) on the trainer's workers.
func (t *Trainer) parallel(n int, f func(i int)) {
	w := t.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	parallelFor(n, w, f)
}

// parallelFor runs f(i) for i in [0, n) on up to workers goroutines. Each
// call is independent, so the results do not depend on the scheduling.
func parallelFor(n, workers int, f func(i int)) {
	if workers <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var panicked any
	next := 0
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				// re-raised on the caller's goroutine, where it can be recovered
				if r := recover(); r != nil {
					mu.Lock()
					if panicked == nil {
						panicked = r
					}
					next = n
					mu.Unlock()
				}
			}()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
