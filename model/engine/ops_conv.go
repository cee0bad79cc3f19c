package engine

import (
	"github.com/mpanalyze/mpanalyze/internal/fmath"
	"github.com/mpanalyze/mpanalyze/model/gemm"
)

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
// dbias += Σ over the image of G. Under a GEMM that converts its operands
// (BF16) the implicit 3×3 convolutions with 32·k output channels instead
// get dx as the convolution of G with the flipped kernel
// (convInputGradFlip).
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
	// implicit: 3×3 "same" convolutions in float32 keep a padded input
	// instead of the column matrix (ops_conv_implicit.go)
	k.implicit = implicitConv[T](k.KH, k.KW, k.stride, k.pad, k.H, k.W, k.OH, k.OW)
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
// convolution without padding, which needs no im2col, and implicit one
// that takes the implicit path.
type convGeom struct {
	N, C, H, W, O, KH, KW, OH, OW, stride, pad int
	direct, implicit                           bool
}

// conv2dForward fills out image by image (bias rows, then one GEMM with
// the image's column matrix) and returns the column matrices, which the
// backward pass reuses (the image itself when direct, its padded copy when
// implicit).
func (g *Graph[T]) conv2dForward(x, w, bias, out *Tensor[T], k convGeom) [][]T {
	C, H, W, O := k.C, k.H, k.W, k.O
	ckk, ohw := C*k.KH*k.KW, k.OH*k.OW
	cols := make([][]T, k.N)
	var offs []int
	var wide, wt []float32
	var pa *gemm.Prepared
	if k.implicit {
		offs = g.convOffsets(C, H, W)
		wide = any(g.allocRaw(O * H * (W + 2))).([]float32)
		if tapMajor[T](C) {
			var kt kernelTaps
			defer kt.release()
			wt, pa = g.kernelOrder(&kt, w, 0, O, C)
		}
	}
	for n := 0; n < k.N; n++ {
		xn := x.Data[n*C*H*W : (n+1)*C*H*W]
		if k.implicit {
			xpad := g.allocRaw(C*(H+2)*(W+2) + convPadSlack)
			padPlanes(any(xpad).([]float32), any(xn).([]float32), C, H, W)
			clear(xpad[C*(H+2)*(W+2):])
			cols[n] = xpad
			var b []float32
			if bias != nil {
				b = any(bias.Data).([]float32)
			}
			convForwardImplicit(any(out.Data[n*O*ohw:(n+1)*O*ohw]).([]float32), any(w.Data).([]float32), wt, pa, b, any(xpad).([]float32), wide, offs, O, H, W)
			continue
		}
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
// of w (through a transposed GEMM, or the implicit kernels), bias and x
// (col2im of wᵀ·G, or one GEMM into dx when direct).
func (g *Graph[T]) conv2dBackward(x, w, bias, out *Tensor[T], cols [][]T, k convGeom) {
	C, H, W, O := k.C, k.H, k.W, k.O
	ckk, ohw := C*k.KH*k.KW, k.OH*k.OW
	var dcol, dwT, tmp []T
	// flip: the input gradient of an implicit 3×3 convolution whose O
	// output channels allow tap-major products is the forward convolution
	// of G with the flipped kernel (convInputGradFlip)
	flip := x.requiresGrad && k.implicit && tapMajor[T](O)
	var wf, gpad, gwide []float32
	var pf *gemm.Prepared
	if flip {
		var kt kernelTaps
		defer kt.release()
		wf, pf = g.kernelOrder(&kt, w, 1, O, C)
		gpad = any(g.allocRaw(O * (H + 2) * (W + 2))).([]float32)
		gwide = any(g.allocRaw(C * H * (W + 2))).([]float32)
	} else if x.requiresGrad && !k.direct {
		dcol = g.allocRaw(ckk * ohw)
	}
	var gw []float32
	// acc, for a batch of three or more images, is dw transposed: each
	// image's dwᵀ is added to it, and it is transposed back at the end —
	// per element the additions of adding each transposed dwᵀ to dw, in
	// image order, with two transposes instead of one per image
	var acc []T
	// wDirect: the products' implementation converts its operands (BF16
	// on the tile unit), so G·colᵀ costs what col·Gᵀ does and each image's
	// dw is added into w's gradient in its own layout — no dwᵀ, no
	// transposes, no accumulator (convWeightGradDirect)
	wDirect := w.requiresGrad && convConverted[T]()
	// wTaps: the same for an implicit 3×3 convolution whose input channels
	// allow tap-major products, but transposed — dwᵀ, tap-major, summed
	// over the images (convWeightGradTaps) and added to dw at the end
	// (addTapMajorT): each input float is converted once, not once per tap
	wTaps := wDirect && k.implicit && tapMajor[T](C) && O > 0
	var taccT []float32
	// dx: one GEMM per image when direct and one convolution per image
	// when flip, which write a new buffer (gradNew) instead of adding to
	// it; col2im adds, so it needs zeros
	var dx []T
	dxBeta := T(1)
	dxFresh := false
	if x.requiresGrad {
		if k.direct || flip {
			dx, dxFresh = g.gradNew(x)
			dxBeta = gemmBeta[T](dxFresh)
		} else {
			dx = g.grad(x)
		}
	}
	switch {
	case wTaps:
		gw = any(g.allocRaw(wideGradLen(H, W) * O)).([]float32)
		taccT = any(g.allocRaw(9 * C * O)).([]float32)
	case wDirect && k.implicit:
		gw = any(g.allocRaw(H * (W + 2) * O)).([]float32)
	}
	if w.requiresGrad && !wDirect {
		dwT = g.allocRaw(ckk * O)
		if k.implicit {
			gw = any(g.allocRaw(H * (W + 2) * O)).([]float32)
		}
		if k.N > 2 {
			acc = g.allocRaw(ckk * O)
			transpose(acc, g.grad(w), O, ckk)
		} else {
			tmp = g.allocRaw(ckk * O)
		}
	}
	for n := 0; n < k.N; n++ {
		Gn := out.Grad[n*O*ohw : (n+1)*O*ohw]
		if wDirect {
			if wTaps {
				convWeightGradTaps(taccT, any(cols[n]).([]float32), any(Gn).([]float32), gw, C, O, H, W, n == 0)
			} else if k.implicit {
				convWeightGradDirect(any(g.grad(w)).([]float32), any(cols[n]).([]float32), any(Gn).([]float32), gw, C, O, H, W)
			} else {
				gemmT(false, true, O, ckk, ohw, 1, Gn, ohw, cols[n], ohw, 1, g.grad(w), ckk)
			}
		} else if w.requiresGrad {
			// dwᵀ[ckk, O] = col·Gᵀ: the GEMM then transposes G
			// (O×ohw) instead of col (ckk×ohw, 9× larger for 3×3).
			if k.implicit {
				convWeightGradImplicit(any(dwT).([]float32), any(cols[n]).([]float32), any(Gn).([]float32), gw, C, O, H, W)
			} else {
				gemmT(false, true, ckk, O, ohw, 1, cols[n], ohw, Gn, ohw, 0, dwT, O)
			}
			if acc != nil {
				axpy(acc, 1, dwT)
			} else {
				addTransposed(g.grad(w), dwT, tmp, O, ckk)
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
			dxn := dx[n*C*H*W : (n+1)*C*H*W]
			switch {
			case k.direct:
				gemmT(true, false, ckk, ohw, O, 1, w.Data, ckk, Gn, ohw, dxBeta, dxn, ohw)
			case flip:
				convInputGradFlip(any(dxn).([]float32), any(Gn).([]float32), wf, pf, gpad, gwide, C, O, H, W, dxFresh)
			default:
				gemmT(true, false, ckk, ohw, O, 1, w.Data, ckk, Gn, ohw, 0, dcol, ohw)
				col2im(dxn, dcol, C, H, W, k.KH, k.KW, k.stride, k.pad, k.OH, k.OW)
			}
		}
	}
	if acc != nil {
		transpose(g.grad(w), acc, ckk, O)
	}
	if wTaps {
		addTapMajorT(any(g.grad(w)).([]float32), taccT, O, C)
	}
}

// im2col writes col[(c·KH+ki)·KW+kj][oy·OW+ox] = x[c][oy·s−p+ki][ox·s−p+kj]
// (0 outside the image).
func im2col[T Float](col, x []T, C, H, W, KH, KW, stride, pad, OH, OW int) {
	if stride == 1 && OH == H && OW == W {
		im2colSame(col, x, C, H, W, KH, KW, pad)
		return
	}
	im2colGeneral(col, x, C, H, W, KH, KW, stride, pad, OH, OW)
}

// im2colGeneral is im2col for any geometry, one output row at a time.
func im2colGeneral[T Float](col, x []T, C, H, W, KH, KW, stride, pad, OH, OW int) {
	if c32, ok := any(col).([]float32); ok && stride == 2 {
		im2colStride2(c32, any(x).([]float32), C, H, W, KH, KW, pad, OH, OW)
		return
	}
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
	if stride == 1 && OH == H && OW == W {
		col2imSame(x, col, C, H, W, KH, KW, pad)
		return
	}
	col2imGeneral(x, col, C, H, W, KH, KW, stride, pad, OH, OW)
}

// col2imGeneral is col2im for any geometry, one output row at a time.
func col2imGeneral[T Float](x, col []T, C, H, W, KH, KW, stride, pad, OH, OW int) {
	if c32, ok := any(col).([]float32); ok && stride == 2 {
		col2imStride2(any(x).([]float32), c32, C, H, W, KH, KW, pad, OH, OW)
		return
	}
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

// stride2Range returns the outputs [lo, hi) of a row of a stride-2 tap
// whose input column ix = 2·ox + d (d = kj − pad) lies in [0, W).
func stride2Range(W, OW, d int) (lo, hi int) {
	if d < 0 {
		lo = (1 - d) / 2 // ⌈−d/2⌉
	}
	hi = min(OW, (W-d+1)/2) // 2·ox + d < W ⇔ ox < ⌈(W−d)/2⌉
	return lo, max(lo, hi)
}

// im2colStride2 is im2colGeneral for stride 2 (float32): each row of a
// tap reads every other input column, which fmath.Gather2 copies a vector
// at a time (copies: the same bits as the element loop).
func im2colStride2(col, x []float32, C, H, W, KH, KW, pad, OH, OW int) {
	ohw := OH * OW
	for c := 0; c < C; c++ {
		xc := x[c*H*W : (c+1)*H*W]
		for ki := 0; ki < KH; ki++ {
			for kj := 0; kj < KW; kj++ {
				row := col[((c*KH+ki)*KW+kj)*ohw:][:ohw]
				d := kj - pad
				lo, hi := stride2Range(W, OW, d)
				for oy := 0; oy < OH; oy++ {
					iy := 2*oy - pad + ki
					dst := row[oy*OW : (oy+1)*OW]
					if iy < 0 || iy >= H {
						clear(dst)
						continue
					}
					clear(dst[:lo])
					if hi > lo {
						fmath.Gather2(dst[lo:hi], xc[iy*W+2*lo+d:(iy+1)*W])
					}
					clear(dst[hi:])
				}
			}
		}
	}
}

// col2imStride2 is col2imGeneral for stride 2 (float32): each row of a
// tap adds into every other input column with fmath.AddStride2, element by
// element in the order of the general loop (the same bits).
func col2imStride2(x, col []float32, C, H, W, KH, KW, pad, OH, OW int) {
	ohw := OH * OW
	for c := 0; c < C; c++ {
		xc := x[c*H*W : (c+1)*H*W]
		for ki := 0; ki < KH; ki++ {
			for kj := 0; kj < KW; kj++ {
				row := col[((c*KH+ki)*KW+kj)*ohw:][:ohw]
				d := kj - pad
				lo, hi := stride2Range(W, OW, d)
				if hi <= lo {
					continue
				}
				for oy := 0; oy < OH; oy++ {
					iy := 2*oy - pad + ki
					if iy < 0 || iy >= H {
						continue
					}
					fmath.AddStride2(xc[iy*W+2*lo+d:(iy+1)*W], row[oy*OW+lo:oy*OW+hi])
				}
			}
		}
	}
}

// sameShift describes kernel tap (ki, kj) of a stride-1 convolution whose
// output has the input's size ("same" padding): output position o = oy·W+ox
// reads input o+off with off = (ki−pad)·W + (kj−pad), a constant shift of
// the flattened plane. Outputs [lo, hi) have their row in range; of those,
// the ones in column range [cl, ch) (cl = max(0, pad−kj), ch = min(W,
// W+pad−kj)) read inside the image, the others (|kj−pad| columns at the
// left or right edge of each row) read a neighbouring row after the shift
// and must be zero instead.
func sameShift(H, W, ki, kj, pad int) (off, lo, hi, cl, ch int) {
	di, dj := ki-pad, kj-pad
	off = di*W + dj
	lo, hi = max(0, -di)*W, min(H, H-di)*W
	cl, ch = max(0, -dj), min(W, W-dj)
	if hi < lo {
		hi = lo
	}
	return off, lo, hi, cl, ch
}

// shiftRange clips [lo, hi) to the outputs whose shifted input o+off lies
// in the plane [0, hw); only edge-column outputs (which are zeroed) are
// cut.
func shiftRange(lo, hi, off, hw int) (int, int) {
	lo, hi = max(lo, -off), min(hi, hw-off)
	return lo, max(lo, hi)
}

// im2colSame is im2col for a stride-1 convolution with OH = H, OW = W: each
// kernel tap's row of col is the image plane shifted by a constant offset,
// so it is one copy of the rows in range plus zeros at the row edges,
// instead of one short copy per output row.
func im2colSame[T Float](col, x []T, C, H, W, KH, KW, pad int) {
	hw := H * W
	for c := 0; c < C; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ki := 0; ki < KH; ki++ {
			for kj := 0; kj < KW; kj++ {
				row := col[((c*KH+ki)*KW+kj)*hw:][:hw]
				off, lo, hi, cl, ch := sameShift(H, W, ki, kj, pad)
				clear(row[:lo])
				clear(row[hi:])
				if a, b := shiftRange(lo, hi, off, hw); b > a {
					copy(row[a:b], xc[a+off:b+off])
				}
				zeroEdgeColumns(row, lo, hi, W, cl, ch)
			}
		}
	}
}

// zeroEdgeColumns zeroes, in each row [o, o+W) of plane for o = lo, lo+W,
// … below hi, the columns before cl and from ch on (sameShift's edge
// columns: at most pad of them on each side). Element stores, not clear:
// a call per row of one or two elements cost more than the stores.
func zeroEdgeColumns[T Float](plane []T, lo, hi, W, cl, ch int) {
	if cl <= 0 && ch >= W {
		return
	}
	for o := lo; o < hi; o += W {
		r := plane[o : o+W]
		for j := 0; j < cl; j++ {
			r[j] = 0
		}
		for j := ch; j < W; j++ {
			r[j] = 0
		}
	}
}

// col2imSame is col2im for the convolutions of im2colSame: per kernel tap,
// the entries that im2col zeroed (they read no input) are cleared in col
// (a scratch buffer of the backward pass) and the rows in range are added
// to the shifted plane in one pass. Each input element still receives its
// taps' contributions in the order (c, ki, kj) of the general loop.
func col2imSame[T Float](x, col []T, C, H, W, KH, KW, pad int) {
	hw := H * W
	for c := 0; c < C; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ki := 0; ki < KH; ki++ {
			for kj := 0; kj < KW; kj++ {
				row := col[((c*KH+ki)*KW+kj)*hw:][:hw]
				off, lo, hi, cl, ch := sameShift(H, W, ki, kj, pad)
				if hi <= lo {
					continue
				}
				zeroEdgeColumns(row, lo, hi, W, cl, ch)
				a, b := shiftRange(lo, hi, off, hw)
				axpy(xc[a+off:b+off], 1, row[a:b])
			}
		}
	}
}

// addTransposed sets dst[o·n+c] += src[c·m+o] for o < m, c < n (dst is
// m×n, src n×m). For float32 with the AVX kernels it transposes src into
// tmp (m·n elements, overwritten) and adds tmp to dst with vector adds;
// otherwise it walks eight rows of dst at once, so each run of eight
// consecutive src values is read together instead of one value per pass
// over src. Each element of dst receives one addition either way, so the
// path and the order of the loops change nothing in the result.
func addTransposed[T Float](dst, src, tmp []T, m, n int) {
	if d32, ok := any(dst).([]float32); ok && len(tmp) >= m*n {
		t32 := any(tmp).([]float32)[:m*n]
		if gemm.Transpose(t32, n, any(src).([]float32), m, n, m) {
			fmath.AddTo(d32[:m*n], t32)
			return
		}
	}
	o := 0
	for ; o+8 <= m; o += 8 {
		r0, r1, r2, r3 := dst[o*n:][:n], dst[(o+1)*n:][:n], dst[(o+2)*n:][:n], dst[(o+3)*n:][:n]
		r4, r5, r6, r7 := dst[(o+4)*n:][:n], dst[(o+5)*n:][:n], dst[(o+6)*n:][:n], dst[(o+7)*n:][:n]
		for c := 0; c < n; c++ {
			s := src[c*m+o:][:8]
			r0[c] += s[0]
			r1[c] += s[1]
			r2[c] += s[2]
			r3[c] += s[3]
			r4[c] += s[4]
			r5[c] += s[5]
			r6[c] += s[6]
			r7[c] += s[7]
		}
	}
	for ; o < m; o++ {
		row := dst[o*n:][:n]
		for c := range row {
			row[c] += src[c*m+o]
		}
	}
}
