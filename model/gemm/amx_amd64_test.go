//go:build amd64 && !purego

package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/gemm/internal/asm"
)

// bf16Round is the rounding the AMX implementation applies to its inputs,
// written out: round to nearest, ties to even, on the upper 16 bits;
// subnormals read as zero (keeping the sign), NaNs stay NaN, and values
// that round past the largest finite BF16 become infinities. Intel's SDM
// defines VCVTNEPS2BF16 this way (DAZ and RNE regardless of MXCSR).
func bf16Round(x float32) float32 {
	u := math.Float32bits(x)
	switch {
	case u&0x7f800000 == 0: // zero or subnormal
		return math.Float32frombits(u & 0x80000000)
	case u&0x7fffffff > 0x7f800000: // NaN
		return math.Float32frombits(u&0xffff0000 | 0x00400000)
	}
	u += 0x7fff + (u>>16)&1
	return math.Float32frombits(u & 0xffff0000)
}

// amxRounding is the rounding of the inputs the AMX implementation does
// for c's shape: BF16 on the tile unit, none where it falls back to FP32.
func amxRounding(c gemmCase) func(float32) float32 {
	if amxWorth(c.n, c.k) {
		return bf16Round
	}
	return nil
}

func amxImplOrSkip(t testing.TB) Impl {
	im, ok := registered("amx-bf16")
	if !ok {
		t.Skip("no AMX-BF16 on this machine (or the kernel did not grant the tile state)")
	}
	return im
}

// TestBF16Round pins bf16Round to hand-worked cases: 1 + 2⁻⁸ is half way
// between 1 and 1 + 2⁻⁷ and goes to the even 1; 1 + 3·2⁻⁸ goes up to the
// even 1 + 2⁻⁶; the largest float rounds to +Inf.
func TestBF16Round(t *testing.T) {
	for _, tc := range []struct{ in, want uint32 }{
		{0x3f800000, 0x3f800000}, // 1
		{0x3f808000, 0x3f800000}, // 1 + 2⁻⁸: tie, to even (down)
		{0x3f818000, 0x3f820000}, // 1 + 3·2⁻⁸: tie, to even (up)
		{0x3f808001, 0x3f810000}, // just above the tie: up
		{0xbf80ffff, 0xbf810000}, // negative, rounds away in magnitude
		{0x7f7fffff, 0x7f800000}, // largest float → +Inf
		{0x00000001, 0x00000000}, // subnormal → +0
		{0x807fffff, 0x80000000}, // negative subnormal → −0
		{0x7f800000, 0x7f800000}, // +Inf
		{0xff800000, 0xff800000}, // −Inf
	} {
		if got := math.Float32bits(bf16Round(math.Float32frombits(tc.in))); got != tc.want {
			t.Errorf("bf16Round(%#08x) = %#08x, want %#08x", tc.in, got, tc.want)
		}
	}
	if v := bf16Round(float32(math.NaN())); v == v {
		t.Error("bf16Round(NaN) is not NaN")
	}
}

