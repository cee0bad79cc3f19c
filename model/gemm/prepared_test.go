package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPrepared: under every implementation, SgemmPrepared gives Sgemm's
// bits for the same operands, whatever A, the scalars and the transposes,
// on shapes that each implementation converts and on ones it leaves to
// FP32 kernels; Prepare returns nil exactly when the implementation would
// not convert B; and a Prepared made under one implementation still gives
// the current one's result after a switch.
func TestPrepared(t *testing.T) {
	defer Use(Current().Name())
	rng := rand.New(rand.NewPCG(31, 32))
	// m, n, k and whether amx-bf16 converts B (n and k > 16, or n·k ≥ 8192)
	shapes := []struct {
		m, n, k int
		tiles   bool
	}{{20, 1024, 64, true}, {20, 64, 1024, true}, {7, 33, 17, true}, {40, 16, 16, false}, {3, 200, 45, true}, {33, 9, 1000, true}, {5, 9, 100, false}}
	for _, name := range Names() {
		if err := Use(name); err != nil {
			t.Fatal(err)
		}
		_, converts := Current().(preparer)
		for _, s := range shapes {
			m, n, k := s.m, s.n, s.k
			for tr := 0; tr < 4; tr++ {
				tA, tB := tr&1 != 0, tr&2 != 0
				ldb := n + 3
				if tB {
					ldb = k + 3
				}
				b := randMat(rng, max(k, n), ldb)
				p := Prepare(nil, tB, k, n, b, ldb)
				if want := converts && s.tiles; (p != nil) != want {
					t.Fatalf("%s: Prepare(%v, k=%d, n=%d) = %v, want prepared %v", name, tB, k, n, p, want)
				}
				if p == nil {
					continue
				}
				for rep, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 0.25}} {
					lda := k + rep
					if tA {
						lda = m + rep
					}
					a := randMat(rng, max(m, k), lda)
					c0 := randMat(rng, m, n+1)
					want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
					Sgemm(tA, tB, m, n, k, ab[0], a, lda, b, ldb, ab[1], want, n+1)
					SgemmPrepared(tA, m, ab[0], a, lda, p, ab[1], got, n+1)
					for i := range want {
						if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
							t.Fatalf("%s %dx%dx%d tA=%v tB=%v alpha=%g beta=%g: C[%d] = %g, Sgemm gives %g", name, m, n, k, tA, tB, ab[0], ab[1], i, got[i], want[i])
						}
					}
				}
				// after a switch to the FP32 default: the default's bits
				if err := Use(asmImpl.Name()); err != nil {
					t.Fatal(err)
				}
				a := randMat(rng, max(m, k), max(m, k))
				want, got := make([]float32, m*n), make([]float32, m*n)
				Sgemm(tA, tB, m, n, k, 1, a, max(m, k), b, ldb, 0, want, n)
				SgemmPrepared(tA, m, 1, a, max(m, k), p, 0, got, n)
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
						t.Fatalf("%s then asm: C[%d] = %g, want %g", name, i, got[i], want[i])
					}
				}
				if err := Use(name); err != nil {
					t.Fatal(err)
				}
				// prepared again, with new values, into its own buffer
				b2 := randMat(rng, max(k, n), ldb)
				if q := Prepare(p, tB, k, n, b2, ldb); q != p {
					t.Fatalf("%s: Prepare with reuse returned another Prepared", name)
				}
				Sgemm(tA, tB, m, n, k, 1, a, max(m, k), b2, ldb, 0, want, n)
				SgemmPrepared(tA, m, 1, a, max(m, k), p, 0, got, n)
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
						t.Fatalf("%s reprepared: C[%d] = %g, want %g", name, i, got[i], want[i])
					}
				}
				p.Release()
			}
		}
	}
}
