package model

import (
	"fmt"
	"math"
	"sync"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/model/engine"
	"github.com/mpanalyze/mpanalyze/model/optim"
)

// Short names for the float32 engine types the model uses.
type (
	Graph  = engine.Graph[float32]
	Tensor = engine.Tensor[float32]
	Param  = engine.Param[float32]
)

// params collects a model's parameters in creation order, which is the
// order of checkpoints, optimiser state and gradient accumulation.
type params struct {
	list   []*Param
	byName map[string]*Param
	r      *rng.RNG
}

func newParams(seed uint64) *params {
	return &params{byName: map[string]*Param{}, r: rng.New(rng.Derive(seed, 0x1417))}
}

func (ps *params) add(name string, shape ...int) *Param {
	if _, dup := ps.byName[name]; dup {
		panic("model: duplicate parameter " + name)
	}
	p := engine.NewParam[float32](name, shape...)
	ps.list = append(ps.list, p)
	ps.byName[name] = p
	return p
}

// linear is nn.Linear: W [out, in], B [out].
type linear struct{ W, B *Param }

// initKind selects a linear layer's initialisation.
type initKind int

const (
	initTorch     initKind = iota // PyTorch's nn.Linear default
	initXavier                    // Xavier-uniform weight, zero bias (transformer layers)
	initXavierQKV                 // Xavier-uniform as one slice of a packed [3D, D] in_proj, zero bias
	initC2Xavier                  // detectron2's c2_xavier_fill: Kaiming-uniform a=1 (bound √(3/fan_in)), zero bias
)

func newLinear(ps *params, name string, in, out int, init initKind) linear {
	l := linear{W: ps.add(name+".weight", out, in), B: ps.add(name+".bias", out)}
	l.B.NoDecay = true
	switch init {
	case initTorch:
		optim.TorchDefault(l.W, l.B, ps.r)
	case initXavier:
		optim.XavierUniform(l.W, 1, ps.r)
	case initXavierQKV:
		// nn.MultiheadAttention initialises its packed [3D, D] in_proj
		// with bound √(6/(D+3D)); a separate [D, D] projection reaches the
		// same bound with gain √(2D/4D) = 1/√2.
		optim.XavierUniform(l.W, 1/math.Sqrt2, ps.r)
	case initC2Xavier:
		optim.KaimingUniform(l.W, optim.FanIn, 1, ps.r)
	}
	return l
}

func (l linear) fwd(g *Graph, x *Tensor) *Tensor { return g.Linear(x, g.Param(l.W), g.Param(l.B)) }

// norm holds the affine parameters of a LayerNorm or GroupNorm.
type norm struct {
	G, B   *Param
	groups int // GroupNorm groups; 0 for LayerNorm
}

func newNorm(ps *params, name string, ch, groups int) norm {
	n := norm{G: ps.add(name+".weight", ch), B: ps.add(name+".bias", ch), groups: groups}
	n.G.NoDecay, n.B.NoDecay = true, true
	optim.Constant(n.G, 1)
	return n
}

func (n norm) fwd(g *Graph, x *Tensor) *Tensor {
	if n.groups > 0 {
		return g.GroupNorm(x, g.Param(n.G), g.Param(n.B), n.groups, 1e-5)
	}
	return g.LayerNorm(x, g.Param(n.G), g.Param(n.B), 1e-5)
}

// conv is a Conv2d, optionally followed by GroupNorm and ReLU (detectron2's
// Conv2d with norm and activation). With a norm there is no conv bias.
type conv struct {
	W, B   *Param
	gn     *norm
	relu   bool
	stride int
	pad    int
}

func newConv(ps *params, name string, in, out, k, stride int, groups int, relu bool) conv {
	c := conv{W: ps.add(name+".weight", out, in, k, k), stride: stride, pad: k / 2, relu: relu}
	// Kaiming-normal (fan_out, ReLU gain), as torchvision's ResNets and
	// detectron2's c2_msra_fill initialise convolutions.
	optim.KaimingNormal(c.W, optim.FanOut, math.Sqrt2, ps.r)
	if groups > 0 {
		n := newNorm(ps, name+".norm", out, groups)
		c.gn = &n
	} else {
		c.B = ps.add(name+".bias", out)
		c.B.NoDecay = true
	}
	return c
}

