package fmath

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// stride2Buffers returns the slices a stride-2 kernel of length n works
// on: dense, n elements, and strided, 2n−1, each ending where its
// backing array ends (the guard page of stride2_linux_test.go, where it
// exists, makes a read past that end fault).
type stride2Buffers func(n int) (dense, strided []float32)

// checkStride2 runs every kernel's gather2 and addStride2 on values with
// ±0, ±Inf, NaN and subnormals, at lengths around the vector width, and
// compares them bit for bit with the element loops that define them:
// dst[i] = src[2i]; dst[2i] += src[i] (the odd elements untouched).
func checkStride2(t *testing.T, bufs stride2Buffers) {
	r := rand.New(rand.NewPCG(15, 16))
	val := func() float32 { return edgeValue(r, 12, 5) }
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (isNaN32(a) && isNaN32(b))
	}
	var lens []int
	for n := 1; n <= 50; n++ {
		lens = append(lens, n)
	}
	lens = append(lens, 63, 64, 65, 1000, 1001)
	for _, k := range allKernels() {
		for _, n := range lens {
			dense, strided := bufs(n)
			for i := range strided {
				strided[i] = val()
			}
			for i := range dense {
				dense[i] = val()
			}
			want := make([]float32, n)
			for i := range want {
				want[i] = strided[2*i]
			}
			k.gather2(dense, strided, n)
			for i := range want {
				if !same(dense[i], want[i]) {
					t.Fatalf("%s n=%d: gather2 dst[%d] = %v, want src[%d] = %v", k.name, n, i, dense[i], 2*i, want[i])
				}
			}
			for i := range dense {
				dense[i] = val()
			}
			wantAdd := append([]float32(nil), strided...)
			for i, v := range dense {
				wantAdd[2*i] += v
			}
			k.addStride2(strided, dense, n)
			for i := range wantAdd {
				if math.Float32bits(strided[i]) != math.Float32bits(wantAdd[i]) && !(i%2 == 0 && isNaN32(strided[i]) && isNaN32(wantAdd[i])) {
					t.Fatalf("%s n=%d: addStride2 dst[%d] = %v, want %v", k.name, n, i, strided[i], wantAdd[i])
				}
			}
		}
	}
}

// TestStride2BitIdentical: see checkStride2 (plain heap slices).
func TestStride2BitIdentical(t *testing.T) {
	checkStride2(t, func(n int) ([]float32, []float32) {
		return make([]float32, n), make([]float32, 2*n-1)
	})
}

// TestStride2Checks: the exported functions refuse a strided side that
// is too short instead of reading or writing past it.
func TestStride2Checks(t *testing.T) {
	for _, f := range []func(){
		func() { Gather2(make([]float32, 4), make([]float32, 6)) },
		func() { AddStride2(make([]float32, 6), make([]float32, 4)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic for a strided slice of 2n−2 elements")
				}
			}()
			f()
		}()
	}
	dst := []float32{9}
	Gather2(dst, []float32{5}) // n = 1: one element suffices
	AddStride2(dst, []float32{1})
	if dst[0] != 6 {
		t.Errorf("n = 1: got %v, want 6", dst[0])
	}
}

// TestSoftmaxKernelsBitIdentical: every kernel's MaxBlocked, Scale and
// SubMul give the bits of the Go loops (the maximum its value: a zero may
// come back with the other sign), on values with ±0, ±Inf, NaN and
// subnormals, with and without a mask (also all blocked, none blocked),
// at lengths around the vector width; nothing past the slices is written.
func TestSoftmaxKernelsBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	val := func() float32 { return edgeValue(r, 10, 4) }
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (isNaN32(a) && isNaN32(b))
	}
	var lens []int
	for n := 0; n <= 50; n++ {
		lens = append(lens, n)
	}
	lens = append(lens, 63, 64, 65, 144, 1000)
	for _, k := range allKernels() {
		for _, n := range lens {
			for mode := range 4 { // 0: no mask, 1: random, 2: all blocked, 3: none blocked
				xs := make([]float32, n)
				for i := range xs {
					xs[i] = val()
				}
				var bm []bool
				if mode > 0 {
					bm = make([]bool, n)
					for i := range bm {
						bm[i] = mode == 2 || (mode == 1 && r.IntN(2) == 0)
					}
				}
				want := make([]float32, n+1)
				got := make([]float32, n+1)
				want[n], got[n] = 42, 42
				wantMax := maxBlockedFrom(float32(math.Inf(-1)), want[:n], xs, bm)
				gotMax := k.maxBlocked(got[:n], xs, bm)
				if gotMax != wantMax {
					t.Fatalf("%s n=%d mode %d: max = %v, want %v", k.name, n, mode, gotMax, wantMax)
				}
				for i := range want {
					if !same(got[i], want[i]) {
						t.Fatalf("%s n=%d mode %d: ys[%d] = %v, want %v", k.name, n, mode, i, got[i], want[i])
					}
				}
			}
			x, y := make([]float32, n+1), make([]float32, n)
			for i := range y {
				x[i], y[i] = val(), val()
			}
			x[n] = 42
			s, d := val(), val()
			wantS, gotS := slices.Clone(x), slices.Clone(x)
			wantM, gotM := slices.Clone(x), slices.Clone(x)
			goScale(wantS[:n], s)
			goSubMul(wantM[:n], y, d)
			if n > 0 { // the kernels take non-empty slices (Scale and SubMul check)
				k.scale(gotS[:n], s)
				k.subMul(gotM[:n], y, d)
			}
			for i := range x {
				if !same(gotS[i], wantS[i]) {
					t.Fatalf("%s n=%d: scale[%d] = %v, want %v", k.name, n, i, gotS[i], wantS[i])
				}
				if !same(gotM[i], wantM[i]) {
					t.Fatalf("%s n=%d: subMul[%d] = %v, want %v", k.name, n, i, gotM[i], wantM[i])
				}
			}
		}
	}
}
