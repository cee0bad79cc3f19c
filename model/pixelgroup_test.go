package model

import (
	"math"
	"testing"
)

// TestPixelGroupsSameBits: a slot's images run through the backbone and
// pixel decoder one at a time or batched in groups of two or three give
// the same losses and the same parameters, bit for bit, after two steps
// (MaskFormer, Mask2Former and MP-Former with its label noise; batch 6, two gradient
// slots, so three images per slot and groups of 1, 2+1 and 3).
func TestPixelGroupsSameBits(t *testing.T) {
	for _, arch := range []string{ArchMaskFormer, ArchMask2Former, ArchMPFormer} {
		type result struct {
			losses []float64
			params [][]float32
		}
		var ref *result
		for _, group := range []int{1, 2, 3} {
			m, ex := benchBatchPixel(t, arch, PixelFPN, 64, 0, 6)
			tc := DefaultTrainConfig(100)
			tc.Batch = len(ex)
			tr, err := NewTrainer(m, tc)
			if err != nil {
				t.Fatal(err)
			}
			tr.pixelGroupSize = group
			res := &result{}
			for range 2 {
				r, err := tr.TrainStep(ex)
				if err != nil {
					t.Fatal(err)
				}
				res.losses = append(res.losses, r.Loss)
			}
			for _, p := range m.Params() {
				res.params = append(res.params, append([]float32(nil), p.Data...))
			}
			if ref == nil {
				ref = res
				continue
			}
			for s, l := range res.losses {
				if math.Float64bits(l) != math.Float64bits(ref.losses[s]) {
					t.Errorf("%s, groups of %d: step %d loss %.17g, one image at a time %.17g", arch, group, s, l, ref.losses[s])
				}
			}
			for k, ps := range res.params {
				for i, v := range ps {
					if math.Float32bits(v) != math.Float32bits(ref.params[k][i]) {
						t.Fatalf("%s, groups of %d: parameter %s[%d] = %v, one image at a time %v", arch, group, m.Params()[k].Name, i, v, ref.params[k][i])
					}
				}
			}
		}
	}
}
