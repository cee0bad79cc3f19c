package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// Softmax returns softmax over the last axis of x [..., L] after masking.
//
// add (optional, may be nil) is an additive mask and blocked (optional) a
// boolean mask where true means "may not attend", exactly as an additive
// −∞. Both have shape [R', L] for some R' that divides the number of rows
// R of x, and row r of x uses mask row r mod R' — so a [Lq, Lk] mask
// broadcasts over the heads of x [H, Lq, Lk], and a [H, Lq, Lk] mask gives
// every head its own.
//
// A row whose entries are all blocked (or −∞) has no valid distribution;
// its output is all zeros, so it stays finite, and its gradient is zero.
// (Mask2Former never feeds such rows: it unblocks them first.)
//
// Backward: dx = y ⊙ (G − Σ G⊙y) per row; blocked entries have y = 0 and
// get no gradient.
func (g *Graph[T]) Softmax(x *Tensor[T], add []T, blocked []bool) *Tensor[T] {
	L := x.Dim(-1)
	R := 0
	if L > 0 {
		R = len(x.Data) / L
	}
	checkMaskRows := func(what string, n int) int {
		if n == 0 || L == 0 || n%L != 0 || R%(n/L) != 0 {
			panic(fmt.Sprintf("engine: Softmax: %s mask of %d elements does not broadcast to %v", what, n, x.Shape))
		}
		return n / L
	}
	addRows, blkRows := 0, 0
	if add != nil {
		addRows = checkMaskRows("additive", len(add))
	}
	if blocked != nil {
		blkRows = checkMaskRows("boolean", len(blocked))
	}
	out := g.newTensor(x.Shape, g.needs(x))
	for r := 0; r < R; r++ {
		var am []T
		var bm []bool
		if add != nil {
			ar := r % addRows
			am = add[ar*L : (ar+1)*L]
		}
		if blocked != nil {
			br := r % blkRows
			bm = blocked[br*L : (br+1)*L]
		}
		softmaxRow(out.Data[r*L:(r+1)*L], x.Data[r*L:(r+1)*L], am, bm)
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			dx, fresh := g.gradNew(x)
			for r := 0; r < R; r++ {
				ys := out.Data[r*L : (r+1)*L]
				gs := out.Grad[r*L : (r+1)*L]
				var dot float64
				for j, y := range ys {
					dot += float64(y) * float64(gs[j])
				}
				d := T(dot)
				dxs := dx[r*L : (r+1)*L]
				if fresh {
					for j, y := range ys {
						dxs[j] = y * (gs[j] - d)
					}
					continue
				}
				for j, y := range ys {
					dxs[j] += y * (gs[j] - d)
				}
			}
		})
	}
	return out
}

// AttnWeights are the projections of one multi-head attention block,
// nn.MultiheadAttention's in_proj split into q, k and v: each W is [D, D]
// (PyTorch layout [out, in]) and each bias [D].
type AttnWeights[T Float] struct {
	Wq, Bq, Wk, Bk, Wv, Bv, Wo, Bo *Tensor[T]
}

// Attention is multi-head attention as Mask2Former's decoder uses it:
//
//	q = (query + qPos)·Wqᵀ + bq,  k = (key + kPos)·Wkᵀ + bk,  v = value·Wvᵀ + bv
//	out = concat_h softmax(q_h·k_hᵀ/√d_h, blocked)·v_h · Woᵀ + bo
//
// query [Lq, D], key and value [Lk, D]; qPos [Lq, D] and kPos [Lk, D] are
// positional embeddings added to the queries and keys only (nil for none).
// blocked is a boolean mask, true = may not attend, of shape [Lq, Lk]
// (shared by the heads) or [heads, Lq, Lk]; nil attends everywhere. Fully
// blocked rows output zeros before the output projection (see Softmax).
// The result is [Lq, D]. It is AttentionBatch of one item.
func (g *Graph[T]) Attention(query, key, value, qPos, kPos *Tensor[T], w AttnWeights[T], heads int, blocked []bool) *Tensor[T] {
	if query.Dims() != 2 || key.Dims() != 2 || value.Dims() != 2 {
		shapePanic("Attention", query.Shape, key.Shape, value.Shape)
	}
	var masks [][]bool
	if blocked != nil {
		masks = [][]bool{blocked}
	}
	return g.AttentionBatch(query, key, value, qPos, kPos, w, heads, masks)
}

