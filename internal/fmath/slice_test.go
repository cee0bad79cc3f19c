package fmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// allKernels are the pure-Go kernels and the assembly kernels this CPU runs.
func allKernels() []*kernels { return append([]*kernels{&goKernels}, asmKernels()...) }

// special are inputs at and around the edges of the ranges.
var special = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5,
	-87.3, -87.29999, -87.30001, -87, -87.5, -88, -100, -103, -104, -150,
	88.7, 88.69999, 88.70001, 88.72, 88.376, 88, 89, 100,
	1e-30, -1e-30, 1e-45, -1e-45, 1e20, -1e20, 1e30, -1e30, math.MaxFloat32, -math.MaxFloat32,
	float32(math.Inf(1)), float32(math.Inf(-1)),
	20, -20, 16.6, -16.6, 17, -17, 30, -30, 0.3465736, -0.3465736, 0.3465737, -0.3465737,
}

func wantExp(x float32) float64 {
	switch {
	case x < -87.3:
		return 0
	case x > 88.7:
		return math.Inf(1)
	}
	return math.Exp(float64(x))
}

func wantSigmoid(x float32) float64 { return 1 / (1 + math.Exp(-float64(x))) }

func wantSoftplus(x float32) float64 {
	xf := float64(x)
	return math.Max(xf, 0) + math.Log1p(math.Exp(-math.Abs(xf)))
}

// checkClose fails unless got is within rel (relative, absolute below
// 1e-30 — subnormal-range results) of want, with infinities and NaN exact.
func checkClose(t *testing.T, what string, x, got float32, want float64, rel float64) float64 {
	t.Helper()
	if math.IsNaN(want) || math.IsInf(want, 0) {
		if g := float64(got); !(math.IsNaN(want) && math.IsNaN(g)) && g != want {
			t.Errorf("%s(%v) = %v, want %v", what, x, got, want)
		}
		return 0
	}
	e := relErr(got, want)
	if !(e <= rel) {
		t.Errorf("%s(%v) = %v, want %v (relative error %.3g)", what, x, got, want, e)
	}
	return e
}

// randomInputs returns n inputs: uniform over [lo, hi], normal with the
// given scale, and the special values.
func randomInputs(seed uint64, n int, lo, hi, scale float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	xs := append([]float32(nil), special...)
	for len(xs) < n {
		xs = append(xs, float32(lo+(hi-lo)*r.Float64()), float32(r.NormFloat64()*scale))
	}
	return xs
}

func TestSliceAccuracy(t *testing.T) {
	if len(asmKernels()) == 0 {
		t.Log("no assembly kernels on this machine: testing the Go loops only")
	}
	const n = 1_200_000
	xe := randomInputs(1, n, -87.3, 88.7, 10)
	xs := randomInputs(2, n, -100, 100, 12)
	for _, k := range allKernels() {
		t.Run(k.name, func(t *testing.T) {
			e := make([]float32, len(xe))
			k.expSub(e, xe, 0)
			var we float64
			for i, x := range xe {
				we = math.Max(we, checkClose(t, "Exp", x, e[i], wantExp(x), 4e-7))
				if t.Failed() {
					return
				}
			}
			sig := make([]float32, len(xs))
			sp := make([]float32, len(xs))
			sig2 := make([]float32, len(xs))
			sp2 := make([]float32, len(xs))
			k.sigmoidSoftplus(sig, sp, xs)
			k.sigmoid(sig2, xs)
			k.softplus(sp2, xs)
			var ws, wp float64
			for i, x := range xs {
				if math.Float32bits(sig[i]) != math.Float32bits(sig2[i]) || math.Float32bits(sp[i]) != math.Float32bits(sp2[i]) {
					t.Fatalf("SigmoidSoftplus(%v) = %v, %v; Sigmoid, Softplus give %v, %v", x, sig[i], sp[i], sig2[i], sp2[i])
				}
				ws = math.Max(ws, checkClose(t, "Sigmoid", x, sig[i], wantSigmoid(x), 5e-7))
				wp = math.Max(wp, checkClose(t, "Softplus", x, sp[i], wantSoftplus(x), 5e-7))
				if t.Failed() {
					return
				}
			}
			t.Logf("max relative error: exp %.3g, sigmoid %.3g, softplus %.3g", we, ws, wp)
		})
	}
}

