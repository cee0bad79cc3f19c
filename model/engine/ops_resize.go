package engine

import "math"

// linearTaps gives, for each output index, the two source indices and the
// weight of the second one, following PyTorch's align_corners=False rule:
// src = max(0, (dst + ½)·in/out − ½), i0 = ⌊src⌋, i1 = min(i0+1, in−1).
func linearTaps(in, out int) (i0, i1 []int, w1 []float64) {
	i0, i1, w1 = make([]int, out), make([]int, out), make([]float64, out)
	scale := float64(in) / float64(out)
	for d := 0; d < out; d++ {
		src := scale*(float64(d)+0.5) - 0.5
		if src < 0 {
			src = 0
		}
		a := int(src)
		if a > in-1 {
			a = in - 1
		}
		b := a
		if a < in-1 {
			b = a + 1
		}
		i0[d], i1[d], w1[d] = a, b, src-float64(a)
	}
	return
}

// nearestTaps gives PyTorch's legacy "nearest" source index for each
// output index: min(⌊dst·(in/out)⌋, in−1), computed in float32 as PyTorch
// does so that the rounding of edge cases agrees.
// doubling reports whether nearest taps are 0, 0, 1, 1, …: an output
// twice the input's length.
func doubling(taps []int) bool {
	if len(taps)%2 != 0 {
		return false
	}
	for i, t := range taps {
		if t != i/2 {
			return false
		}
	}
	return true
}

func nearestTaps(in, out int) []int {
	idx := make([]int, out)
	scale := float32(in) / float32(out)
	for d := range idx {
		idx[d] = min(int(float32(math.Floor(float64(float32(d)*scale)))), in-1)
	}
	return idx
}

// ResizeBilinear resizes the last two dims of x [..., H, W] to oh×ow by
// bilinear interpolation with align_corners=False (F.interpolate's
// default). Backward: each output gradient is spread back to its four
// source pixels with the forward weights.
func (g *Graph[T]) ResizeBilinear(x *Tensor[T], oh, ow int) *Tensor[T] {
	if x.Dims() < 2 {
		shapePanic("ResizeBilinear", x.Shape)
	}
	H, W := x.Dim(-2), x.Dim(-1)
	planes := len(x.Data) / (H * W)
	shape := append(append([]int(nil), x.Shape[:x.Dims()-2]...), oh, ow)
	out := g.newTensor(shape, g.needs(x))
	y0, y1, wy := linearTaps(H, oh)
	x0, x1, wx := linearTaps(W, ow)
	for p := 0; p < planes; p++ {
		bilinearPlane(out.Data[p*oh*ow:(p+1)*oh*ow], x.Data[p*H*W:(p+1)*H*W], W, oh, ow, y0, y1, wy, x0, x1, wx)
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dx := g.grad(x)
			for p := 0; p < planes; p++ {
				gp := out.Grad[p*oh*ow : (p+1)*oh*ow]
				dp := dx[p*H*W : (p+1)*H*W]
				for i := 0; i < oh; i++ {
					ly1 := wy[i]
					ly0 := 1 - ly1
					for j := 0; j < ow; j++ {
						lx1 := wx[j]
						lx0 := 1 - lx1
						gv := float64(gp[i*ow+j])
						dp[y0[i]*W+x0[j]] += T(gv * ly0 * lx0)
						dp[y0[i]*W+x1[j]] += T(gv * ly0 * lx1)
						dp[y1[i]*W+x0[j]] += T(gv * ly1 * lx0)
						dp[y1[i]*W+x1[j]] += T(gv * ly1 * lx1)
					}
				}
			}
		})
	}
	return out
}

func bilinearPlane[T Float](dst, src []T, W, oh, ow int, y0, y1 []int, wy []float64, x0, x1 []int, wx []float64) {
	for i := 0; i < oh; i++ {
		ly1 := wy[i]
		ly0 := 1 - ly1
		r0, r1 := src[y0[i]*W:], src[y1[i]*W:]
		for j := 0; j < ow; j++ {
			lx1 := wx[j]
			lx0 := 1 - lx1
			v := ly0*(lx0*float64(r0[x0[j]])+lx1*float64(r0[x1[j]])) +
				ly1*(lx0*float64(r1[x0[j]])+lx1*float64(r1[x1[j]]))
			dst[i*ow+j] = T(v)
		}
	}
}

