package engine

import (
	"fmt"
	"slices"

	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// gemmT dispatches C = alpha·op(A)·op(B) + beta·C (row-major) to the float32
// kernel of package gemm or to the float64 reference.
func gemmT[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch cc := any(c).(type) {
	case []float32:
		gemm.Sgemm(tA, tB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc)
	case []float64:
		gemm.Dgemm(tA, tB, m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), cc, ldc)
	}
}

// Reuse marks t, the right operand of several BatchedMatMuls (a
// decoder's mask features, multiplied by every stage's mask embeddings),
// as data that stays as it is until Reset. A GEMM that converts its
// operands before multiplying (package gemm's amx-bf16) then converts each
// batch item of t once per orientation (op(t) and its transpose, for the
// backward) instead of once per product; the results are the same, bit
// for bit. It returns t.
func (g *Graph[T]) Reuse(t *Tensor[T]) *Tensor[T] {
	if t.reuse == nil {
		// the graph keeps its caches (and their slices) across Resets
		n := len(g.reused)
		if n == cap(g.reused) || g.reused[:n+1][n] == nil {
			g.reused = append(g.reused, &operandCache{})
		} else {
			g.reused = g.reused[:n+1]
		}
		t.reuse = g.reused[n]
	}
	return t
}

// operandCache holds a reused tensor's batch items converted as right
// operands (gemm.Prepare), by orientation and item; tried marks the items
// already asked for (Prepare may return nil).
type operandCache struct {
	items [2][]*gemm.Prepared
	tried [2][]bool
}

// preparedB returns batch item i (of batch, data bi with rows ld apart) of
// b as the right operand op(b_i) of a float32 product, transposed when tb,
// k×n, converted on first use; nil unless b is reused and gemm converts.
func preparedB[T Float](b *Tensor[T], i, batch int, tb bool, k, n int, bi []T, ld int) *gemm.Prepared {
	c := b.reuse
	bf, ok := any(bi).([]float32)
	if c == nil || !ok {
		return nil
	}
	o := 0
	if tb {
		o = 1
	}
	if len(c.items[o]) != batch {
		c.items[o] = slices.Grow(c.items[o][:0], batch)[:batch]
		c.tried[o] = slices.Grow(c.tried[o][:0], batch)[:batch]
	}
	if !c.tried[o][i] {
		c.tried[o][i] = true
		c.items[o][i] = gemm.Prepare(nil, tb, k, n, bf, ld)
	}
	return c.items[o][i]
}

// release returns the conversions to package gemm and empties c,
// keeping its slices.
func (c *operandCache) release() {
	for o, items := range c.items {
		for _, p := range items {
			if p != nil {
				p.Release()
			}
		}
		clear(items)
		clear(c.tried[o])
		c.items[o], c.tried[o] = items[:0], c.tried[o][:0]
	}
}

// gemmPrepared is gemmT with a prepared right operand (float32 only).
func gemmPrepared[T Float](tA bool, m int, alpha T, a []T, lda int, p *gemm.Prepared, beta T, c []T, ldc int) {
	gemm.SgemmPrepared(tA, m, float32(alpha), any(a).([]float32), lda, p, float32(beta), any(c).([]float32), ldc)
}

// matDims returns the (rows, cols) of op(X) for a stored r×c matrix.
func matDims(r, c int, t bool) (int, int) {
	if t {
		return c, r
	}
	return r, c
}

// MatMul returns op(a)·op(b) for 2-d a and b, where op transposes when ta
// (tb) is set: a stored [K,M] with ta is used as [M,K].
//
// Backward, with G = dOut and out = op(A)·op(B):
//
//	d op(A) = G·op(B)ᵀ, so dA = G·op(B)ᵀ, or op(B)·Gᵀ when ta;
//	d op(B) = op(A)ᵀ·G, so dB = op(A)ᵀ·G, or Gᵀ·op(A) when tb.
func (g *Graph[T]) MatMul(a, b *Tensor[T], ta, tb bool) *Tensor[T] {
	return g.matmul(a, b, ta, tb, 1)
}

// MatMulScaled is MatMul times alpha (fused into the GEMM).
func (g *Graph[T]) MatMulScaled(a, b *Tensor[T], ta, tb bool, alpha T) *Tensor[T] {
	return g.matmul(a, b, ta, tb, alpha)
}

