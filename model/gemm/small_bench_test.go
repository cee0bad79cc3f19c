package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkSgemmSmall(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct {
		m, n, k int
		tA, tB  bool
	}{{27, 27, 16, false, true}, {27, 16, 27, true, false}, {27, 16, 27, false, false}, {27, 144, 16, false, true}, {144, 16, 27, true, false}, {27, 9, 16, false, true}} {
		lda, ldb := s.k, s.n
		if s.tA {
			lda = s.m
		}
		if s.tB {
			ldb = s.k
		}
		a := randMat(rng, s.m, s.k)
		bm := randMat(rng, s.k, s.n)
		c := make([]float32, s.m*s.n)
		b.Run(fmt.Sprintf("%dx%dx%d/%v/%v", s.m, s.n, s.k, s.tA, s.tB), func(b *testing.B) {
			for b.Loop() {
				Sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
