package engine

import (
	"github.com/mpanalyze/mpanalyze/internal/fmath"
	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// Implicit 3×3 convolution. For float32 on machines where
// gemm.ImplicitConv() holds, a 3×3, stride-1, padding-1 Conv2d does not
// write its im2col matrix (9 shifted copies of the input, read once by the
// forward GEMM and once more by the weight gradient's): it keeps one
// zero-padded copy of each input image (planes of (H+2)×(W+2)) and lets
// gemm read the shifted runs in place (gemm.SgemmOffsetB forward,
// gemm.SgemmTaps3x3 for the weight gradient). The outputs are computed
// "wide", W+2 per row, the two extra columns of each row thrown away.
// Every output and gradient element gets exactly the operations of the
// im2col path (TestConvImplicitBitIdentical):
//
//   - forward: output (o, y, x) is wide column y·(W+2)+x, and row (c, i, j)
//     of B read at that column is padded input (c, y+i, x+j), the im2col
//     entry (zero outside the image); same rows of A, same k blocks.
//   - weight gradient: the sum over the pixels runs over the wide columns
//     in the same order, the thrown-away columns (where the gradient is
//     set to zero) adding exact zeros: an accumulator that starts at +0 is
//     never −0 (round-to-nearest gives +0 for x + (−x)), so acc + a·0 ==
//     acc for finite a. The pixels are split into gemm's k blocks (the same
//     boundaries as Sgemm's over H·W) and each block is one call.
//
// The input gradient still goes through the column matrix (dcol = Wᵀ·G,
// then col2im): its taps must reach each input element in a fixed order.
//
// All of this is for FP32. In the BF16 precision (gemm.BF16, whose GEMM
// converts its operands: convConverted) the implicit path is taken too and
// is deterministic, but agrees with the im2col path only to rounding (the
// tile unit sums k in pairs and blocks of 32, and the wide columns shift
// which terms share a pair), and it takes routes of its own, each
// checked against float64 definitions (TestConvConverted):
//
//   - weight gradient: dw += G·Tᵀ straight in the weights' layout
//     (gemm.SgemmTapsT3x3, convWeightGradDirect), no dwᵀ and transposes;
//     for 32·k input channels transposed instead, dwᵀ = T·Gᵀ tap-major
//     (gemm.SgemmConvGradT3x3, convWeightGradTaps), so that T's rows are
//     read from the input converted once rather than converted and
//     transposed tap by tap, summed over the images and added to dw once
//     per call (addTapMajorT). The tile unit's sums are the same either
//     way round, so where dw starts at zero (a graph's first use of the
//     kernel) the bits are those of the untransposed product;
//   - forward, for 32·k input channels: the taps outermost
//     (gemm.SgemmConv3x3 with the kernel reordered, tapMajorWeights), so
//     each input float is converted to BF16 once instead of once per tap;
//   - input gradient, for 32·k output channels: the same kind of
//     convolution of G with the flipped kernel (convInputGradFlip), no
//     column matrix and no col2im.
//
// A frozen kernel (Param.FreezeConverted) carries both reorderings, each
// also converted to BF16, made once per step instead of in every call; an
// unfrozen one is reordered and converted once per call (kernelTaps).

// noImplicitConv turns the implicit path off (tests compare the two).
var noImplicitConv bool

// implicitConv reports whether Conv2d takes the implicit path.
func implicitConv[T Float](KH, KW, stride, pad, H, W, OH, OW int) bool {
	var z T
	if _, ok := any(z).(float32); !ok || noImplicitConv {
		return false
	}
	return KH == 3 && KW == 3 && stride == 1 && pad == 1 && OH == H && OW == W && gemm.ImplicitConv()
}

// convOffsets returns the offset of each im2col row (c, i, j) in the
// padded input: c·(H+2)(W+2) + i·(W+2) + j, cached per shape.
func (g *Graph[T]) convOffsets(C, H, W int) []int {
	key := [3]int{C, H, W}
	if o, ok := g.convOffs[key]; ok {
		return o
	}
	if g.convOffs == nil {
		g.convOffs = map[[3]int][]int{}
	}
	wp, plane := W+2, (H+2)*(W+2)
	o := make([]int, 0, 9*C)
	for c := 0; c < C; c++ {
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				o = append(o, c*plane+i*wp+j)
			}
		}
	}
	g.convOffs[key] = o
	return o
}

// padPlanes writes x [C, H, W] into dst [C, H+2, W+2] with a zero border:
// each plane cleared, then its rows copied inside the border.
func padPlanes(dst, x []float32, C, H, W int) {
	wp, plane := W+2, (H+2)*(W+2)
	for c := 0; c < C; c++ {
		d := dst[c*plane : (c+1)*plane]
		clear(d)
		fmath.CopyRows(d[wp+1:], wp, x[c*H*W:(c+1)*H*W], W, H, W)
	}
}

