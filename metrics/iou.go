package metrics

import (
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/mask"
)

// IoU returns the intersection over union of two masks of the same size,
//
//	IoU(a, b) = |a ∧ b| / |a ∨ b|,
//
// and 1 when both are empty (see the package documentation). It panics if
// the sizes differ.
func IoU(a, b *mask.Bits) float64 {
	inter, union := mask.InterUnion(a, b)
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// iouAtLeast reports IoU(a, b) ≥ thr as |a∧b| ≥ thr·|a∨b|, without a
// division (exact for thr = 0.5); two empty masks have IoU 1.
func iouAtLeast(a, b *mask.Bits, thr float64) bool {
	inter, union := mask.InterUnion(a, b)
	return float64(inter) >= thr*float64(union)
}

// FromLogits binarises h·w row-major mask logits into a mask: pixel i is set
// iff logits[i] > 0, i.e. sigmoid > 0.5. NaN logits are unset. It panics if
// len(logits) ≠ h·w.
func FromLogits(h, w int, logits []float32) *mask.Bits {
	if len(logits) != h*w {
		panic(fmt.Sprintf("metrics: %d logits for a %d×%d mask", len(logits), h, w))
	}
	m := mask.New(h, w)
	for i, v := range logits {
		if v > 0 {
			m.Words[i>>6] |= 1 << uint(i&63)
		}
	}
	return m
}

// StageMasks binarises one stage's mask logits, laid out as in probes.Stage
// ((numMP + numQueries) rows of h·w logits, MP rows first), and returns the
// masks of the numQueries matching queries only, in query order.
func StageMasks(logits []float32, numMP, numQueries, h, w int) []*mask.Bits {
	if numMP < 0 || numQueries < 0 {
		panic(fmt.Sprintf("metrics: negative row counts %d MP, %d queries", numMP, numQueries))
	}
	n := h * w
	if len(logits) != (numMP+numQueries)*n {
		panic(fmt.Sprintf("metrics: %d logits, want (%d+%d)×%d×%d", len(logits), numMP, numQueries, h, w))
	}
	out := make([]*mask.Bits, numQueries)
	for q := range out {
		r := numMP + q
		out[q] = FromLogits(h, w, logits[r*n:(r+1)*n])
	}
	return out
}

// Mean is a sum of values and their count, the per-image partial result
// that evaluators pool.
type Mean struct {
	Sum float64 `json:"sum"`
	N   int     `json:"n"`
}

// Value is Sum/N, or NaN when N = 0.
func (m Mean) Value() float64 {
	if m.N == 0 {
		return math.NaN()
	}
	return m.Sum / float64(m.N)
}

func (m *Mean) add(v float64) {
	m.Sum += v
	m.N++
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
