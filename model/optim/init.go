package optim

import (
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/model/engine"
)

// Initialisers follow torch.nn.init: the bound or standard deviation is
// computed in float64 exactly as PyTorch computes it, each element is one
// draw from r in row-major order (Uniform: r.Uniform(lo, hi); normal:
// r.Normal()) rounded to float32. A parameter with no elements is left
// alone and draws nothing, as PyTorch's zero-element no-op.

// FanMode selects which fan Kaiming initialisation preserves.
type FanMode int

const (
	// FanIn preserves the variance of activations in the forward pass
	// (PyTorch mode="fan_in", its default).
	FanIn FanMode = iota
	// FanOut preserves the variance of gradients in the backward pass
	// (mode="fan_out", as detectron2's c2_msra_fill uses).
	FanOut
)

// FanInOut returns PyTorch's _calculate_fan_in_and_fan_out for a weight of
// the given shape: with receptive field r = prod(shape[2:]) (1 for a 2-D
// shape), fanIn = shape[1]·r and fanOut = shape[0]·r. So a Linear weight
// [out, in] has fanIn = in, fanOut = out, and a Conv2d weight
// [out, in/groups, kh, kw] has fanIn = in/groups·kh·kw, fanOut = out·kh·kw.
// It panics for fewer than 2 dimensions, as PyTorch raises.
func FanInOut(shape []int) (fanIn, fanOut int) {
	if len(shape) < 2 {
		panic(fmt.Sprintf("optim: fan in and fan out need a weight of at least 2 dimensions, have shape %v", shape))
	}
	rf := 1
	for _, d := range shape[2:] {
		rf *= d
	}
	return shape[1] * rf, shape[0] * rf
}

func (m FanMode) fan(shape []int) int {
	in, out := FanInOut(shape)
	switch m {
	case FanIn:
		return in
	case FanOut:
		return out
	}
	panic(fmt.Sprintf("optim: unknown FanMode %d", int(m)))
}

// Gain is torch.nn.init.calculate_gain: 1 for "linear", "conv1d",
// "conv2d", "conv3d", "conv_transpose1d/2d/3d" and "sigmoid"; 5/3 for
// "tanh"; √2 for "relu"; √(2/(1+slope²)) for "leaky_relu" with negative
// slope param (PyTorch's default slope 0.01 applies only when its param is
// None; here pass it); 3/4 for "selu". It panics on another name.
func Gain(nonlinearity string, param float64) float64 {
	switch nonlinearity {
	case "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid":
		return 1
	case "tanh":
		return 5.0 / 3
	case "relu":
		return math.Sqrt(2.0)
	case "leaky_relu":
		return math.Sqrt(2.0 / (1 + param*param))
	case "selu":
		return 3.0 / 4
	}
	panic(fmt.Sprintf("optim: unsupported nonlinearity %q", nonlinearity))
}

// Constant sets every element to v (nn.init.constant_).
func Constant(p *engine.Param[float32], v float64) {
	x := float32(v)
	for i := range p.Data {
		p.Data[i] = x
	}
}

// Uniform draws every element from U(lo, hi) (nn.init.uniform_).
func Uniform(p *engine.Param[float32], lo, hi float64, r *rng.RNG) {
	for i := range p.Data {
		p.Data[i] = float32(r.Uniform(lo, hi))
	}
}

// Normal draws every element from N(mean, std²) (nn.init.normal_; PyTorch's
// nn.Embedding default is Normal(p, 0, 1, r)).
func Normal(p *engine.Param[float32], mean, std float64, r *rng.RNG) {
	for i := range p.Data {
		p.Data[i] = float32(mean + std*r.Normal())
	}
}

// XavierUniform is nn.init.xavier_uniform_(p, gain): U(−a, a) with
// a = √3 · gain·√(2/(fanIn+fanOut)). Mask2Former's transformer decoder
// initialises every parameter of 2 or more dimensions this way (gain 1).
func XavierUniform(p *engine.Param[float32], gain float64, r *rng.RNG) {
	if len(p.Data) == 0 {
		return
	}
	in, out := FanInOut(p.Shape)
	std := gain * math.Sqrt(2.0/float64(in+out))
	a := math.Sqrt(3.0) * std
	Uniform(p, -a, a, r)
}

// KaimingUniform is nn.init.kaiming_uniform_: U(−b, b) with
// b = √3 · gain/√fan, fan chosen by mode. For ReLU use gain Gain("relu", 0)
// = √2; PyTorch's default arguments (a=0, leaky_relu) give the same gain.
func KaimingUniform(p *engine.Param[float32], mode FanMode, gain float64, r *rng.RNG) {
	if len(p.Data) == 0 {
		return
	}
	std := gain / math.Sqrt(float64(mode.fan(p.Shape)))
	b := math.Sqrt(3.0) * std
	Uniform(p, -b, b, r)
}

// KaimingNormal is nn.init.kaiming_normal_: N(0, (gain/√fan)²), fan chosen
// by mode (detectron2's c2_msra_fill is KaimingNormal(p, FanOut,
// Gain("relu", 0), r) with a zero bias).
func KaimingNormal(p *engine.Param[float32], mode FanMode, gain float64, r *rng.RNG) {
	if len(p.Data) == 0 {
		return
	}
	Normal(p, 0, gain/math.Sqrt(float64(mode.fan(p.Shape))), r)
}

// TorchDefault is the reset_parameters of PyTorch's nn.Linear and
// nn.Conv1d/2d/3d: the weight gets kaiming_uniform_(a=√5), i.e.
// U(±√3·√(2/(1+5))/√fanIn) = U(±1/√fanIn) up to rounding, and the bias (if
// not nil) gets U(±1/√fanIn) with the weight's fanIn (bound 0 when fanIn is
// 0). Draws: all weight elements, then all bias elements.
func TorchDefault(weight, bias *engine.Param[float32], r *rng.RNG) {
	KaimingUniform(weight, FanIn, Gain("leaky_relu", math.Sqrt(5)), r)
	if bias == nil {
		return
	}
	in, _ := FanInOut(weight.Shape)
	b := 0.0
	if in > 0 {
		b = 1 / math.Sqrt(float64(in))
	}
	Uniform(bias, -b, b, r)
}
