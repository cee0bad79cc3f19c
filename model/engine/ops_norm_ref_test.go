package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/testenv"
)

// layerNormRef is LayerNorm before the interleaved statistics: it normalises x [..., D] over its last dim and applies gamma [D],
// beta [D] (nn.LayerNorm). Backward as GroupNorm's with one group per row.
func layerNormRef[T Float](g *Graph[T], x, gamma, beta *Tensor[T], eps float64) *Tensor[T] {
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

// normalizeRef is normalize before the interleaved statistics: it handles both norms: x is seen as `units` contiguous blocks of
// m elements; inside a block, element e has channel (unit·chPerUnit +
// e/chLen) mod len(gamma).
func normalizeRef[T Float](g *Graph[T], op string, x, gamma, beta *Tensor[T], units, m, chPerUnit, chLen int, eps float64) *Tensor[T] {
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

// TestNormsMatchReference: GroupNorm and LayerNorm, whose statistics now
// run several independent float64 chains at once, give bit for bit the
// outputs and gradients of the one-chain-at-a-time code they replaced
// (normalizeRef, layerNormRef above, kept verbatim): unit and row counts
// that are and are not multiples of four, odd channel counts per group,
// gradients accumulated twice.
func TestNormsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64()*2 + 0.5)
		}
		return v
	}
	type result [][]float32
	run := func(useRef bool, shape []int, norm func(g *Graph[float32], x, ga, be *Tensor[float32], ref bool) *Tensor[float32], x, ga, be, up []float32) result {
		g := NewGraph[float32]()
		xt, gt, bt := g.Leaf(x, shape...), g.Leaf(ga, len(ga)), g.Leaf(be, len(be))
		y := norm(g, xt, gt, bt, useRef)
		g.Backward(g.AddN(g.SumAll(g.Mul(y, g.Const(up, y.Shape...))), g.SumAll(y)))
		return result{y.Data, xt.Grad, gt.Grad, bt.Grad}
	}
	check := func(name string, shape []int, nch int, norm func(g *Graph[float32], x, ga, be *Tensor[float32], ref bool) *Tensor[float32]) {
		n := NumElems(shape)
		x, ga, be, up := randn(n), randn(nch), randn(nch), randn(n)
		want, got := run(true, shape, norm, x, ga, be, up), run(false, shape, norm, x, ga, be, up)
		for k, what := range []string{"output", "x gradient", "gamma gradient", "beta gradient"} {
			for i := range want[k] {
				if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
					t.Fatalf("%s %v: %s[%d] = %v, reference %v", name, shape, what, i, got[k][i], want[k][i])
				}
			}
		}
	}
	for _, tc := range []struct {
		shape  []int
		groups int
	}{
		{[]int{1, 8, 5, 5}, 8}, {[]int{2, 12, 3, 7}, 4}, {[]int{1, 6, 9, 9}, 2}, {[]int{3, 10, 4, 4}, 5}, {[]int{2, 64, 12, 12}, 8}, {[]int{1, 3, 1, 1}, 3},
	} {
		groups := tc.groups
		check(fmt.Sprintf("GroupNorm/%d", groups), tc.shape, tc.shape[1], func(g *Graph[float32], x, ga, be *Tensor[float32], ref bool) *Tensor[float32] {
			if ref {
				N, C := x.Shape[0], x.Shape[1]
				S := len(x.Data) / (N * C)
				return normalizeRef(g, "GroupNorm", x, ga, be, N*groups, (C/groups)*S, C/groups, S, 1e-5)
			}
			return g.GroupNorm(x, ga, be, groups, 1e-5)
		})
	}
	for _, shape := range [][]int{{1, 5}, {3, 7}, {4, 128}, {20, 128}, {7, 33}, {2, 3, 16}} {
		check("LayerNorm", shape, shape[len(shape)-1], func(g *Graph[float32], x, ga, be *Tensor[float32], ref bool) *Tensor[float32] {
			if ref {
				return layerNormRef(g, x, ga, be, 1e-5)
			}
			return g.LayerNorm(x, ga, be, 1e-5)
		})
	}
}

