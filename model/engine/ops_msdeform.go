package engine

import (
	"fmt"
	"math"
)

// Multi-scale deformable attention (Deformable DETR, Zhu et al. 2021), the
// attention of Mask2Former's pixel decoder. Each query looks at a few
// points per head and feature level, placed by offsets it predicts around
// its reference point, and takes a weighted sum of the bilinearly sampled
// values there. Two ops:
//
//   - MSDeformSample is the sampling core, ms_deform_attn_core_pytorch of
//     the official code (Mask2Former mask2former/modeling/pixel_decoder/ops/
//     functions/ms_deform_attn_func.py, the function of that name), with its
//     backward written out;
//   - MSDeformAttn is the module (ops/modules/ms_deform_attn.py,
//     MSDeformAttn.forward) composed of Linear, Softmax, the location
//     arithmetic and MSDeformSample, for one image and 2-d reference points.

// MSDeformSample samples value at the given locations and sums the samples
// with the attention weights, per head:
//
//	out[q, m·Dh + c] = Σ_l Σ_p attn[q, m, l, p] · bilinear(V_l[·, m, c], loc[q, m, l, p])
//
// value is [Len, M, Dh]: the M heads' values of every location of every
// level, levels concatenated in order and each level row-major over its
// levels[l] = {H_l, W_l} (Len = Σ H_l·W_l). loc is [Lq, M, L, P, 2]:
// normalised (x, y) sampling locations, (0, 0) the top-left corner of a
// level and (1, 1) its bottom-right one. attn is [Lq, M, L, P]. The result
// is [Lq, M·Dh].
//
// Sampling is F.grid_sample(mode="bilinear", padding_mode="zeros",
// align_corners=False) at grid 2·loc − 1, as the official reference does:
// pixel coordinates are x̃ = x·W_l − ½, ỹ = y·H_l − ½ (pixel centres at
// integers), the four taps ⌊x̃⌋, ⌊x̃⌋+1 × ⌊ỹ⌋, ⌊ỹ⌋+1 weigh (1−a)(1−b) …
// with a = x̃ − ⌊x̃⌋, b = ỹ − ⌊ỹ⌋, and taps outside the map read 0. A
// location more than a pixel outside the map samples 0.
//
// Backward, for one sample with output gradient G (Dh values), taps v_ij
// (i: row ⌊ỹ⌋+i, j: column ⌊x̃⌋+j; zero outside) and weight α = attn:
//
//	dvalue[tap ij] += α·w_ij·G
//	dattn          = G·s, s = Σ w_ij v_ij the sampled value
//	dloc_x         = α·W_l·G·((1−b)(v01 − v00) + b(v11 − v10))
//	dloc_y         = α·H_l·G·((1−a)(v10 − v00) + a(v11 − v01))
//
// Bilinear sampling is not differentiable in the location where x̃ or ỹ is
// an integer (a pixel centre, or −1 or W_l at the edge of the zero
// padding); there, like PyTorch's grid_sampler_2d_backward, the formula
// gives the derivative from the right (the cell ⌊x̃⌋ … ⌊x̃⌋+1).
func (g *Graph[T]) MSDeformSample(value *Tensor[T], levels [][2]int, loc, attn *Tensor[T]) *Tensor[T] {
	if value.Dims() != 3 || loc.Dims() != 5 || attn.Dims() != 4 || loc.Shape[4] != 2 ||
		!sameShape(loc.Shape[:4], attn.Shape) || loc.Shape[1] != value.Shape[1] || loc.Shape[2] != len(levels) {
		shapePanic("MSDeformSample", value.Shape, loc.Shape, attn.Shape)
	}
	Len, M, Dh := value.Shape[0], value.Shape[1], value.Shape[2]
	Lq, L, P := loc.Shape[0], loc.Shape[2], loc.Shape[3]
	start := make([]int, L+1)
	for l, hw := range levels {
		if hw[0] <= 0 || hw[1] <= 0 {
			panic(fmt.Sprintf("engine: MSDeformSample: level %d is %d×%d", l, hw[0], hw[1]))
		}
		start[l+1] = start[l] + hw[0]*hw[1]
	}
	if start[L] != Len {
		panic(fmt.Sprintf("engine: MSDeformSample: value has %d locations, the levels %v have %d", Len, levels, start[L]))
	}
	out := g.newZero([]int{Lq, M * Dh}, g.needs(value, loc, attn))
	V, X, A, O := value.Data, loc.Data, attn.Data, out.Data
	stride := M * Dh // between consecutive locations of value
	for q := 0; q < Lq; q++ {
		for m := 0; m < M; m++ {
			o := O[q*stride+m*Dh : q*stride+(m+1)*Dh]
			for l := 0; l < L; l++ {
				H, W := levels[l][0], levels[l][1]
				base := start[l]*stride + m*Dh
				for p := 0; p < P; p++ {
					s := ((q*M+m)*L+l)*P + p
					t := newTaps[T](X[2*s], X[2*s+1], H, W)
					a := A[s]
					for k := 0; k < 4; k++ {
						if t.idx[k] < 0 {
							continue
						}
						wk := a * t.w[k]
						v := V[base+t.idx[k]*stride : base+t.idx[k]*stride+Dh]
						for c, vc := range v {
							o[c] += wk * vc
						}
					}
				}
			}
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dV, dX, dA := g.gradIf(value), g.gradIf(loc), g.gradIf(attn)
			G := out.Grad
			for q := 0; q < Lq; q++ {
				for m := 0; m < M; m++ {
					gq := G[q*stride+m*Dh : q*stride+(m+1)*Dh]
					for l := 0; l < L; l++ {
						H, W := levels[l][0], levels[l][1]
						base := start[l]*stride + m*Dh
						for p := 0; p < P; p++ {
							s := ((q*M+m)*L+l)*P + p
							t := newTaps[T](X[2*s], X[2*s+1], H, W)
							a := A[s]
							// d[k] = G·v_k for the four taps (0 outside the map)
							var d [4]T
							for k := 0; k < 4; k++ {
								if t.idx[k] < 0 {
									continue
								}
								off := base + t.idx[k]*stride
								if dV != nil {
									wk := a * t.w[k]
									dv := dV[off : off+Dh]
									for c, gc := range gq {
										dv[c] += wk * gc
									}
								}
								if dX != nil || dA != nil {
									var dot T
									for c, vc := range V[off : off+Dh] {
										dot += gq[c] * vc
									}
									d[k] = dot
								}
							}
							if dA != nil {
								dA[s] += t.w[0]*d[0] + t.w[1]*d[1] + t.w[2]*d[2] + t.w[3]*d[3]
							}
							if dX != nil {
								// taps: 0 = (y0, x0), 1 = (y0, x0+1), 2 = (y0+1, x0), 3 = (y0+1, x0+1)
								dX[2*s] += a * T(W) * ((1-t.b)*(d[1]-d[0]) + t.b*(d[3]-d[2]))
								dX[2*s+1] += a * T(H) * ((1-t.a)*(d[2]-d[0]) + t.a*(d[3]-d[1]))
							}
						}
					}
				}
			}
		})
	}
	return out
}

