package engine

import "fmt"

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
	k := msGeom{Lq: loc.Shape[0], M: M, L: loc.Shape[2], P: loc.Shape[3], Dh: Dh, stride: M * Dh, levels: levels}
	k.start = make([]int, k.L+1)
	for l, hw := range levels {
		if hw[0] <= 0 || hw[1] <= 0 {
			panic(fmt.Sprintf("engine: MSDeformSample: level %d is %d×%d", l, hw[0], hw[1]))
		}
		k.start[l+1] = k.start[l] + hw[0]*hw[1]
	}
	if k.start[k.L] != Len {
		panic(fmt.Sprintf("engine: MSDeformSample: value has %d locations, the levels %v have %d", Len, levels, k.start[k.L]))
	}
	out := g.newZero([]int{k.Lq, M * Dh}, g.needs(value, loc, attn))
	msDeformForward(k, value.Data, loc.Data, attn.Data, out.Data)
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			msDeformBackward(k, value.Data, loc.Data, attn.Data, out.Grad, g.gradIf(value), g.gradIf(loc), g.gradIf(attn))
		})
	}
	return out
}

// msGeom is the geometry of one MSDeformSample call: Lq queries, M heads,
// L levels (levels[l] = {H, W}, starting at location start[l] of value),
// P points, Dh channels per head; stride separates consecutive locations
// of value.
type msGeom struct {
	Lq, M, L, P, Dh, stride int
	levels                  [][2]int
	start                   []int
}

// msDeformForward adds to O [Lq, M·Dh] every sample's attention-weighted
// bilinear interpolation of V (taps outside the map read 0).
func msDeformForward[T Float](k msGeom, V, X, A, O []T) {
	Dh, stride := k.Dh, k.stride
	for q := 0; q < k.Lq; q++ {
		for m := 0; m < k.M; m++ {
			o := O[q*stride+m*Dh : q*stride+(m+1)*Dh]
			for l := 0; l < k.L; l++ {
				H, W := k.levels[l][0], k.levels[l][1]
				base := k.start[l]*stride + m*Dh
				for p := 0; p < k.P; p++ {
					s := ((q*k.M+m)*k.L+l)*k.P + p
					c, ok := bilinearCell(X[2*s], X[2*s+1], H, W)
					if !ok {
						continue
					}
					a := A[s]
					w := c.weights()
					off := base + (c.y0*W+c.x0)*stride
					if c.y0 >= 0 && c.y0 < H {
						if c.x0 >= 0 && c.x0 < W {
							axpy(o, a*T(w[0]), V[off:off+Dh])
						}
						if c.x0+1 < W {
							axpy(o, a*T(w[1]), V[off+stride:off+stride+Dh])
						}
					}
					if c.y0+1 < H {
						off += W * stride
						if c.x0 >= 0 && c.x0 < W {
							axpy(o, a*T(w[2]), V[off:off+Dh])
						}
						if c.x0+1 < W {
							axpy(o, a*T(w[3]), V[off+stride:off+stride+Dh])
						}
					}
				}
			}
		}
	}
}

// msDeformBackward adds the output gradient G's share to dV, dX and dA
// (each skipped when nil), by the formulas of MSDeformSample's doc.
func msDeformBackward[T Float](k msGeom, V, X, A, G, dV, dX, dA []T) {
	Dh, stride := k.Dh, k.stride
	for q := 0; q < k.Lq; q++ {
		for m := 0; m < k.M; m++ {
			gq := G[q*stride+m*Dh : q*stride+(m+1)*Dh]
			for l := 0; l < k.L; l++ {
				H, W := k.levels[l][0], k.levels[l][1]
				base := k.start[l]*stride + m*Dh
				for p := 0; p < k.P; p++ {
					s := ((q*k.M+m)*k.L+l)*k.P + p
					c, ok := bilinearCell(X[2*s], X[2*s+1], H, W)
					if !ok {
						continue
					}
					a := A[s]
					w := c.weights()
					// taps k: 0 = (y0, x0), 1 = (y0, x0+1), 2 = (y0+1, x0),
					// 3 = (y0+1, x0+1); d[k] = G·v_k (0 outside the map)
					var d [4]T
					in := [4]bool{c.y0 >= 0 && c.y0 < H && c.x0 >= 0 && c.x0 < W, c.y0 >= 0 && c.y0 < H && c.x0+1 < W,
						c.y0+1 < H && c.x0 >= 0 && c.x0 < W, c.y0+1 < H && c.x0+1 < W}
					off := base + (c.y0*W+c.x0)*stride
					for t, offT := range [4]int{off, off + stride, off + W*stride, off + (W+1)*stride} {
						if !in[t] {
							continue
						}
						if dV != nil {
							d[t] = axpyDot(dV[offT:offT+Dh], a*T(w[t]), gq, V[offT:offT+Dh])
						} else {
							d[t] = dot(gq, V[offT:offT+Dh])
						}
					}
					if dA != nil {
						dA[s] += T(w[0])*d[0] + T(w[1])*d[1] + T(w[2])*d[2] + T(w[3])*d[3]
					}
					if dX != nil {
						fa, fb := T(c.a), T(c.b)
						dX[2*s] += a * T(W) * ((1-fb)*(d[1]-d[0]) + fb*(d[3]-d[2]))
						dX[2*s+1] += a * T(H) * ((1-fa)*(d[2]-d[0]) + fa*(d[3]-d[1]))
					}
				}
			}
		}
	}
}