func (c conv) fwd(g *Graph, x *Tensor) *Tensor {
	var b *Tensor
	if c.B != nil {
		b = g.Param(c.B)
	}
	y := g.Conv2d(x, g.Param(c.W), b, engine.ConvSpec{Stride: c.stride, Pad: c.pad})
	switch n := c.gn; {
	case n != nil && c.relu: // one op, the bits of the pair
		return g.GroupNormReLU(y, g.Param(n.G), g.Param(n.B), n.groups, 1e-5)
	case n != nil:
		y = n.fwd(g, y)
	case c.relu:
		y = g.ReLU(y)
	}
	return y
}

// embedding is nn.Embedding [n, d], initialised N(0, 1) as PyTorch does,
// and exempt from weight decay (the official configs).
func newEmbedding(ps *params, name string, n, d int) *Param {
	p := ps.add(name+".weight", n, d)
	p.NoDecay = true
	optim.Normal(p, 0, 1, ps.r)
	return p
}

// mlp is Mask2Former's MLP: Linear layers with ReLU between them.
type mlp []linear

func newMLP(ps *params, name string, in, hidden, out, layers int) mlp {
	m := make(mlp, layers)
	for i := range m {
		a, b := hidden, hidden
		if i == 0 {
			a = in
		}
		if i == layers-1 {
			b = out
		}
		m[i] = newLinear(ps, fmt.Sprintf("%s.layers.%d", name, i), a, b, initTorch)
	}
	return m
}

func (m mlp) fwd(g *Graph, x *Tensor) *Tensor {
	for i, l := range m {
		x = l.fwd(g, x)
		if i < len(m)-1 {
			x = g.ReLU(x)
		}
	}
	return x
}

// sinePosCache holds the sine encodings computed so far, keyed by shape;
// they are constants, shared read-only by every graph.
var sinePosCache sync.Map // [3]int{h, w, d} → []float32

// sinePosShared is sinePos computed once per shape and shared (read-only:
// the decoder wraps it in a constant tensor, which no op writes).
func sinePosShared(h, w, d int) []float32 {
	key := [3]int{h, w, d}
	if v, ok := sinePosCache.Load(key); ok {
		return v.([]float32)
	}
	v, _ := sinePosCache.LoadOrStore(key, sinePos(h, w, d))
	return v.([]float32)
}

// sinePos is DETR's PositionEmbeddingSine with normalize=True (the one
// Mask2Former uses): for a h×w map and D channels (D/2 per axis, y first),
// with ŷ = y/(h+ε)·2π for y = 1..h (likewise x̂),
//
//	pos[2i]   = sin(ŷ / T^(2i/(D/2))),  pos[2i+1] = cos(ŷ / T^(2i/(D/2))),
//
// T = 10000, then the same for x̂ in channels D/2..D−1. The result is
// [h·w, D] (token-major), a constant.
func sinePos(h, w, d int) []float32 {
	npf := d / 2
	out := make([]float32, h*w*d)
	const eps, scale, temp = 1e-6, 2 * math.Pi, 10000.0
	dimT := make([]float64, npf)
	for i := range dimT {
		dimT[i] = math.Pow(temp, float64(2*(i/2))/float64(npf))
	}
	for y := 0; y < h; y++ {
		ye := float64(y+1) / (float64(h) + eps) * scale
		for x := 0; x < w; x++ {
			xe := float64(x+1) / (float64(w) + eps) * scale
			row := out[(y*w+x)*d:]
			for i := 0; i < npf; i++ {
				vy, vx := ye/dimT[i], xe/dimT[i]
				if i%2 == 0 {
					row[i], row[npf+i] = float32(math.Sin(vy)), float32(math.Sin(vx))
				} else {
					row[i], row[npf+i] = float32(math.Cos(vy)), float32(math.Cos(vx))
				}
			}
		}
	}
	return out
}
