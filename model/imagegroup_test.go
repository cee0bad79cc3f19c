package model

import (
	"math"
	"strings"
	"sync"
	"testing"
)

// groupRun is what TestImageGroups keeps of one step's gradients.
type groupRun struct {
	losses []float64     // per image
	logits [][][]float32 // [image][stage·2 + 0/1] class and mask logits
	names  []string      // per parameter
	grads  [][]float32   // per parameter
}

// runGroups computes the gradients of step 0 on a batch of six 64 px
// images in two gradient slots (three images each), the slot's images in
// groups of the given size.
func runGroups(t *testing.T, arch string, group int) *groupRun {
	t.Helper()
	m, ex := benchBatchPixel(t, arch, PixelFPN, 64, 0, 6)
	tc := DefaultTrainConfig(100)
	tc.Batch = len(ex)
	tr, err := NewTrainer(m, tc)
	if err != nil {
		t.Fatal(err)
	}
	tr.groupSize = group
	res := &groupRun{logits: make([][][]float32, len(ex))}
	var mu sync.Mutex
	stats, err := tr.Gradients(ex, 0, func(is *ImageStep) {
		var l [][]float32
		for _, st := range is.Stages {
			l = append(l, append([]float32(nil), st.ClassLogits.Data...), append([]float32(nil), st.MaskLogits.Data...))
		}
		mu.Lock()
		res.logits[is.Slot] = l
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		res.losses = append(res.losses, s.Total)
	}
	for _, p := range m.Params() {
		res.names = append(res.names, p.Name)
		res.grads = append(res.grads, append([]float32(nil), p.Grad...))
	}
	return res
}

// TestImageGroups: a slot's images run one at a time or in groups of two
// or three — the backbone and pixel decoder as one batch, the transformer
// decoder with the images in lockstep — for MaskFormer, Mask2Former and
// MP-Former with its label noise (batch 6 in two slots: groups of 1, 2+1
// and 3).
//
// Every image's predictions at every stage and its loss are the same bits
// in every grouping: rows of a product do not depend on the other rows, and
// attention, the mask products and the loss run image by image. The
// gradients are not: a decoder weight's gradient is one product over the
// group's rows instead of a sum of per-image products, so it rounds
// differently; each parameter's gradient must stay within 1e-5 of its
// norm of the one-at-a-time gradient (float32 rounding of sums over a few
// hundred rows: at most 6e-7 here; a gradient routed to the wrong image's rows or
// dropped is off by O(1)). The backbone's and pixel decoder's gradients
// stay bit-identical (they are computed image by image and added in
// image order), and the decoder's grouped steps are pinned by
// TestTrainStepGolden's batch-8 runs.
func TestImageGroups(t *testing.T) {
	for _, arch := range []string{ArchMaskFormer, ArchMask2Former, ArchMPFormer} {
		ref := runGroups(t, arch, 1)
		for _, group := range []int{2, 3} {
			got := runGroups(t, arch, group)
			for i, l := range got.losses {
				if math.Float64bits(l) != math.Float64bits(ref.losses[i]) {
					t.Errorf("%s, groups of %d: image %d loss %.17g, one image at a time %.17g", arch, group, i, l, ref.losses[i])
				}
			}
			for i, st := range got.logits {
				if len(st) != len(ref.logits[i]) {
					t.Fatalf("%s, groups of %d: image %d has %d outputs, one at a time %d", arch, group, i, len(st), len(ref.logits[i]))
				}
				for k, v := range st {
					for e := range v {
						if math.Float32bits(v[e]) != math.Float32bits(ref.logits[i][k][e]) {
							t.Fatalf("%s, groups of %d: image %d stage %d %s logit %d = %v, one at a time %v", arch, group, i, k/2, [2]string{"class", "mask"}[k%2], e, v[e], ref.logits[i][k][e])
						}
					}
				}
			}
			var worst float64
			for k, gr := range got.grads {
				name := got.names[k]
				var diff, norm float64
				same := true
				for e, v := range gr {
					w := ref.grads[k][e]
					diff += float64(v-w) * float64(v-w)
					norm += float64(w) * float64(w)
					same = same && math.Float32bits(v) == math.Float32bits(w)
				}
				rel := math.Sqrt(diff / max(norm, 1e-30))
				worst = max(worst, rel)
				if rel > 1e-5 {
					t.Errorf("%s, groups of %d: gradient of %s off by %.3g of its norm", arch, group, name, rel)
				}
				if !same && !strings.HasPrefix(name, "decoder.") {
					t.Errorf("%s, groups of %d: gradient of %s (not a decoder parameter) is not bit-identical", arch, group, name)
				}
			}
			t.Logf("%s, groups of %d: largest relative gradient difference %.3g", arch, group, worst)
		}
	}
}
