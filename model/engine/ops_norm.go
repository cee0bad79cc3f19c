package engine

import (
	"math"

	"github.com/mpanalyze/mpanalyze/internal/fmath"
)

// GroupNorm normalises x [N, C, ...] over groups of C/groups channels and
// all trailing positions (biased variance, eps inside the square root),
// then applies the per-channel affine gamma [C], beta [C] (PyTorch's
// nn.GroupNorm; LayerNorm-like statistics per (image, group)).
//
// Backward, per (image, group) with m elements, x̂ = (x−μ)/σ and
// ĝ = G·γ: dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ, dγ += Σ G·x̂, dβ += Σ G.
func (g *Graph[T]) GroupNorm(x, gamma, beta *Tensor[T], groups int, eps float64) *Tensor[T] {
	return g.groupNorm("GroupNorm", x, gamma, beta, groups, eps, false)
}

// GroupNormReLU is ReLU(GroupNorm(x, gamma, beta, groups, eps)) as one op,
// with the bits of the pair (values and gradients). The GroupNorm output
// is never stored: the forward writes the activation only, and the
// backward recomputes ReLU's mask from x̂ — the pre-activation x̂·γ + β
// rounded as the forward rounded it — inside GroupNorm's two passes over
// the gradient, where the pair would write the masked gradient out and
// read it back twice (detectron2's Conv2d with norm and activation).
func (g *Graph[T]) GroupNormReLU(x, gamma, beta *Tensor[T], groups int, eps float64) *Tensor[T] {
	return g.groupNorm("GroupNormReLU", x, gamma, beta, groups, eps, true)
}

func (g *Graph[T]) groupNorm(op string, x, gamma, beta *Tensor[T], groups int, eps float64, relu bool) *Tensor[T] {
	if x.Dims() < 2 || groups <= 0 || x.Shape[1]%groups != 0 || gamma.Size() != x.Shape[1] || beta.Size() != x.Shape[1] {
		shapePanic(op, x.Shape, gamma.Shape, beta.Shape)
	}
	N, C := x.Shape[0], x.Shape[1]
	S := len(x.Data) / (N * C)
	return g.normalize(op, x, gamma, beta, N*groups, (C/groups)*S, C/groups, S, eps, relu)
}

// LayerNorm normalises x [..., D] over its last dim and applies gamma [D],
// beta [D] (nn.LayerNorm). Backward as GroupNorm's with one group per row.
func (g *Graph[T]) LayerNorm(x, gamma, beta *Tensor[T], eps float64) *Tensor[T] {
	D := x.Dim(-1)
	if gamma.Size() != D || beta.Size() != D {
		shapePanic("LayerNorm", x.Shape, gamma.Shape, beta.Shape)
	}
	rows := len(x.Data) / D
	out := g.newTensor(x.Shape, g.needs(x, gamma, beta))
	xhat := g.allocRaw(len(x.Data))
	rstd := g.alloc64(rows)
	mus := g.alloc64(rows)
	statsRows(x.Data, D, eps, mus, rstd)
	gm, bt := gamma.Data, beta.Data
	for r := 0; r < rows; r++ {
		xs := x.Data[r*D : (r+1)*D]
		xh, ys := xhat[r*D:(r+1)*D], out.Data[r*D:(r+1)*D]
		muT, rT := T(mus[r]), T(rstd[r])
		if x32, ok := any(xs).([]float32); ok { // the loop below, vectorised
			fmath.NormAffine(any(xh).([]float32), any(ys).([]float32), x32, float32(muT), float32(rT), any(gm).([]float32), any(bt).([]float32))
			continue
		}
		for e, v := range xs {
			h := (v - muT) * rT
			xh[e] = h
			ys[e] = h*gm[e] + bt[e]
		}
	}
	if out.requiresGrad {
		g.push(func() {
			G := out.Grad
			if G == nil {
				return
			}
			dg, db := g.gradIf(gamma), g.gradIf(beta)
			dx, newX := g.gradNewIf(x) // a new dx is written, not added to
			// Σ ĝ and Σ ĝ·x̂ with ĝ = G·γ per row, two rows at a time
			sgs, sgxs := g.alloc64(rows), g.alloc64(rows)
			r := 0
			for ; r+2 <= rows; r += 2 {
				sgs[r], sgxs[r], sgs[r+1], sgxs[r+1] = gammaSums2(G[r*D:(r+1)*D], xhat[r*D:(r+1)*D], G[(r+1)*D:(r+2)*D], xhat[(r+1)*D:(r+2)*D], gm)
			}
			for ; r < rows; r++ {
				sgs[r], sgxs[r] = gammaSums(G[r*D:(r+1)*D], xhat[r*D:(r+1)*D], gm)
			}
			for r := 0; r < rows; r++ {
				Gr, xh := G[r*D:(r+1)*D], xhat[r*D:(r+1)*D]
				sg, sgx := sgs[r], sgxs[r]
				if g32, ok := any(Gr).([]float32); ok && dg != nil && db != nil && dx != nil {
					// the three loops below in one vectorised pass (each
					// element of dg, db and dx gets the same operations)
					mg, mgx, rs := float32(sg/float64(D)), float32(sgx/float64(D)), float32(rstd[r])
					grad := fmath.LayerNormGrad
					if newX {
						grad = fmath.LayerNormGradSet
					}
					grad(any(dx[r*D:(r+1)*D]).([]float32), any(dg).([]float32), any(db).([]float32), g32, any(xh).([]float32), any(gm).([]float32), mg, mgx, rs)
					continue
				}
				if dg != nil {
					for e, gv := range Gr {
						dg[e] += gv * xh[e]
					}
				}
				if db != nil {
					for e, gv := range Gr {
						db[e] += gv
					}
				}
				if dx == nil {
					continue
				}
				mg, mgx, rs := T(sg/float64(D)), T(sgx/float64(D)), T(rstd[r])
				dxr := dx[r*D : (r+1)*D]
				if newX {
					clear(dxr)
				}
				for e, gv := range Gr {
					dxr[e] += (gv*gm[e] - mg - xh[e]*mgx) * rs
				}
			}
		})
	}
	return out
}

