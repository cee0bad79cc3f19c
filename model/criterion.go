package model

import (
	"math"
	"sort"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/matcher"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/mask"
)

// Example is one training or evaluation image as the model consumes it.
type Example struct {
	// Index is the dataset index (for probes and RNG streams).
	Index int
	// Input is the image, 3×S×S, CHW, RGB in [0, 1].
	Input []float32
	// Classes, Full and Cover4 describe the GT segments: class index,
	// S×S binary mask, and stride-4 area coverage (S/4·S/4 values in [0, 1],
	// the soft target of the mask losses).
	Classes []int
	Full    []*mask.Bits
	Cover4  [][]float32
}

// BatchNorms are the batch-wide normalisers of Mask2Former's criterion
// (docs/papers.md#losses): the losses are means over the whole batch, and every
// image's graph divides by the same numbers.
type BatchNorms struct {
	NumMasks float64 // Σ GT over the batch, at least 1
	CEDen    float64 // Σ over the batch of the CE class weights of the matching queries
	MPCEDen  float64 // Σ over the batch of the CE class weights of the MP slots
	MaxGT    int     // largest GT count of an image (MP padding)
}

// ComputeNorms returns the normalisers of a batch under config c.
func ComputeNorms(c *Config, ex []*Example) BatchNorms {
	var n BatchNorms
	for _, e := range ex {
		G := len(e.Classes)
		n.NumMasks += float64(G)
		n.MaxGT = max(n.MaxGT, G)
		matched := min(G, c.Queries)
		n.CEDen += float64(matched) + c.Loss.NoObjectWeight*float64(c.Queries-matched)
	}
	if c.Arch == ArchMPFormer {
		for _, e := range ex {
			G := len(e.Classes)
			n.MPCEDen += float64(c.MP.Groups) * (float64(G) + c.Loss.NoObjectWeight*float64(n.MaxGT-G))
		}
	}
	n.NumMasks = max(n.NumMasks, 1)
	return n
}

// LossStats are one image's loss terms, summed over stages (already
// weighted and normalised, so that summing them over the batch gives the
// batch loss), and the matchings of every stage.
type LossStats struct {
	Total             float64
	Class, Mask, Dice float64
	MPClass, MPMask   float64
	MPDice            float64
	PerStage          []float64 // matching-branch loss per stage
	Matches           [][]int   // [stage][gt] → matching query, −1 if unmatched
}

// criterion is Mask2Former's SetCriterion for one image: per stage, a
// Hungarian matching (cost 2·class + 5·BCE + 5·dice) of the matching
// queries to the GT, cross-entropy over all matching queries (no-object
// weight 0.1), BCE and dice on the matched pairs; for MP-Former also the
// MP slots' losses with their fixed assignment. All terms are summed over
// the stages and normalised batch-wide.
func (m *Model) criterion(g *Graph, stages []StageOutput, P int, ex *Example, n BatchNorms, r *rng.RNG) (*Tensor, LossStats) {
	c := &m.Cfg
	K, N := c.NumClasses, c.Queries
	P4 := len(stages[0].MaskLogits.Data) / (P + N)
	G := len(ex.Classes)
	cw := make([]float32, K+1)
	for i := range cw {
		cw[i] = 1
	}
	cw[K] = float32(c.Loss.NoObjectWeight)
	tflat := matcher.CoverTargets(ex.Cover4, P4)
	var terms []*Tensor
	st := LossStats{PerStage: make([]float64, len(stages)), Matches: make([][]int, len(stages))}
	if NonFiniteStage(stages) >= 0 {
		// Diverged: the matching is undefined and the loss is NaN; the
		// trainer stops on it before any backward pass.
		st.Total = math.NaN()
		return g.Full(float32(math.NaN()), 1), st
	}
	for s, so := range stages {
		cls := g.Slice(so.ClassLogits, 0, P, P+N)
		msk := g.Slice(so.MaskLogits, 0, P, P+N)
		var match []int
		if G > 0 {
			if c.Loss.Points > 0 {
				pts := uniformPoints(c.Loss.Points, r)
				pm := samplePlanes(msk.Data, N, m.h4, m.w4, pts)
				pt := samplePlanes(tflat, G, m.h4, m.w4, pts)
				match = m.matchStage(cls.Data, pm, pt, ex.Classes, c.Loss.Points)
			} else {
				match = m.matchStage(cls.Data, msk.Data, tflat, ex.Classes, P4)
			}
		}
		st.Matches[s] = match
		tcls := make([]int, N)
		for q := range tcls {
			tcls[q] = K
		}
		var qs, gs []int
		for gi, q := range match {
			if q >= 0 {
				tcls[q] = ex.Classes[gi]
				qs, gs = append(qs, q), append(gs, gi)
			}
		}
		ce := g.Scale(g.CrossEntropySum(cls, tcls, cw), float32(c.Loss.ClassWeight/n.CEDen))
		stageTerms := []*Tensor{ce}
		st.Class += float64(ce.Data[0])
		if len(qs) > 0 {
			bce, dice := m.maskLosses(g, msk, qs, ex.Cover4, gs, r)
			bce = g.Scale(bce, float32(c.Loss.MaskWeight/n.NumMasks))
			dice = g.Scale(dice, float32(c.Loss.DiceWeight/n.NumMasks))
			st.Mask += float64(bce.Data[0])
			st.Dice += float64(dice.Data[0])
			stageTerms = append(stageTerms, bce, dice)
		}
		stageLoss := g.AddN(stageTerms...)
		st.PerStage[s] = float64(stageLoss.Data[0])
		terms = append(terms, stageLoss)
		if P > 0 {
			terms = append(terms, m.mpLosses(g, so, P, ex, n, cw, &st, r)...)
		}
	}
	total := g.AddN(terms...)
	st.Total = float64(total.Data[0])
	return total, st
}

