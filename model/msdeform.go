package model

import (
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/model/engine"
	"github.com/mpanalyze/mpanalyze/model/optim"
)

// msDeformDecoder is Mask2Former's MSDeformAttnPixelDecoder (official
// mask2former/modeling/pixel_decoder/msdeformattn.py), the pixel decoder
// of Mask2Former and MP-Former:
//
//  1. input projections: a 1×1 conv (with bias) + GroupNorm of the
//     backbone's stride-32, 16 and 8 features (in that order: the official
//     code reverses res3…res5 into "low to high resolution"), to PixelDim
//     channels;
//  2. a transformer encoder over the three levels' tokens together:
//     MSDeform.Layers layers of self multi-scale deformable attention (each
//     token queries MSDeform.Points points per head on each of the 3
//     levels around its own position) + FFN, post-norm, with the sine
//     positional encoding plus a learnable level embedding added to the
//     queries (MSDeformAttnTransformerEncoderOnly and its layers);
//  3. FPN-style, the encoder's stride-8 output upsampled bilinearly to
//     stride 4 and added to a lateral 1×1 conv + GN of the backbone's
//     stride-4 features, then a 3×3 output conv + GN + ReLU
//     (num_fpn_levels = log2(8) − log2(common stride 4) = 1);
//  4. mask features: a 1×1 conv (with bias) of that stride-4 map.
//
// Its outputs at strides 32, 16, 8 (the encoder's, the masked decoder's
// three levels) and 4 are those of forward_features: multi_scale_features
// are out[0:3], coarse to fine, which the decoder's round-robin visits in
// that order.
//
// Departures from the official code, all of scale: widths are PixelDim
// (official conv_dim 256), the encoder's FFN is MSDeform.FFN (default
// 4·PixelDim; official 1024 = 4·256), GroupNorm has GNGroups groups as
// everywhere in the model (official 32 of 256 channels: 8 channels a
// group, as our 8 of 64). Dropout is 0 (Mask2Former's configs set
// MASK_FORMER.DROPOUT 0.0). There is no padding mask: images are square
// and unpadded, so every valid ratio is 1.
type msDeformDecoder struct {
	cfg        *Config
	inputProj  [3]conv // strides 32, 16, 8
	levelEmbed *Param  // [3, PixelDim]
	layers     []msEncoderLayer
	lateral    conv // stride 4
	output     conv
	maskFeats  conv
	// Constants of the image size: level sizes (strides 32, 16, 8), the
	// sine positional encoding of all tokens [Len, PixelDim] and the
	// reference points [Len, 3, 2].
	sizes [3][2]int
	pos   []float32
	ref   []float32
}

// msEncoderLayer is MSDeformAttnTransformerEncoderLayer: self
// MSDeformAttn, add, LayerNorm, then FFN (ReLU), add, LayerNorm.
type msEncoderLayer struct {
	offsets, attn, value, out linear
	norm1, norm2              norm
	lin1, lin2                linear
}

// newMSDeformDecoder creates the pixel decoder's parameters in the
// official module's registration order (input_proj, transformer: encoder
// layers then level_embed, mask_features, adapter_1, layer_1), each with
// its official initialisation, and its fixed positional encodings and
// reference points.
func newMSDeformDecoder(ps *params, c *Config) *msDeformDecoder {
	d := &msDeformDecoder{cfg: c}
	D, g := c.PixelDim, c.GNGroups
	for i := 0; i < 3; i++ {
		in := c.BackboneWidths[3-i]
		name := fmt.Sprintf("pixel_decoder.input_proj.%d", i)
		// nn.Sequential(Conv2d(in, D, 1), GroupNorm): xavier_uniform_
		// weight, zero bias (MSDeformAttnPixelDecoder.__init__).
		cv := conv{W: ps.add(name+".0.weight", D, in, 1, 1), B: ps.add(name+".0.bias", D), stride: 1}
		cv.B.NoDecay = true
		optim.XavierUniform(cv.W, 1, ps.r)
		n := newNorm(ps, name+".1", D, g)
		cv.gn = &n
		d.inputProj[i] = cv
	}
	for k := 0; k < c.MSDeform.Layers; k++ {
		d.layers = append(d.layers, newMSEncoderLayer(ps, c, k))
	}
	// level_embed is a bare nn.Parameter, normal_ initialised. Unlike the
	// decoder's nn.Embedding level embedding it is not exempt from weight
	// decay in Mask2Former's build_optimizer (which exempts norms and
	// nn.Embedding weights), so it decays here too.
	d.levelEmbed = ps.add("pixel_decoder.transformer.level_embed", 3, D)
	optim.Normal(d.levelEmbed, 0, 1, ps.r)
	d.addOutputConvs(ps, c)
	d.initPositions(c)
	return d
}