func (g *Graph[T]) matmul(a, b *Tensor[T], ta, tb bool, alpha T) *Tensor[T] {
	if a.Dims() != 2 || b.Dims() != 2 {
		shapePanic("MatMul", a.Shape, b.Shape)
	}
	m, k := matDims(a.Shape[0], a.Shape[1], ta)
	k2, n := matDims(b.Shape[0], b.Shape[1], tb)
	if k != k2 {
		shapePanic("MatMul", a.Shape, b.Shape)
	}
	out := g.newTensor([]int{m, n}, g.needs(a, b))
	lda, ldb := a.Shape[1], b.Shape[1]
	gemmT(ta, tb, m, n, k, alpha, a.Data, lda, b.Data, ldb, 0, out.Data, n)
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			G := out.Grad
			if a.requiresGrad {
				da, fresh := g.gradNew(a)
				beta := gemmBeta[T](fresh)
				if !ta { // dA[M,K] = G[M,N]·op(B)ᵀ
					gemmT(false, !tb, m, k, n, alpha, G, n, b.Data, ldb, beta, da, lda)
				} else { // dA[K,M] = op(B)[K,N]·Gᵀ
					gemmT(tb, true, k, m, n, alpha, b.Data, ldb, G, n, beta, da, lda)
				}
			}
			if b.requiresGrad { // after a's: when b is a, its buffer is no longer new
				db, fresh := g.gradNew(b)
				beta := gemmBeta[T](fresh)
				if !tb { // dB[K,N] = op(A)ᵀ[K,M]·G
					gemmT(!ta, false, k, n, m, alpha, a.Data, lda, G, n, beta, db, ldb)
				} else { // dB[N,K] = Gᵀ[N,M]·op(A)
					gemmT(true, ta, n, k, m, alpha, G, n, a.Data, lda, beta, db, ldb)
				}
			}
		})
	}
	return out
}

// BatchedMatMul returns alpha·op(a[i])·op(b[i]) for every i of 3-d a [B,·,·]
// and b [B,·,·]; the gradients are MatMul's, batch by batch.
func (g *Graph[T]) BatchedMatMul(a, b *Tensor[T], ta, tb bool, alpha T) *Tensor[T] {
	if a.Dims() != 3 || b.Dims() != 3 || a.Shape[0] != b.Shape[0] {
		shapePanic("BatchedMatMul", a.Shape, b.Shape)
	}
	B := a.Shape[0]
	ar, ac := a.Shape[1], a.Shape[2]
	br, bc := b.Shape[1], b.Shape[2]
	m, k := matDims(ar, ac, ta)
	k2, n := matDims(br, bc, tb)
	if k != k2 {
		shapePanic("BatchedMatMul", a.Shape, b.Shape)
	}
	out := g.newTensor([]int{B, m, n}, g.needs(a, b))
	sa, sb, so := ar*ac, br*bc, m*n
	for i := 0; i < B; i++ {
		ai, bi, oi := a.Data[i*sa:(i+1)*sa], b.Data[i*sb:(i+1)*sb], out.Data[i*so:(i+1)*so]
		if p := preparedB(b, i, B, tb, k, n, bi, bc); p != nil {
			gemmPrepared(ta, m, alpha, ai, ac, p, 0, oi, n)
		} else {
			gemmT(ta, tb, m, n, k, alpha, ai, ac, bi, bc, 0, oi, n)
		}
	}
	if out.requiresGrad {
		g.push(func() {
			if out.Grad == nil {
				return
			}
			// a's buffer before b's (a new buffer is written batch by
			// batch, a's product first, so when b is a its buffer is not
			// new)
			dA, newA := g.gradNewIf(a)
			dB, newB := g.gradNewIf(b)
			betaA, betaB := gemmBeta[T](newA), gemmBeta[T](newB)
			for i := 0; i < B; i++ {
				G := out.Grad[i*so : (i+1)*so]
				ai, bi := a.Data[i*sa:(i+1)*sa], b.Data[i*sb:(i+1)*sb]
				if dA != nil {
					da := dA[i*sa : (i+1)*sa]
					if ta {
						gemmT(tb, true, k, m, n, alpha, bi, bc, G, n, betaA, da, ac)
					} else if p := preparedB(b, i, B, !tb, n, k, bi, bc); p != nil {
						gemmPrepared(false, m, alpha, G, n, p, betaA, da, ac)
					} else {
						gemmT(false, !tb, m, k, n, alpha, G, n, bi, bc, betaA, da, ac)
					}
				}
				if dB != nil {
					db := dB[i*sb : (i+1)*sb]
					if !tb {
						gemmT(!ta, false, k, n, m, alpha, ai, ac, G, n, betaB, db, bc)
					} else {
						gemmT(true, ta, n, k, m, alpha, G, n, ai, ac, betaB, db, bc)
					}
				}
			}
		})
	}
	return out
}

