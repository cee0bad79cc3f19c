package engine

// ConvSpec holds the geometry of a 2-d convolution: a square kernel is not
// required, padding is symmetric (zeros), no dilation, no groups.
type ConvSpec struct {
	Stride, Pad int
}

func convOut(in, k, stride, pad int) int { return (in+2*pad-k)/stride + 1 }

// Conv2d convolves x [N, C, H, W] with w [O, C, KH, KW] and adds bias [O]
// (or nil), PyTorch's nn.Conv2d semantics (cross-correlation). It lowers
// each image to a column matrix (im2col, [C·KH·KW, OH·OW]) and runs one
// GEMM: out[n] = w·col. A 1×1 stride-1 convolution skips im2col.
//
// Backward: dw += G[n]·colᵀ, dcol = wᵀ·G[n] folded back into dx (col2im),
// dbias += Σ over the image of G.
func (g *Graph[T]) Conv2d(x, w, bias *Tensor[T], spec ConvSpec) *Tensor[T] {
	if x.Dims() != 4 || w.Dims() != 4 || x.Shape[1] != w.Shape[1] || (bias != nil && (bias.Dims() != 1 || bias.Shape[0] != w.Shape[0])) {
		shapePanic("Conv2d", x.Shape, w.Shape)
	}
	k := convGeom{N: x.Shape[0], C: x.Shape[1], H: x.Shape[2], W: x.Shape[3], O: w.Shape[0], KH: w.Shape[2], KW: w.Shape[3],
		stride: max(spec.Stride, 1), pad: spec.Pad}
	k.OH, k.OW = convOut(k.H, k.KH, k.stride, k.pad), convOut(k.W, k.KW, k.stride, k.pad)
	if k.OH <= 0 || k.OW <= 0 {
		shapePanic("Conv2d (output empty)", x.Shape, w.Shape)
	}
	k.direct = k.KH == 1 && k.KW == 1 && k.stride == 1 && k.pad == 0
	out := g.newTensor([]int{k.N, k.O, k.OH, k.OW}, g.needs(x, w, bias))
	cols := g.conv2dForward(x, w, bias, out, k)
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			g.conv2dBackward(x, w, bias, out, cols, k)
		})
	}
	return out
}

// convGeom is the geometry of one Conv2d call: input [N, C, H, W], weight
// [O, C, KH, KW], output [N, O, OH, OW]; direct marks a 1×1 stride-1
// convolution without padding, which needs no im2col.
type convGeom struct {
	N, C, H, W, O, KH, KW, OH, OW, stride, pad int
	direct                                     bool
}

// conv2dForward fills out image by image (bias rows, then one GEMM with
// the image's column matrix) and returns the column matrices, which the
// backward pass reuses (the image itself when direct).
func (g *Graph[T]) conv2dForward(x, w, bias, out *Tensor[T], k convGeom) [][]T {
	C, H, W, O := k.C, k.H, k.W, k.O
	ckk, ohw := C*k.KH*k.KW, k.OH*k.OW
	cols := make([][]T, k.N)
	for n := 0; n < k.N; n++ {
		xn := x.Data[n*C*H*W : (n+1)*C*H*W]
		col := xn
		if !k.direct {
			col = g.allocRaw(ckk * ohw)
			im2col(col, xn, C, H, W, k.KH, k.KW, k.stride, k.pad, k.OH, k.OW)
		}
		cols[n] = col
		on := out.Data[n*O*ohw : (n+1)*O*ohw]
		beta := T(0)
		if bias != nil {
			for o := 0; o < O; o++ {
				b := bias.Data[o]
				row := on[o*ohw : (o+1)*ohw]
				for i := range row {
					row[i] = b
				}
			}
			beta = 1
		}
		gemmT(false, false, O, ohw, ckk, 1, w.Data, ckk, col, ohw, beta, on, ohw)
	}
	return cols
}