func TestSliceNaN(t *testing.T) {
	nan := float32(math.NaN())
	// a NaN with payload bits that would reach the exponent in AVX2's
	// integer scaling
	odd := math.Float32frombits(0x7fc001ff)
	src := []float32{nan, 1, odd, -nan, -1, 0}
	for _, k := range allKernels() {
		e := make([]float32, len(src))
		s := make([]float32, len(src))
		p := make([]float32, len(src))
		k.expSub(e, src, 0)
		k.sigmoidSoftplus(s, p, src)
		for i, x := range src {
			if got := [3]bool{isNaN(e[i]), isNaN(s[i]), isNaN(p[i])}; got != [3]bool{isNaN(x), isNaN(x), isNaN(x)} {
				t.Errorf("%s: exp, sigmoid, softplus of %v are %v, %v, %v", k.name, x, e[i], s[i], p[i])
			}
		}
	}
}

func isNaN(x float32) bool { return x != x }

// TestSlicePositionIndependent checks that an element's result does not
// depend on where it sits in the slice (full vectors vs masked tail), on
// the slice length, or on the assembly kernel.
func TestSlicePositionIndependent(t *testing.T) {
	src := randomInputs(3, 4096, -90, 90, 30)
	type outs struct{ e, s, p, es []float32 }
	run := func(k *kernels, x []float32) outs {
		o := outs{make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))}
		k.expSub(o.e, x, 0)
		k.sigmoidSoftplus(o.s, o.p, x)
		k.expSubSum(o.es, x, 3)
		return o
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return true
	}
	ks := allKernels()
	for _, k := range ks {
		ref := run(k, src)
		for off := 0; off < 33; off++ {
			for n := 1; n <= 49; n++ {
				o := run(k, src[off:off+n])
				if !same(o.e, ref.e[off:off+n]) || !same(o.s, ref.s[off:off+n]) || !same(o.p, ref.p[off:off+n]) || !same(o.es, ref.es[off:off+n]) {
					t.Fatalf("%s: results for src[%d:%d] differ from the same elements in a longer slice", k.name, off, off+n)
				}
			}
		}
	}
	// The AVX2 and AVX-512 kernels run the same operations per element.
	if asm := asmKernels(); len(asm) == 2 {
		a, b := run(asm[0], src), run(asm[1], src)
		if !same(a.e, b.e) || !same(a.s, b.s) || !same(a.p, b.p) || !same(a.es, b.es) {
			t.Errorf("%s and %s kernels give different bits", asm[0].name, asm[1].name)
		}
	}
}

func TestExpSubSum(t *testing.T) {
	src := randomInputs(4, 1000, -20, 5, 5)[len(special):] // finite, moderate
	for _, k := range allKernels() {
		for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1000} {
			x := src[:n]
			mx := float32(math.Inf(-1))
			for _, v := range x {
				mx = max(mx, v)
			}
			dst := make([]float32, n)
			got := k.expSubSum(dst, x, mx)
			// the documented order, from the kernel's own dst values
			var want [16]float64
			for i, e := range dst {
				want[i%16] += float64(e)
			}
			if w := reduce16(&want); got != w {
				t.Errorf("%s n=%d: sum %v, want %v from dst in the documented order", k.name, n, got, w)
			}
			e2 := make([]float32, n)
			k.expSub(e2, x, mx)
			var exact float64
			for i, v := range x {
				if math.Float32bits(e2[i]) != math.Float32bits(dst[i]) {
					t.Fatalf("%s n=%d: expSubSum and expSub differ at %d", k.name, n, i)
				}
				exact += math.Exp(float64(v - mx))
			}
			if math.Abs(got-exact) > 5e-7*exact {
				t.Errorf("%s n=%d: sum %v, float64 reference %v", k.name, n, got, exact)
			}
		}
	}
}