// TestGroupNormReLUFused: the fused op gives bit for bit the output and
// gradients of GroupNorm then ReLU, whose ReLU writes the masked gradient
// out: channel counts whose rows fill and do not fill the eight-row
// kernels (and one where x̂ rows are left to the Go loop), channels with
// γ = 0, β = 0 and both (a pre-activation of ±0, which ReLU blocks), an
// x gradient written new, one added to (x also feeds the sum) and none
// (x a constant).
func TestGroupNormReLUFused(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64()*2 + 0.3)
		}
		return v
	}
	for _, tc := range []struct {
		shape        []int
		groups       int
		addX, constX bool
	}{
		{[]int{1, 8, 5, 5}, 8, false, false}, {[]int{2, 12, 3, 7}, 4, true, false}, {[]int{1, 6, 9, 9}, 2, false, false},
		{[]int{3, 10, 4, 4}, 5, true, false}, {[]int{2, 64, 12, 12}, 8, false, false}, {[]int{1, 3, 1, 1}, 3, false, false},
		{[]int{1, 32, 16, 16}, 8, true, false}, {[]int{2, 16, 6, 6}, 4, false, true},
	} {
		n, C := NumElems(tc.shape), tc.shape[1]
		x, ga, be, up := randn(n), randn(C), randn(C), randn(n)
		ga[0], be[C-1] = 0, 0
		if C > 2 {
			ga[1], be[1] = 0, 0
		}
		run := func(fused bool) [][]float32 {
			g := NewGraph[float32]()
			xt, gt, bt := g.Leaf(x, tc.shape...), g.Leaf(ga, C), g.Leaf(be, C)
			if tc.constX { // γ and β gradients only
				xt = g.Const(x, tc.shape...)
			}
			var y *Tensor[float32]
			if fused {
				y = g.GroupNormReLU(xt, gt, bt, tc.groups, 1e-5)
			} else {
				y = g.ReLU(g.GroupNorm(xt, gt, bt, tc.groups, 1e-5))
			}
			loss := g.SumAll(g.Mul(y, g.Const(up, y.Shape...)))
			if tc.addX {
				loss = g.AddN(loss, g.SumAll(g.Mul(xt, xt)))
			}
			g.Backward(loss)
			return [][]float32{y.Data, xt.Grad, gt.Grad, bt.Grad}
		}
		want, got := run(false), run(true)
		// float64 (the Go loops): the same output values
		g := NewGraph[float64]()
		x64, ga64, be64 := make([]float64, n), make([]float64, C), make([]float64, C)
		for i, v := range x {
			x64[i] = float64(v)
		}
		for i := range ga {
			ga64[i], be64[i] = float64(ga[i]), float64(be[i])
		}
		xt, gt, bt := g.Const(x64, tc.shape...), g.Const(ga64, C), g.Const(be64, C)
		pair, fused := g.ReLU(g.GroupNorm(xt, gt, bt, tc.groups, 1e-5)), g.GroupNormReLU(xt, gt, bt, tc.groups, 1e-5)
		for i, v := range pair.Data {
			if math.Float64bits(fused.Data[i]) != math.Float64bits(v) {
				t.Fatalf("%v float64: output[%d] = %v, GroupNorm then ReLU %v", tc.shape, i, fused.Data[i], v)
			}
		}
		for k, what := range []string{"output", "x gradient", "gamma gradient", "beta gradient"} {
			if len(got[k]) != len(want[k]) {
				t.Fatalf("%v: %s has %d elements, the pair's %d", tc.shape, what, len(got[k]), len(want[k]))
			}
			for i := range want[k] {
				if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
					t.Fatalf("%v groups %d: %s[%d] = %v, GroupNorm then ReLU %v", tc.shape, tc.groups, what, i, got[k][i], want[k][i])
				}
			}
		}
	}
}

// BenchmarkNorms times GroupNorm (the FPN's shape at 128 px: 64 channels
// of 32×32, 8 groups) and LayerNorm (the decoder's: 20 rows of 128),
// forward and backward, against the one-chain reference, and GroupNorm
// followed by ReLU as two ops (impl=pair) and as one (impl=fused), the
// gradient of the sum of the output times a random tensor (half the
// activations blocked) (compare with benchstat -col /impl).
func BenchmarkNorms(b *testing.B) {
	rng := rand.New(rand.NewPCG(25, 26))
	randn := func(n int) []float32 { return normals32(rng, n) }
	for _, op := range []string{"GroupNorm", "LayerNorm", "GroupNormReLU"} {
		shape := []int{1, 64, 32, 32}
		if op == "LayerNorm" {
			shape = []int{20, 128}
		}
		nch := shape[1]
		x, ga, be := randn(NumElems(shape)), randn(nch), randn(nch)
		impls := []string{"ref", "new"}
		if op == "GroupNormReLU" {
			impls = []string{"pair", "fused"}
		}
		up := randn(NumElems(shape))
		for _, impl := range impls {
			b.Run(fmt.Sprintf("op=%s/impl=%s", op, impl), func(b *testing.B) {
				g := NewGraph[float32]()
				c0 := testenv.CPUTime()
				for b.Loop() {
					g.Reset()
					xt, gt, bt := g.Leaf(x, shape...), g.Leaf(ga, nch), g.Leaf(be, nch)
					var y *Tensor[float32]
					switch {
					case op == "GroupNorm" && impl == "ref":
						y = normalizeRef(g, "GroupNorm", xt, gt, bt, 8, 8*32*32, 8, 32*32, 1e-5)
					case op == "GroupNorm":
						y = g.GroupNorm(xt, gt, bt, 8, 1e-5)
					case impl == "pair":
						y = g.ReLU(g.GroupNorm(xt, gt, bt, 8, 1e-5))
					case impl == "fused":
						y = g.GroupNormReLU(xt, gt, bt, 8, 1e-5)
					case impl == "ref":
						y = layerNormRef(g, xt, gt, bt, 1e-5)
					default:
						y = g.LayerNorm(xt, gt, bt, 1e-5)
					}
					if op == "GroupNormReLU" {
						y = g.Mul(y, g.Const(up, shape...))
					}
					g.Backward(g.SumAll(y))
				}
				b.ReportMetric(float64((testenv.CPUTime()-c0).Nanoseconds())/1000/float64(b.N), "cpu-µs/op")
			})
		}
	}
}