// gammaSums returns Σ ĝ and Σ ĝ·x̂ with ĝ = G·γ (float64, index order).
func gammaSums[T Float](G, xh, gm []T) (sg, sgx float64) {
	xh, gm = xh[:len(G)], gm[:len(G)]
	for e, gv := range G {
		gg := float64(gv) * float64(gm[e])
		sg += gg
		sgx += gg * float64(xh[e])
	}
	return sg, sgx
}

// gammaSums2 is gammaSums of two rows at once (four independent chains,
// each as gammaSums's).
func gammaSums2[T Float](G0, xh0, G1, xh1, gm []T) (sg0, sgx0, sg1, sgx1 float64) {
	n := len(G0)
	xh0, G1, xh1, gm = xh0[:n], G1[:n], xh1[:n], gm[:n]
	for e, gv := range G0 {
		g := float64(gm[e])
		a := float64(gv) * g
		b := float64(G1[e]) * g
		sg0 += a
		sgx0 += a * float64(xh0[e])
		sg1 += b
		sgx1 += b * float64(xh1[e])
	}
	return
}

// meanRstd returns the mean and 1/√(biased variance + eps) of xs, both
// accumulated in float64 in index order (one chain each).
func meanRstd[T Float](xs []T, eps float64) (mu, r float64) {
	var s float64
	for _, v := range xs {
		s += float64(v)
	}
	mu = s / float64(len(xs))
	var vs float64
	for _, v := range xs {
		d := float64(v) - mu
		vs += d * d
	}
	return mu, 1 / math.Sqrt(vs/float64(len(xs))+eps)
}

// meanRstd4 is meanRstd of four equally long slices at once: the four
// chains of each sum are independent, so the CPU overlaps them (a float64
// add waits for the previous one of its chain only), and each is the same
// chain, in the same order, as meanRstd's.
func meanRstd4[T Float](x0, x1, x2, x3 []T, eps float64) (mu, r [4]float64) {
	n := len(x0)
	x1, x2, x3 = x1[:n], x2[:n], x3[:n]
	var s0, s1, s2, s3 float64
	for i, v := range x0 {
		s0 += float64(v)
		s1 += float64(x1[i])
		s2 += float64(x2[i])
		s3 += float64(x3[i])
	}
	fn := float64(n)
	m0, m1, m2, m3 := s0/fn, s1/fn, s2/fn, s3/fn
	var v0, v1, v2, v3 float64
	for i, v := range x0 {
		d0 := float64(v) - m0
		d1 := float64(x1[i]) - m1
		d2 := float64(x2[i]) - m2
		d3 := float64(x3[i]) - m3
		v0 += d0 * d0
		v1 += d1 * d1
		v2 += d2 * d2
		v3 += d3 * d3
	}
	mu = [4]float64{m0, m1, m2, m3}
	r = [4]float64{1 / math.Sqrt(v0/fn+eps), 1 / math.Sqrt(v1/fn+eps), 1 / math.Sqrt(v2/fn+eps), 1 / math.Sqrt(v3/fn+eps)}
	return mu, r
}