// conv2dBackward adds, image by image, out.Grad's share to the gradients
// of w (through a transposed GEMM), bias and x (col2im of wᵀ·G, or one
// GEMM into dx when direct).
func (g *Graph[T]) conv2dBackward(x, w, bias, out *Tensor[T], cols [][]T, k convGeom) {
	C, H, W, O := k.C, k.H, k.W, k.O
	ckk, ohw := C*k.KH*k.KW, k.OH*k.OW
	var dcol, dwT []T
	if x.requiresGrad && !k.direct {
		dcol = g.allocRaw(ckk * ohw)
	}
	if w.requiresGrad {
		dwT = g.allocRaw(ckk * O)
	}
	for n := 0; n < k.N; n++ {
		Gn := out.Grad[n*O*ohw : (n+1)*O*ohw]
		if w.requiresGrad {
			// dwᵀ[ckk, O] = col·Gᵀ: the GEMM then transposes G
			// (O×ohw) instead of col (ckk×ohw, 9× larger for 3×3).
			gemmT(false, true, ckk, O, ohw, 1, cols[n], ohw, Gn, ohw, 0, dwT, O)
			dw := g.grad(w)
			for o := 0; o < O; o++ {
				row := dw[o*ckk : (o+1)*ckk]
				for c := range row {
					row[c] += dwT[c*O+o]
				}
			}
		}
		if bias != nil && bias.requiresGrad {
			db := g.grad(bias)
			for o := 0; o < O; o++ {
				var s T
				for _, v := range Gn[o*ohw : (o+1)*ohw] {
					s += v
				}
				db[o] += s
			}
		}
		if x.requiresGrad {
			dxn := g.grad(x)[n*C*H*W : (n+1)*C*H*W]
			if k.direct {
				gemmT(true, false, ckk, ohw, O, 1, w.Data, ckk, Gn, ohw, 1, dxn, ohw)
			} else {
				gemmT(true, false, ckk, ohw, O, 1, w.Data, ckk, Gn, ohw, 0, dcol, ohw)
				col2im(dxn, dcol, C, H, W, k.KH, k.KW, k.stride, k.pad, k.OH, k.OW)
			}
		}
	}
}

// im2col writes col[(c·KH+ki)·KW+kj][oy·OW+ox] = x[c][oy·s−p+ki][ox·s−p+kj]
// (0 outside the image).
func im2col[T Float](col, x []T, C, H, W, KH, KW, stride, pad, OH, OW int) {
	ohw := OH * OW
	for c := 0; c < C; c++ {
		xc := x[c*H*W : (c+1)*H*W]
		for ki := 0; ki < KH; ki++ {
			for kj := 0; kj < KW; kj++ {
				row := col[((c*KH+ki)*KW+kj)*ohw:][:ohw]
				for oy := 0; oy < OH; oy++ {
					iy := oy*stride - pad + ki
					dst := row[oy*OW : (oy+1)*OW]
					if iy < 0 || iy >= H {
						clear(dst)
						continue
					}
					xr := xc[iy*W : (iy+1)*W]
					if stride == 1 {
						// ix = ox − pad + kj runs over a contiguous range
						lo := max(0, pad-kj)
						hi := min(OW, W+pad-kj)
						clear(dst[:max(lo, 0)])
						if hi > lo {
							copy(dst[lo:hi], xr[lo-pad+kj:hi-pad+kj])
						}
						if hi < OW {
							clear(dst[max(hi, 0):])
						}
						continue
					}
					for ox := 0; ox < OW; ox++ {
						ix := ox*stride - pad + kj
						if ix < 0 || ix >= W {
							dst[ox] = 0
						} else {
							dst[ox] = xr[ix]
						}
					}
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: x[c][iy][ix] += col[…] for every column
// entry that im2col read from (c, iy, ix).
func col2im[T Float](x, col []T, C, H, W, KH, KW, stride, pad, OH, OW int) {
	ohw := OH * OW
	for c := 0; c < C; c++ {
		xc := x[c*H*W : (c+1)*H*W]
		for ki := 0; ki < KH; ki++ {
			for kj := 0; kj < KW; kj++ {
				row := col[((c*KH+ki)*KW+kj)*ohw:][:ohw]
				for oy := 0; oy < OH; oy++ {
					iy := oy*stride - pad + ki
					if iy < 0 || iy >= H {
						continue
					}
					xr := xc[iy*W : (iy+1)*W]
					src := row[oy*OW : (oy+1)*OW]
					if stride == 1 {
						// ix = ox − pad + kj over a contiguous range, as in im2col
						lo, hi := max(0, pad-kj), min(OW, W+pad-kj)
						if hi > lo {
							axpy(xr[lo-pad+kj:hi-pad+kj], 1, src[lo:hi])
						}
						continue
					}
					for ox := 0; ox < OW; ox++ {
						ix := ox*stride - pad + kj
						if ix >= 0 && ix < W {
							xr[ix] += src[ox]
						}
					}
				}
			}
		}
	}
}