func TestDot2(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	const N = 300
	x, y, tg := make([]float32, N), make([]float32, N), make([]float32, N)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 10)
		y[i] = float32(r.Float64())
		tg[i] = float32(r.Float64())
		if i%3 == 0 {
			tg[i] = 1
		}
	}
	x[N-1] = float32(math.NaN()) // just past the last n below: must not be read
	for _, n := range []int{1, 5, 8, 15, 16, 17, 31, 32, 33, 100, N - 1} {
		// the documented order, in float64
		var sx, sy [16]float64
		var ex, ey float64
		for i := 0; i < n; i++ {
			sx[i%16] += float64(x[i]) * float64(tg[i])
			sy[i%16] += float64(y[i]) * float64(tg[i])
		}
		ex, ey = reduce16(&sx), reduce16(&sy)
		for _, k := range allKernels() {
			gx, gy := k.dot2(x[:n], y[:n], tg[:n])
			if gx != ex || gy != ey {
				t.Errorf("%s n=%d: dot2 = %v, %v; want %v, %v", k.name, n, gx, gy, ex, ey)
			}
		}
		if gx, gy := Dot2(x[:n], y[:n], tg[:n]); gx != ex || gy != ey {
			t.Errorf("Dot2 n=%d = %v, %v; want %v, %v", n, gx, gy, ex, ey)
		}
	}
	if gx, gy := Dot2(nil, nil, nil); gx != 0 || gy != 0 {
		t.Error("Dot2 of nothing is not 0")
	}
}

func TestSliceInPlaceAndPublicAPI(t *testing.T) {
	src := randomInputs(5, 301, -30, 30, 10)
	want := make([]float32, len(src))
	impl.expSub(want, src, 0)
	x := append([]float32(nil), src...)
	ExpSlice(x, x)
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
			t.Fatalf("in-place ExpSlice differs at %d", i)
		}
	}
	x = append(x[:0], src...)
	s := ExpSubSum(x, x, 2)
	impl.expSub(want, src, 2)
	var ref [16]float64
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
			t.Fatalf("in-place ExpSubSum differs at %d", i)
		}
		ref[i%16] += float64(want[i])
	}
	if s != reduce16(&ref) {
		t.Errorf("ExpSubSum = %v, want %v", s, reduce16(&ref))
	}
	sig, sp := make([]float32, len(src)), make([]float32, len(src))
	SigmoidSoftplusSlice(sig, sp, src)
	x = append(x[:0], src...)
	SigmoidSlice(x, x)
	y := append([]float32(nil), src...)
	SoftplusSlice(y, y)
	for i := range x {
		if x[i] != sig[i] || y[i] != sp[i] {
			t.Fatalf("in-place SigmoidSlice/SoftplusSlice differ from SigmoidSoftplusSlice at %d", i)
		}
	}
	if ExpSubSum(nil, nil, 0) != 0 {
		t.Error("ExpSubSum of nothing is not 0")
	}
	ExpSlice(nil, nil)
	SigmoidSoftplusSlice(nil, nil, nil)
	for name, f := range map[string]func(){
		"ExpSlice":             func() { ExpSlice(make([]float32, 3), make([]float32, 4)) },
		"ExpSubSum":            func() { ExpSubSum(make([]float32, 5), make([]float32, 4), 0) },
		"SigmoidSlice":         func() { SigmoidSlice(make([]float32, 3), make([]float32, 4)) },
		"SoftplusSlice":        func() { SoftplusSlice(make([]float32, 3), make([]float32, 4)) },
		"SigmoidSoftplusSlice": func() { SigmoidSoftplusSlice(make([]float32, 4), make([]float32, 3), make([]float32, 4)) },
		"Dot2":                 func() { Dot2(make([]float32, 4), make([]float32, 4), make([]float32, 3)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with mismatched lengths did not panic", name)
				}
			}()
			f()
		}()
	}
	t.Logf("kernel in use: %s", Kernel())
}

// BenchmarkSlice reports ns per element of each function for each kernel
// on 4096 elements (a cache-resident row).
func BenchmarkSlice(b *testing.B) {
	const n = 4096
	src := randomInputs(6, n, -10, 10, 5)[:n]
	dst, dst2 := make([]float32, n), make([]float32, n)
	for _, k := range allKernels() {
		fns := []struct {
			name string
			f    func()
		}{
			{"exp", func() { k.expSub(dst, src, 0) }},
			{"expSubSum", func() { k.expSubSum(dst, src, 10) }},
			{"dot2", func() { k.dot2(src, dst2, dst) }},
			{"sigmoid", func() { k.sigmoid(dst, src) }},
			{"softplus", func() { k.softplus(dst, src) }},
			{"sigmoidSoftplus", func() { k.sigmoidSoftplus(dst, dst2, src) }},
		}
		for _, f := range fns {
			b.Run(fmt.Sprintf("%s/%s", f.name, k.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					f.f()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/elem")
			})
		}
	}
}

