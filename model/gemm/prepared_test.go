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

// TestPreparedBias: SgemmPreparedBias gives the bits of SgemmPrepared
// (alpha 1, beta 1) on a C whose rows hold the bias, and never reads C
// (NaN there stays out): whole 32-row strips and 32-column blocks (the
// tile sums start from the bias row), partial ones (filled, then scaled)
// and after a switch of implementation (the fill, then Sgemm).
func TestPreparedBias(t *testing.T) {
	defer Use(Current().Name())
	rng := rand.New(rand.NewPCG(33, 34))
	nan := float32(math.NaN())
	for _, name := range Names() {
		if err := Use(name); err != nil {
			t.Fatal(err)
		}
		if _, ok := Current().(preparer); !ok {
			continue
		}
		for _, s := range []struct{ m, n, k int }{{108, 128, 128}, {64, 64, 32}, {32, 33, 40}, {7, 256, 128}, {100, 13, 1000}, {96, 40, 17}} {
			for _, tA := range []bool{false, true} {
				ldb := s.n + 1
				b := randMat(rng, s.k, ldb)
				p := Prepare(nil, false, s.k, s.n, b, ldb)
				if p == nil {
					t.Fatalf("%s: %v not prepared", name, s)
				}
				lda := s.k + 2
				if tA {
					lda = s.m + 2
				}
				a := randMat(rng, max(s.m, s.k), lda)
				bias := randMat(rng, 1, s.n)
				ldc := s.n + 3
				want, got := make([]float32, s.m*ldc), make([]float32, s.m*ldc)
				for i := range got {
					got[i], want[i] = nan, nan
				}
				for r := 0; r < s.m; r++ {
					copy(want[r*ldc:], bias)
				}
				SgemmPrepared(tA, s.m, 1, a, lda, p, 1, want, ldc)
				SgemmPreparedBias(tA, s.m, a, lda, p, bias, got, ldc)
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(got[i]) && !(want[i] != want[i] && got[i] != got[i]) {
						t.Fatalf("%s %v tA=%v: C[%d] = %g, bias rows then SgemmPrepared %g", name, s, tA, i, got[i], want[i])
					}
				}
				// the implementation switched since Prepare: the fill and Sgemm
				if err := Use(asmImpl.Name()); err != nil {
					t.Fatal(err)
				}
				for r := 0; r < s.m; r++ {
					copy(want[r*ldc:], bias)
				}
				Sgemm(tA, false, s.m, s.n, s.k, 1, a, lda, b, ldb, 1, want, ldc)
				SgemmPreparedBias(tA, s.m, a, lda, p, bias, got, ldc)
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(got[i]) && !(want[i] != want[i] && got[i] != got[i]) {
						t.Fatalf("%s then asm %v tA=%v: C[%d] = %g, want %g", name, s, tA, i, got[i], want[i])
					}
				}
				if err := Use(name); err != nil {
					t.Fatal(err)
				}
				p.Release()
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("%s: a bias of the wrong length did not panic", name)
				}
			}()
			q := Prepare(nil, false, 64, 64, randMat(rng, 64, 64), 64)
			defer q.Release()
			SgemmPreparedBias(false, 4, randMat(rng, 4, 64), 64, q, make([]float32, 63), make([]float32, 4*64), 64)
		}()
	}
}