// ResizeNearest resizes the last two dims of x [..., H, W] to oh×ow with
// PyTorch's legacy "nearest" rule. Backward: gradients add up at the source
// pixel each output copied.
func (g *Graph[T]) ResizeNearest(x *Tensor[T], oh, ow int) *Tensor[T] {
	if x.Dims() < 2 {
		shapePanic("ResizeNearest", x.Shape)
	}
	H, W := x.Dim(-2), x.Dim(-1)
	planes := len(x.Data) / (H * W)
	shape := append(append([]int(nil), x.Shape[:x.Dims()-2]...), oh, ow)
	out := g.newTensor(shape, g.needs(x))
	ys, xs := nearestTaps(H, oh), nearestTaps(W, ow)
	// twice: each input element fills a 2×2 block (the FPN's upsampling),
	// copied and added block by block below; the same values, and each
	// gradient element gets its four additions in the general loop's order
	twice := doubling(ys) && doubling(xs)
	for p := 0; p < planes; p++ {
		dp, sp := out.Data[p*oh*ow:], x.Data[p*H*W:]
		if twice {
			for sy := 0; sy < H; sy++ {
				d0 := dp[2*sy*ow : (2*sy+1)*ow]
				for sx, v := range sp[sy*W : (sy+1)*W] {
					d0[2*sx], d0[2*sx+1] = v, v
				}
				copy(dp[(2*sy+1)*ow:(2*sy+2)*ow], d0)
			}
			continue
		}
		for i, sy := range ys {
			for j, sx := range xs {
				dp[i*ow+j] = sp[sy*W+sx]
			}
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dx := g.grad(x)
			if twice {
				for p := 0; p < planes; p++ {
					gp, dp := out.Grad[p*oh*ow:(p+1)*oh*ow], dx[p*H*W:(p+1)*H*W]
					for sy := 0; sy < H; sy++ {
						g0, g1 := gp[2*sy*ow:(2*sy+1)*ow], gp[(2*sy+1)*ow:(2*sy+2)*ow]
						d := dp[sy*W : (sy+1)*W]
						for sx := range d {
							// rows 2sy then 2sy+1, columns 2sx then 2sx+1
							v := d[sx]
							v += g0[2*sx]
							v += g0[2*sx+1]
							v += g1[2*sx]
							v += g1[2*sx+1]
							d[sx] = v
						}
					}
				}
				return
			}
			for p := 0; p < planes; p++ {
				gp, dp := out.Grad[p*oh*ow:], dx[p*H*W:]
				for i, sy := range ys {
					for j, sx := range xs {
						dp[sy*W+sx] += gp[i*ow+j]
					}
				}
			}
		})
	}
	return out
}

// BilinearResize resizes planes [planes, H, W] in src to [planes, oh, ow]
// in dst outside any graph (attention masks, which carry no gradient).
// Same rule as ResizeBilinear.
func BilinearResize[T Float](dst, src []T, planes, H, W, oh, ow int) {
	checkLen("BilinearResize", "src", len(src), planes*H*W)
	checkLen("BilinearResize", "dst", len(dst), planes*oh*ow)
	y0, y1, wy := linearTaps(H, oh)
	x0, x1, wx := linearTaps(W, ow)
	for p := 0; p < planes; p++ {
		bilinearPlane(dst[p*oh*ow:(p+1)*oh*ow], src[p*H*W:(p+1)*H*W], W, oh, ow, y0, y1, wy, x0, x1, wx)
	}
}

// PointSample samples x [R, H, W] at P points given as normalised (x, y)
// pairs in [0, 1] (points has 2P entries), bilinearly with zero padding,
// as detectron2's point_sample (grid_sample with align_corners=False):
// pixel coordinates are p·size − ½. The result is [R, P].
// Backward: each sample's gradient goes to its four taps.
func (g *Graph[T]) PointSample(x *Tensor[T], points []T) *Tensor[T] {
	if x.Dims() != 3 || len(points)%2 != 0 {
		shapePanic("PointSample", x.Shape, []int{len(points)})
	}
	R, H, W := x.Shape[0], x.Shape[1], x.Shape[2]
	P := len(points) / 2
	type tap struct {
		idx [4]int
		w   [4]T
	}
	taps := make([]tap, P)
	for p := 0; p < P; p++ {
		fx := float64(points[2*p])*float64(W) - 0.5
		fy := float64(points[2*p+1])*float64(H) - 0.5
		ix0, iy0 := int(math.Floor(fx)), int(math.Floor(fy))
		ax, ay := fx-float64(ix0), fy-float64(iy0)
		k := 0
		for dy := 0; dy < 2; dy++ {
			for dx := 0; dx < 2; dx++ {
				yy, xx := iy0+dy, ix0+dx
				wgt := (1 - ay + float64(dy)*(2*ay-1)) * (1 - ax + float64(dx)*(2*ax-1))
				if yy < 0 || yy >= H || xx < 0 || xx >= W {
					taps[p].idx[k], taps[p].w[k] = 0, 0
				} else {
					taps[p].idx[k], taps[p].w[k] = yy*W+xx, T(wgt)
				}
				k++
			}
		}
	}
	out := g.newTensor([]int{R, P}, g.needs(x))
	for r := 0; r < R; r++ {
		xr := x.Data[r*H*W : (r+1)*H*W]
		or := out.Data[r*P : (r+1)*P]
		for p := range taps {
			t := &taps[p]
			or[p] = t.w[0]*xr[t.idx[0]] + t.w[1]*xr[t.idx[1]] + t.w[2]*xr[t.idx[2]] + t.w[3]*xr[t.idx[3]]
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dx := g.grad(x)
			for r := 0; r < R; r++ {
				dr := dx[r*H*W : (r+1)*H*W]
				gr := out.Grad[r*P : (r+1)*P]
				for p := range taps {
					t := &taps[p]
					for k := 0; k < 4; k++ {
						dr[t.idx[k]] += t.w[k] * gr[p]
					}
				}
			}
		})
	}
	return out
}