// TestAddAxpyBitIdentical: AddTo, Sum and Axpy give the plain Go loops' bits
// (one rounding per operation, no FMA) with every kernel, for lengths
// around the vector widths, zeros, infinities and NaNs included, and
// touch no element past n.
func TestAddAxpyBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	val := func() float32 {
		switch r.IntN(20) {
		case 0:
			return 0
		case 1:
			return float32(math.Inf(1 - 2*r.IntN(2)))
		case 2:
			return float32(math.NaN())
		}
		return float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(10)-5)))
	}
	for _, k := range allKernels() {
		for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000} {
			dst, src := make([]float32, n+3), make([]float32, n)
			for i := range dst {
				dst[i] = val()
			}
			for i := range src {
				src[i] = val()
			}
			alpha := val()
			wantAdd, wantAxpy := slices.Clone(dst), slices.Clone(dst)
			for i, v := range src {
				wantAdd[i] += v
				wantAxpy[i] += float32(alpha * v) // the conversion forbids fusing
			}
			gotAdd, gotAxpy := slices.Clone(dst), slices.Clone(dst)
			// sum into a third slice, then in place over either operand
			gotSum := make([]float32, n+3)
			copy(gotSum[n:], dst[n:])
			k.sum(gotSum[:n], dst[:n], src)
			inX, inY := slices.Clone(dst), slices.Clone(src)
			k.sum(inX[:n], inX[:n], src)
			k.sum(inY, dst[:n], inY)
			for i := range dst {
				same := func(got, want float32) bool {
					return math.Float32bits(got) == math.Float32bits(want) || (isNaN32(got) && isNaN32(want))
				}
				if !same(gotSum[i], wantAdd[i]) || !same(inX[i], wantAdd[i]) || (i < n && !same(inY[i], wantAdd[i])) {
					t.Fatalf("%s n=%d: sum[%d] = %v (in place %v, %v), want %v", k.name, n, i, gotSum[i], inX[i], inY[min(i, n-1)], wantAdd[i])
				}
			}
			k.add(gotAdd[:n], src)
			k.axpy(gotAxpy[:n], alpha, src)
			for i := range dst {
				if math.Float32bits(gotAdd[i]) != math.Float32bits(wantAdd[i]) && !(isNaN32(gotAdd[i]) && isNaN32(wantAdd[i])) {
					t.Fatalf("%s n=%d: add[%d] = %v, want %v", k.name, n, i, gotAdd[i], wantAdd[i])
				}
				if math.Float32bits(gotAxpy[i]) != math.Float32bits(wantAxpy[i]) && !(isNaN32(gotAxpy[i]) && isNaN32(wantAxpy[i])) {
					t.Fatalf("%s n=%d alpha=%v: axpy[%d] = %v, want %v", k.name, n, alpha, i, gotAxpy[i], wantAxpy[i])
				}
			}
		}
	}
}

func isNaN32(x float32) bool { return x != x }

// edgeValue returns, one time in n each, +0, −0, ±Inf, NaN or a subnormal
// of either sign, and otherwise a normal value times 10^k, |k| < e: the
// inputs on which a vector kernel and a Go loop most easily part.
func edgeValue(r *rand.Rand, n, e int) float32 {
	switch r.IntN(n) {
	case 0:
		return 0
	case 1:
		return float32(math.Copysign(0, -1))
	case 2:
		return float32(math.Inf(1 - 2*r.IntN(2)))
	case 3:
		return float32(math.NaN())
	case 4:
		return math.Float32frombits(uint32(r.IntN(1<<23)) | uint32(r.IntN(2))<<31) // subnormal
	}
	return float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(2*e)-e)))
}

// edgeVec returns n values of edgeValue(r, 40, 3): ordinary values of
// 10⁻³…10³ with ±0, ±Inf, NaN and subnormals among them.
func edgeVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = edgeValue(r, 40, 3)
	}
	return v
}

