package model

import "fmt"

// backbone is a small residual network with GroupNorm: a stride-4 stem
// (two 3×3 stride-2 convolutions) and four stages at strides 4, 8, 16, 32.
// Stages 2–4 start with a 3×3 stride-2 convolution; every stage then has
// BackboneBlocks basic residual blocks (3×3 conv–GN–ReLU–3×3 conv–GN, add,
// ReLU), as a ResNet-18 scaled down.
type backbone struct {
	stem1, stem2 conv
	down         [4]*conv
	blocks       [4][]resBlock
}

type resBlock struct{ c1, c2 conv }

func newBackbone(ps *params, c *Config) *backbone {
	b := &backbone{}
	w := c.BackboneWidths
	g := c.GNGroups
	b.stem1 = newConv(ps, "backbone.stem.conv1", 3, w[0]/2, 3, 2, g/2, true)
	b.stem2 = newConv(ps, "backbone.stem.conv2", w[0]/2, w[0], 3, 2, g, true)
	for s := 0; s < 4; s++ {
		if s > 0 {
			d := newConv(ps, fmt.Sprintf("backbone.res%d.down", s+2), w[s-1], w[s], 3, 2, g, true)
			b.down[s] = &d
		}
		for k := 0; k < c.BackboneBlocks[s]; k++ {
			name := fmt.Sprintf("backbone.res%d.%d", s+2, k)
			b.blocks[s] = append(b.blocks[s], resBlock{
				c1: newConv(ps, name+".conv1", w[s], w[s], 3, 1, g, true),
				c2: newConv(ps, name+".conv2", w[s], w[s], 3, 1, g, false),
			})
		}
	}
	return b
}

// fwd maps an image [1, 3, S, S] to features at strides 4, 8, 16, 32.
func (b *backbone) fwd(g *Graph, x *Tensor) [4]*Tensor {
	var out [4]*Tensor
	x = b.stem2.fwd(g, b.stem1.fwd(g, x))
	for s := 0; s < 4; s++ {
		if b.down[s] != nil {
			x = b.down[s].fwd(g, x)
		}
		for _, blk := range b.blocks[s] {
			x = g.ReLU(g.Add(x, blk.c2.fwd(g, blk.c1.fwd(g, x))))
		}
		out[s] = x
	}
	return out
}

// PixelDecoder turns backbone features into per-pixel mask features at
// stride 4 and the multi-scale features the transformer decoder attends
// to: the FPN below or Mask2Former's MSDeformAttn pixel decoder
// (msdeform.go), chosen by Config.PixelDecoder.
type PixelDecoder interface {
	// Forward returns mask features [1, MaskDim, S/4, S/4] and the
	// multi-scale outputs [1, PixelDim, h, w] at strides 32, 16, 8 and 4,
	// in that order; the decoder attends to the three Config.LevelStrides.
	Forward(g *Graph, feats [4]*Tensor) (maskFeatures *Tensor, levels [4]*Tensor)
}

// fpn is MaskFormer's BasePixelDecoder: a 3×3 conv on the stride-32
// features, then top-down: lateral 1×1 conv (GN) + 2× nearest upsampling
// of the coarser output, 3×3 output conv (GN, ReLU); mask features are a
// 3×3 conv of the stride-4 output to MaskDim channels.
type fpn struct {
	top       conv
	lateral   [3]conv // strides 4, 8, 16
	output    [3]conv
	maskFeats conv
}

func newFPN(ps *params, c *Config) *fpn {
	f := &fpn{}
	d, g := c.PixelDim, c.GNGroups
	f.top = newConv(ps, "pixel_decoder.layer_4", c.BackboneWidths[3], d, 3, 1, g, true)
	for i := 0; i < 3; i++ {
		f.lateral[i] = newConv(ps, fmt.Sprintf("pixel_decoder.adapter_%d", i+1), c.BackboneWidths[i], d, 1, 1, g, false)
		f.output[i] = newConv(ps, fmt.Sprintf("pixel_decoder.layer_%d", i+1), d, d, 3, 1, g, true)
	}
	f.maskFeats = newConv(ps, "pixel_decoder.mask_features", d, c.MaskDim, 3, 1, 0, false)
	return f
}

func (f *fpn) Forward(g *Graph, feats [4]*Tensor) (*Tensor, [4]*Tensor) {
	y := f.top.fwd(g, feats[3])
	var levels [4]*Tensor
	levels[0] = y // stride 32
	for i := 2; i >= 0; i-- {
		lat := f.lateral[i].fwd(g, feats[i])
		up := g.ResizeNearest(y, lat.Dim(2), lat.Dim(3))
		y = f.output[i].fwd(g, g.Add(lat, up))
		levels[3-i] = y // i=2 → stride 16, 1 → 8, 0 → 4
	}
	return f.maskFeats.fwd(g, y), levels
}

// pick returns the decoder's three levels among the pixel decoder's
// outputs at strides 32, 16, 8, 4.
func pickLevels(all [4]*Tensor, strides [3]int) [3]*Tensor {
	var out [3]*Tensor
	for i, s := range strides {
		switch s {
		case 32:
			out[i] = all[0]
		case 16:
			out[i] = all[1]
		case 8:
			out[i] = all[2]
		case 4:
			out[i] = all[3]
		}
	}
	return out
}
