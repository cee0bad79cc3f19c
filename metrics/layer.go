package metrics

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/mask"
)

// UtilThreshold is the IoU a stage-s mask must reach (IoU ≥ 0.5) to count
// for Util-B and Util-C.
const UtilThreshold = 0.5

// ImageStages is what the stage metrics need from one image: every stage's
// binary masks of the matching queries, every stage's Hungarian matching,
// and the ground-truth masks.
type ImageStages struct {
	// Index identifies the image (its dataset index) in per-image results.
	Index int
	// Masks[s][q] is the binary mask (logit > 0, stride 4) of matching
	// query q at stage s, s = 0..S−1, q = 0..Q−1. All masks have one size.
	// StageMasks builds Masks[s] from a probes.Stage.
	Masks [][]*mask.Bits
	// Match[s][g] = σ_s(g), the matching query matched to GT segment g at
	// stage s, or −1; len(Match) = S and every Match[s] has G entries. Nil
	// when the image has no ground truth: then only the NonEmpty query set
	// is defined and every GT-based figure counts nothing for this image.
	Match [][]int
	// GT[g] is GT segment g's mask at the masks' size, used by Util-C only.
	// Nil leaves Util-C undefined for this image; otherwise len(GT) = G.
	GT []*mask.Bits

	cache *pairCache // set by NewLayerImage on its copy
}

// dims validates img and returns the number of stages, queries and GT
// segments. It panics on any inconsistency.
func (img *ImageStages) dims() (S, Q, G int) {
	S = len(img.Masks)
	if S == 0 {
		panic("metrics: ImageStages has no stage")
	}
	Q = len(img.Masks[0])
	var h, w int
	for s, ms := range img.Masks {
		if len(ms) != Q {
			panic(fmt.Sprintf("metrics: stage %d has %d query masks, stage 0 has %d", s, len(ms), Q))
		}
		for q, m := range ms {
			if m == nil {
				panic(fmt.Sprintf("metrics: nil mask at stage %d query %d", s, q))
			}
			if s == 0 && q == 0 {
				h, w = m.H, m.W
			} else if m.H != h || m.W != w {
				panic(fmt.Sprintf("metrics: mask size %d×%d at stage %d query %d, want %d×%d", m.H, m.W, s, q, h, w))
			}
		}
	}
	G = -1
	if img.Match != nil {
		if len(img.Match) != S {
			panic(fmt.Sprintf("metrics: %d matchings for %d stages", len(img.Match), S))
		}
		G = len(img.Match[0])
		seen := make([]int, Q)
		for s, m := range img.Match {
			if len(m) != G {
				panic(fmt.Sprintf("metrics: stage %d matches %d GT segments, stage 0 matches %d", s, len(m), G))
			}
			for g, q := range m {
				if q < -1 || q >= Q {
					panic(fmt.Sprintf("metrics: stage %d matches GT %d to query %d of %d", s, g, q, Q))
				}
				if q >= 0 {
					if seen[q] == s+1 {
						panic(fmt.Sprintf("metrics: stage %d matches query %d twice", s, q))
					}
					seen[q] = s + 1
				}
			}
		}
	}
	if img.GT != nil {
		if G == -1 {
			G = len(img.GT)
		} else if len(img.GT) != G {
			panic(fmt.Sprintf("metrics: %d GT masks for %d matched segments", len(img.GT), G))
		}
		for g, m := range img.GT {
			if m == nil || m.H != h || m.W != w {
				panic(fmt.Sprintf("metrics: GT mask %d is nil or not %d×%d", g, h, w))
			}
		}
	}
	if G < 0 {
		G = 0
	}
	return S, Q, G
}

// QuerySet selects the queries whose masks a consistency metric compares
// between a stage s and a later stage t; see the package documentation.
type QuerySet int

const (
	// FinalMatched is {σ_{S−1}(g)}: the queries matched at the last
	// stage, one per matched GT segment. The primary set.
	FinalMatched QuerySet = iota
	// NonEmpty is every query whose mask is non-empty at s or at t.
	NonEmpty
	// StageMatched is {σ_s(g)}: the queries matched at the earlier stage s.
	StageMatched
)

// String returns the set's JSON name.
func (qs QuerySet) String() string {
	switch qs {
	case FinalMatched:
		return "final_matched"
	case NonEmpty:
		return "non_empty"
	case StageMatched:
		return "stage_matched"
	}
	return fmt.Sprintf("QuerySet(%d)", int(qs))
}

// queries returns the queries of set for stages s < t (or s = t), in GT
// order for the matched sets and in query order for NonEmpty.
func (img *ImageStages) queries(set QuerySet, s, t int) []int {
	var out []int
	switch set {
	case FinalMatched, StageMatched:
		if img.Match == nil {
			return nil
		}
		ref := len(img.Masks) - 1
		if set == StageMatched {
			ref = s
		}
		for _, q := range img.Match[ref] {
			if q >= 0 {
				out = append(out, q)
			}
		}
	case NonEmpty:
		for q := range img.Masks[s] {
			if !img.maskEmpty(s, q) || !img.maskEmpty(t, q) {
				out = append(out, q)
			}
		}
	default:
		panic(fmt.Sprintf("metrics: unknown query set %d", int(set)))
	}
	return out
}

