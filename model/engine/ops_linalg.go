package engine

import (
	"fmt"

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
		gemmT(ta, tb, m, n, k, alpha, a.Data[i*sa:(i+1)*sa], ac, b.Data[i*sb:(i+1)*sb], bc, 0, out.Data[i*so:(i+1)*so], n)
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
					if !ta {
						gemmT(false, !tb, m, k, n, alpha, G, n, bi, bc, betaA, da, ac)
					} else {
						gemmT(tb, true, k, m, n, alpha, bi, bc, G, n, betaA, da, ac)
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
	beta := T(0)
	if bias != nil && rows > 0 {
		// every row starts as the bias: one row, then copies of what is
		// filled so far (a few long copies instead of one per row)
		copy(out.Data[:outF], bias.Data)
		for n := outF; n < len(out.Data); n *= 2 {
			copy(out.Data[n:], out.Data[:n])
		}
		beta = 1
	}
	if w.dataT != nil {
		// a frozen weight's transpose: x·(wᵀ) without transposing w here
		gemmT(false, false, rows, outF, in, 1, x.Data, in, w.dataT, outF, beta, out.Data, outF)
	} else {
		gemmT(false, true, rows, outF, in, 1, x.Data, in, w.Data, in, beta, out.Data, outF)
	}
	if out.requiresGrad {
		g.push(func() {
			G := out.Grad
			if G == nil {
				return
			}
			if x.requiresGrad {
				dx, fresh := g.gradNew(x)
				gemmT(false, false, rows, in, outF, 1, G, outF, w.Data, in, gemmBeta[T](fresh), dx, in)
			}
			if w.requiresGrad {
				dw, fresh := g.gradNew(w)
				gemmT(true, false, outF, in, rows, 1, G, outF, x.Data, in, gemmBeta[T](fresh), dw, in)
			}
			if bias != nil && bias.requiresGrad && rows > 0 {
				g.addGrad(bias, 1, G[:outF])
				db := bias.Grad
				for r := 1; r < rows; r++ {
					axpy(db, 1, G[r*outF:(r+1)*outF])
				}
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