// AttentionBatch is Attention on a batch of N independent items: query
// [N, Lq, D], key and value [N, Lk, D] (or 2-D for one item), qPos and
// kPos of those shapes or of one item's, then shared by all items
// (broadcast as Add does). blocked holds one mask per item (each nil or as
// in Attention), or is nil. The projections run on all items' rows at
// once, so each weight is read once per batch and its gradient is one
// product over the batch's rows; the attention itself runs item by item.
// An item's outputs have the bits Attention gives it alone (rows of a
// product do not depend on the others); the weights' gradients are sums
// over the batch's rows in one product, so they round differently from a
// sum of per-item gradients. Gradients flow through the composed ops.
func (g *Graph[T]) AttentionBatch(query, key, value, qPos, kPos *Tensor[T], w AttnWeights[T], heads int, blocked [][]bool) *Tensor[T] {
	n := 1
	if query.Dims() == 3 {
		n = query.Shape[0]
	}
	dims := query.Dims()
	if (dims != 2 && dims != 3) || key.Dims() != dims || !slices.Equal(key.Shape, value.Shape) ||
		(dims == 3 && key.Shape[0] != n) {
		shapePanic("Attention", query.Shape, key.Shape, value.Shape)
	}
	Lq, D := query.Dim(-2), query.Dim(-1)
	Lk := key.Dim(-2)
	if key.Dim(-1) != D {
		shapePanic("Attention", query.Shape, key.Shape, value.Shape)
	}
	if D%heads != 0 {
		panic(fmt.Sprintf("engine: Attention: width %d not divisible by %d heads", D, heads))
	}
	dh := D / heads
	if blocked != nil && len(blocked) != n {
		panic(fmt.Sprintf("engine: Attention: %d masks for %d items", len(blocked), n))
	}
	for _, b := range blocked {
		if b != nil && len(b) != Lq*Lk && len(b) != heads*Lq*Lk {
			panic(fmt.Sprintf("engine: Attention: mask of %d elements, want %d×%d or %d×%d×%d", len(b), Lq, Lk, heads, Lq, Lk))
		}
	}
	qin, kin := query, key
	if qPos != nil {
		qin = g.Add(query, qPos)
	}
	if kPos != nil {
		kin = g.Add(key, kPos)
	}
	q := g.Linear(qin, w.Wq, w.Bq)
	k := g.Linear(kin, w.Wk, w.Bk)
	v := g.Linear(value, w.Wv, w.Bv)
	ctx := g.attentionHeads(q, k, v, n, heads, T(1/math.Sqrt(float64(dh))), blocked) // query's shape
	return g.Linear(ctx, w.Wo, w.Bo)
}