func (img *ImageStages) pairIoU(set QuerySet, s, t int) Mean {
	var m Mean
	for _, q := range img.queries(set, s, t) {
		m.add(img.maskIoU(s, t, q))
	}
	return m
}

// ConsecutiveIoU returns, for each stage pair s = 0..S−2, the sum and count
// over the queries q of set of
//
//	IoU(B_q^s, B_q^{s+1}),
//
// the consistency of a query's mask from stage s to stage s+1, for one
// image. StageMatched takes the queries matched at stage s. It panics if img
// is inconsistent.
func ConsecutiveIoU(img *ImageStages, set QuerySet) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S-1)
	for s := range out {
		out[s] = img.pairIoU(set, s, s+1)
	}
	return out
}

// IoUToFinal returns, for each stage s = 0..S−1, the sum and count over the
// queries q of set of
//
//	IoU(B_q^s, B_q^{S−1}),
//
// how close a query's stage-s mask already is to its last-stage mask, for one
// image. Entry S−1 is 1 per query. StageMatched takes the queries matched at
// stage s.
func IoUToFinal(img *ImageStages, set QuerySet) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S)
	for s := range out {
		out[s] = img.pairIoU(set, s, S-1)
	}
	return out
}

// StageIoUMatrix returns the S×S matrix whose entry (i, j) is the sum and
// count over the FinalMatched queries q of IoU(B_q^i, B_q^j), for one image:
// symmetric, with IoU 1 on the diagonal. It is the heat map of how a
// matched query's mask moves through the decoder.
func StageIoUMatrix(img *ImageStages) [][]Mean {
	S, _, _ := img.dims()
	qs := img.queries(FinalMatched, S-1, S-1)
	out := make([][]Mean, S)
	for i := range out {
		out[i] = make([]Mean, S)
	}
	for i := 0; i < S; i++ {
		out[i][i] = Mean{Sum: float64(len(qs)), N: len(qs)}
		for j := i + 1; j < S; j++ {
			var m Mean
			for _, q := range qs {
				m.add(img.maskIoU(i, j, q))
			}
			out[i][j], out[j][i] = m, m
		}
	}
	return out
}

// UtilA returns, for each stage s = 0..S−1, over the GT segments g matched
// at the last stage, the count of those whose stage-s match is the same
// query:
//
//	Util-A(s) = |{g : σ_s(g) = σ_{S−1}(g) ≠ −1}| / |{g : σ_{S−1}(g) ≠ −1}|.
//
// Entry S−1 is 1 per segment.
func UtilA(img *ImageStages) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S)
	if img.Match == nil {
		return out
	}
	last := img.Match[S-1]
	for s := range out {
		for g, q := range last {
			if q >= 0 {
				out[s].add(boolFloat(img.Match[s][g] == q))
			}
		}
	}
	return out
}

// UtilB returns, for each stage s = 0..S−1, over the queries q = σ_{S−1}(g)
// matched at the last stage, the count of those whose stage-s mask already
// overlaps their last-stage mask:
//
//	Util-B(s) = |{q : IoU(B_q^s, B_q^{S−1}) ≥ 0.5}| / |{σ_{S−1}(g) ≠ −1}|.
//
// Entry S−1 is 1 per query.
func UtilB(img *ImageStages) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S)
	qs := img.queries(FinalMatched, S-1, S-1)
	for s := range out {
		for _, q := range qs {
			out[s].add(boolFloat(img.maskIoUAtLeast(s, S-1, q, UtilThreshold)))
		}
	}
	return out
}

// UtilC returns, for each stage s = 0..S−1, over the GT segments g matched
// at the last stage to q = σ_{S−1}(g), the count of those whose query's
// stage-s mask already hits the segment:
//
//	Util-C(s) = |{g : IoU(B_q^s, GT_g) ≥ 0.5}| / |{g : σ_{S−1}(g) ≠ −1}|.
//
// It counts nothing when img.GT is nil.
func UtilC(img *ImageStages) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S)
	if img.Match == nil || img.GT == nil {
		return out
	}
	for g, q := range img.Match[S-1] {
		if q < 0 {
			continue
		}
		for s := range out {
			out[s].add(boolFloat(img.gtIoUAtLeast(s, q, g, UtilThreshold)))
		}
	}
	return out
}

// MatchChange returns, for each stage pair s = 0..S−2, over all GT segments
// g, the count of those whose matched query changes:
//
//	change(s) = |{g : σ_s(g) ≠ σ_{s+1}(g)}| / G,
//
// where a change to or from "unmatched" (−1) counts as a change. One minus
// it is the matching stability.
func MatchChange(img *ImageStages) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S-1)
	if img.Match == nil {
		return out
	}
	for s := range out {
		for g, q := range img.Match[s] {
			out[s].add(boolFloat(img.Match[s+1][g] != q))
		}
	}
	return out
}
