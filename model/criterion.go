package model

import (
	"math"
	"sort"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/matcher"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
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
//
// With Loss.Points > 0 it follows the official point-sampled criterion:
// the matching of a stage scores Loss.Points uniform points shared by all
// queries and segments, and each matched pair's mask losses are taken at
// importance-sampled points, with the GT sampled bilinearly from the
// full-resolution mask (ex.Full) at the same points (docs/papers.md#losses).
// rec, when not nil, records every point drawn (for the PyTorch parity
// export); recording changes no draw and no result.
func (m *Model) criterion(g *Graph, stages []StageOutput, P int, ex *Example, n BatchNorms, r *rng.RNG, rec *PointDraws) (*Tensor, LossStats) {
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
		// views: the losses' gradients go straight into the stage's
		// (the MP rows' are mpLosses', a disjoint range)
		cls := g.Rows(so.ClassLogits, P, P+N)
		msk := g.Rows(so.MaskLogits, P, P+N)
		var match []int
		if G > 0 {
			if c.Loss.Points > 0 {
				// Mask2Former matcher.py memory_efficient_forward: one
				// torch.rand(1, num_points, 2) per image and stage; logits and
				// the full-resolution GT point_sample-d at those points.
				pts := uniformPoints(c.Loss.Points, r)
				if rec != nil {
					rec.Match = append(rec.Match, pts)
				}
				pm := samplePlanes(msk.Data, N, m.h4, m.w4, pts)
				pt := sampleMasks(ex.Full, pts)
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
			bce, dice := m.maskLosses(g, msk, qs, ex, gs, r, rec.pairs(s, false))
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
			terms = append(terms, m.mpLosses(g, so, P, ex, n, cw, &st, r, rec.pairs(s, true))...)
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
func (m *Model) mpLosses(g *Graph, so StageOutput, P int, ex *Example, n BatchNorms, cw []float32, st *LossStats, r *rng.RNG, rec *pairRecorder) []*Tensor {
	c := &m.Cfg
	K := c.NumClasses
	maxGT := P / c.MP.Groups
	cls := g.Rows(so.ClassLogits, 0, P)
	msk := g.Rows(so.MaskLogits, 0, P)
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
		bce, dice := m.maskLosses(g, msk, qs, ex, gs, r, rec)
		bce = g.Scale(bce, float32(c.Loss.MaskWeight/den))
		dice = g.Scale(dice, float32(c.Loss.DiceWeight/den))
		st.MPMask += float64(bce.Data[0])
		st.MPDice += float64(dice.Data[0])
		out = append(out, bce, dice)
	}
	return out
}

// maskLosses returns Σ BCE and Σ dice over the pairs (row qs[i] of masks
// [rows, P4], GT gs[i]): on all stride-4 pixels against the area coverage
// ex.Cover4, or, when Loss.Points > 0, at importance-sampled points against
// the full-resolution GT ex.Full sampled bilinearly (Mask2Former
// criterion.py loss_masks: point_sample of the padded full-size target
// masks at the points get_uncertain_point_coords_with_randomness chose on
// the stride-4 logits). rec, when not nil, records each pair's draws.
func (m *Model) maskLosses(g *Graph, masks *Tensor, qs []int, ex *Example, gs []int, r *rng.RNG, rec *pairRecorder) (bce, dice *Tensor) {
	c := &m.Cfg
	sel := g.IndexSelect(masks, 0, qs)
	P4 := masks.Dim(1)
	if c.Loss.Points == 0 {
		tg := g.Scratch(len(qs) * P4)
		for i, gi := range gs {
			copy(tg[i*P4:], ex.Cover4[gi])
		}
		return g.SumAll(g.BCEWithLogits(sel, tg)), g.SumAll(g.DiceLoss(sel, tg))
	}
	K := c.Loss.Points
	rows := make([]*Tensor, len(qs))
	tg := g.Scratch(len(qs) * K)
	for i := range qs {
		row := g.Reshape(g.Slice(sel, 0, i, i+1), 1, m.h4, m.w4)
		pts := importancePoints(row.Data, m.h4, m.w4, K, c.Loss.Oversample, c.Loss.Importance, r, rec.pair(qs[i], gs[i]))
		rows[i] = g.PointSample(row, pts)
		copy(tg[i*K:], sampleMasks(ex.Full[gs[i]:gs[i]+1], pts))
	}
	sp := g.Concat(0, rows...)
	return g.SumAll(g.BCEWithLogits(sp, tg)), g.SumAll(g.DiceLoss(sp, tg))
}

// PointDraws are the points the criterion drew for one image when
// Loss.Points > 0, recorded for the PyTorch parity export
// (model/torchref): with them the official criterion can be run on the
// same points.
type PointDraws struct {
	// Match[s] are the uniform matching points of stage s, (x, y) pairs in
	// [0, 1) (the official torch.rand(1, num_points, 2)).
	Match [][]float32
	// Pairs are the matched (and MP) pairs' loss points, in the order the
	// criterion drew them.
	Pairs []PairPoints
}

// PairPoints are one (query, GT) pair's loss points at one stage.
type PairPoints struct {
	Stage int
	MP    bool // an MP slot (Row is the slot), else a matching query
	Row   int  // query (or MP slot) index
	GT    int
	// Candidates are the Oversample·K uniform points drawn first (the
	// official torch.rand(num_boxes, num_sampled, 2)), Random the K − ⌊βK⌋
	// fresh uniform points drawn after the selection (torch.rand(num_boxes,
	// num_random_points, 2)), Chosen the K points used: the ⌊βK⌋ most
	// uncertain candidates, then Random.
	Candidates, Random, Chosen []float32
}

// pairRecorder appends the pairs of one stage and branch to a PointDraws;
// nil records nothing.
type pairRecorder struct {
	d     *PointDraws
	stage int
	mp    bool
}

func (d *PointDraws) pairs(stage int, mp bool) *pairRecorder {
	if d == nil {
		return nil
	}
	return &pairRecorder{d: d, stage: stage, mp: mp}
}

func (pr *pairRecorder) pair(row, gt int) *PairPoints {
	if pr == nil {
		return nil
	}
	pr.d.Pairs = append(pr.d.Pairs, PairPoints{Stage: pr.stage, MP: pr.mp, Row: row, GT: gt})
	return &pr.d.Pairs[len(pr.d.Pairs)-1]
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
// randomness (projects/PointRend/point_rend/point_features.py): draw
// oversample·k uniform points, keep the ⌊β·k⌋ whose sampled logit is most
// uncertain (smallest |logit|, Mask2Former's calculate_uncertainty), and
// add k − ⌊β·k⌋ fresh uniform points. plane is one h×w logit map. rec,
// when not nil, receives the draws and the result.
func importancePoints(plane []float32, h, w, k int, oversample, beta float64, r *rng.RNG, rec *PairPoints) []float32 {
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
	fresh := uniformPoints(k-nImp, r)
	out = append(out, fresh...)
	if rec != nil {
		rec.Candidates, rec.Random, rec.Chosen = cand, fresh, out
	}
	return out
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

// sampleMasks samples binary masks (all of one size) at normalised points
// (x, y pairs) bilinearly with zero padding, align_corners=False: Σ of the
// bilinear weights of the four neighbouring pixels that are set. It is
// samplePlanes on the masks as 0/1 planes, without building them.
func sampleMasks(masks []*mask.Bits, pts []float32) []float32 {
	P := len(pts) / 2
	out := make([]float32, len(masks)*P)
	if len(masks) == 0 {
		return out
	}
	h, w := masks[0].H, masks[0].W
	for p := 0; p < P; p++ {
		fx := float64(pts[2*p])*float64(w) - 0.5
		fy := float64(pts[2*p+1])*float64(h) - 0.5
		x0, y0 := int(math.Floor(fx)), int(math.Floor(fy))
		ax, ay := fx-float64(x0), fy-float64(y0)
		wts := [4]float64{(1 - ay) * (1 - ax), (1 - ay) * ax, ay * (1 - ax), ay * ax}
		for i, mk := range masks {
			var v float64
			for k, d := range [4][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
				y, x := y0+d[0], x0+d[1]
				if y >= 0 && y < h && x >= 0 && x < w && mk.At(y, x) {
					v += wts[k]
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
		if !fmath.AllFinite(so.ClassLogits.Data) || !fmath.AllFinite(so.MaskLogits.Data) {
			return s
		}
	}
	return -1
}