// convForwardImplicit computes out [O, H·W] = w·col(x) (+ bias) for one
// image from its padded input xpad. With wt (w in tap-major order,
// tapMajor) it multiplies through gemm.SgemmConv3x3 instead of
// SgemmOffsetB with the im2col offsets, with wt converted (pa, nil where
// the GEMM converts nothing) through gemm.SgemmConv3x3Prepared.
func convForwardImplicit(out, w, wt []float32, pa *gemm.Prepared, bias, xpad, wide []float32, offs []int, O, H, W int) {
	if O == 0 {
		return
	}
	wp := W + 2
	nw := H*wp - 2 // the last row's two extra columns are not needed
	wide = wide[:O*nw]
	beta := float32(0)
	if bias != nil {
		for o := 0; o < O; o++ {
			row := wide[o*nw : (o+1)*nw]
			for i := range row {
				row[i] = bias[o]
			}
		}
		beta = 1
	}
	switch C := len(wt) / (9 * O); {
	case pa != nil:
		gemm.SgemmConv3x3Prepared(pa, C, nw, 1, xpad, (H+2)*wp, wp, beta, wide, nw)
	case wt != nil:
		gemm.SgemmConv3x3(O, C, nw, 1, wt, 9*C, xpad, (H+2)*wp, wp, beta, wide, nw)
	default:
		gemm.SgemmOffsetB(O, nw, offs, 1, w, len(offs), xpad, beta, wide, nw)
	}
	hw := H * W
	for o := 0; o < O; o++ {
		fmath.CopyRows(out[o*hw:(o+1)*hw], W, wide[o*nw:(o+1)*nw], wp, H, W)
	}
}

// tapMajor reports whether the implicit 3×3 convolutions with c input
// channels multiply with the taps outermost (gemm.SgemmConv3x3): under an
// implementation that converts its operands, which then converts each
// input float once instead of once per tap, for c a positive multiple of
// 32 (its k steps of 32 each within one tap).
func tapMajor[T Float](c int) bool { return c > 0 && c%32 == 0 && convConverted[T]() }

// kernelOrder returns order i of the 3×3 kernel w [O, C, 3, 3]
// (kernelTaps.set: 0 for the forward, 1 for the input gradient) and its
// conversion: the frozen ones (FreezeConverted), or ones made in kt for
// this call, whose conversion kt.release returns.
func (g *Graph[T]) kernelOrder(kt *kernelTaps, w *Tensor[T], i, O, C int) ([]float32, *gemm.Prepared) {
	if w.taps != nil && w.taps.w[i] != nil {
		return w.taps.w[i], w.taps.conv[i]
	}
	kt.set(i, any(g.allocRaw(O*9*C)).([]float32), any(w.Data).([]float32), O, C)
	return kt.w[i], kt.conv[i]
}

// tapMajorWeights writes dst[o][t·C+c] = w[o][c·9+t] for w [O, C, 3, 3]:
// each output channel's C×9 block transposed, one input channel's nine
// taps at a time into nine rows.
func tapMajorWeights(dst, w []float32, O, C int) {
	for o := 0; o < O; o++ {
		d, s := dst[o*9*C:(o+1)*9*C], w[o*9*C:(o+1)*9*C]
		d0, d1, d2, d3, d4 := d[:C], d[C:2*C], d[2*C:3*C], d[3*C:4*C], d[4*C:5*C]
		d5, d6, d7, d8 := d[5*C:6*C], d[6*C:7*C], d[7*C:8*C], d[8*C:9*C]
		for c := range d0 {
			r := s[c*9 : c*9+9 : c*9+9]
			d0[c], d1[c], d2[c], d3[c], d4[c] = r[0], r[1], r[2], r[3], r[4]
			d5[c], d6[c], d7[c], d8[c] = r[5], r[6], r[7], r[8]
		}
	}
}

