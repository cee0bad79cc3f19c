package engine

import (
	"math/rand/v2"
	"testing"
)

// TestIm2colSame checks the shifted-plane im2col and col2im of stride-1
// "same" convolutions against the general row-by-row loops, element for
// element (bit-identical: the same values are copied, and each input
// element receives the same additions in the same order).
func TestIm2colSame(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ C, H, W, KH, KW, pad int }{
		{2, 5, 7, 3, 3, 1}, {1, 4, 4, 1, 1, 0}, {3, 6, 5, 5, 5, 2}, {1, 1, 1, 3, 3, 1},
		{2, 2, 3, 3, 3, 1}, {1, 3, 8, 5, 3, 2} /* not same: 3 columns, pad 2 */, {1, 9, 2, 3, 3, 1},
	} {
		OH := convOut(tc.H, tc.KH, 1, tc.pad)
		OW := convOut(tc.W, tc.KW, 1, tc.pad)
		x := make([]float32, tc.C*tc.H*tc.W)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		n := tc.C * tc.KH * tc.KW * OH * OW
		want, got := make([]float32, n), make([]float32, n)
		for i := range got {
			got[i] = 99 // im2col must overwrite everything
		}
		im2colGeneral(want, x, tc.C, tc.H, tc.W, tc.KH, tc.KW, 1, tc.pad, OH, OW)
		im2col(got, x, tc.C, tc.H, tc.W, tc.KH, tc.KW, 1, tc.pad, OH, OW)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: im2col[%d] = %v, want %v", tc, i, got[i], want[i])
			}
		}
		col := make([]float32, n)
		for i := range col {
			col[i] = r.Float32()*2 - 1
		}
		col2 := append([]float32(nil), col...)
		dxWant, dxGot := make([]float32, len(x)), make([]float32, len(x))
		for i := range dxWant {
			dxWant[i] = float32(i) / 7
			dxGot[i] = dxWant[i]
		}
		col2imGeneral(dxWant, col, tc.C, tc.H, tc.W, tc.KH, tc.KW, 1, tc.pad, OH, OW)
		col2im(dxGot, col2, tc.C, tc.H, tc.W, tc.KH, tc.KW, 1, tc.pad, OH, OW)
		for i := range dxWant {
			if dxGot[i] != dxWant[i] {
				t.Fatalf("%+v: col2im[%d] = %v, want %v", tc, i, dxGot[i], dxWant[i])
			}
		}
	}
}