// TestCvtBF16 compares the VCVTNEPS2BF16 conversion and the pair
// interleaving with bf16Round on random and special values, for every
// length up to 40 (full vectors and masked tails).
func TestCvtBF16(t *testing.T) {
	amxImplOrSkip(t)
	rng := rand.New(rand.NewPCG(21, 22))
	special := []uint32{0x3f808000, 0x3f818000, 0x7f7fffff, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc12345, 0}
	src := make([]float32, 40)
	src2 := make([]float32, 40)
	for i := range src {
		if i < len(special) {
			src[i] = math.Float32frombits(special[i])
		} else {
			src[i] = float32(rng.NormFloat64()) * float32(math.Exp2(float64(rng.IntN(60)-30)))
		}
		src2[i] = float32(rng.NormFloat64())
	}
	want16 := func(x float32) uint16 { return uint16(math.Float32bits(bf16Round(x)) >> 16) }
	same := func(got, want uint16) bool {
		if want&0x7f80 == 0x7f80 && want&0x7f != 0 { // NaN: any NaN will do
			return got&0x7f80 == 0x7f80 && got&0x7f != 0
		}
		return got == want
	}
	for n := 1; n <= len(src); n++ {
		dst := make([]uint16, n+2)
		dst[n], dst[n+1] = 0xdead, 0xbeef
		asm.CvtBF16(&dst[0], &src[0], n)
		for i := 0; i < n; i++ {
			if w := want16(src[i]); !same(dst[i], w) {
				t.Fatalf("n=%d: CvtBF16(%#08x) = %#04x, want %#04x", n, math.Float32bits(src[i]), dst[i], w)
			}
		}
		if dst[n] != 0xdead || dst[n+1] != 0xbeef {
			t.Fatalf("n=%d: CvtBF16 wrote past its n words", n)
		}
		pairs := make([]uint32, n+1)
		pairs[n] = 0xdeadbeef
		for _, second := range []bool{true, false} {
			r1 := &src2[0]
			if !second {
				r1 = nil
			}
			asm.PairsBF16(&pairs[0], &src[0], r1, n)
			for j := 0; j < n; j++ {
				lo, hi := uint16(pairs[j]), uint16(pairs[j]>>16)
				whi := uint16(0)
				if second {
					whi = want16(src2[j])
				}
				if !same(lo, want16(src[j])) || hi != whi {
					t.Fatalf("n=%d second=%v: pair %d = %#08x, want halves %#04x %#04x", n, second, j, pairs[j], want16(src[j]), whi)
				}
			}
			if pairs[n] != 0xdeadbeef {
				t.Fatalf("n=%d: PairsBF16 wrote past its n dwords", n)
			}
		}
	}
}

// TestAMXBF16 checks the BF16 product against the float64 product of the
// BF16-rounded inputs within the FP32 accumulation bound of check (the
// unrounded inputs for the small shapes that stay FP32), over
// the shapes of the FP32 tests: every small shape, sampled larger ones in
// all four transpose cases, and shapes past the strip and tile edges.
// C's padding must stay untouched and, with beta = 0, C's NaNs unread.
func TestAMXBF16(t *testing.T) {
	im := amxImplOrSkip(t)
	ts := []testImpl{{"amx-bf16", im}, {"amx-bf16/scratch", withScratchOnly(im)}}
	rng := rand.New(rand.NewPCG(23, 24))
	check := func(c gemmCase) { c.checkRounded(t, rng, ts, amxRounding(c)) }
	smallShapeCases(check)
	sampledShapeCases(rng, 20, check)
	// Model shapes and ones past the edges, each with the scalars that
	// accumulate in C itself (alpha 1, beta 0 or 1) and with ones that go
	// through the scratch strip.
	for _, s := range [][3]int{{108, 128, 128}, {27, 64, 576}, {1152, 9, 128}, {37, 70, 777}, {64, 96, 64}} {
		for tr := 0; tr < 4; tr++ {
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 0.25}} {
				check(gemmCase{tA: tr&1 != 0, tB: tr&2 != 0, m: s[0], n: s[1], k: s[2], alpha: ab[0], beta: ab[1], padA: 1, padB: 2, padC: 3})
			}
		}
	}
}

// TestAMXBF16NaN: a NaN in A makes its row of C NaN, one in B its column
// (the training loop's NaN guard relies on NaNs surviving a product).
func TestAMXBF16NaN(t *testing.T) {
	im := amxImplOrSkip(t)
	const m, n, k = 20, 40, 50
	rng := rand.New(rand.NewPCG(25, 26))
	a, b := randMat(rng, m, k), randMat(rng, k, n)
	a[3*k+7] = float32(math.NaN())
	b[11*n+30] = float32(math.NaN())
	c := make([]float32, m*n)
	im.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if isNaN := c[i*n+j] != c[i*n+j]; isNaN != (i == 3 || j == 30) {
				t.Fatalf("C[%d][%d] = %g: NaN where the inputs have none, or lost", i, j, c[i*n+j])
			}
		}
	}
}

