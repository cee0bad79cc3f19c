package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestReLUBackwardBranchFree: the masked float32 ReLU backward
// (fmath.ReLUGrad) adds G exactly where x > 0, including the edge cases of
// the comparison (±0, subnormals, ±Inf, NaNs of both signs, the largest
// finite float); with set it writes G there and +0 elsewhere, whatever da
// held.
func TestReLUBackwardBranchFree(t *testing.T) {
	nan := float32(math.NaN())
	x := []float32{1, -1, 0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)), nan, -nan, 0.5, -2}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		x = append(x, r.Float32()*2-1)
	}
	G, got := make([]float32, len(x)), make([]float32, len(x))
	for i := range G {
		G[i] = float32(i) + 0.25
		got[i] = float32(-i)
	}
	want := append([]float32(nil), got...)
	set := append([]float32(nil), got...)
	reluBackward(got, x, G, false)
	reluBackward(set, x, G, true)
	for i, v := range x {
		wantSet := float32(0)
		if v > 0 {
			want[i] += G[i]
			wantSet = G[i]
		}
		if got[i] != want[i] {
			t.Fatalf("x = %v: da = %v, want %v", v, got[i], want[i])
		}
		if math.Float32bits(set[i]) != math.Float32bits(wantSet) {
			t.Fatalf("x = %v: set da = %v, want %v", v, set[i], wantSet)
		}
	}
}

// TestAddTransposed compares both paths of the transposed add (eight-row
// loops, and transpose + vector add) with the plain double loop, on sizes
// with and without a remainder of rows and columns, and the conv weight
// gradients' shapes.
func TestAddTransposed(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][2]int{{1, 1}, {8, 3}, {13, 5}, {64, 27}, {3, 17}, {96, 288}, {64, 576}, {37, 41}} {
		m, n := s[0], s[1]
		src := make([]float32, m*n)
		dst := make([]float32, m*n)
		for i := range src {
			src[i], dst[i] = r.Float32(), r.Float32()
		}
		want := append([]float32(nil), dst...)
		for o := 0; o < m; o++ {
			for c := 0; c < n; c++ {
				want[o*n+c] += src[c*m+o]
			}
		}
		// without scratch (the scalar loops), then with it (the
		// vector path where the machine has one)
		dst2 := append([]float32(nil), dst...)
		addTransposed(dst, src, nil, m, n)
		addTransposed(dst2, src, make([]float32, m*n), m, n)
		for i := range want {
			if dst[i] != want[i] || dst2[i] != want[i] {
				t.Fatalf("%d×%d: element %d = %v (scalar), %v (scratch), want %v", m, n, i, dst[i], dst2[i], want[i])
			}
		}
	}
}

// TestBinarySameAdd: the float32 same-shape Add (copy + vector AddTo)
// gives the bits of the element loop, NaN and ±0 included, at lengths
// around the vector widths.
func TestBinarySameAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	vals := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{1, 15, 16, 17, 100, 1031} {
		A, B, O := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range A {
			A[i], B[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			if r.IntN(8) == 0 {
				A[i] = vals[r.IntN(len(vals))]
			}
			if r.IntN(8) == 0 {
				B[i] = vals[r.IntN(len(vals))]
			}
		}
		binarySame(opAdd, A, B, O)
		for i := range O {
			want := A[i] + B[i]
			if math.Float32bits(O[i]) != math.Float32bits(want) && !(O[i] != O[i] && want != want) {
				t.Fatalf("n=%d: %v + %v = %v, want %v", n, A[i], B[i], O[i], want)
			}
		}
	}
}
