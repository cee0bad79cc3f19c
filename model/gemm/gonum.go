package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Gonum is gonum's pure-Go Sgemm (blas/gonum). Note that gonum splits large
// products over goroutines by itself; every C block is still computed by
// one goroutine over the whole k range, so results stay deterministic.
type Gonum struct{}

func (Gonum) Name() string { return "gonum" }

func (Gonum) Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	if k == 0 || alpha == 0 {
		// C = beta·C without reading A and B (gonum would multiply them by 0).
		refGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gonum.Implementation{}.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func init() { Register(Gonum{}, 10) }