// mpLosses are the MP slots' losses at one stage: fixed assignment (slot
// g·maxGT + j ↔ GT j), CE over all slots (padding targets "no object")
// unless NoClassLoss, BCE and dice on the assigned slots normalised by
// NumMasks·G (docs/papers.md#mp-losses).
func (m *Model) mpLosses(g *Graph, so StageOutput, P int, ex *Example, n BatchNorms, cw []float32, st *LossStats, r *rng.RNG) []*Tensor {
	c := &m.Cfg
	K := c.NumClasses
	maxGT := P / c.MP.Groups
	cls := g.Slice(so.ClassLogits, 0, 0, P)
	msk := g.Slice(so.MaskLogits, 0, 0, P)
	tcls := make([]int, P)
	var qs, gs []int
	for s := range tcls {
		j := s % maxGT
		if j < len(ex.Classes) {
			tcls[s] = ex.Classes[j]
			qs, gs = append(qs, s), append(gs, j)
		} else {
			tcls[s] = K
		}
	}
	var out []*Tensor
	if !c.MP.NoClassLoss {
		ce := g.Scale(g.CrossEntropySum(cls, tcls, cw), float32(c.Loss.ClassWeight/n.MPCEDen))
		st.MPClass += float64(ce.Data[0])
		out = append(out, ce)
	}
	if len(qs) > 0 {
		den := n.NumMasks * float64(c.MP.Groups)
		bce, dice := m.maskLosses(g, msk, qs, ex.Cover4, gs, r)
		bce = g.Scale(bce, float32(c.Loss.MaskWeight/den))
		dice = g.Scale(dice, float32(c.Loss.DiceWeight/den))
		st.MPMask += float64(bce.Data[0])
		st.MPDice += float64(dice.Data[0])
		out = append(out, bce, dice)
	}
	return out
}

// maskLosses returns Σ BCE and Σ dice over the pairs (row qs[i] of masks
// [rows, P4], GT gs[i]): on all pixels, or on importance-sampled points
// when Loss.Points > 0.
func (m *Model) maskLosses(g *Graph, masks *Tensor, qs []int, cover [][]float32, gs []int, r *rng.RNG) (bce, dice *Tensor) {
	c := &m.Cfg
	sel := g.IndexSelect(masks, 0, qs)
	P4 := masks.Dim(1)
	if c.Loss.Points == 0 {
		tg := g.Scratch(len(qs) * P4)
		for i, gi := range gs {
			copy(tg[i*P4:], cover[gi])
		}
		return g.SumAll(g.BCEWithLogits(sel, tg)), g.SumAll(g.DiceLoss(sel, tg))
	}
	K := c.Loss.Points
	rows := make([]*Tensor, len(qs))
	tg := g.Scratch(len(qs) * K)
	for i := range qs {
		row := g.Reshape(g.Slice(sel, 0, i, i+1), 1, m.h4, m.w4)
		pts := importancePoints(row.Data, m.h4, m.w4, K, c.Loss.Oversample, c.Loss.Importance, r)
		rows[i] = g.PointSample(row, pts)
		copy(tg[i*K:], samplePlanes(cover[gs[i]], 1, m.h4, m.w4, pts))
	}
	sp := g.Concat(0, rows...)
	return g.SumAll(g.BCEWithLogits(sp, tg)), g.SumAll(g.DiceLoss(sp, tg))
}

