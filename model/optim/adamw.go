package optim

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/mpanalyze/mpanalyze/model/engine"
)

// AdamWConfig holds the AdamW hyper-parameters other than the learning rate,
// which is given to each Step (it comes from the schedule). Start from
// DefaultAdamWConfig and change fields; when decoding JSON, decode into the
// defaults so that absent keys keep them.
type AdamWConfig struct {
	// Beta1 is the first-moment decay β1. Default 0.9 (PyTorch's default).
	Beta1 float64 `json:"beta1"`
	// Beta2 is the second-moment decay β2. Default 0.999 (PyTorch's default).
	Beta2 float64 `json:"beta2"`
	// Eps is added to the bias-corrected RMS. Default 1e-8 (PyTorch's default).
	Eps float64 `json:"eps"`
	// WeightDecay is the decoupled weight decay λ. Default 0.05, the
	// official Mask2Former / MP-Former value (PyTorch's own default is 0.01).
	// Parameters with NoDecay set are not decayed.
	WeightDecay float64 `json:"weight_decay"`
}

// DefaultAdamWConfig returns β1 0.9, β2 0.999, eps 1e-8, weight decay 0.05.
func DefaultAdamWConfig() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05}
}

// Validate reports a configuration AdamW cannot run with.
func (c AdamWConfig) Validate() error {
	switch {
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("optim: AdamW beta1 %v outside [0, 1)", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("optim: AdamW beta2 %v outside [0, 1)", c.Beta2)
	case !(c.Eps >= 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("optim: AdamW eps %v is not a finite number >= 0", c.Eps)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("optim: AdamW weight decay %v is not a finite number >= 0", c.WeightDecay)
	}
	return nil
}

// AdamW is Adam with decoupled weight decay, computed exactly as
// torch.optim.AdamW (amsgrad=False, maximize=False) does it for float32
// tensors. At step t (1-based), for each parameter p with gradient g,
// learning rate lr·p.LR() and decay λ (0 when p.NoDecay):
//
//	p ← p·(1 − lr·λ)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g·g
//	p ← p − (lr/(1−β1^t)) · m / (√v / √(1−β2^t) + eps)
//
// Per-step scalars (1 − lr·λ, lr/(1−β1^t), √(1−β2^t)) are computed in
// float64 and rounded once to float32, as PyTorch rounds its Python-float
// scalars; the element arithmetic is float32 in the order PyTorch's CPU
// kernels use. Every parameter takes part in every step (an all-zero
// gradient still decays the weight and the moments), so one step count
// serves all parameters.
type AdamW struct {
	cfg    AdamWConfig
	params []*engine.Param[float32]
	m, v   [][]float32
	step   int64
	total  int // elements over all params
}

// NewAdamW returns an optimiser over params with zero moments and step 0.
// It panics if the config is invalid, a parameter is nil, two parameters
// share a name, or a Grad's length differs from its Data's (programmer
// errors). The params slice is copied; the Params themselves are shared.
func NewAdamW(params []*engine.Param[float32], cfg AdamWConfig) *AdamW {
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	o := &AdamW{cfg: cfg, params: append([]*engine.Param[float32](nil), params...)}
	seen := make(map[string]bool, len(params))
	o.m = make([][]float32, len(params))
	o.v = make([][]float32, len(params))
	for i, p := range params {
		if p == nil {
			panic(fmt.Sprintf("optim: NewAdamW: parameter %d is nil", i))
		}
		if seen[p.Name] {
			panic(fmt.Sprintf("optim: NewAdamW: duplicate parameter name %q", p.Name))
		}
		seen[p.Name] = true
		if len(p.Grad) != len(p.Data) {
			panic(fmt.Sprintf("optim: NewAdamW: parameter %q has %d grads for %d values", p.Name, len(p.Grad), len(p.Data)))
		}
		o.m[i] = make([]float32, len(p.Data))
		o.v[i] = make([]float32, len(p.Data))
		o.total += len(p.Data)
	}
	return o
}

// Config returns the hyper-parameters.
func (o *AdamW) Config() AdamWConfig { return o.cfg }

// Params returns the parameters in optimiser order (do not modify the slice).
func (o *AdamW) Params() []*engine.Param[float32] { return o.params }

// StepCount is the number of Steps taken (t after the last step).
func (o *AdamW) StepCount() int64 { return o.step }

// parallelMin is the element count below which Step runs on one goroutine
// (starting goroutines costs more than it saves).
const parallelMin = 1 << 16

// coeffs are one parameter's float32 scalars for one step.
type coeffs struct {
	decay   float32 // 1 − lr·λ (1 when NoDecay: x·1 == x exactly)
	negStep float32 // −lr/(1−β1^t)
	bc2Sqrt float32 // √(1−β2^t)
	b1, c1  float32 // β1, 1−β1
	b2, c2  float32 // β2, 1−β2
	eps     float32
	// gscale multiplies the gradient before use (a clipping coefficient;
	// 1 for none: g·1 == g exactly).
	gscale float32
	// clear, when 1, zeroes the gradient after its use.
	clear int32
}

// Step applies one AdamW update with base learning rate lr (each parameter
// uses lr·p.LR()). It reads Param.Grad and does not clear it. It panics if
// a parameter's Data or Grad length changed since NewAdamW.
func (o *AdamW) Step(lr float64) { o.StepScaled(lr, 1, false) }

// StepScaled is Step on the gradients times scale (a clipping coefficient
// from ClipCoef: each element is multiplied by it in float32 first, so the
// result is Step's after ClipGradNorm's g *= scale, bit for bit), leaving
// Param.Grad unscaled — or, with clear, zeroed, ready for the next step's
// accumulation without a pass of its own. It reads and writes each
// parameter's data, gradient and moments once.
func (o *AdamW) StepScaled(lr float64, scale float32, clear bool) {
	o.step++
	t := float64(o.step)
	bc1 := 1 - math.Pow(o.cfg.Beta1, t)
	bc2Sqrt := float32(math.Sqrt(1 - math.Pow(o.cfg.Beta2, t)))
	cs := make([]coeffs, len(o.params))
	for i, p := range o.params {
		if len(p.Data) != len(o.m[i]) || len(p.Grad) != len(o.m[i]) {
			panic(fmt.Sprintf("optim: AdamW.Step: parameter %q changed size (%d values, %d grads, optimiser has %d)",
				p.Name, len(p.Data), len(p.Grad), len(o.m[i])))
		}
		plr := lr * p.LR()
		c := coeffs{
			decay:   float32(1 - plr*o.cfg.WeightDecay),
			negStep: float32(-(plr / bc1)),
			bc2Sqrt: bc2Sqrt,
			b1:      float32(o.cfg.Beta1), c1: float32(1 - o.cfg.Beta1),
			b2: float32(o.cfg.Beta2), c2: float32(1 - o.cfg.Beta2),
			eps:    float32(o.cfg.Eps),
			gscale: scale,
		}
		if clear {
			c.clear = 1
		}
		if p.NoDecay {
			c.decay = 1
		}
		cs[i] = c
	}
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || o.total < parallelMin {
		for i, p := range o.params {
			adamwKernel(&cs[i], p.Data, p.Grad, o.m[i], o.v[i])
		}
		return
	}
	// Split the flattened element range into equal contiguous pieces. Each
	// element's arithmetic is independent of the split.
	per := (o.total + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min((w+1)*per, o.total)
		if lo >= hi {
			break
		}
		wg.Go(func() {
			off := 0
			for i, p := range o.params {
				n := len(p.Data)
				a, b := max(lo-off, 0), min(hi-off, n)
				if a < b {
					adamwKernel(&cs[i], p.Data[a:b], p.Grad[a:b], o.m[i][a:b], o.v[i][a:b])
				}
				off += n
				if off >= hi {
					break
				}
			}
		})
	}
	wg.Wait()
}

// adamwKernel updates one contiguous run of elements. The statement order
// and float32 rounding points mirror torch 1.13 _single_tensor_adamw on CPU:
// mul_(decay); exp_avg.mul_(β1).add_(g, alpha=1−β1);
// exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2) (= (c2·g)·g);
// denom = sqrt(v)/√bc2 + eps; p.addcdiv_(m, denom, value=−step) (= (−step·m)/denom).
func adamwKernel(c *coeffs, p, g, m, v []float32) {
	n := len(p)
	g, m, v = g[:n], m[:n], v[:n]
	if done := adamwVector(c, p, g, m, v); done > 0 {
		p, g, m, v = p[done:], g[done:], m[done:], v[done:]
	}
	adamwScalar(c, p, g, m, v)
}

// adamwScalar is adamwKernel one element at a time (the reference of the
// vector kernel, and its tail).
func adamwScalar(c *coeffs, p, g, m, v []float32) {
	n := len(p)
	g, m, v = g[:n], m[:n], v[:n]
	b1, c1, b2, c2 := c.b1, c.c1, c.b2, c.c2
	decay, negStep, bc2Sqrt, eps := c.decay, c.negStep, c.bc2Sqrt, c.eps
	for i := range p {
		gi := g[i] * c.gscale
		if c.clear != 0 {
			g[i] = 0
		}
		mi := float32(b1*m[i]) + float32(c1*gi)
		vi := float32(b2*v[i]) + float32(float32(c2*gi)*gi)
		m[i] = mi
		v[i] = vi
		denom := float32(math.Sqrt(float64(vi)))/bc2Sqrt + eps
		p[i] = float32(p[i]*decay) + float32(negStep*mi)/denom
	}
}

// AdamWState is an AdamW optimiser's state, keyed by parameter name, for
// checkpoints. M and V are the first and second moments (exp_avg and
// exp_avg_sq in PyTorch), each the length of its parameter's Data.
type AdamWState struct {
	Step int64
	M, V map[string][]float32
}

// State returns a copy of the optimiser state.
func (o *AdamW) State() AdamWState {
	s := AdamWState{Step: o.step, M: make(map[string][]float32, len(o.params)), V: make(map[string][]float32, len(o.params))}
	for i, p := range o.params {
		s.M[p.Name] = append([]float32(nil), o.m[i]...)
		s.V[p.Name] = append([]float32(nil), o.v[i]...)
	}
	return s
}

// SetState replaces the optimiser state with a copy of s. It returns an
// error, and changes nothing, unless s has exactly one M and one V entry of
// the right length for every parameter and no others, and Step >= 0.
func (o *AdamW) SetState(s AdamWState) error {
	if s.Step < 0 {
		return fmt.Errorf("optim: AdamW state has negative step %d", s.Step)
	}
	for _, kind := range []struct {
		name string
		mp   map[string][]float32
	}{{"first moment (m)", s.M}, {"second moment (v)", s.V}} {
		for _, p := range o.params {
			x, ok := kind.mp[p.Name]
			if !ok {
				return fmt.Errorf("optim: AdamW state has no %s for parameter %q", kind.name, p.Name)
			}
			if len(x) != len(p.Data) {
				return fmt.Errorf("optim: AdamW state %s for parameter %q has %d values, parameter has %d",
					kind.name, p.Name, len(x), len(p.Data))
			}
		}
		if len(kind.mp) != len(o.params) {
			for name := range kind.mp {
				if !o.has(name) {
					return fmt.Errorf("optim: AdamW state has a %s for %q, which is not a parameter of this optimiser", kind.name, name)
				}
			}
		}
	}
	for i, p := range o.params {
		copy(o.m[i], s.M[p.Name])
		copy(o.v[i], s.V[p.Name])
	}
	o.step = s.Step
	return nil
}

func (o *AdamW) has(name string) bool {
	for _, p := range o.params {
		if p.Name == name {
			return true
		}
	}
	return false
}
