package optim

import (
	"fmt"
	"math"
	"sort"
)

// Learning-rate schedules are pure functions of the iteration index it
// (0-based): the learning rate used by the update of iteration it is
// BaseLR · warmup(it) · decay(it), the product detectron2's
// WarmupMultiStepLR and DeepLab's WarmupPolyLR (which Mask2Former uses for
// ADE20K) compute when their scheduler has been stepped it times.

// Schedule names for ScheduleConfig.Name.
const (
	// ScheduleMultiStep multiplies by Gamma at each of Steps (detectron2
	// WarmupMultiStepLR).
	ScheduleMultiStep = "multistep"
	// SchedulePoly multiplies by (1 − it/MaxIter)^PolyPower (DeepLab
	// WarmupPolyLR).
	SchedulePoly = "poly"
	// ScheduleConstant keeps the rate (after warm-up) at BaseLR.
	ScheduleConstant = "constant"
)

// Warm-up methods for ScheduleConfig.WarmupMethod (detectron2 names).
const (
	// WarmupLinear ramps the factor linearly from WarmupFactor to 1.
	WarmupLinear = "linear"
	// WarmupConstant holds the factor at WarmupFactor during warm-up.
	WarmupConstant = "constant"
)

// ScheduleConfig describes a warm-up followed by a decay. It encodes to
// and from JSON; decode into DefaultScheduleConfig() so that absent keys
// keep their defaults.
type ScheduleConfig struct {
	// BaseLR is the learning rate before warm-up and decay factors.
	// Default 1e-4 (official Mask2Former / MP-Former SOLVER.BASE_LR).
	BaseLR float64 `json:"base_lr"`
	// Name is "multistep", "poly" or "constant". Default "multistep"
	// (the COCO recipes).
	Name string `json:"name"`
	// MaxIter is the training length. Poly decays to 0 at MaxIter; the
	// other schedules ignore it. Default 0 (must be set for poly).
	MaxIter int `json:"max_iter"`
	// Steps are the multistep decay iterations, ascending; at it == Steps[k]
	// the rate is already multiplied by Gamma^(k+1). Default none.
	Steps []int `json:"steps"`
	// Gamma is the multistep factor. Default 0.1.
	Gamma float64 `json:"gamma"`
	// PolyPower is the poly exponent. Default 0.9.
	PolyPower float64 `json:"poly_power"`
	// PolyConstantEnding, when > 0, holds the poly factor at this value
	// once (1 − it/MaxIter)^PolyPower falls below it after warm-up
	// (DeepLab SOLVER.POLY_LR_CONSTANT_ENDING). Default 0 (off).
	PolyConstantEnding float64 `json:"poly_constant_ending"`
	// WarmupMethod is "linear" or "constant". Default "linear".
	WarmupMethod string `json:"warmup_method"`
	// WarmupIters is the warm-up length; 0 disables warm-up. Default 10
	// (the official configs).
	WarmupIters int `json:"warmup_iters"`
	// WarmupFactor is the warm-up factor at it = 0. Default 1.0 (the
	// official configs, which makes their 10 warm-up iterations a no-op;
	// detectron2's own default is 0.001).
	WarmupFactor float64 `json:"warmup_factor"`
}

// DefaultScheduleConfig returns the official COCO optimisation schedule
// without its length: BaseLR 1e-4, multistep with Gamma 0.1 (Steps empty,
// MaxIter 0: set them), PolyPower 0.9, linear warm-up of 10 iterations at
// factor 1.0.
func DefaultScheduleConfig() ScheduleConfig {
	return ScheduleConfig{
		BaseLR:       1e-4,
		Name:         ScheduleMultiStep,
		Gamma:        0.1,
		PolyPower:    0.9,
		WarmupMethod: WarmupLinear,
		WarmupIters:  10,
		WarmupFactor: 1.0,
	}
}