// attentionHeads is the core of multi-head attention on the projected
// q [n·Lq, D], k and v [n·Lk, D] of n items (any leading shape; the
// result has q's): for each item and head h, with X_h the columns
// h·dh…(h+1)·dh−1 of the item's rows of X,
//
//	P_h = softmax(scale · q_h·k_hᵀ, blocked),  ctx_h = P_h·v_h,
//
// and the item's result is ctx [Lq, D] (the heads side by side, as
// concat_h). It is the sequence Permute → BatchedMatMul → Softmax →
// BatchedMatMul → Permute of the composed version with the head
// permutations folded into the GEMMs' strides: each head's operands are
// read in place (row stride D) and its context written in place, so no
// permuted copies are made, and the same GEMMs run on the same values, so
// the results are the same. Where the GEMM does not depend on operand
// layout (gemm.LayoutIndependent), each item's k and v are transposed once
// and every head multiplies by its rows of kᵀ (vᵀ in the backward)
// untransposed: the same products, so the same bits, without each head's
// GEMM transposing its 16 columns again. blocked is as in AttentionBatch.
//
// Backward, per item and head, with G_h the columns of dctx:
//
//	dP_h = G_h·v_hᵀ,  dv_h += P_hᵀ·G_h,
//	dS_h = P_h ⊙ (dP_h − Σ_rows dP_h⊙P_h)   (Softmax's backward),
//	dq_h += scale·dS_h·k_h,  dk_h += scale·dS_hᵀ·q_h.
func (g *Graph[T]) attentionHeads(q, k, v *Tensor[T], n, heads int, scale T, blocked [][]bool) *Tensor[T] {
	D := q.Dim(-1)
	Lq, Lk := len(q.Data)/(n*D), len(k.Data)/(n*D)
	dh := D / heads
	out := g.newTensor(q.Shape, g.needs(q, k, v))
	probs := g.allocRaw(n * heads * Lq * Lk) // item i's P_h at probs[(i·heads+h)·Lq·Lk:]
	// item i's k transposed, D×Lk
	var kT []T
	if transposeHeads[T]() {
		kT = g.allocRaw(D * Lk)
	}
	for i := 0; i < n; i++ {
		var mask []bool
		if blocked != nil {
			mask = blocked[i]
		}
		qi, ki, vi := q.Data[i*Lq*D:], k.Data[i*Lk*D:], v.Data[i*Lk*D:]
		oi, pi := out.Data[i*Lq*D:], probs[i*heads*Lq*Lk:]
		blkRows := 0
		if mask != nil {
			blkRows = len(mask) / Lk
		}
		if kT != nil {
			transpose(kT, ki[:Lk*D], Lk, D)
		}
		for h := 0; h < heads; h++ {
			ph := pi[h*Lq*Lk : (h+1)*Lq*Lk]
			if kT != nil {
				gemmT(false, false, Lq, Lk, dh, scale, qi[h*dh:], D, kT[h*dh*Lk:], Lk, 0, ph, Lk)
			} else {
				gemmT(false, true, Lq, Lk, dh, scale, qi[h*dh:], D, ki[h*dh:], D, 0, ph, Lk)
			}
			for r := 0; r < Lq; r++ {
				var bm []bool
				if mask != nil {
					br := (h*Lq + r) % blkRows
					bm = mask[br*Lk : (br+1)*Lk]
				}
				row := ph[r*Lk : (r+1)*Lk]
				softmaxRow(row, row, nil, bm)
			}
			gemmT(false, false, Lq, dh, Lk, 1, ph, Lk, vi[h*dh:], D, 0, oi[h*dh:], D)
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			// in the order the loop below writes them: a buffer shared by
			// two of them is new for the first only
			dv, newV := g.gradNewIf(v)
			dq, newQ := g.gradNewIf(q)
			dk, newK := g.gradNewIf(k)
			dp := g.allocRaw(Lq * Lk)
			var vT []T // item i's v transposed, D×Lk
			if kT != nil && (dq != nil || dk != nil) {
				vT = g.allocRaw(D * Lk)
			}
			for i := 0; i < n; i++ {
				qi, ki, vi := q.Data[i*Lq*D:], k.Data[i*Lk*D:], v.Data[i*Lk*D:]
				Gi, pi := out.Grad[i*Lq*D:], probs[i*heads*Lq*Lk:]
				if vT != nil {
					transpose(vT, vi[:Lk*D], Lk, D)
				}
				for h := 0; h < heads; h++ {
					ph := pi[h*Lq*Lk : (h+1)*Lq*Lk]
					gh := Gi[h*dh:]
					if dv != nil {
						gemmT(true, false, Lk, dh, Lq, 1, ph, Lk, gh, D, gemmBeta[T](newV), dv[i*Lk*D+h*dh:], D)
					}
					if dq == nil && dk == nil {
						continue
					}
					if vT != nil {
						gemmT(false, false, Lq, Lk, dh, 1, gh, D, vT[h*dh*Lk:], Lk, 0, dp, Lk)
					} else {
						gemmT(false, true, Lq, Lk, dh, 1, gh, D, vi[h*dh:], D, 0, dp, Lk)
					}
					softmaxBackwardRows(dp, ph, Lq, Lk)
					if dq != nil {
						gemmT(false, false, Lq, dh, Lk, scale, dp, Lk, ki[h*dh:], D, gemmBeta[T](newQ), dq[i*Lq*D+h*dh:], D)
					}
					if dk != nil {
						gemmT(true, false, Lk, dh, Lq, scale, dp, Lk, qi[h*dh:], D, gemmBeta[T](newK), dk[i*Lk*D+h*dh:], D)
					}
				}
			}
		})
	}
	return out
}

// transposeHeads reports whether attentionHeads multiplies by transposed
// copies of k and v (float32 with a layout-independent GEMM).
func transposeHeads[T Float]() bool {
	_, f32 := any(T(0)).(float32)
	return f32 && gemm.LayoutIndependent() && !noTransposeHeads
}

// noTransposeHeads turns the transposed copies off (tests).
var noTransposeHeads bool