// uniformPoints draws k points uniformly in [0, 1)², as (x, y) pairs.
func uniformPoints(k int, r *rng.RNG) []float32 {
	p := make([]float32, 2*k)
	for i := range p {
		p[i] = r.Float32()
	}
	return p
}

// importancePoints is detectron2's get_uncertain_point_coords_with_
// randomness: draw oversample·k uniform points, keep the β·k whose sampled
// logit is most uncertain (smallest |logit|), and add (1−β)·k fresh uniform
// points. plane is one h×w logit map.
func importancePoints(plane []float32, h, w, k int, oversample, beta float64, r *rng.RNG) []float32 {
	nSampled := int(float64(k) * oversample)
	nImp := int(float64(k) * beta)
	cand := uniformPoints(nSampled, r)
	vals := samplePlanes(plane, 1, h, w, cand)
	idx := make([]int, nSampled)
	for i := range idx {
		idx[i] = i
	}
	// most uncertain first: −|logit| descending; ties by index
	sort.SliceStable(idx, func(a, b int) bool {
		return math.Abs(float64(vals[idx[a]])) < math.Abs(float64(vals[idx[b]]))
	})
	out := make([]float32, 0, 2*k)
	for _, i := range idx[:nImp] {
		out = append(out, cand[2*i], cand[2*i+1])
	}
	return append(out, uniformPoints(k-nImp, r)...)
}

// samplePlanes samples planes [n, h, w] at normalised points (x, y pairs)
// bilinearly with zero padding (point_sample), outside any graph.
func samplePlanes(planes []float32, n, h, w int, pts []float32) []float32 {
	P := len(pts) / 2
	out := make([]float32, n*P)
	for p := 0; p < P; p++ {
		fx := float64(pts[2*p])*float64(w) - 0.5
		fy := float64(pts[2*p+1])*float64(h) - 0.5
		x0, y0 := int(math.Floor(fx)), int(math.Floor(fy))
		ax, ay := fx-float64(x0), fy-float64(y0)
		for i := 0; i < n; i++ {
			pl := planes[i*h*w : (i+1)*h*w]
			var v float64
			for dy := 0; dy < 2; dy++ {
				for dx := 0; dx < 2; dx++ {
					y, x := y0+dy, x0+dx
					if y < 0 || y >= h || x < 0 || x >= w {
						continue
					}
					wy := 1 - ay
					if dy == 1 {
						wy = ay
					}
					wx := 1 - ax
					if dx == 1 {
						wx = ax
					}
					v += wy * wx * float64(pl[y*w+x])
				}
			}
			out[i*P+p] = float32(v)
		}
	}
	return out
}

// ExampleFromBatch converts a data batch image to the model's input.
func ExampleFromBatch(b *data.BatchImage) *Example {
	return &Example{Index: b.Index, Input: b.Input, Classes: b.Classes, Full: b.Masks, Cover4: b.Cover4}
}

// NonFiniteStage returns the first stage whose class or mask logits hold a NaN
// or ±Inf, or −1 when every stage is finite.
func NonFiniteStage(stages []StageOutput) int {
	for s, so := range stages {
		if !finite32(so.ClassLogits.Data) || !finite32(so.MaskLogits.Data) {
			return s
		}
	}
	return -1
}

// finite32 reports whether every value is neither NaN nor ±Inf (x−x is 0
// exactly for finite x; the OR of the bits keeps the loop branch-free).
func finite32(v []float32) bool {
	var acc uint32
	for _, x := range v {
		acc |= math.Float32bits(x - x)
	}
	return acc == 0
}