// sameBits fails unless got and want hold the same bits (a NaN matching
// any NaN) at every index of want.
func sameBits(t *testing.T, what string, n int, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(isNaN32(got[i]) && isNaN32(want[i])) {
			t.Fatalf("%s n=%d: [%d] = %v, want %v", what, n, i, got[i], want[i])
		}
	}
}

// TestReLUBitIdentical: every kernel's ReLU and ReLUGrad give the bits of
// the plain Go loops (max(v, 0); dst += g where x > 0), on values that
// include ±0, ±Inf, NaN and subnormals, at lengths around the vector
// widths, leaving the elements past n alone.
func TestReLUBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	val := func() float32 { return edgeValue(r, 12, 5) }
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (isNaN32(a) && isNaN32(b))
	}
	for _, k := range allKernels() {
		for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000} {
			src, x, g, dst := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n+3)
			for i := range n {
				src[i], x[i], g[i] = val(), val(), val()
			}
			for i := range dst {
				dst[i] = val()
			}
			wantReLU, wantGrad := make([]float32, n+3), slices.Clone(dst)
			gotReLU, gotGrad := make([]float32, n+3), slices.Clone(dst)
			wantReLU[n], gotReLU[n] = 7, 7
			for i, v := range src {
				wantReLU[i] = max(v, 0)
			}
			for i, v := range x {
				if v > 0 {
					wantGrad[i] += g[i]
				} else {
					wantGrad[i] += 0
				}
			}
			// the set variant on a buffer of garbage: g where x > 0, else +0
			wantSet, gotSet := make([]float32, n+3), make([]float32, n+3)
			for i := range gotSet {
				gotSet[i] = float32(math.NaN())
				wantSet[i] = gotSet[i]
			}
			for i, v := range x {
				wantSet[i] = 0
				if v > 0 {
					wantSet[i] = g[i]
				}
			}
			k.relu(gotReLU[:n], src)
			k.reluGrad(gotGrad[:n], x, g)
			k.reluGradSet(gotSet[:n], x, g)
			for i := range gotSet {
				if math.Float32bits(gotSet[i]) != math.Float32bits(wantSet[i]) && !(i >= n && isNaN32(gotSet[i])) {
					t.Fatalf("%s n=%d: reluGradSet[%d] = %v, want %v", k.name, n, i, gotSet[i], wantSet[i])
				}
			}
			for i := range gotReLU {
				if !same(gotReLU[i], wantReLU[i]) {
					t.Fatalf("%s n=%d: relu(%v) = %v, want %v", k.name, n, src[min(i, n-1)], gotReLU[i], wantReLU[i])
				}
				if !same(gotGrad[i], wantGrad[i]) {
					t.Fatalf("%s n=%d: reluGrad[%d] = %v, want %v", k.name, n, i, gotGrad[i], wantGrad[i])
				}
			}
		}
	}
}