// newMSEncoderLayer creates encoder layer k's parameters.
func newMSEncoderLayer(ps *params, c *Config, k int) msEncoderLayer {
	D, ms := c.PixelDim, c.MSDeform
	M, L, P := ms.Heads, 3, ms.Points
	name := fmt.Sprintf("pixel_decoder.transformer.encoder.layers.%d", k)
	l := msEncoderLayer{}
	// MSDeformAttn._reset_parameters: zero offset weights with the
	// grid_init bias, zero attention weights and bias, xavier value and
	// output projections with zero biases.
	l.offsets = linear{W: ps.add(name+".self_attn.sampling_offsets.weight", M*L*P*2, D), B: ps.add(name+".self_attn.sampling_offsets.bias", M*L*P*2)}
	copy(l.offsets.B.Data, msDeformGridInit(M, L, P))
	l.attn = linear{W: ps.add(name+".self_attn.attention_weights.weight", M*L*P, D), B: ps.add(name+".self_attn.attention_weights.bias", M*L*P)}
	l.value = newLinear(ps, name+".self_attn.value_proj", D, D, initXavier)
	l.out = newLinear(ps, name+".self_attn.output_proj", D, D, initXavier)
	l.offsets.B.NoDecay, l.attn.B.NoDecay = true, true
	l.norm1 = newNorm(ps, name+".norm1", D, 0)
	// MSDeformAttnTransformerEncoderOnly._reset_parameters applies
	// xavier_uniform_ to every parameter of 2 or more dims; the FFN
	// biases keep nn.Linear's default U(±1/√fan_in).
	l.lin1 = newXavierLinearTorchBias(ps, name+".linear1", D, ms.FFN)
	l.lin2 = newXavierLinearTorchBias(ps, name+".linear2", ms.FFN, D)
	l.norm2 = newNorm(ps, name+".norm2", D, 0)
	return l
}

// addOutputConvs creates mask_features, adapter_1 and layer_1 with
// detectron2's c2_xavier_fill (kaiming_uniform_ a=1, zero bias).
func (d *msDeformDecoder) addOutputConvs(ps *params, c *Config) {
	D, g := c.PixelDim, c.GNGroups
	d.maskFeats = conv{W: ps.add("pixel_decoder.mask_features.weight", c.MaskDim, D, 1, 1), B: ps.add("pixel_decoder.mask_features.bias", c.MaskDim), stride: 1}
	d.maskFeats.B.NoDecay = true
	optim.KaimingUniform(d.maskFeats.W, optim.FanIn, 1, ps.r)
	d.lateral = conv{W: ps.add("pixel_decoder.adapter_1.weight", D, c.BackboneWidths[0], 1, 1), stride: 1}
	optim.KaimingUniform(d.lateral.W, optim.FanIn, 1, ps.r)
	ln := newNorm(ps, "pixel_decoder.adapter_1.norm", D, g)
	d.lateral.gn = &ln
	d.output = conv{W: ps.add("pixel_decoder.layer_1.weight", D, D, 3, 3), stride: 1, pad: 1, relu: true}
	optim.KaimingUniform(d.output.W, optim.FanIn, 1, ps.r)
	on := newNorm(ps, "pixel_decoder.layer_1.norm", D, g)
	d.output.gn = &on
}

// initPositions sets the three levels' sizes (strides 32, 16, 8), their
// sine positional encodings and the encoder's reference points:
// get_reference_points' pixel centres ((x+½)/w, (y+½)/h), the same point
// on every level (valid ratios 1).
func (d *msDeformDecoder) initPositions(c *Config) {
	const L = 3
	D, S := c.PixelDim, c.ImageSize
	Len := 0
	for i, st := range []int{32, 16, 8} {
		d.sizes[i] = [2]int{S / st, S / st}
		Len += (S / st) * (S / st)
	}
	d.pos = make([]float32, 0, Len*D)
	d.ref = make([]float32, 0, Len*L*2)
	for _, hw := range d.sizes {
		h, w := hw[0], hw[1]
		d.pos = append(d.pos, sinePos(h, w, D)...)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				rx, ry := (float32(x)+0.5)/float32(w), (float32(y)+0.5)/float32(h)
				for l := 0; l < L; l++ {
					d.ref = append(d.ref, rx, ry)
				}
			}
		}
	}
}