// flipTapMajor writes the input gradient's kernel of a 3×3 "same"
// convolution in tap-major order: dst[c][t·O+o] = w[o][c][8−t] (the kernel
// transposed in its channels and turned by 180°, tap t = 3i+j ↔ 8−t), one
// input channel's nine rows at a time, for all O output channels up to 64
// and 32 at a time beyond (as addTapMajorT, whose reads and writes these
// are the other way round).
func flipTapMajor(dst, w []float32, O, C int) {
	blk := O
	if O > 64 {
		blk = 32
	}
	for o0 := 0; o0 < O; o0 += blk {
		n := min(blk, O-o0)
		for c := 0; c < C; c++ {
			d := dst[c*9*O : (c+1)*9*O]
			d0, d1, d2 := d[o0:][:n], d[O+o0:][:n], d[2*O+o0:][:n]
			d3, d4, d5 := d[3*O+o0:][:n], d[4*O+o0:][:n], d[5*O+o0:][:n]
			d6, d7, d8 := d[6*O+o0:][:n], d[7*O+o0:][:n], d[8*O+o0:][:n]
			for j := range d0 {
				o := o0 + j
				r := w[o*9*C+c*9 : o*9*C+c*9+9 : o*9*C+c*9+9]
				d0[j], d1[j], d2[j], d3[j], d4[j] = r[8], r[7], r[6], r[5], r[4]
				d5[j], d6[j], d7[j], d8[j] = r[3], r[2], r[1], r[0]
			}
		}
	}
}

// convInputGradFlip writes (fresh) or adds one image's input gradient dx
// [C, H, W] of a 3×3 "same" convolution as the forward convolution of its
// output gradient G [O, H, W] with the flipped kernel wf (flipTapMajor):
//
//	dx[c](y, x) = Σ_{o,i,j} w[o][c][i][j] · G[o](y−i+1, x−j+1)
//	            = Σ_{o,i,j} w[o][c][2−i][2−j] · G[o](y+i−1, x+j−1),
//
// through gemm.SgemmConv3x3 on G's padded copy gpad (O·(H+2)·(W+2)) into
// wide (C·H·(W+2)), instead of the column matrix wᵀ·G (C·9×H·W) and
// col2im's nine passes over dx. pa is wf converted (gemm.PrepareLeft), or
// nil where the GEMM converts nothing.
func convInputGradFlip(dx, G, wf []float32, pa *gemm.Prepared, gpad, wide []float32, C, O, H, W int, fresh bool) {
	wp := W + 2
	nw := H*wp - 2
	padPlanes(gpad, G, O, H, W)
	if pa != nil {
		gemm.SgemmConv3x3Prepared(pa, O, nw, 1, gpad, (H+2)*wp, wp, 0, wide, nw)
	} else {
		gemm.SgemmConv3x3(C, O, nw, 1, wf, 9*O, gpad, (H+2)*wp, wp, 0, wide, nw)
	}
	hw := H * W
	for c := 0; c < C; c++ {
		if fresh {
			fmath.CopyRows(dx[c*hw:(c+1)*hw], W, wide[c*nw:(c+1)*nw], wp, H, W)
			continue
		}
		for y := 0; y < H; y++ {
			fmath.AddTo(dx[c*hw+y*W:c*hw+(y+1)*W], wide[c*nw+y*wp:c*nw+y*wp+W])
		}
	}
}

// convWeightGradImplicit computes dwT [C·9, O] = col(x)·Gᵀ for one image
// (as gemmT(false, true, C·9, O, H·W, 1, col, H·W, G, H·W, 0, dwT, O)
// would) from its padded input; gw is scratch of H·(W+2)·O floats.
func convWeightGradImplicit(dwT, xpad, G, gw []float32, C, O, H, W int) {
	wp, hw := W+2, H*W
	gw = gw[:H*wp*O]
	// gw[(y·wp+x)·O + o] = G[o][y·W+x], zero in the two extra columns:
	// image row y of G (O×W, rows hw apart) transposed
	for y := 0; y < H; y++ {
		if !gemm.Transpose(gw[y*wp*O:], O, G[y*W:], hw, O, W) {
			for x := 0; x < W; x++ {
				for o := 0; o < O; o++ {
					gw[(y*wp+x)*O+o] = G[o*hw+y*W+x]
				}
			}
		}
		clear(gw[(y*wp+W)*O : (y*wp+wp)*O])
	}
	kb := gemm.KBlock(hw)
	wide := func(p int) int { return p/W*wp + p%W }
	for s := 0; s < hw; s += kb {
		e := min(s+kb, hw)
		ws, we := wide(s), wide(e-1)+1
		beta := float32(1)
		if s == 0 {
			beta = 0
		}
		gemm.SgemmTaps3x3(C, O, we-ws, 1, xpad[ws:], (H+2)*wp, wp, gw[ws*O:], O, beta, dwT, O)
	}
}

// convConverted reports whether the products' implementation converts
// its operands (gemm.ConvertsOperands; float32 only): conv2dBackward then
// adds each image's weight gradient straight into dw, and the implicit 3×3
// convolutions with a multiple of 32 input channels multiply tap-major.
func convConverted[T Float]() bool {
	_, f32 := any(T(0)).(float32)
	return f32 && gemm.ConvertsOperands()
}

