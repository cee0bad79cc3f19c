package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testImpl is one implementation under test.
type testImpl struct {
	name string
	impl Impl
}

// testImpls returns every registered implementation plus the packed driver
// forced onto each micro-kernel this machine can run (the pure-Go one
// always), and onto the pure-Go kernel with tiny blocks so that every
// blocking loop runs several times even on small shapes.
func testImpls() []testImpl {
	var ts []testImpl
	for _, n := range Names() {
		if n == "amx-bf16" {
			continue // rounds its inputs to BF16: TestAMXBF16 checks it
		}
		mu.RLock()
		ts = append(ts, testImpl{n, impls[n]})
		mu.RUnlock()
	}
	ks := append([]*kernel{&goKernel}, asmKernels()...)
	for _, k := range ks {
		ts = append(ts, testImpl{"packed/" + k.name, packed{k: k}})
		small := *k
		small.kc, small.mc, small.nc = 5, 2*k.mr, 2*k.nr
		ts = append(ts, testImpl{"packed/" + k.name + "/tinyblocks", packed{k: &small}})
		if k.direct != nil {
			ts = append(ts, testImpl{"packed/" + k.name + "/packonly", packed{k: k, mode: packOnly}},
				testImpl{"packed/" + k.name + "/direct", packed{k: k, mode: directAlways}},
				testImpl{"packed/" + k.name + "/tinyblocks/direct", packed{k: &small, mode: directAlways}})
		}
	}
	return ts
}

// registered returns the implementation registered as name.
func registered(name string) (Impl, bool) {
	mu.RLock()
	defer mu.RUnlock()
	im, ok := impls[name]
	return im, ok
}

type gemmCase struct {
	tA, tB           bool
	m, n, k          int
	alpha, beta      float32
	padA, padB, padC int // extra row-stride beyond the stored width
}

func (c gemmCase) String() string {
	return fmt.Sprintf("m%d_n%d_k%d_tA%v_tB%v_alpha%g_beta%g_pad%d.%d.%d",
		c.m, c.n, c.k, c.tA, c.tB, c.alpha, c.beta, c.padA, c.padB, c.padC)
}