// newXavierLinearTorchBias is a Linear with a xavier_uniform_ weight and
// nn.Linear's default bias U(±1/√in).
func newXavierLinearTorchBias(ps *params, name string, in, out int) linear {
	l := linear{W: ps.add(name+".weight", out, in), B: ps.add(name+".bias", out)}
	l.B.NoDecay = true
	optim.XavierUniform(l.W, 1, ps.r)
	b := 1 / math.Sqrt(float64(in))
	optim.Uniform(l.B, -b, b, ps.r)
	return l
}

// msDeformGridInit is the sampling-offset bias of MSDeformAttn's
// _reset_parameters: head m points in direction θ_m = 2πm/M, scaled so
// that the larger of |cos θ|, |sin θ| is 1, and point p of every level
// lies at (p+1) times that (in pixels of the level). Layout [M, L, P, 2].
func msDeformGridInit(M, L, P int) []float32 {
	out := make([]float32, 0, M*L*P*2)
	for m := 0; m < M; m++ {
		// PyTorch computes θ, cos and sin in float32.
		th := float32(m) * float32(2*math.Pi/float64(M))
		cx, cy := float32(math.Cos(float64(th))), float32(math.Sin(float64(th)))
		s := max(float32(math.Abs(float64(cx))), float32(math.Abs(float64(cy))))
		cx, cy = cx/s, cy/s
		for l := 0; l < L; l++ {
			for p := 0; p < P; p++ {
				out = append(out, cx*float32(p+1), cy*float32(p+1))
			}
		}
	}
	return out
}

func (l *msEncoderLayer) weights(g *Graph) engine.MSDeformWeights[float32] {
	return engine.MSDeformWeights[float32]{
		Offsets: g.Param(l.offsets.W), OffsetsB: g.Param(l.offsets.B),
		Attn: g.Param(l.attn.W), AttnB: g.Param(l.attn.B),
		Value: g.Param(l.value.W), ValueB: g.Param(l.value.B),
		Out: g.Param(l.out.W), OutB: g.Param(l.out.B),
	}
}

// Forward implements PixelDecoder (forward_features of the official code).
func (d *msDeformDecoder) Forward(g *Graph, feats [4]*Tensor) (*Tensor, [4]*Tensor) {
	c := d.cfg
	D := c.PixelDim
	levels := make([][2]int, 3)
	var src []*Tensor
	for i := 0; i < 3; i++ {
		x := d.inputProj[i].fwd(g, feats[3-i])
		h, w := x.Dim(2), x.Dim(3)
		if [2]int{h, w} != d.sizes[i] {
			panic(fmt.Sprintf("model: msdeform pixel decoder: level %d is %d×%d, want %v", i, h, w, d.sizes[i]))
		}
		levels[i] = [2]int{h, w}
		src = append(src, g.Permute(g.Reshape(x, D, h*w), 1, 0)) // [h·w, D]
	}
	Len := len(d.pos) / D
	tokens := g.Concat(0, src...) // [Len, D]
	// lvl_pos_embed: sine encoding + level embedding of each token's level
	var pos []*Tensor
	off := 0
	emb := g.Param(d.levelEmbed)
	for i, hw := range levels {
		n := hw[0] * hw[1]
		pos = append(pos, g.Add(g.Const(d.pos[off*D:(off+n)*D], n, D), g.Slice(emb, 0, i, i+1)))
		off += n
	}
	lvlPos := g.Concat(0, pos...)
	ref := g.Const(d.ref, Len, 3, 2)
	for k := range d.layers {
		l := &d.layers[k]
		a := g.MSDeformAttn(g.Add(tokens, lvlPos), tokens, ref, levels, l.weights(g), c.MSDeform.Heads, c.MSDeform.Points)
		tokens = l.norm1.fwd(g, g.Add(tokens, a))
		f := l.lin2.fwd(g, g.ReLU(l.lin1.fwd(g, tokens)))
		tokens = l.norm2.fwd(g, g.Add(tokens, f))
	}
	var out [4]*Tensor
	off = 0
	for i, hw := range levels {
		n := hw[0] * hw[1]
		y := g.Slice(tokens, 0, off, off+n) // [h·w, D]
		out[i] = g.Reshape(g.Permute(y, 1, 0), 1, D, hw[0], hw[1])
		off += n
	}
	lat := d.lateral.fwd(g, feats[0])
	up := g.ResizeBilinear(out[2], lat.Dim(2), lat.Dim(3))
	out[3] = d.output.fwd(g, g.Add(lat, up))
	return d.maskFeats.fwd(g, out[3]), out
}
