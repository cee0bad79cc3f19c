package matcher

import "fmt"

// CoverTargets lays out per-segment target planes, cover[g] with p values
// each (a segment's area coverage of every stride-4 cell, in [0, 1]), as the
// G×p row-major matrix Cost and Match take. It panics if a plane does not
// have p values.
func CoverTargets(cover [][]float32, p int) []float32 {
	out := make([]float32, len(cover)*p)
	for g, c := range cover {
		if len(c) != p {
			panic(fmt.Sprintf("matcher: target plane %d has %d values, want %d", g, len(c), p))
		}
		copy(out[g*p:], c)
	}
	return out
}

// MatchStages returns the Hungarian matching of every decoder stage of one
// image under the Mask2Former cost (see Match): out[s][g] is the query of
// stage s matched to GT segment g, or −1. Stage s has the nq×(k+1) class
// logits classLogits[s] and the nq×p mask logits maskLogits[s] of its
// matching queries; targets (G×p, e.g. CoverTargets) and classes are the
// image's. With no GT segment it returns nil.
//
// It is the per-stage matching the evaluation hands to probes and the one
// the trace reader recomputes for traces stored without matchings: with the
// same logits, targets and weights both give the same matchings bit for bit
// (Cost is deterministic).
func MatchStages(classLogits, maskLogits [][]float32, targets []float32, classes []int, nq, k, p int, w *Weights) [][]int {
	if len(classLogits) != len(maskLogits) {
		panic(fmt.Sprintf("matcher: %d stages of class logits, %d of mask logits", len(classLogits), len(maskLogits)))
	}
	if len(classes) == 0 {
		return nil
	}
	out := make([][]int, len(classLogits))
	for s := range out {
		out[s] = Match(classLogits[s], maskLogits[s], targets, classes, nq, k, p, w)
	}
	return out
}