// softmaxBackwardRows turns the Lq rows of g (Lk long) from the gradient
// of softmax outputs y into that of its inputs: g ← y ⊙ (g − ⟨y, g⟩), the
// dot product one float64 chain per row in index order. For float32,
// eight rows' chains run in the lanes of fmath.RowDots8; otherwise four
// side by side (a chain is bound by the latency of its additions); each
// row's arithmetic is unchanged.
func softmaxBackwardRows[T Float](g, y []T, Lq, Lk int) {
	i := 0
	if g32, ok := any(g).([]float32); ok {
		y32 := any(y).([]float32)
		for ; i+8 <= Lq; i += 8 {
			var dot [8]float64
			fmath.RowDots8(&dot, y32[i*Lk:(i+8)*Lk], g32[i*Lk:(i+8)*Lk], Lk, Lk)
			for r, d := range dot {
				subMulRow(g[(i+r)*Lk:(i+r+1)*Lk], y[(i+r)*Lk:(i+r+1)*Lk], T(d))
			}
		}
	}
	for ; i+4 <= Lq; i += 4 {
		y0, y1, y2, y3 := y[i*Lk:][:Lk], y[(i+1)*Lk:][:Lk], y[(i+2)*Lk:][:Lk], y[(i+3)*Lk:][:Lk]
		g0, g1, g2, g3 := g[i*Lk:][:Lk], g[(i+1)*Lk:][:Lk], g[(i+2)*Lk:][:Lk], g[(i+3)*Lk:][:Lk]
		var s0, s1, s2, s3 float64
		for j, v := range y0 {
			s0 += float64(v) * float64(g0[j])
			s1 += float64(y1[j]) * float64(g1[j])
			s2 += float64(y2[j]) * float64(g2[j])
			s3 += float64(y3[j]) * float64(g3[j])
		}
		subMulRow(g0, y0, T(s0))
		subMulRow(g1, y1, T(s1))
		subMulRow(g2, y2, T(s2))
		subMulRow(g3, y3, T(s3))
	}
	for ; i < Lq; i++ {
		ys, gs := y[i*Lk:][:Lk], g[i*Lk:][:Lk]
		var dot float64
		for j, v := range ys {
			dot += float64(v) * float64(gs[j])
		}
		subMulRow(gs, ys, T(dot))
	}
}

// subMulRow sets g[j] = y[j]·(g[j] − d) (fmath.SubMul for float32).
func subMulRow[T Float](g, y []T, d T) {
	if g32, ok := any(g).([]float32); ok {
		fmath.SubMul(g32, any(y).([]float32), float32(d))
		return
	}
	for j, v := range y {
		g[j] = v * (g[j] - d)
	}
}

// softmaxRow writes the masked softmax of one row (see Softmax): the max
// over the allowed entries, e^(x−max) for them, 0 for the others, and the
// normalisation by the sum (accumulated in float64). A row with nothing
// allowed is all zeros. float32 rows go to softmaxRow32.
func softmaxRow[T Float](ys, xs, am []T, bm []bool) {
	if y32, ok := any(ys).([]float32); ok {
		softmaxRow32(y32, any(xs).([]float32), any(am).([]float32), bm)
		return
	}
	negInf := T(math.Inf(-1))
	if am != nil { // additive mask: fold it in first
		for j, v := range xs {
			ys[j] = v + am[j]
		}
		xs = ys
	}
	mx := negInf
	if bm == nil {
		for _, v := range xs {
			if v > mx {
				mx = v
			}
		}
	} else {
		for j, v := range xs {
			if !bm[j] && v > mx {
				mx = v
			}
		}
	}
	if mx == negInf {
		clear(ys)
		return
	}
	var s float64
	for j, v := range xs {
		if (bm != nil && bm[j]) || v == negInf {
			ys[j] = 0
			continue
		}
		e := expT(v - mx)
		ys[j] = e
		s += float64(e)
	}
	inv := T(1 / s)
	for j := range ys {
		ys[j] *= inv
	}
}

// softmaxRow32 is softmaxRow for float32 rows with the vector exponential
// of internal/fmath: blocked entries are first set to −∞ in ys, so that
// e^(−∞−max) is exactly 0 for them as for −∞ inputs, and fmath.ExpSubSum
// computes e^(x−max) and its float64 sum (in a fixed order: deterministic).
func softmaxRow32(ys, xs, am []float32, bm []bool) {
	negInf := float32(math.Inf(-1))
	if am != nil { // additive mask: fold it in first
		for j, v := range xs {
			ys[j] = v + am[j]
		}
		xs = ys
	}
	var mx float32
	if bm == nil {
		mx = fmath.MaxBlocked(nil, xs, nil)
	} else {
		ys = ys[:len(xs)]
		mx = fmath.MaxBlocked(ys, xs, bm[:len(xs)])
		xs = ys
	}
	if mx == negInf {
		clear(ys)
		return
	}
	// (a zero maximum may have either sign: e^(x − max) is the same)
	inv := float32(1 / fmath.ExpSubSum(ys, xs, mx))
	fmath.Scale(ys, inv)
}