// taps are the four bilinear taps of one sampling location: the flat
// index y·W + x within the level (−1 for a tap outside the map), the
// weights, and the fractional parts a (x) and b (y).
type taps[T Float] struct {
	idx  [4]int
	w    [4]T
	a, b T
}

// newTaps places the normalised location (x, y) on an H×W map with
// grid_sample's align_corners=False rule (pixel coordinate x·W − ½). The
// coordinates are computed in float64; the weights are rounded to T once.
func newTaps[T Float](x, y T, H, W int) taps[T] {
	fx := float64(x)*float64(W) - 0.5
	fy := float64(y)*float64(H) - 0.5
	var t taps[T]
	// Beyond the outermost taps (or NaN) every tap is padding; this also
	// keeps the int conversions below in range.
	if !(fx >= -1 && fx <= float64(W) && fy >= -1 && fy <= float64(H)) {
		t.idx = [4]int{-1, -1, -1, -1}
		return t
	}
	x0f, y0f := math.Floor(fx), math.Floor(fy)
	x0, y0 := int(x0f), int(y0f)
	a, b := fx-x0f, fy-y0f
	t.a, t.b = T(a), T(b)
	t.w = [4]T{T((1 - a) * (1 - b)), T(a * (1 - b)), T((1 - a) * b), T(a * b)}
	for k := 0; k < 4; k++ {
		yy, xx := y0+k/2, x0+k%2
		if yy < 0 || yy >= H || xx < 0 || xx >= W {
			t.idx[k] = -1
		} else {
			t.idx[k] = yy*W + xx
		}
	}
	return t
}

