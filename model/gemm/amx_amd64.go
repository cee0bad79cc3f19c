//go:build amd64 && !purego

package gemm

import (
	"slices"
	"syscall"
	"time"
	"unsafe"

	"github.com/mpanalyze/mpanalyze/model/gemm/internal/asm"
	"golang.org/x/sys/cpu"
)

// amxBF16 is the "amx-bf16" implementation: for all but small products
// (amxWorth), op(A) and op(B) are rounded to
// BF16 (round to nearest even; VCVTNEPS2BF16, which also reads and writes
// subnormals as zero) and multiplied on the AMX tile unit with FP32
// accumulation (TDPBF16PS), then C = alpha·acc + beta·C in FP32. It is a
// separate, opt-in numeric mode (never the default): its results are not
// the FP32 implementations' but are deterministic — each 16×16 tile of the
// product is one chain of tile multiplies over k in steps of 32, fixed by
// the shapes, so the bits depend only on the inputs.
//
// A is converted row by row into a row-major BF16 copy (k padded to a
// multiple of 32, m to 32), B into pairs of k interleaved per column (the
// layout TDPBF16PS reads), both in the free-list workspace; a transposed
// operand is converted and transposed in registers on the way (CvtT16,
// PairsT16). The product runs one 32-row strip at a time (AMXStrip:
// 2×2 tiles of 16×16 accumulators), accumulating in C where it can (see
// strips).
type amxBF16 struct {
	// scratchOnly sends every block through the scratch strip (for
	// benchmarks: what accumulating in C saves).
	scratchOnly bool
}

// tileConfig is the AMX tile configuration: palette 1, tiles 0–7 of 16 rows
// of 64 bytes.
var tileConfig = func() (c [64]byte) {
	c[0] = 1
	for t := 0; t < 8; t++ {
		c[16+2*t] = 64 // colsb[t], little endian
		c[48+t] = 16   // rows[t]
	}
	return
}()

// amxUsable reports whether this CPU and kernel run the AMX-BF16 kernel:
// the CPU has AMX-BF16 and AVX-512 BF16/BW, and Linux granted the process
// the tile state (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA; without it
// the first tile instruction would raise SIGILL).
func amxUsable() bool {
	x := &cpu.X86
	if !(x.HasAMXTile && x.HasAMXBF16 && x.HasAVX512BF16 && x.HasAVX512BW && x.HasAVX512F) {
		return false
	}
	const archReqXcompPerm, xfeatureXtiledata = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0)
	return errno == 0
}

func init() {
	if amxUsable() {
		Register(amxBF16{}, -10) // opt-in only: below every FP32 implementation
	}
}

func (amxBF16) Name() string { return "amx-bf16" }

// amxWorth reports whether a product goes to the tile unit. Narrow or
// shallow products (n or k ≤ 16 with fewer than 8192 elements of B: the
// decoder's per-head attention with 16 columns, a 3×3 map's 9 columns)
// cost more to convert, pad to 32 and scale than the FP32 kernels take
// for them (BenchmarkSgemm, impl=amx-bf16 against asm), so they stay
// FP32. The rule depends only on the shape.
func amxWorth(n, k int) bool { return n > 16 && k > 16 || n*k >= 8192 }

func roundUp(x, to int) int { return (x + to - 1) / to * to }

// u16 and u32 view a float32 buffer's memory as BF16 words or pairs.
func u16(f []float32) []uint16 { return unsafe.Slice((*uint16)(unsafe.Pointer(&f[0])), 2*len(f)) }
func u32(f []float32) []uint32 { return unsafe.Slice((*uint32)(unsafe.Pointer(&f[0])), len(f)) }

// pairRows fills the len(dst)/w rows of w dwords at dst with pairs of
// rows of a k×cols matrix whose row p starts at row(p):
// dst[q·w+j] = bf16(row(2q)[j]) | bf16(row(2q+1)[j])<<16, rows at or past
// k reading as zero, and columns cols…w−1 of dst zero.
func pairRows(dst []uint32, w, k, cols int, row func(p int) []float32) {
	for q := 0; q < len(dst)/w; q++ {
		d := dst[q*w : (q+1)*w]
		switch p := 2 * q; {
		case p+1 < k:
			asm.PairsBF16(&d[0], &row(p)[0], &row(p + 1)[0], cols)
		case p < k:
			asm.PairsBF16(&d[0], &row(p)[0], nil, cols)
		default:
			clear(d)
			continue
		}
		clear(d[cols:])
	}
}