// TestNormKernelsBitIdentical: every kernel's norm passes give the bits of
// the Go loops (goKernels), on values with ±0, ±Inf, NaN and subnormals
// among ordinary ones, at lengths around the vector width, and leave the
// elements past n alone.
func TestNormKernelsBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	vec := func(n int) []float32 { return edgeVec(r, n) }
	same := func(what string, n int, got, want []float32) { t.Helper(); sameBits(t, what, n, got, want) }
	ref := &goKernels
	for _, k := range allKernels() {
		for _, n := range []int{1, 5, 15, 16, 17, 32, 33, 128, 1000} {
			x, gm, bt, g, xh := vec(n), vec(n), vec(n), vec(n), vec(n)
			mu, rs := float32(r.NormFloat64()), float32(r.Float64()*3)
			mu64, r64 := r.NormFloat64(), r.Float64()*3
			xh1, y1, xh2, y2 := vec(n+2), vec(n+2), vec(n+2), vec(n+2)
			copy(xh2, xh1)
			copy(y2, y1)
			k.normAffine(xh1[:n], y1[:n], x, mu, rs, gm, bt)
			ref.normAffine(xh2[:n], y2[:n], x, mu, rs, gm, bt)
			same(k.name+" normAffine xh", n, xh1, xh2)
			same(k.name+" normAffine y", n, y1, y2)
			k.normAffine64(xh1[:n], y1[:n], x, mu64, r64, gm[0], bt[0])
			ref.normAffine64(xh2[:n], y2[:n], x, mu64, r64, gm[0], bt[0])
			same(k.name+" normAffine64 xh", n, xh1, xh2)
			same(k.name+" normAffine64 y", n, y1, y2)
			dx1, dg1, db1 := vec(n+2), vec(n+2), vec(n+2)
			dx2, dg2, db2 := slices.Clone(dx1), slices.Clone(dg1), slices.Clone(db1)
			mg, mgx := float32(r.NormFloat64()), float32(r.NormFloat64())
			k.layerNormGrad(dx1[:n], dg1[:n], db1[:n], g, xh, gm, mg, mgx, rs)
			ref.layerNormGrad(dx2[:n], dg2[:n], db2[:n], g, xh, gm, mg, mgx, rs)
			same(k.name+" layerNormGrad dx", n, dx1, dx2)
			same(k.name+" layerNormGrad dg", n, dg1, dg2)
			same(k.name+" layerNormGrad db", n, db1, db2)
			gm64, mgx64 := r.NormFloat64(), r.NormFloat64()
			k.normGradX64(dx1[:n], g, xh, gm64, mu64, mgx64, r64)
			ref.normGradX64(dx2[:n], g, xh, gm64, mu64, mgx64, r64)
			same(k.name+" normGradX64", n, dx1, dx2)
			// the set variants: over garbage, the values the add variants
			// leave in zeros (a −0 result stays −0 where 0 + −0 gives +0)
			// and the same dg, db
			zero, set1, set2 := make([]float32, n+2), vec(n+2), vec(n+2)
			copy(set2, set1)
			dg3, db3 := slices.Clone(dg1), slices.Clone(db1)
			k.layerNormGrad(zero[:n], dg1[:n], db1[:n], g, xh, gm, mg, mgx, rs)
			k.layerNormGradSet(set1[:n], dg3[:n], db3[:n], g, xh, gm, mg, mgx, rs)
			ref.layerNormGradSet(set2[:n], dg2[:n], db2[:n], g, xh, gm, mg, mgx, rs)
			same(k.name+" layerNormGradSet dx", n, set1, set2)
			same(k.name+" layerNormGradSet dg", n, dg3, dg2)
			same(k.name+" layerNormGradSet db", n, db3, db2)
			same(k.name+" layerNormGradSet dg vs add", n, dg3, dg1)
			sameOnZero(t, k.name+" layerNormGradSet vs add", set1[:n], zero[:n])
			clear(zero)
			k.normGradX64(zero[:n], g, xh, gm64, mu64, mgx64, r64)
			k.normGradX64Set(set1[:n], g, xh, gm64, mu64, mgx64, r64)
			ref.normGradX64Set(set2[:n], g, xh, gm64, mu64, mgx64, r64)
			same(k.name+" normGradX64Set", n, set1, set2)
			sameOnZero(t, k.name+" normGradX64Set vs add", set1[:n], zero[:n])
		}
	}
}