// MSDeformWeights are the four linear layers of an MSDeformAttn module
// (PyTorch layout W [out, in], b [out]): sampling offsets [M·L·P·2, D],
// attention weights [M·L·P, D], value projection [D, D] and output
// projection [D, D].
type MSDeformWeights[T Float] struct {
	Offsets, OffsetsB, Attn, AttnB, Value, ValueB, Out, OutB *Tensor[T]
}

// MSDeformAttn is Deformable DETR's MSDeformAttn module for one image, with
// 2-d reference points and no padding mask (MSDeformAttn.forward of the
// official code):
//
//	value = input·Wvᵀ + bv                         → [Len, M, D/M]
//	off   = query·Woffᵀ + boff                     → [Lq, M, L, P, 2]
//	attn  = softmax over L·P of query·Waᵀ + ba     → [Lq, M, L, P]
//	loc   = ref[q, l] + off / (W_l, H_l)
//	out   = MSDeformSample(value, levels, loc, attn)·Woutᵀ + bout
//
// query is [Lq, D] (the encoder passes features + positional embedding),
// input [Len, D] the features of all levels (see MSDeformSample for the
// layout), ref [Lq, L, 2] the normalised (x, y) reference point of each
// query on each level. heads and points are M and P; L is len(levels).
// The result is [Lq, D]. Gradients flow through the composed ops; ref
// receives one when it requires it.
func (g *Graph[T]) MSDeformAttn(query, input, ref *Tensor[T], levels [][2]int, w MSDeformWeights[T], heads, points int) *Tensor[T] {
	L := len(levels)
	if query.Dims() != 2 || input.Dims() != 2 || query.Shape[1] != input.Shape[1] || ref.Dims() != 3 ||
		ref.Shape[0] != query.Shape[0] || ref.Shape[1] != L || ref.Shape[2] != 2 {
		shapePanic("MSDeformAttn", query.Shape, input.Shape, ref.Shape)
	}
	Lq, D := query.Shape[0], query.Shape[1]
	Len := input.Shape[0]
	if heads <= 0 || points <= 0 || D%heads != 0 {
		panic(fmt.Sprintf("engine: MSDeformAttn: width %d, %d heads, %d points", D, heads, points))
	}
	M, P := heads, points
	value := g.Reshape(g.Linear(input, w.Value, w.ValueB), Len, M, D/M)
	off := g.Reshape(g.Linear(query, w.Offsets, w.OffsetsB), Lq, M, L, P, 2)
	logits := g.Reshape(g.Linear(query, w.Attn, w.AttnB), Lq, M, L*P)
	attn := g.Reshape(g.Softmax(logits, nil, nil), Lq, M, L, P)
	// offset_normalizer (W_l, H_l): offsets are in pixels of each level
	norm := make([]T, 2*L)
	for l, hw := range levels {
		norm[2*l], norm[2*l+1] = T(hw[1]), T(hw[0])
	}
	loc := g.Add(g.Reshape(ref, Lq, 1, L, 1, 2), g.Div(off, g.Const(norm, L, 1, 2)))
	sampled := g.MSDeformSample(value, levels, loc, attn)
	return g.Linear(sampled, w.Out, w.OutB)
}