func (x amxBF16) Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(tA, tB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c))
	if nothingToMultiply(m, n, k, alpha, beta, c, ldc) {
		return
	}
	if !amxWorth(n, k) {
		asmImpl.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	abf := ws.packA(tA, m, k, a, lda)
	bbf, np := ws.pairsB(n, k)
	convertB(bbf, np, tB, n, k, b, ldb)
	ws.strips(m, n, k, ws.packed(abf, m, k), ws.contiguous(bbf, np, k), alpha, beta, c, ldc, !x.scratchOnly, nil)
}

// convertB converts op(B) (k×n) into BF16 pairs, kp/2 rows of np dwords
// (see pairsB), zero beyond k and n.
func convertB(bbf []uint32, np int, tB bool, n, k int, b []float32, ldb int) {
	if !tB {
		pairRows(bbf, np, k, n, func(p int) []float32 { return b[p*ldb:] })
		return
	}
	// Stored B is n×k: each 16-row, 32-column block, converted, is a
	// 16×16 block of pairs transposed (CvtT16); columns ≥ n are zero.
	kp := roundUp(k, 32)
	for j := 0; j < np; j += 16 {
		rows := max(0, min(16, n-j))
		for p := 0; p < kp; p += 32 {
			src := &b[0]
			if rows > 0 {
				src = &b[j*ldb+p]
			}
			asm.CvtT16(&bbf[p/2*np+j], np, src, ldb, rows, min(32, k-p))
		}
	}
}

// prepareB implements preparer: B converted as Sgemm converts it.
func (x amxBF16) prepareB(p *Prepared) bool {
	if !amxWorth(p.n, p.k) {
		return false
	}
	kp, np := roundUp(p.k, 32), roundUp(p.n, 32)
	p.pairs, p.stride = u32(aligned(&p.buf, kp/2*np)), np
	convertB(p.pairs, np, p.tB, p.n, p.k, p.b, p.ldb)
	return true
}

// prepareA implements preparer: A converted as Sgemm converts it (packA).
func (x amxBF16) prepareA(p *Prepared) bool {
	kp, mp := roundUp(p.k, 32), roundUp(p.m, 32)
	p.rows = u16(aligned(&p.buf, mp*kp/2))
	convertRows(p.rows, p.m, p.k, func(i int) []float32 { return p.b[i*p.ldb:] })
	return true
}