// statsRows fills mu and rstd with meanRstd of the rows of x (len(mu) rows
// of m elements): float32 rows eight at a time by fmath's row kernels
// (meanRstd's chains, one per row), the rest four at a time.
func statsRows[T Float](x []T, m int, eps float64, mu, rstd []float64) {
	u := 0
	if x32, ok := any(x).([]float32); ok {
		fn := float64(m)
		for ; u+8 <= len(mu); u += 8 {
			var s, q, mu8 [8]float64
			rows := x32[u*m : (u+8)*m]
			fmath.RowSums8(&s, rows, m, m)
			for j := range s {
				mu8[j] = s[j] / fn
			}
			fmath.RowSqDevs8(&q, rows, m, m, &mu8)
			for j := range q {
				mu[u+j], rstd[u+j] = mu8[j], 1/math.Sqrt(q[j]/fn+eps)
			}
		}
	}
	for ; u+4 <= len(mu); u += 4 {
		m4, r4 := meanRstd4(x[u*m:(u+1)*m], x[(u+1)*m:(u+2)*m], x[(u+2)*m:(u+3)*m], x[(u+3)*m:(u+4)*m], eps)
		copy(mu[u:u+4], m4[:])
		copy(rstd[u:u+4], r4[:])
	}
	for ; u < len(mu); u++ {
		mu[u], rstd[u] = meanRstd(x[u*m:(u+1)*m], eps)
	}
}

// sumDot returns Σ g and Σ g·h (float64, index order).
func sumDot[T Float](g, h []T) (sg, sgh float64) {
	h = h[:len(g)]
	for e, v := range g {
		sg += float64(v)
		sgh += float64(v) * float64(h[e])
	}
	return sg, sgh
}

// sumDotReLU is sumDot of g masked by reluPass with the channel's gm, bt.
func sumDotReLU[T Float](g, h []T, gm, bt T) (sg, sgh float64) {
	h = h[:len(g)]
	for e, v := range g {
		v = reluPass(v, h[e], gm, bt)
		sg += float64(v)
		sgh += float64(v) * float64(h[e])
	}
	return sg, sgh
}

// sumDot2 is sumDot of two pairs at once (four independent chains, each
// as sumDot's).
func sumDot2[T Float](g0, h0, g1, h1 []T) (sg0, sgh0, sg1, sgh1 float64) {
	n := len(g0)
	h0, g1, h1 = h0[:n], g1[:n], h1[:n]
	for e, v := range g0 {
		w := g1[e]
		sg0 += float64(v)
		sgh0 += float64(v) * float64(h0[e])
		sg1 += float64(w)
		sgh1 += float64(w) * float64(h1[e])
	}
	return
}

// reluPass is ReLU's backward mask recomputed from x̂ by a fused
// GroupNormReLU: G where the pre-activation T(h·gm) + bt is > 0 (not NaN),
// else +0 — fmath.NormGradX64ReLU's, for any T.
func reluPass[T Float](G, h, gm, bt T) T {
	if T(h*gm)+bt > 0 { // the conversion forbids fusing, as in the forward
		return G
	}
	return 0
}

