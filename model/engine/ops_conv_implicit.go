package engine

import (
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
// All of this is for FP32. In the BF16 precision (gemm.BF16) the implicit
// path is taken too and is deterministic, but agrees with the im2col path
// only to rounding: the tile unit sums k in pairs and blocks of 32, and
// the wide columns shift which terms share a pair.

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

// padPlanes writes x [C, H, W] into dst [C, H+2, W+2] with a zero border.
func padPlanes(dst, x []float32, C, H, W int) {
	wp, plane := W+2, (H+2)*(W+2)
	for c := 0; c < C; c++ {
		d := dst[c*plane : (c+1)*plane]
		clear(d[:wp+1])
		for y := 0; y < H; y++ {
			row := d[(y+1)*wp+1:]
			copy(row[:W], x[(c*H+y)*W:(c*H+y+1)*W])
			row[W], row[W+1] = 0, 0 // right border, then the next row's left
		}
		clear(d[(H+1)*wp+1:])
	}
}

// convForwardImplicit computes out [O, H·W] = w·col(x) (+ bias) for one
// image from its padded input xpad.
func convForwardImplicit(out, w, bias, xpad, wide []float32, offs []int, O, H, W int) {
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
	gemm.SgemmOffsetB(O, nw, offs, 1, w, len(offs), xpad, beta, wide, nw)
	hw := H * W
	for o := 0; o < O; o++ {
		for y := 0; y < H; y++ {
			copy(out[o*hw+y*W:o*hw+(y+1)*W], wide[o*nw+y*wp:])
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

// convWeightDirect reports whether conv2dBackward adds each image's weight
// gradient straight into dw (gemm.ConvertsOperands; float32 only).
func convWeightDirect[T Float]() bool {
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
	wp, hw := W+2, H*W
	k := (H-1)*wp + W
	for o := 0; o < O; o++ {
		row := gw[o*k : (o+1)*k]
		for y := 0; y < H; y++ {
			copy(row[y*wp:y*wp+W], G[o*hw+y*W:])
			if y < H-1 {
				row[y*wp+W], row[y*wp+W+1] = 0, 0
			}
		}
	}
	gemm.SgemmTapsT3x3(O, C, k, 1, gw, k, xpad, (H+2)*wp, wp, 1, dw, C*9)
}