// Validate reports a configuration LR cannot evaluate.
func (c ScheduleConfig) Validate() error {
	if !(c.BaseLR >= 0) || math.IsInf(c.BaseLR, 0) {
		return fmt.Errorf("optim: schedule base_lr %v is not a finite number >= 0", c.BaseLR)
	}
	switch c.Name {
	case ScheduleMultiStep:
		if !sort.IntsAreSorted(c.Steps) {
			return fmt.Errorf("optim: multistep schedule steps %v are not ascending", c.Steps)
		}
		if !(c.Gamma >= 0) || math.IsInf(c.Gamma, 0) {
			return fmt.Errorf("optim: multistep schedule gamma %v is not a finite number >= 0", c.Gamma)
		}
	case SchedulePoly:
		if c.MaxIter <= 0 {
			return fmt.Errorf("optim: poly schedule needs max_iter > 0, have %d", c.MaxIter)
		}
		if !(c.PolyPower >= 0) || math.IsInf(c.PolyPower, 0) {
			return fmt.Errorf("optim: poly schedule power %v is not a finite number >= 0", c.PolyPower)
		}
	case ScheduleConstant:
	default:
		return fmt.Errorf("optim: unknown schedule name %q (want %q, %q or %q)", c.Name, ScheduleMultiStep, SchedulePoly, ScheduleConstant)
	}
	if c.WarmupIters < 0 {
		return fmt.Errorf("optim: warmup_iters %d < 0", c.WarmupIters)
	}
	if c.WarmupIters > 0 {
		if c.WarmupMethod != WarmupLinear && c.WarmupMethod != WarmupConstant {
			return fmt.Errorf("optim: unknown warmup_method %q (want %q or %q)", c.WarmupMethod, WarmupLinear, WarmupConstant)
		}
		if !(c.WarmupFactor >= 0) || math.IsInf(c.WarmupFactor, 0) {
			return fmt.Errorf("optim: warmup_factor %v is not a finite number >= 0", c.WarmupFactor)
		}
	}
	return nil
}

// Factor returns the learning-rate multiplier at iteration it:
// WarmupFactorAt(it) times the decay factor of Name. It panics if the
// config does not Validate.
func (c ScheduleConfig) Factor(it int) float64 {
	w, d := c.factors(it)
	return w * d
}

// LR returns the learning rate of iteration it, BaseLR·warmup·decay
// evaluated left to right as detectron2 does (base_lr * warmup_factor *
// decay), so the float64 result matches the Python one bit for bit.
func (c ScheduleConfig) LR(it int) float64 {
	w, d := c.factors(it)
	return c.BaseLR * w * d
}

// factors returns the warm-up and decay factors at it. With the poly
// constant ending in force it returns (1, PolyConstantEnding).
func (c ScheduleConfig) factors(it int) (warm, decay float64) {
	if err := c.Validate(); err != nil {
		panic(err.Error())
	}
	w := WarmupFactorAt(c.WarmupMethod, it, c.WarmupIters, c.WarmupFactor)
	switch c.Name {
	case ScheduleMultiStep:
		return w, MultiStepFactor(it, c.Steps, c.Gamma)
	case SchedulePoly:
		p := PolyFactor(it, c.MaxIter, c.PolyPower)
		// DeepLab WarmupPolyLR: the constant ending applies once warm-up
		// is over (its "warmup_factor == 1.0" test).
		if c.PolyConstantEnding > 0 && w == 1 && p < c.PolyConstantEnding {
			return 1, c.PolyConstantEnding
		}
		return w, p
	default: // ScheduleConstant
		return w, 1
	}
}

// WarmupFactorAt is detectron2's _get_warmup_factor_at_iter: 1 when
// it >= warmupIters; otherwise warmupFactor for "constant", and
// warmupFactor·(1−α) + α with α = it/warmupIters for "linear". It panics
// on another method while it < warmupIters.
func WarmupFactorAt(method string, it, warmupIters int, warmupFactor float64) float64 {
	if it >= warmupIters {
		return 1
	}
	switch method {
	case WarmupConstant:
		return warmupFactor
	case WarmupLinear:
		alpha := float64(it) / float64(warmupIters)
		return warmupFactor*(1-alpha) + alpha
	}
	panic(fmt.Sprintf("optim: unknown warm-up method %q", method))
}

// MultiStepFactor is gamma^k, where k is the number of steps <= it
// (Python's bisect_right(steps, it), as in detectron2's WarmupMultiStepLR).
// steps must be ascending.
func MultiStepFactor(it int, steps []int, gamma float64) float64 {
	k := sort.Search(len(steps), func(i int) bool { return steps[i] > it })
	if k == 0 {
		return 1
	}
	return math.Pow(gamma, float64(k)) // gamma ** k, as Python's float pow
}

// PolyFactor is (1 − it/maxIter)^power for 0 <= it <= maxIter (DeepLab's
// WarmupPolyLR), 1 for it < 0, and 0 for it > maxIter (where the Python
// formula would raise a negative number to a fractional power).
func PolyFactor(it, maxIter int, power float64) float64 {
	if it < 0 {
		return 1
	}
	if it >= maxIter {
		if it == maxIter && power == 0 {
			return 1 // 0^0, as math.pow(0.0, 0) in Python
		}
		return 0
	}
	return math.Pow(1-float64(it)/float64(maxIter), power)
}