// normalize is GroupNorm, and GroupNormReLU with relu: x is seen as
// `units` contiguous blocks of m elements; inside a block, element e is in
// channel row c = unit·chPerUnit + e/chLen, of channel c mod len(gamma).
func (g *Graph[T]) normalize(op string, x, gamma, beta *Tensor[T], units, m, chPerUnit, chLen int, eps float64, relu bool) *Tensor[T] {
	out := g.newTensor(x.Shape, g.needs(x, gamma, beta))
	nch := len(gamma.Data)
	xhat := g.allocRaw(len(x.Data))
	rstd := g.alloc64(units)
	mus := g.alloc64(units)
	statsRows(x.Data, m, eps, mus, rstd)
	for u := 0; u < units; u++ {
		xs := x.Data[u*m : (u+1)*m]
		mu, r := mus[u], rstd[u]
		xh := xhat[u*m : (u+1)*m]
		os := out.Data[u*m : (u+1)*m]
		// x̂ and the affine output in one pass, channel by channel
		for c := 0; c < chPerUnit; c++ {
			ch := (u*chPerUnit + c) % nch
			gm, bt := gamma.Data[ch], beta.Data[ch]
			xc, hc, oc := xs[c*chLen:(c+1)*chLen], xh[c*chLen:(c+1)*chLen], os[c*chLen:(c+1)*chLen]
			if x32, ok := any(xc).([]float32); ok { // the loops below, vectorised
				affine := fmath.NormAffine64
				if relu {
					affine = fmath.NormAffine64ReLU
				}
				affine(any(hc).([]float32), any(oc).([]float32), x32, mu, r, float32(gm), float32(bt))
				continue
			}
			for e, v := range xc {
				h := T((float64(v) - mu) * r)
				hc[e] = h
				y := T(h*gm) + bt // the conversion forbids fusing (reluPass's y)
				if relu {
					y = max(y, 0)
				}
				oc[e] = y
			}
		}
	}
	if out.requiresGrad {
		g.push(func() {
			G := out.Grad
			if G == nil {
				return
			}
			dg, db := g.gradIf(gamma), g.gradIf(beta)
			dx, newX := g.gradNewIf(x) // a new dx is written, not added to
			// Σ G and Σ G·x̂ of every channel (channel c of unit u is row
			// u·chPerUnit+c of chLen elements), each one chain in index
			// order: float32 rows eight at a time by fmath's row kernels,
			// the rest two at a time
			nc := units * chPerUnit
			allG, allGx := g.alloc64(nc), g.alloc64(nc)
			c := 0
			if G32, ok := any(G).([]float32); ok {
				xh32 := any(xhat).([]float32)
				var gm8, bt8 [8]float32
				for ; c+8 <= nc; c += 8 {
					lo, hi := c*chLen, (c+8)*chLen
					sg, sgx := (*[8]float64)(allG[c:]), (*[8]float64)(allGx[c:])
					if !relu {
						fmath.RowSumDots8(sg, sgx, G32[lo:hi], xh32[lo:hi], chLen, chLen)
						continue
					}
					for j := range gm8 {
						ch := (c + j) % nch
						gm8[j], bt8[j] = any(gamma.Data[ch]).(float32), any(beta.Data[ch]).(float32)
					}
					fmath.RowSumDots8ReLU(sg, sgx, G32[lo:hi], xh32[lo:hi], chLen, chLen, &gm8, &bt8)
				}
			}
			if relu {
				for ; c < nc; c++ {
					allG[c], allGx[c] = sumDotReLU(G[c*chLen:(c+1)*chLen], xhat[c*chLen:(c+1)*chLen], gamma.Data[c%nch], beta.Data[c%nch])
				}
			}
			for ; c+2 <= nc; c += 2 {
				lo, mid, hi := c*chLen, (c+1)*chLen, (c+2)*chLen
				allG[c], allGx[c], allG[c+1], allGx[c+1] = sumDot2(G[lo:mid], xhat[lo:mid], G[mid:hi], xhat[mid:hi])
			}
			for ; c < nc; c++ {
				allG[c], allGx[c] = sumDot(G[c*chLen:(c+1)*chLen], xhat[c*chLen:(c+1)*chLen])
			}
			for u := 0; u < units; u++ {
				Gu := G[u*m : (u+1)*m]
				xh := xhat[u*m : (u+1)*m]
				cgs, cgxs := allG[u*chPerUnit:(u+1)*chPerUnit], allGx[u*chPerUnit:(u+1)*chPerUnit]
				var sg, sgx float64 // Σ ĝ and Σ ĝ·x̂
				for c := 0; c < chPerUnit; c++ {
					ch := (u*chPerUnit + c) % nch
					gm := float64(gamma.Data[ch])
					cg, cgx := cgs[c], cgxs[c]
					if dg != nil {
						dg[ch] += T(cgx)
					}
					if db != nil {
						db[ch] += T(cg)
					}
					sg += cg * gm
					sgx += cgx * gm
				}
				if dx == nil {
					continue
				}
				mg, mgx := sg/float64(m), sgx/float64(m)
				r := rstd[u]
				dxu := dx[u*m : (u+1)*m]
				for c := 0; c < chPerUnit; c++ {
					ch := (u*chPerUnit + c) % nch
					gmT, btT := gamma.Data[ch], beta.Data[ch]
					gm := float64(gmT)
					lo, hi := c*chLen, (c+1)*chLen
					if d32, ok := any(dxu).([]float32); ok { // the loops below, vectorised
						d32, G32, xh32 := d32[lo:hi], any(Gu).([]float32)[lo:hi], any(xh).([]float32)[lo:hi]
						switch {
						case relu && newX:
							fmath.NormGradX64SetReLU(d32, G32, xh32, any(gmT).(float32), any(btT).(float32), mg, mgx, r)
						case relu:
							fmath.NormGradX64ReLU(d32, G32, xh32, any(gmT).(float32), any(btT).(float32), mg, mgx, r)
						case newX:
							fmath.NormGradX64Set(d32, G32, xh32, gm, mg, mgx, r)
						default:
							fmath.NormGradX64(d32, G32, xh32, gm, mg, mgx, r)
						}
						continue
					}
					if newX {
						clear(dxu[lo:hi])
					}
					for e := lo; e < hi; e++ {
						gv := Gu[e]
						if relu {
							gv = reluPass(gv, xh[e], gmT, btT)
						}
						dxu[e] += T((float64(gv)*gm - mg - float64(xh[e])*mgx) * r)
					}
				}
			}
		})
	}
	return out
}