// cell is the bilinear cell of a sampling location: the top-left tap
// (x0, y0) in pixels, −1 … W and −1 … H, and the fractional parts a, b
// of the pixel coordinates x̃ = x0 + a, ỹ = y0 + b.
type cell struct {
	x0, y0 int
	a, b   float64
}

// bilinearCell places the normalised location (x, y) on an H×W map with
// grid_sample's align_corners=False rule, x̃ = x·W − ½, computed in
// float64 (the official CUDA kernel computes loc_w * spatial_w - 0.5 in
// float32, ms_deform_im2col_cuda.cuh). ok is false when every tap is outside the map (x̃ < −1 or
// x̃ > W, likewise ỹ, or NaN); this also keeps the int conversions in
// range.
func bilinearCell[T Float](x, y T, H, W int) (c cell, ok bool) {
	fx := float64(x)*float64(W) - 0.5
	fy := float64(y)*float64(H) - 0.5
	if !(fx >= -1 && fx <= float64(W) && fy >= -1 && fy <= float64(H)) {
		return c, false
	}
	// fx + 1 ≥ 0, so truncation is the floor
	c.x0, c.y0 = int(fx+1)-1, int(fy+1)-1
	c.a, c.b = fx-float64(c.x0), fy-float64(c.y0)
	return c, true
}

// weights are the bilinear weights of the taps (y0, x0), (y0, x0+1),
// (y0+1, x0), (y0+1, x0+1).
func (c cell) weights() [4]float64 {
	return [4]float64{(1 - c.a) * (1 - c.b), c.a * (1 - c.b), (1 - c.a) * c.b, c.a * c.b}
}

// axpyDot adds w·g to dv and returns g·v (all of g's length).
func axpyDot[T Float](dv []T, w T, g, v []T) T {
	dv, v = dv[:len(g)], v[:len(g)]
	var s T
	for i, gi := range g {
		dv[i] += w * gi
		s += gi * v[i]
	}
	return s
}

// dot returns a·b over a's length.
func dot[T Float](a, b []T) T {
	b = b[:len(a)]
	var s T
	for i, x := range a {
		s += x * b[i]
	}
	return s
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
	loc := g.msDeformLocations(ref, off, levels)
	sampled := g.MSDeformSample(value, levels, loc, attn)
	return g.Linear(sampled, w.Out, w.OutB)
}

// msDeformLocations returns the sampling locations of MSDeformAttn,
//
//	loc[q, m, l, p] = ref[q, l] + off[q, m, l, p] / (W_l, H_l),
//
// for ref [Lq, L, 2] and off [Lq, M, L, P, 2] (offsets in pixels of each
// level, offset_normalizer in the official code); the division is the
// same IEEE division as PyTorch's. It is Add(ref, Div(off, normaliser))
// with the broadcasting written out. Backward: doff = dloc / (W_l, H_l),
// dref[q, l] = Σ_{m,p} dloc[q, m, l, p].
func (g *Graph[T]) msDeformLocations(ref, off *Tensor[T], levels [][2]int) *Tensor[T] {
	L := len(levels)
	if off.Dims() != 5 || off.Shape[2] != L || off.Shape[4] != 2 || ref.Dims() != 3 || ref.Shape[0] != off.Shape[0] ||
		ref.Shape[1] != L || ref.Shape[2] != 2 {
		shapePanic("msDeformLocations", ref.Shape, off.Shape)
	}
	Lq, M, P := off.Shape[0], off.Shape[1], off.Shape[3]
	out := g.newTensor(off.Shape, g.needs(ref, off))
	O, R, F := out.Data, ref.Data, off.Data
	for q := 0; q < Lq; q++ {
		for m := 0; m < M; m++ {
			for l, hw := range levels {
				rx, ry := R[(q*L+l)*2], R[(q*L+l)*2+1]
				W, H := T(hw[1]), T(hw[0])
				i := ((q*M+m)*L + l) * P * 2
				for p := 0; p < P; p++ {
					O[i+2*p] = rx + F[i+2*p]/W
					O[i+2*p+1] = ry + F[i+2*p+1]/H
				}
			}
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dR, dF, G := g.gradIf(ref), g.gradIf(off), out.Grad
			for q := 0; q < Lq; q++ {
				for m := 0; m < M; m++ {
					for l, hw := range levels {
						W, H := T(hw[1]), T(hw[0])
						i := ((q*M+m)*L + l) * P * 2
						var sx, sy T
						for p := 0; p < P; p++ {
							gx, gy := G[i+2*p], G[i+2*p+1]
							if dF != nil {
								dF[i+2*p] += gx / W
								dF[i+2*p+1] += gy / H
							}
							sx += gx
							sy += gy
						}
						if dR != nil {
							dR[(q*L+l)*2] += sx
							dR[(q*L+l)*2+1] += sy
						}
					}
				}
			}
		})
	}
	return out
}