// sgemmPrepared implements preparer: Sgemm's arithmetic with B from p.
// With bias (alpha 1, beta 1), C's rows are taken to hold bias (C is not
// read): the bits of SgemmPrepared after every row of C was set to bias.
func (x amxBF16) sgemmPrepared(tA bool, m int, alpha float32, a []float32, lda int, p *Prepared, beta float32, c []float32, ldc int, bias []float32) {
	n, k := p.n, p.k
	checkSgemm(tA, p.tB, m, n, k, lda, p.ldb, ldc, len(a), len(p.b), len(c))
	if nothingToMultiply(m, n, k, alpha, beta, c, ldc) { // m = 0: a prepared B has k ≥ 1, so no bias is left out
		return
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	abf := ws.packA(tA, m, k, a, lda)
	ws.strips(m, n, k, ws.packed(abf, m, k), ws.contiguous(p.pairs, p.stride, k), alpha, beta, c, ldc, !x.scratchOnly, bias)
}

// sgemmOffsetB is SgemmOffsetB in BF16 (see implicitImpl): B's pairs of rows
// are converted from where they are, so the result is that of Sgemm on
// the written matrix, bit for bit.
func (x amxBF16) sgemmOffsetB(m, n int, offs []int, alpha float32, a []float32, lda int, b []float32, beta float32, c []float32, ldc int) bool {
	k := len(offs)
	if !amxWorth(n, k) {
		return false
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	abf := ws.packA(false, m, k, a, lda)
	bbf, np := ws.pairsB(n, k)
	pairRows(bbf, np, k, n, func(p int) []float32 { return b[offs[p]:] })
	ws.strips(m, n, k, ws.packed(abf, m, k), ws.contiguous(bbf, np, k), alpha, beta, c, ldc, !x.scratchOnly, nil)
	return true
}

// sgemmTaps3x3 is SgemmTaps3x3 in BF16 (see implicitImpl): the tap rows are
// converted from where they are, so the result is that of Sgemm on the
// written rows, bit for bit.
func (x amxBF16) sgemmTaps3x3(planes, n, k int, alpha float32, a []float32, cs, rs int, b []float32, bs int, beta float32, c []float32, ldc int) bool {
	if !amxWorth(n, k) {
		return false
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	m := 9 * planes
	abf := ws.packRows(m, k, func(r int) []float32 { q, t := r/9, r%9; return a[q*cs+t/3*rs+t%3:] })
	bbf, np := ws.pairsB(n, k)
	pairRows(bbf, np, k, n, func(p int) []float32 { return b[p*bs:] })
	ws.strips(m, n, k, ws.packed(abf, m, k), ws.contiguous(bbf, np, k), alpha, beta, c, ldc, !x.scratchOnly, nil)
	return true
}

// sgemmTapsT3x3 is SgemmTapsT3x3 in BF16 (see implicitImpl): Tᵀ is
// converted as Sgemm converts a B stored transposed, its rows read where
// they are (convertTaps), so the result is that of Sgemm(false, true, …)
// on the written tap matrix, bit for bit.
func (x amxBF16) sgemmTapsT3x3(m, planes, k int, alpha float32, a []float32, lda int, b []float32, cs, rs int, beta float32, c []float32, ldc int) bool {
	n := 9 * planes
	if !amxWorth(n, k) {
		return false
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	abf := ws.packA(false, m, k, a, lda)
	bbf, np := ws.pairsB(n, k)
	convertTaps(bbf, np, n, k, b, cs, rs)
	ws.strips(m, n, k, ws.packed(abf, m, k), ws.contiguous(bbf, np, k), alpha, beta, c, ldc, !x.scratchOnly, nil)
	return true
}

// convertTaps is convertB(…, tB = true, …) for the n×k matrix whose row
// j = 9q+3i+t starts at b[q·cs + i·rs + t]: each 16-row block through
// CvtT16Rows; columns ≥ n are zero.
func convertTaps(bbf []uint32, np, n, k int, b []float32, cs, rs int) {
	kp := roundUp(k, 32)
	var rows [16]*float32
	for j := 0; j < np; j += 16 {
		for r := range rows {
			jj := min(j+r, n-1) // rows at or past n are not read
			rows[r] = &b[jj/9*cs+jj%9/3*rs+jj%3]
		}
		nr := max(0, min(16, n-j))
		for p := 0; p < kp; p += 32 {
			asm.CvtT16Rows(&bbf[p/2*np+j], np, &rows, p, nr, min(32, k-p))
		}
	}
}

// sgemmConv3x3 is SgemmConv3x3 in BF16 (see implicitImpl): for planes
// a multiple of 32, b is converted once into BF16 pairs of neighbouring
// planes (xp, planes/2 rows of cs dwords, PairsBF16), and each k step of 32
// — one tap, 32 planes — is read from xp at the tap's offset through
// AMXStrip's table (the pairs Sgemm makes of the written rows t·planes+q,
// q+1, for even q), so the result is that of Sgemm on the written
// tap-major matrix, bit for bit, while each input float is converted once
// instead of once per tap. abf, when not nil, is A already converted
// (prepareA), else A is converted here.
func (x amxBF16) sgemmConv3x3(m, planes, n int, alpha float32, a []float32, lda int, abf []uint16, b []float32, cs, rs int, beta float32, c []float32, ldc int) bool {
	k := 9 * planes
	if planes%32 != 0 || !amxWorth(n, k) || len(b) < planes*cs || n+2*rs+2 > cs {
		return false
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	if abf == nil {
		abf = ws.packA(false, m, k, a, lda)
	}
	half, np := planes/2, roundUp(n, 32)
	xp := u32(aligned(&ws.bBuf, half*cs+np)) // np dwords of slack for the last block's padding columns
	for q := 0; q < half; q++ {
		asm.PairsBF16(&xp[q*cs], &b[2*q*cs], &b[(2*q+1)*cs], cs)
	}
	clear(xp[half*cs:])
	tab := ws.tab[:0]
	for s := 0; s < k/32; s++ {
		t, q0 := 32*s/planes, 32*s%planes
		tab = append(tab, unsafe.Pointer(&xp[q0/2*cs+t/3*rs+t%3]))
	}
	ws.tab = tab
	ws.strips(m, n, k, ws.packed(abf, m, k), bOperand{tab: tab, ldb: 4 * cs}, alpha, beta, c, ldc, !x.scratchOnly, nil)
	return true
}

// sgemmConvGradT3x3 is SgemmConvGradT3x3 in BF16 (see implicitImpl): for
// planes and k multiples of 32, b is converted once into BF16 (xb, as far
// as T reads it), and each strip of 32 rows of T — 32 planes at one tap —
// is read from xb at the tap's offset, rows cs apart; G is converted as
// Sgemm converts a B stored transposed. packA would convert the same
// floats to the same values, so the result is that of Sgemm(false, true,
// …) on the written T, bit for bit.
func (x amxBF16) sgemmConvGradT3x3(planes, n, k int, alpha float32, b []float32, cs, rs int, g []float32, ldg int, beta float32, c []float32, ldc int) bool {
	m := 9 * planes
	if planes%32 != 0 || k%32 != 0 || !amxWorth(n, k) {
		return false
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	l := (planes-1)*cs + 2*rs + 2 + k // T's last row ends there
	xb := u16(aligned(&ws.aBuf, (l+1)/2))
	asm.CvtBF16(&xb[0], &b[0], l)
	tab := ws.atab[:0]
	for i0 := 0; i0 < m; i0 += 32 {
		t, q0 := i0/planes, i0%planes
		tab = append(tab, unsafe.Pointer(&xb[q0*cs+t/3*rs+t%3]))
	}
	ws.atab = tab
	bbf, np := ws.pairsB(n, k)
	convertB(bbf, np, true, n, k, g, ldg)
	ws.strips(m, n, k, aOperand{tab: tab, lda: 2 * cs}, ws.contiguous(bbf, np, k), alpha, beta, c, ldc, !x.scratchOnly, nil)
	return true
}

// packA converts op(A) (m×k) into BF16 rows of kp = k rounded up to 32,
// mp = m rounded up to 32 of them, zero-padded, in ws.aBuf.
func (ws *workspace) packA(tA bool, m, k int, a []float32, lda int) []uint16 {
	if !tA {
		return ws.packRows(m, k, func(i int) []float32 { return a[i*lda:] })
	}
	// Stored A is k×m: pairs of its rows, 16 columns at a time, transposed
	// (PairsT16) are 16 rows of BF16 op(A); rows ≥ m are zero.
	kp, mp := roundUp(k, 32), roundUp(m, 32)
	afl := aligned(&ws.aBuf, mp*kp/2)
	af := u32(afl)
	for i := 0; i < mp; i += 16 {
		cols := max(0, min(16, m-i))
		for p := 0; p < kp; p += 32 {
			src := &a[0]
			if cols > 0 {
				src = &a[p*lda+i]
			}
			asm.PairsT16(&af[i*kp/2+p/2], kp/2, src, lda, min(32, k-p), cols)
		}
	}
	return u16(afl)
}

// packRows is packA for an A whose row i (k floats) starts at row(i).
func (ws *workspace) packRows(m, k int, row func(i int) []float32) []uint16 {
	kp, mp := roundUp(k, 32), roundUp(m, 32)
	abf := u16(aligned(&ws.aBuf, mp*kp/2))
	convertRows(abf, m, k, row)
	return abf
}

// convertRows fills abf, len(abf)/kp rows of kp = k rounded up to 32 BF16
// values, with the m rows of k floats starting at row(i), zero-padded.
func convertRows(abf []uint16, m, k int, row func(i int) []float32) {
	kp := roundUp(k, 32)
	for i := 0; i < m; i++ {
		asm.CvtBF16(&abf[i*kp], &row(i)[0], k)
		clear(abf[i*kp+k : (i+1)*kp])
	}
	clear(abf[m*kp:])
}

// pairsB returns the buffer for op(B) as BF16 pairs — kp/2 rows of np
// dwords (kp, np: k and n rounded up to 32), dword (q, j) holding B[2q][j]
// and B[2q+1][j] — in ws.bBuf, and np.
func (ws *workspace) pairsB(n, k int) ([]uint32, int) {
	kp, np := roundUp(k, 32), roundUp(n, 32)
	return u32(aligned(&ws.bBuf, kp/2*np)), np
}

// bOperand is op(B) as AMXStrip reads it: BF16 pairs, one pointer per k
// step of 32 to its 16 pair rows, ldb bytes apart.
type bOperand struct {
	tab []unsafe.Pointer
	ldb int
}

// contiguous lists the k steps of a B converted into one buffer of kp/2
// rows of np dwords (pairsB, Prepared), in ws.tab.
func (ws *workspace) contiguous(pairs []uint32, np, k int) bOperand {
	tab := ws.tab[:0]
	for p := 0; p < k; p += 32 {
		tab = append(tab, unsafe.Pointer(&pairs[p/2*np]))
	}
	ws.tab = tab
	return bOperand{tab: tab, ldb: 4 * np}
}

// aOperand is op(A) as AMXStrip reads it: BF16 rows, lda bytes apart, one
// pointer per strip of 32 rows to its first.
type aOperand struct {
	tab []unsafe.Pointer
	lda int
}

// packed lists the strips of an A converted into rows of k rounded up to
// 32 (packA, packRows, prepareA), in ws.atab.
func (ws *workspace) packed(abf []uint16, m, k int) aOperand {
	kp := roundUp(k, 32)
	tab := ws.atab[:0]
	for i0 := 0; i0 < m; i0 += 32 {
		tab = append(tab, unsafe.Pointer(&abf[i0*kp]))
	}
	ws.atab = tab
	return aOperand{tab: tab, lda: 2 * kp}
}

// strips multiplies the converted operands one 32-row strip at a time. With
// alpha = 1 and beta 0 or 1, the 32×32 blocks that lie inside C are
// accumulated in C itself (from zero, or from C's values: C += A·B in the
// tile chains); the others, and every block for other alpha and beta, go
// through a scratch strip and C = alpha·acc + beta·C (beta == 0: C not
// read). Which way a block goes depends only on the shapes. A non-nil bias
// (beta 1) stands for C's rows: the blocks inside C start their chains
// from it, the others have it written into C before the scratch is added.
func (ws *workspace) strips(m, n, k int, a aOperand, b bOperand, alpha, beta float32, c []float32, ldc int, inPlace bool, bias []float32) {
	kp, np := roundUp(k, 32), roundUp(n, 32)
	acc := aligned(&ws.accBuf, 32*np)
	readC := 0
	if beta != 0 {
		readC = 1
	}
	inPlace = inPlace && alpha == 1 && (beta == 0 || beta == 1)
	full := n / 32 // column blocks inside C
	for i0 := 0; i0 < m; i0 += 32 {
		rows := min(32, m-i0)
		ai := (*uint16)(a.tab[i0/32])
		j0 := 0 // first column through the scratch strip
		if inPlace && rows == 32 && full > 0 {
			// the chains start from C (beta 1), the bias row under every
			// row (the same values), or zero
			var init *float32
			ldinit := 0
			switch {
			case bias != nil:
				init = &bias[0]
			case readC != 0:
				init, ldinit = &c[i0*ldc], 4*ldc
			}
			asm.AMXStrip(&tileConfig, ai, a.lda, &b.tab[0], 0, b.ldb, &c[i0*ldc], 4*ldc, init, ldinit, full, kp/32)
			j0 = 32 * full
		}
		if j0 == n {
			continue
		}
		if bias != nil {
			fillRows(c[i0*ldc+j0:], ldc, rows, bias[j0:n])
		}
		asm.AMXStrip(&tileConfig, ai, a.lda, &b.tab[0], 4*j0, b.ldb, &acc[0], 4*np, nil, 0, (np-j0)/32, kp/32)
		asm.ScaleAcc(&c[i0*ldc+j0], ldc, &acc[0], np, rows, n-j0, alpha, beta, readC)
	}
}

// hotStrip returns a call of AMXStrip on operands of its own (zeros): a
// 32-row strip against nt 32-column blocks, kt steps of 32 along k, 4·nt·kt
// tile multiplies (tileNs, BenchmarkAMXStrip).
func hotStrip(nt, kt int) func() {
	kp, np := 32*kt, 32*nt
	a := make([]uint16, 32*kp)
	bp := make([]uint32, kp/2*np)
	acc := make([]float32, 32*np)
	b := new(workspace).contiguous(bp, np, kp)
	return func() {
		asm.AMXStrip(&tileConfig, &a[0], 2*kp, &b.tab[0], 0, b.ldb, &acc[0], 4*np, nil, 0, nt, kt)
	}
}

// tileNs implements tileTimer: hotStrip(4, 4) (64 tile multiplies per
// call, operands of 8 and 16 kB, hot in L1), 80 calls per timing.
func (amxBF16) tileNs() float64 {
	const nt, kt, calls = 4, 4, 80
	strip := hotStrip(nt, kt)
	strip() // operands into the caches
	var ts [5]float64
	for i := range ts {
		t0 := time.Now()
		for range calls {
			strip()
		}
		ts[i] = float64(time.Since(t0).Nanoseconds()) / (calls * 4 * nt * kt)
	}
	slices.Sort(ts[:])
	return ts[len(ts)/2]
}

func (amxBF16) precision() string { return BF16 }

// withScratchOnly returns the amx-bf16 implementation im with every block
// through the scratch strip (benchmarks).
func withScratchOnly(im Impl) Impl {
	x := im.(amxBF16)
	x.scratchOnly = true
	return x
}