// TestAMXBF16NoAllocs: like the FP32 implementation, a call allocates
// nothing once a workspace is free.
func TestAMXBF16NoAllocs(t *testing.T) {
	im := amxImplOrSkip(t)
	rng := rand.New(rand.NewPCG(27, 28))
	const m, n, k = 70, 90, 500
	a, b := randMat(rng, k, m), randMat(rng, n, k)
	c := make([]float32, m*n)
	im.Sgemm(true, true, m, n, k, 1, a, m, b, k, 0, c, n)
	runtime.GC()
	if allocs := testing.AllocsPerRun(20, func() {
		runtime.GC()
		im.Sgemm(true, true, m, n, k, 1, a, m, b, k, 0, c, n)
	}); allocs != 0 {
		t.Errorf("amx-bf16 Sgemm allocates %v times per call", allocs)
	}
}

// BenchmarkAMXStrip is the tile unit's speed on this host right now: the
// strip kernel on hot operands (a 32-row strip against nt 32-column blocks,
// kt steps of 32 along k), in ns per TDPBF16PS (one 16×16×32 tile
// multiply). On the Intel KVM host of #18 it moved between 8–12 and
// 33–41 ns from run to run, seconds apart (docs/performance.md, "BF16,
// second round"): run it before and after a timing to know which state
// the host was in. Small nt·kt also shows the fixed cost of a call (a
// tile configuration, four tile stores, a release).
func BenchmarkAMXStrip(b *testing.B) {
	amxImplOrSkip(b)
	for _, s := range []struct{ nt, kt int }{{1, 1}, {4, 4}, {8, 8}, {34, 18}} {
		strip := hotStrip(s.nt, s.kt)
		b.Run(fmt.Sprintf("nt=%d/kt=%d", s.nt, s.kt), func(b *testing.B) {
			for b.Loop() {
				strip()
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(4*s.nt*s.kt*b.N), "ns/tdp")
		})
	}
}

// TestTileSpeed: amx-bf16 times its tile unit (a positive figure between
// 1 ns, under the 16 cycles a tile multiply takes at 5 GHz, and 10 µs);
// an FP32 implementation has none to time.
func TestTileSpeed(t *testing.T) {
	defer Use(Current().Name())
	if err := Use(asmImpl.Name()); err != nil {
		t.Fatal(err)
	}
	if ns, ok := TileSpeed(); ok {
		t.Fatalf("%s reports a tile unit (%g ns)", asmImpl.Name(), ns)
	}
	amxImplOrSkip(t)
	if err := Use("amx-bf16"); err != nil {
		t.Fatal(err)
	}
	if ns, ok := TileSpeed(); !ok || !(ns > 1 && ns < 1e4) {
		t.Fatalf("TileSpeed() = %g, %v", ns, ok)
	}
}

// BenchmarkPreparedBias times a linear layer's forward at the decoder's
// shapes with amx-bf16: the output filled with bias rows, then
// SgemmPrepared adding to it (impl=fill, what Linear did before), against
// SgemmPreparedBias (impl=bias); compare with benchstat -col /impl.
func BenchmarkPreparedBias(b *testing.B) {
	amxImplOrSkip(b)
	defer Use(Current().Name())
	if err := Use("amx-bf16"); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(35, 36))
	for _, s := range []struct{ m, n, k int }{{108, 128, 128}, {1024, 128, 128}, {108, 256, 128}} {
		w := randMat(rng, s.n, s.k)
		p := Prepare(nil, true, s.k, s.n, w, s.k)
		a, bias, c := randMat(rng, s.m, s.k), randMat(rng, 1, s.n), make([]float32, s.m*s.n)
		for _, impl := range []string{"fill", "bias"} {
			b.Run(fmt.Sprintf("%dx%dx%d/impl=%s", s.m, s.n, s.k, impl), func(b *testing.B) {
				for b.Loop() {
					if impl == "bias" {
						SgemmPreparedBias(false, s.m, a, s.k, p, bias, c, s.n)
						continue
					}
					fillRows(c, s.n, s.m, bias)
					SgemmPrepared(false, s.m, 1, a, s.k, p, 1, c, s.n)
				}
			})
		}
		p.Release()
	}
}
