package engine

import "math"

// GroupNorm normalises x [N, C, ...] over groups of C/groups channels and
// all trailing positions (biased variance, eps inside the square root),
// then applies the per-channel affine gamma [C], beta [C] (PyTorch's
// nn.GroupNorm; LayerNorm-like statistics per (image, group)).
//
// Backward, per (image, group) with m elements, x̂ = (x−μ)/σ and
// ĝ = G·γ: dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ, dγ += Σ G·x̂, dβ += Σ G.
func (g *Graph[T]) GroupNorm(x, gamma, beta *Tensor[T], groups int, eps float64) *Tensor[T] {
	if x.Dims() < 2 || groups <= 0 || x.Shape[1]%groups != 0 || gamma.Size() != x.Shape[1] || beta.Size() != x.Shape[1] {
		shapePanic("GroupNorm", x.Shape, gamma.Shape, beta.Shape)
	}
	N, C := x.Shape[0], x.Shape[1]
	S := len(x.Data) / (N * C)
	return g.normalize("GroupNorm", x, gamma, beta, N*groups, (C/groups)*S, C/groups, S, eps)
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
	rstd := make([]float64, rows)
	gm, bt := gamma.Data, beta.Data
	for r := 0; r < rows; r++ {
		xs := x.Data[r*D : (r+1)*D]
		var s float64
		for _, v := range xs {
			s += float64(v)
		}
		mu := s / float64(D)
		var vs float64
		for _, v := range xs {
			d := float64(v) - mu
			vs += d * d
		}
		rs := 1 / math.Sqrt(vs/float64(D)+eps)
		rstd[r] = rs
		xh, ys := xhat[r*D:(r+1)*D], out.Data[r*D:(r+1)*D]
		muT, rT := T(mu), T(rs)
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
			dx, dg, db := g.gradIf(x), g.gradIf(gamma), g.gradIf(beta)
			for r := 0; r < rows; r++ {
				Gr, xh := G[r*D:(r+1)*D], xhat[r*D:(r+1)*D]
				var sg, sgx float64 // Σ ĝ and Σ ĝ·x̂ with ĝ = G·γ
				for e, gv := range Gr {
					gg := float64(gv) * float64(gm[e])
					sg += gg
					sgx += gg * float64(xh[e])
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
				for e, gv := range Gr {
					dxr[e] += (gv*gm[e] - mg - xh[e]*mgx) * rs
				}
			}
		})
	}
	return out
}

// normalize handles both norms: x is seen as `units` contiguous blocks of
// m elements; inside a block, element e has channel (unit·chPerUnit +
// e/chLen) mod len(gamma).
func (g *Graph[T]) normalize(op string, x, gamma, beta *Tensor[T], units, m, chPerUnit, chLen int, eps float64) *Tensor[T] {
	out := g.newTensor(x.Shape, g.needs(x, gamma, beta))
	nch := len(gamma.Data)
	xhat := g.allocRaw(len(x.Data))
	rstd := make([]float64, units)
	for u := 0; u < units; u++ {
		xs := x.Data[u*m : (u+1)*m]
		var s float64
		for _, v := range xs {
			s += float64(v)
		}
		mu := s / float64(m)
		var vs float64
		for _, v := range xs {
			d := float64(v) - mu
			vs += d * d
		}
		r := 1 / math.Sqrt(vs/float64(m)+eps)
		rstd[u] = r
		xh := xhat[u*m : (u+1)*m]
		os := out.Data[u*m : (u+1)*m]
		// x̂ and the affine output in one pass, channel by channel
		for c := 0; c < chPerUnit; c++ {
			ch := (u*chPerUnit + c) % nch
			gm, bt := gamma.Data[ch], beta.Data[ch]
			xc, hc, oc := xs[c*chLen:(c+1)*chLen], xh[c*chLen:(c+1)*chLen], os[c*chLen:(c+1)*chLen]
			for e, v := range xc {
				h := T((float64(v) - mu) * r)
				hc[e] = h
				oc[e] = h*gm + bt
			}
		}
	}
	if out.requiresGrad {
		g.push(func() {
			G := out.Grad
			if G == nil {
				return
			}
			dx, dg, db := g.gradIf(x), g.gradIf(gamma), g.gradIf(beta)
			for u := 0; u < units; u++ {
				Gu := G[u*m : (u+1)*m]
				xh := xhat[u*m : (u+1)*m]
				var sg, sgx float64 // Σ ĝ and Σ ĝ·x̂
				for c := 0; c < chPerUnit; c++ {
					ch := (u*chPerUnit + c) % nch
					gm := float64(gamma.Data[ch])
					var cg, cgx float64
					for e := c * chLen; e < (c+1)*chLen; e++ {
						cg += float64(Gu[e])
						cgx += float64(Gu[e]) * float64(xh[e])
					}
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
					gm := float64(gamma.Data[ch])
					for e := c * chLen; e < (c+1)*chLen; e++ {
						dxu[e] += T((float64(Gu[e])*gm - mg - float64(xh[e])*mgx) * r)
					}
				}
			}
		})
	}
	return out
}