// Linear returns x·wᵀ + bias for x [..., in], w [out, in] (PyTorch's
// nn.Linear layout) and bias [out] or nil. Leading dims of x are kept.
//
// Backward: dx = G·w, dw += Gᵀ·x, dbias += Σ_rows G.
func (g *Graph[T]) Linear(x, w, bias *Tensor[T]) *Tensor[T] {
	if w.Dims() != 2 || x.Dim(-1) != w.Shape[1] || (bias != nil && (bias.Dims() != 1 || bias.Shape[0] != w.Shape[0])) {
		var bs []int
		if bias != nil {
			bs = bias.Shape
		}
		shapePanic("Linear", x.Shape, w.Shape, bs)
	}
	in, outF := w.Shape[1], w.Shape[0]
	rows := len(x.Data) / in
	shape := append(append([]int(nil), x.Shape[:x.Dims()-1]...), outF)
	out := g.newTensor(shape, g.needs(x, w, bias))
	// a frozen weight converted for the GEMM (FreezeConverted)
	prepared := w.converted != nil && w.converted[0] != nil
	if prepared && bias != nil && rows > 0 {
		// the sums start from the bias itself: the bits of the fill below
		gemm.SgemmPreparedBias(false, rows, any(x.Data).([]float32), in, w.converted[0], any(bias.Data).([]float32), any(out.Data).([]float32), outF)
	} else {
		beta := T(0)
		if bias != nil && rows > 0 {
			// every row starts as the bias: one row, then copies of what
			// is filled so far (a few long copies instead of one per row)
			copy(out.Data[:outF], bias.Data)
			for n := outF; n < len(out.Data); n *= 2 {
				copy(out.Data[n:], out.Data[:n])
			}
			beta = 1
		}
		switch {
		case prepared:
			gemmPrepared(false, rows, 1, x.Data, in, w.converted[0], beta, out.Data, outF)
		case w.dataT != nil:
			// a frozen weight's transpose: x·(wᵀ) without transposing w here
			gemmT(false, false, rows, outF, in, 1, x.Data, in, w.dataT, outF, beta, out.Data, outF)
		default:
			gemmT(false, true, rows, outF, in, 1, x.Data, in, w.Data, in, beta, out.Data, outF)
		}
	}
	if out.requiresGrad {
		g.push(func() {
			G := out.Grad
			if G == nil {
				return
			}
			if x.requiresGrad {
				dx, fresh := g.gradNew(x)
				if w.converted != nil && w.converted[1] != nil {
					gemmPrepared(false, rows, 1, G, outF, w.converted[1], gemmBeta[T](fresh), dx, in)
				} else {
					gemmT(false, false, rows, in, outF, 1, G, outF, w.Data, in, gemmBeta[T](fresh), dx, in)
				}
			}
			if w.requiresGrad {
				dw, fresh := g.gradNew(w)
				gemmT(true, false, outF, in, rows, 1, G, outF, x.Data, in, gemmBeta[T](fresh), dw, in)
			}
			if bias != nil && bias.requiresGrad && rows > 0 {
				g.addGrad(bias, 1, G[:outF])
				db := bias.Grad
				addRows(db, G[outF:], rows-1, outF)
			}
		})
	}
	return out
}

// checkLen panics when a slice argument has the wrong length.
func checkLen(op, what string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("engine: %s: %s has %d elements, want %d", op, what, got, want))
	}
}