// operands builds random stored A, B and C for c. C is NaN-filled when beta
// is 0 (it must not be read), and its padding is NaN too (it must not be
// touched: checked bit-for-bit).
func (c gemmCase) operands(rng *rand.Rand) (a []float32, lda int, b []float32, ldb int, cm []float32, ldc int) {
	ar, ac := c.m, c.k
	if c.tA {
		ar, ac = c.k, c.m
	}
	br, bc := c.k, c.n
	if c.tB {
		br, bc = c.n, c.k
	}
	lda, ldb, ldc = max(ac, 1)+c.padA, max(bc, 1)+c.padB, max(c.n, 1)+c.padC
	a = randMat(rng, ar, lda)
	b = randMat(rng, br, ldb)
	cm = randMat(rng, c.m, ldc)
	for i := 0; i < c.m; i++ {
		for j := 0; j < ldc; j++ {
			if j >= c.n || c.beta == 0 {
				cm[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	return
}

func randMat(rng *rand.Rand, rows, ld int) []float32 {
	s := make([]float32, rows*ld)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// want computes the float64 result and the per-element error scale
// |alpha|·Σ_p|a||b| + |beta·c|.
func (c gemmCase) want(a []float32, lda int, b []float32, ldb int, c0 []float32, ldc int) (want, scale []float64) {
	want = make([]float64, c.m*c.n)
	scale = make([]float64, c.m*c.n)
	for i := 0; i < c.m; i++ {
		for j := 0; j < c.n; j++ {
			var s, abs float64
			for p := 0; p < c.k; p++ {
				var av, bv float64
				if c.tA {
					av = float64(a[p*lda+i])
				} else {
					av = float64(a[i*lda+p])
				}
				if c.tB {
					bv = float64(b[j*ldb+p])
				} else {
					bv = float64(b[p*ldb+j])
				}
				s += av * bv
				abs += math.Abs(av * bv)
			}
			w := float64(c.alpha) * s
			sc := math.Abs(float64(c.alpha)) * abs
			if c.beta != 0 {
				cv := float64(c.beta) * float64(c0[i*ldc+j])
				w += cv
				sc += math.Abs(cv)
			}
			want[i*c.n+j] = w
			scale[i*c.n+j] = sc
		}
	}
	return
}

// check runs every implementation on c and compares with the float64 result
// within (k+2)·eps·scale, eps being float32's machine epsilon.
func (c gemmCase) check(t *testing.T, rng *rand.Rand, ts []testImpl) {
	t.Helper()
	c.checkRounded(t, rng, ts, nil)
}

// checkRounded is check for implementations that round A and B first:
// the float64 result is that of round(A)·round(B) (nil: no rounding).
func (c gemmCase) checkRounded(t *testing.T, rng *rand.Rand, ts []testImpl, round func(float32) float32) {
	t.Helper()
	a, lda, b, ldb, c0, ldc := c.operands(rng)
	ar, br := a, b
	if round != nil {
		ar, br = slices.Clone(a), slices.Clone(b)
		for i, v := range ar {
			ar[i] = round(v)
		}
		for i, v := range br {
			br[i] = round(v)
		}
	}
	want, scale := c.want(ar, lda, br, ldb, c0, ldc)
	const eps = 0x1p-23
	got := make([]float32, len(c0))
	for _, ti := range ts {
		copy(got, c0)
		ti.impl.Sgemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, got, ldc)
		bad := 0
		for i := 0; i < c.m; i++ {
			for j := 0; j < ldc; j++ {
				g := got[i*ldc+j]
				if j >= c.n {
					if math.Float32bits(g) != math.Float32bits(c0[i*ldc+j]) {
						t.Errorf("%s %v: C[%d][%d] in the ldc padding was written", ti.name, c, i, j)
						return
					}
					continue
				}
				w, sc := want[i*c.n+j], scale[i*c.n+j]
				tol := float64(c.k+2)*eps*sc + 1e-30
				if d := math.Abs(float64(g) - w); !(d <= tol) {
					if bad < 3 {
						t.Errorf("%s %v: C[%d][%d] = %g, want %g (|diff| %.3g > tol %.3g)", ti.name, c, i, j, g, w, d, tol)
					}
					bad++
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s %v: %d wrong elements", ti.name, c, bad)
		}
	}
}

var sizes = []int{1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 65, 100, 129, 257}

var (
	alphas = []float32{1, -0.5, 2}
	betas  = []float32{0, 1, 0.25}
)

// TestSmallShapesExhaustive covers every (m, n, k) with all sizes up to 33,
// rotating through the transpose cases, alphas, betas and paddings.
func TestSmallShapesExhaustive(t *testing.T) {
	ts := testImpls()
	rng := rand.New(rand.NewPCG(1, 2))
	smallShapeCases(func(c gemmCase) { c.check(t, rng, ts) })
}

// smallShapeCases calls f with every (m, n, k) of sizes up to 33,
// rotating through the transpose cases, alphas, betas and paddings.
func smallShapeCases(f func(gemmCase)) {
	i := 0
	for _, m := range sizes[:10] {
		for _, n := range sizes[:10] {
			for _, k := range sizes[:10] {
				f(gemmCase{
					tA: i&1 != 0, tB: i&2 != 0, m: m, n: n, k: k,
					alpha: alphas[i%3], beta: betas[(i/4)%3],
					padA: i % 3, padB: (i / 3) % 3, padC: (i / 2) % 4,
				})
				i++
			}
		}
	}
}

// sampledShapeCases calls f with count random (m, n, k) from the whole
// size list, each in all four transpose cases, with random scalars and
// paddings.
func sampledShapeCases(rng *rand.Rand, count int, f func(gemmCase)) {
	for i := 0; i < count; i++ {
		m, nn, k := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
		for tr := 0; tr < 4; tr++ {
			f(gemmCase{
				tA: tr&1 != 0, tB: tr&2 != 0, m: m, n: nn, k: k,
				alpha: alphas[rng.IntN(3)], beta: betas[rng.IntN(3)],
				padA: rng.IntN(9), padB: rng.IntN(9), padC: rng.IntN(9),
			})
		}
	}
}

// TestSampledShapes takes random (m, n, k) from the whole size list,
// including 63…257, each in all four transpose cases.
func TestSampledShapes(t *testing.T) {
	ts := testImpls()
	rng := rand.New(rand.NewPCG(3, 4))
	n := 40
	if testing.Short() {
		n = 10
	}
	sampledShapeCases(rng, n, func(c gemmCase) { c.check(t, rng, ts) })
}

// TestBlocking uses skinny shapes that cross the default block limits
// (several k blocks, several m and n blocks) at little cost.
func TestBlocking(t *testing.T) {
	ts := testImpls()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{
		{13, 40, 1000}, // k blocks
		{1600, 17, 9},  // m blocks
		{7, 900, 11},   // n blocks
		{37, 70, 777},
		{1, 1, 2000},
	} {
		for tr := 0; tr < 4; tr++ {
			for _, beta := range betas {
				c := gemmCase{tA: tr&1 != 0, tB: tr&2 != 0, m: s[0], n: s[1], k: s[2], alpha: -0.5, beta: beta, padA: 1, padB: 2, padC: 3}
				c.check(t, rng, ts)
			}
		}
	}
}

// TestKZeroAndAlphaZero: C = beta·C without touching A and B (which hold
// NaNs here), and beta == 0 clears NaNs in C.
func TestKZeroAndAlphaZero(t *testing.T) {
	nan := float32(math.NaN())
	for _, ti := range testImpls() {
		for _, k := range []int{0, 3} {
			for _, beta := range betas {
				m, n := 3, 4
				a := slices.Repeat([]float32{nan}, max(m*k, 1))
				b := slices.Repeat([]float32{nan}, max(k*n, 1))
				c := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
				if beta == 0 {
					for i := range c {
						c[i] = nan
					}
				}
				alpha := float32(1)
				if k > 0 {
					alpha = 0 // as in BLAS, A and B are then not read
				}
				ti.impl.Sgemm(false, false, m, n, k, alpha, a, max(k, 1), b, n, beta, c, n)
				for i, v := range c {
					want := beta * float32(i+1)
					if v != want {
						t.Errorf("%s k=%d alpha=%g beta=%g: C[%d] = %g, want %g", ti.name, k, alpha, beta, i, v, want)
						break
					}
				}
			}
		}
	}
}

// TestBadArgsPanic: programmer errors panic with a "gemm:" message.
func TestBadArgsPanic(t *testing.T) {
	a := make([]float32, 12)
	b := make([]float32, 12)
	c := make([]float32, 12)
	for _, tc := range []struct {
		name string
		f    func(Impl)
	}{
		{"negative m", func(im Impl) { im.Sgemm(false, false, -1, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"short a", func(im Impl) { im.Sgemm(false, false, 4, 3, 4, 1, a, 4, b, 3, 0, c, 3) }},
		{"small lda", func(im Impl) { im.Sgemm(false, false, 3, 3, 4, 1, a, 3, b, 3, 0, c, 3) }},
		{"short b transposed", func(im Impl) { im.Sgemm(false, true, 3, 4, 4, 1, a, 4, b, 4, 0, c, 4) }},
		{"small ldc", func(im Impl) { im.Sgemm(false, false, 3, 3, 4, 1, a, 4, b, 3, 0, c, 2) }},
		{"short c", func(im Impl) { im.Sgemm(false, false, 3, 4, 3, 1, a, 4, b, 4, 0, c[:11], 4) }},
	} {
		for _, ti := range testImpls() {
			if ti.name == "ref" || ti.name == "gonum" {
				continue // not ours: they panic in their own words
			}
			func() {
				defer func() {
					r := recover()
					s, _ := r.(string)
					if !strings.HasPrefix(s, "gemm:") {
						t.Errorf("%s %s: recovered %v, want a \"gemm:\" panic", ti.name, tc.name, r)
					}
				}()
				tc.f(ti.impl)
			}()
		}
		// The package-level entry point checks too.
		func() {
			defer func() {
				if s, _ := recover().(string); !strings.HasPrefix(s, "gemm:") {
					t.Errorf("Sgemm %s: no \"gemm:\" panic", tc.name)
				}
			}()
			tc.f(implFunc(Sgemm))
		}()
	}
}

type implFunc func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func (implFunc) Name() string { return "Sgemm" }
func (f implFunc) Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	f(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// TestDeterminism: the packed implementation gives bit-identical results
// for repeated calls, concurrent calls from many goroutines and different
// GOMAXPROCS values.
func TestDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const m, n, k = 129, 257, 800 // several k blocks, edge tiles in m and n
	a := randMat(rng, m, k)
	b := randMat(rng, k, n)
	c0 := randMat(rng, m, n)
	impls := []testImpl{{"asm", asmImpl}, {"go", packed{k: &goKernel}}}
	for _, kr := range asmKernels() {
		impls = append(impls, testImpl{kr.name, packed{k: kr}})
	}
	if im, ok := registered("amx-bf16"); ok {
		impls = append(impls, testImpl{"amx-bf16", im})
	}
	for _, ti := range impls {
		run := func() []float32 {
			c := slices.Clone(c0)
			ti.impl.Sgemm(false, true, m, n, k, 0.75, a, k, b[:n*k], k, 0.5, c, n)
			return c
		}
		want := run()
		for _, procs := range []int{1, 2, 8} {
			old := runtime.GOMAXPROCS(procs)
			var wg sync.WaitGroup
			errs := make(chan string, 16)
			for g := 0; g < 6; g++ {
				wg.Go(func() {
					for r := 0; r < 2; r++ {
						if got := run(); !slices.EqualFunc(got, want, func(x, y float32) bool {
							return math.Float32bits(x) == math.Float32bits(y)
						}) {
							errs <- fmt.Sprintf("%s GOMAXPROCS=%d: result differs from the first call", ti.name, procs)
							return
						}
					}
				})
			}
			wg.Wait()
			runtime.GOMAXPROCS(old)
			close(errs)
			for e := range errs {
				t.Error(e)
			}
		}
	}
}

// TestNoAllocs: a call allocates nothing once a workspace is free, even
// across garbage collections.
func TestNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const m, n, k = 70, 90, 500
	a := randMat(rng, k, m)
	b := randMat(rng, n, k)
	c := make([]float32, m*n)
	asmImpl.Sgemm(true, true, m, n, k, 1, a, m, b, k, 0, c, n)
	runtime.GC()
	runtime.GC()
	if allocs := testing.AllocsPerRun(20, func() {
		runtime.GC() // a sync.Pool would be emptied by these
		asmImpl.Sgemm(true, true, m, n, k, 1, a, m, b, k, 0, c, n)
	}); allocs != 0 {
		t.Errorf("packed Sgemm allocates %v times per call", allocs)
	}
}

// TestDefault: the highest-priority implementation is the default, and Use
// switches.
func TestDefault(t *testing.T) {
	want := "asm"
	if _, ok := impls["openblas"]; ok {
		want = "openblas"
	}
	if got := Current().Name(); got != want {
		t.Fatalf("default implementation %q, want %q", got, want)
	}
	if err := Use("ref"); err != nil {
		t.Fatal(err)
	}
	if Current().Name() != "ref" {
		t.Error("Use(ref) did not switch")
	}
	if err := Use("nope"); err == nil {
		t.Error("Use(nope) succeeded")
	}
	if err := Use(want); err != nil {
		t.Fatal(err)
	}
	t.Logf("asm kernel: %s", KernelName())
}

// TestEveryTileShape runs each micro-kernel on every row count of its tile
// (the kernels have a variant per row count) with full and partial column
// tiles (AVX-512 has masked variants for those), in all transpose cases. C
// has padding past n that must stay untouched.
func TestEveryTileShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, kr := range append([]*kernel{&goKernel}, asmKernels()...) {
		ts := []testImpl{{"packed/" + kr.name, packed{k: kr}}}
		for m := 1; m <= 2*kr.mr+1; m++ {
			// Full tiles, then column edges of 1, half, half+1 and nr-1.
			for _, n := range []int{kr.nr, kr.nr + 1, kr.nr + kr.nr/2, kr.nr + kr.nr/2 + 1, 2*kr.nr - 1} {
				for _, k := range []int{1, 9} {
					tr := m + n + k
					c := gemmCase{tA: tr&1 != 0, tB: tr&2 != 0, m: m, n: n, k: k, alpha: alphas[m%3], beta: betas[(m/3)%3], padC: 1 + m%3}
					c.check(t, rng, ts)
				}
			}
		}
	}
}

// TestDirectBitIdentical: where a kernel has a direct path (no packing),
// it computes the same bits as the packed path, for every transpose case,
// alpha and beta, row and column edges, several k blocks (default and
// tiny block sizes) and padded strides.
func TestDirectBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, kr := range asmKernels() {
		if kr.direct == nil {
			continue
		}
		small := *kr
		small.kc = 7
		for _, k2 := range []*kernel{kr, &small} {
			pk, dk := packed{k: k2, mode: packOnly}, packed{k: k2, mode: directAlways}
			for i := 0; i < 300; i++ {
				c := gemmCase{
					tA: i&1 != 0, tB: i&2 != 0,
					m: 1 + rng.IntN(40), n: 1 + rng.IntN(80), k: 1 + rng.IntN(30),
					alpha: alphas[rng.IntN(3)], beta: []float32{0, 1, 0.25, -1.5}[rng.IntN(4)],
					padA: rng.IntN(5), padB: rng.IntN(5), padC: rng.IntN(5),
				}
				if i%25 == 0 {
					c.k = 385 + rng.IntN(500) // several default k blocks
				}
				a, lda, b, ldb, c0, ldc := c.operands(rng)
				want, got := slices.Clone(c0), slices.Clone(c0)
				pk.Sgemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, want, ldc)
				dk.Sgemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, got, ldc)
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Fatalf("%s kc=%d %v: direct C[%d] = %v, packed %v", kr.name, k2.kc, c, j, got[j], want[j])
					}
				}
			}
		}
	}
}

// TestLayoutIndependent: under each implementation that reports
// LayoutIndependent, the product of the same op(A) and op(B) has the same
// bits whichever operands are stored transposed, on small shapes (FP32
// kernels under amx-bf16 too) and on shapes the tile unit takes.
func TestLayoutIndependent(t *testing.T) {
	defer Use(Current().Name())
	rng := rand.New(rand.NewPCG(35, 36))
	tested := 0
	for _, name := range Names() {
		if Use(name) != nil || !LayoutIndependent() {
			continue
		}
		tested++
		for _, s := range [][3]int{{20, 256, 16}, {20, 20, 16}, {7, 33, 17}, {80, 128, 128}, {37, 70, 777}, {1, 1, 1}} {
			m, n, k := s[0], s[1], s[2]
			a, b := randMat(rng, m, k), randMat(rng, k, n) // op(A) m×k, op(B) k×n, row-major
			aT, bT := make([]float32, k*m), make([]float32, n*k)
			for i := 0; i < m; i++ {
				for p := 0; p < k; p++ {
					aT[p*m+i] = a[i*k+p]
				}
			}
			for p := 0; p < k; p++ {
				for j := 0; j < n; j++ {
					bT[j*k+p] = b[p*n+j]
				}
			}
			var want []float32
			for tr := 0; tr < 4; tr++ {
				tA, tB := tr&1 != 0, tr&2 != 0
				as, lda, bs, ldb := a, k, b, n
				if tA {
					as, lda = aT, m
				}
				if tB {
					bs, ldb = bT, k
				}
				c := make([]float32, m*n)
				Sgemm(tA, tB, m, n, k, 1, as, lda, bs, ldb, 0, c, n)
				if want == nil {
					want = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %dx%dx%d tA=%v tB=%v: C[%d] = %g, untransposed storage gives %g", name, m, n, k, tA, tB, i, c[i], want[i])
					}
				}
			}
		}
	}
	if tested == 0 {
		t.Skip("no layout-independent implementation")
	}
}
