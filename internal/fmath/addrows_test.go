package fmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddRows runs every kernel's addRows on values with ±0, ±Inf, NaN and
// subnormals, at widths around the 64- and 16-column chunks, one to many
// rows, strides past the width, and compares it bit for bit with AddTo of
// each row in turn (its definition). The columns past n must stay.
func TestAddRows(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	val := func() float32 { return edgeValue(r, 12, 5) }
	widths := []int{1, 2, 15, 16, 17, 31, 48, 63, 64, 65, 79, 80, 127, 128, 129, 200, 256}
	for _, k := range allKernels() {
		for _, n := range widths {
			for _, rows := range []int{1, 2, 3, 7, 40} {
				stride := n + r.IntN(3)
				src := make([]float32, (rows-1)*stride+n)
				for i := range src {
					src[i] = val()
				}
				dst := make([]float32, n+5) // 5 guard floats past n
				for i := range dst {
					dst[i] = val()
				}
				want := append([]float32(nil), dst...)
				for q := 0; q < rows; q++ {
					for j := 0; j < n; j++ {
						want[j] += src[q*stride+j]
					}
				}
				k.addRows(dst[:n], src, rows, stride)
				for j := range want {
					if math.Float32bits(dst[j]) != math.Float32bits(want[j]) && !(isNaN32(dst[j]) && isNaN32(want[j])) {
						t.Fatalf("%s n=%d rows=%d stride=%d: dst[%d] = %v, want %v", k.name, n, rows, stride, j, dst[j], want[j])
					}
				}
			}
		}
	}
	for _, f := range []func(){
		func() { AddRows(make([]float32, 4), make([]float32, 7), 2, 4) },
		func() { AddRows(make([]float32, 4), make([]float32, 10), 2, 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("AddRows accepted rows outside src")
				}
			}()
			f()
		}()
	}
}

// TestCopyRows: every kernel's copyRows against copy row by row, at widths
// around its 64- and 16-float chunks, with strides on both sides; what
// lies between the rows of dst must stay.
func TestCopyRows(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	val := func() float32 { return edgeValue(r, 12, 5) }
	for _, k := range allKernels() {
		for _, n := range []int{1, 3, 15, 16, 17, 32, 34, 63, 64, 65, 100, 130} {
			for _, rows := range []int{1, 2, 5, 33} {
				ds, ss := n+r.IntN(4), n+r.IntN(4)
				src := make([]float32, (rows-1)*ss+n)
				for i := range src {
					src[i] = val()
				}
				dst := make([]float32, (rows-1)*ds+n+3)
				for i := range dst {
					dst[i] = val()
				}
				want := append([]float32(nil), dst...)
				for q := 0; q < rows; q++ {
					copy(want[q*ds:q*ds+n], src[q*ss:])
				}
				k.copyRows(dst, ds, src, ss, rows, n)
				for i := range want {
					if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s n=%d rows=%d ds=%d ss=%d: dst[%d] = %v, want %v", k.name, n, rows, ds, ss, i, dst[i], want[i])
					}
				}
			}
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("CopyRows accepted rows outside dst")
			}
		}()
		CopyRows(make([]float32, 7), 4, make([]float32, 8), 4, 2, 4)
	}()
}