// convWeightGradDirect adds one image's weight gradient of a 3×3 "same"
// convolution to dw [O, C·9] in its own layout: dw += G·Tᵀ with T the tap
// rows of the padded input (gemm.SgemmTapsT3x3), over the wide positions
// (W+2 per row; the last row's two extra columns left out, so that the
// last plane's taps stay inside xpad). gw is scratch of H·(W+2)·O floats
// for G in that layout, zero in the extra columns.
func convWeightGradDirect(dw, xpad, G, gw []float32, C, O, H, W int) {
	wp := W + 2
	k := (H-1)*wp + W
	wideRows(gw, G, O, H, W, k)
	gemm.SgemmTapsT3x3(O, C, k, 1, gw, k, xpad, (H+2)*wp, wp, 1, dw, C*9)
}

// convWeightGradTaps computes, for tapMajor input channels, one image's
// weight gradient of a 3×3 "same" convolution transposed and tap-major,
// dwT [9·C, O] with dwT[t·C+c][o] = dw[o][c][t], writing it (fresh) or
// adding it to dwT: dwT (+)= T·Gᵀ with T the tap-major tap rows of the
// padded input (gemm.SgemmConvGradT3x3, which converts each input float to
// BF16 once instead of once per tap), over the wide positions rounded up to
// a multiple of 32 (wideGradLen). xpad must hold that many floats past its
// planes' taps, finite (convPadSlack); gw is scratch of O·wideGradLen
// floats for G in that layout, zero in the extra columns and at the end.
func convWeightGradTaps(dwT, xpad, G, gw []float32, C, O, H, W int, fresh bool) {
	wp := W + 2
	k := wideGradLen(H, W)
	wideRows(gw, G, O, H, W, k)
	beta := float32(1)
	if fresh {
		beta = 0
	}
	gemm.SgemmConvGradT3x3(C, O, k, 1, xpad, (H+2)*wp, wp, gw, k, beta, dwT, O)
}

// wideRows writes G [O, H·W] into gw in the wide layout, O rows of k ≥
// (H−1)·(W+2) + W floats: image row y at y·(W+2), zero in the two extra
// columns of each row and from the last pixel on.
func wideRows(gw, G []float32, O, H, W, k int) {
	hw := H * W
	for o := 0; o < O; o++ {
		row := gw[o*k : (o+1)*k]
		clear(row)
		fmath.CopyRows(row, W+2, G[o*hw:(o+1)*hw], W, H, W)
	}
}

// wideGradLen is the number of wide positions (W+2 per row, the last
// row's two extra columns left out) rounded up to a multiple of 32, the
// k of convWeightGradTaps' product.
func wideGradLen(H, W int) int { return ((H-1)*(W+2) + W + 31) / 32 * 32 }

// convPadSlack is the number of floats a padded input keeps past its
// planes, zero, for the taps convWeightGradTaps reads past the last
// position (at most 31).
const convPadSlack = 32

// addTapMajorT adds dwT [9·C, O] (tap-major, transposed: dwT[t·C+c][o])
// to dw [O, C·9]: for each input channel its nine rows of dwT read in step
// into the output channels' nine taps, all O output channels at a time
// up to 64 and 32 at a time beyond (writing O lines 36·C bytes apart, which
// for 128 channels fall in eight sets of the L1 cache and evict each
// other: twice as fast cold, BenchmarkAddTapMajorT).
func addTapMajorT(dw, dwT []float32, O, C int) {
	blk := O
	if O > 64 {
		blk = 32
	}
	for o0 := 0; o0 < O; o0 += blk {
		n := min(blk, O-o0)
		for c := 0; c < C; c++ {
			r0, r1, r2 := dwT[c*O+o0:][:n], dwT[(C+c)*O+o0:][:n], dwT[(2*C+c)*O+o0:][:n]
			r3, r4, r5 := dwT[(3*C+c)*O+o0:][:n], dwT[(4*C+c)*O+o0:][:n], dwT[(5*C+c)*O+o0:][:n]
			r6, r7, r8 := dwT[(6*C+c)*O+o0:][:n], dwT[(7*C+c)*O+o0:][:n], dwT[(8*C+c)*O+o0:][:n]
			for j := range r0 {
				o := o0 + j
				d := dw[o*9*C+c*9 : o*9*C+c*9+9 : o*9*C+c*9+9]
				d[0] += r0[j]
				d[1] += r1[j]
				d[2] += r2[j]
				d[3] += r3[j]
				d[4] += r4[j]
				d[5] += r5[j]
				d[6] += r6[j]
				d[7] += r7[j]
				d[8] += r8[j]
			}
		}
	}
}