// TestRowStatsBitIdentical: the row-statistics kernels (one row per lane)
// give the bits of the per-row Go chains, for row lengths below, at and
// around multiples of 8, strides larger than the rows, and values with
// ±0, ±Inf, NaN and subnormals; RowSums8 & co. (vector part + tail) equal
// one plain chain per row.
func TestRowStatsBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	val := func() float32 { return edgeValue(r, 60, 3) }
	same := func(what string, n int, got, want float64) {
		t.Helper()
		if math.Float64bits(got) != math.Float64bits(want) && !(got != got && want != want) {
			t.Fatalf("%s n=%d: %v, want %v", what, n, got, want)
		}
	}
	for _, k := range allKernels() {
		for _, n := range []int{0, 1, 7, 8, 9, 16, 23, 128, 576, 1001} {
			stride := n + r.IntN(5)
			x, h := make([]float32, 7*stride+n), make([]float32, 7*stride+n)
			for i := range x {
				x[i], h[i] = val(), val()
			}
			var init, mu [8]float64
			for j := range init {
				init[j], mu[j] = r.NormFloat64(), r.NormFloat64()
			}
			n8 := n &^ 7
			a, b := init, init
			k.rowSums8(&a, x, stride, n8)
			goRowSums8(&b, x, stride, n8)
			s2, s2h, w2, w2h := init, mu, init, mu
			k.rowSumDots8(&s2, &s2h, x, h, stride, n8)
			goRowSumDots8(&w2, &w2h, x, h, stride, n8)
			e, f := mu, mu
			k.rowDots8(&e, x, h, stride, n8)
			goRowDots8(&f, x, h, stride, n8)
			c, d := init, init
			k.rowSqDevs8(&c, x, stride, n8, &mu)
			goRowSqDevs8(&d, x, stride, n8, &mu)
			for j := range a {
				same(k.name+" rowSums8", n8, a[j], b[j])
				same(k.name+" rowSqDevs8", n8, c[j], d[j])
				same(k.name+" rowSumDots8 sg", n8, s2[j], w2[j])
				same(k.name+" rowSumDots8 sgh", n8, s2h[j], w2h[j])
				same(k.name+" rowDots8", n8, e[j], f[j])
				same(k.name+" rowDots8 = rowSumDots8's sgh", n8, e[j], s2h[j])
			}
		}
	}
	// the public functions: vector part and tail = one chain per row
	for _, n := range []int{3, 8, 29, 576} {
		stride := n + 2
		x, h := make([]float32, 7*stride+n), make([]float32, 7*stride+n)
		for i := range x {
			x[i], h[i] = val(), val()
		}
		var acc, sq, sg, sgh, mu, dt [8]float64
		for j := range mu {
			mu[j] = r.NormFloat64()
		}
		RowSums8(&acc, x, stride, n)
		RowSqDevs8(&sq, x, stride, n, &mu)
		RowSumDots8(&sg, &sgh, x, h, stride, n)
		RowDots8(&dt, x, h, stride, n)
		for j := range acc {
			row, hr := x[j*stride:j*stride+n], h[j*stride:j*stride+n]
			var ws, wq, wg, wgh float64
			for i, v := range row {
				ws += float64(v)
				dd := float64(v) - mu[j]
				wq += dd * dd
				wg += float64(v)
				wgh += float64(v) * float64(hr[i])
			}
			same("RowSums8", n, acc[j], ws)
			same("RowSqDevs8", n, sq[j], wq)
			same("RowSumDots8 sg", n, sg[j], wg)
			same("RowSumDots8 sgh", n, sgh[j], wgh)
			same("RowDots8", n, dt[j], wgh)
		}
	}
}

// sameOnZero checks that set, what a set variant wrote, is what its add
// variant left in zeros (added): the same bits, except that a −0 in set is
// +0 in added (0 + −0 = +0), and NaN for NaN.
func sameOnZero(t *testing.T, what string, set, added []float32) {
	t.Helper()
	for i, v := range set {
		w := added[i]
		if math.Float32bits(v) == math.Float32bits(w) || (isNaN32(v) && isNaN32(w)) || (v == 0 && w == 0 && math.Float32bits(w) == 0) {
			continue
		}
		t.Fatalf("%s: [%d] = %v, the add variant %v", what, i, v, w)
	}
}

// TestAllFinite: every kernel finds a single NaN, +Inf or −Inf at every
// position of slices around the vector width (and past it), accepts
// slices of finite values including ±0, subnormals and ±MaxFloat32, and
// reads nothing past n (a NaN there is ignored).
func TestAllFinite(t *testing.T) {
	finite := []float32{0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.MaxFloat32, math.MaxFloat32, 1.5, -3}
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, k := range allKernels() {
		for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 100} {
			x := make([]float32, n+1)
			for i := range n {
				x[i] = finite[i%len(finite)]
			}
			x[n] = float32(math.NaN())
			if !k.allFinite(x[:n]) {
				t.Fatalf("%s n=%d: finite values reported non-finite", k.name, n)
			}
			for i := range n {
				for _, b := range bad {
					v := x[i]
					x[i] = b
					if k.allFinite(x[:n]) {
						t.Fatalf("%s n=%d: %v at %d not found", k.name, n, b, i)
					}
					x[i] = v
				}
			}
		}
	}
	if !AllFinite(nil) {
		t.Fatal("AllFinite(nil) = false")
	}
}
