//go:build ignore

// gen_amd64.go writes slice_amd64.s and decl_amd64.go: the AVX2+FMA (ymm,
// 8 lanes) and AVX-512F (zmm, 16 lanes) kernels behind ExpSlice,
// ExpSubSum, SigmoidSlice, SoftplusSlice, SigmoidSoftplusSlice, Dot2, AddTo,
// Sum, Axpy, ReLU and ReLUGrad, and (AVX-512 only) the norm layers' element-wise
// passes.
// Run it with `go generate ./internal/fmath/` after editing.
//
// Both widths run the same floating-point operations per element (FMA
// throughout), so an element gets the same bits from either kernel and
// from any position in the slice:
//
//	e^x:  t = fma(x, log2e, 1.5·2²³), k = t − 1.5·2²³ (x·log2e rounded to an integer),
//	      r = fma(−k, ln2lo, fma(−k, ln2hi, x)),
//	      p = 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r/720))))) (Horner, FMA),
//	      e^x = p·2^k: VSCALEFPS (AVX-512) or k<<23 added to the bits of p
//	      (AVX2), both exact for every result kept; then +Inf above 88.7
//	      and 0 below −87.3, NaN stays NaN.
//	σ(x) = 1/(1+e) for x ≥ 0 and e·(1/(1+e)) for x < 0, with e = e^−|x|;
//	softplus(x) = max(x,0) + 2u·(1 + u²(1/3 + u²(1/5 + … + u²/13))), u = e/(2+e).
//
// The divisions are VDIVPS (correctly rounded). The tail of a slice goes
// through the same code with masked loads and stores (AVX-512 opmask, AVX2
// VMASKMOVPS), never through scalar code. The ExpSubSum kernels add the
// results to 16 float64 partial sums, element i to sum i mod 16 (AVX-512:
// two zmm of 8 doubles; AVX2: four ymm of 4), so the 16 sums are the same
// bits for both widths; the kernel then adds them in the fixed tree of
// reduce16. Dot2's kernels accumulate their exact float64 products the
// same way.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
	"math"
	"os"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

// The constants, each stored 16 times (64 bytes) in fmconst<>: AVX2 reads
// 32 bytes of one as a memory operand, AVX-512 broadcasts one into a
// register at kernel entry.
var (
	constNames []string
	constBits  = map[string]uint32{}
)

func defConst(name string, bits uint32) {
	constNames = append(constNames, name)
	constBits[name] = bits
}

func f32(v float64) uint32 { return math.Float32bits(float32(v)) }

func init() {
	defConst("log2e", f32(1.4426950408889634))
	defConst("magic", f32(12582912)) // 1.5·2²³
	defConst("ln2hi", f32(0.693145751953125))
	defConst("ln2lo", f32(1.4286068203094172e-06))
	defConst("c6", f32(1.0/720))
	defConst("c5", f32(1.0/120))
	defConst("c4", f32(1.0/24))
	defConst("c3", f32(1.0/6))
	defConst("c2", f32(0.5))
	defConst("one", f32(1))
	defConst("two", f32(2))
	defConst("zero", 0)
	defConst("lo", f32(-87.3))
	defConst("hi", f32(88.7))
	defConst("inf", 0x7f800000)
	defConst("sign", 0x80000000)
	defConst("l13", f32(1.0/13))
	defConst("l11", f32(1.0/11))
	defConst("l9", f32(1.0/9))
	defConst("l7", f32(1.0/7))
	defConst("l5", f32(1.0/5))
	defConst("l3", f32(1.0/3))
}

func constOffset(name string) int {
	for i, n := range constNames {
		if n == name {
			return 64 * i
		}
	}
	log.Fatalf("no constant %s", name)
	return 0
}

// arch is one vector width.
//
// Registers: work registers 0–11; AVX-512 keeps the constants in Z31
// downwards (to Z12 at most), the subtrahend of expSub in Z14 (when it has
// few enough constants), K1 is the tail mask and K2–K4 compare results.
// AVX2 reads the constants from memory except "one" (Y14, a register
// operand of VDIVPS), and keeps the tail masks in Y15 and Y13 (dot2: Y6
// and Y7) and the subtrahend in Y12.
type arch struct {
	name  string // "AVX2" or "AVX512"
	reg   string // "Y" or "Z"
	lanes int
	cregs map[string]string // constants held in registers
	masks [2]string         // AVX2 tail masks of the two vectors of a 16-block
}

func (a *arch) avx512() bool { return a.name == "AVX512" }

func (a *arch) r(i int) string { return fmt.Sprintf("%s%d", a.reg, i) }

// c returns the operand holding the named constant.
func (a *arch) c(name string) string {
	if r, ok := a.cregs[name]; ok {
		return r
	}
	if a.avx512() {
		log.Fatalf("constant %s not loaded", name)
	}
	return fmt.Sprintf("fmconst<>+%d(SB)", constOffset(name))
}

// loadConsts loads constants into registers: on AVX-512 all the kernel
// uses, into Z31 downwards; on AVX2 "one" into Y14.
func (a *arch) loadConsts(names ...string) {
	a.cregs = map[string]string{}
	if a.avx512() {
		for i, n := range names {
			if 31-i < 12 {
				log.Fatalf("too many constants")
			}
			r := fmt.Sprintf("Z%d", 31-i)
			a.cregs[n] = r
			p("\tVBROADCASTSS fmconst<>+%d(SB), %s", constOffset(n), r)
		}
		return
	}
	a.cregs["one"] = "Y14"
	p("\tVMOVUPS fmconst<>+%d(SB), Y14", constOffset("one"))
}

var expConsts = []string{"log2e", "magic", "ln2hi", "ln2lo", "c6", "c5", "c4", "c3", "c2", "one", "lo", "zero"}

// exp writes e^x into dst, keeping x. t, k, r and m are scratch registers
// (m only on AVX2). With hi, x > 88.7 gives +Inf (not needed when x ≤ 0).
func (a *arch) exp(x, dst, t, k, r, m string, hi bool) {
	p("\tVMOVUPS %s, %s", a.c("magic"), t)
	p("\tVFMADD231PS %s, %s, %s", a.c("log2e"), x, t) // t = x·log2e + magic
	p("\tVSUBPS %s, %s, %s", a.c("magic"), t, k)      // k = t − magic
	p("\tVMOVAPS %s, %s", x, r)
	p("\tVFNMADD231PS %s, %s, %s", a.c("ln2hi"), k, r) // r −= k·ln2hi
	p("\tVFNMADD231PS %s, %s, %s", a.c("ln2lo"), k, r) // r −= k·ln2lo
	p("\tVMOVUPS %s, %s", a.c("c6"), dst)
	for _, c := range []string{"c5", "c4", "c3", "c2", "one", "one"} {
		p("\tVFMADD213PS %s, %s, %s", a.c(c), r, dst) // dst = r·dst + c
	}
	if a.avx512() {
		p("\tVSCALEFPS %s, %s, %s", k, dst, dst) // dst·2^k
		if hi {
			p("\tVCMPPS $0x1e, %s, %s, K2", a.c("hi"), x) // x > 88.7 (false for NaN)
			p("\tVMOVAPS %s, K2, %s", a.c("inf"), dst)
		}
		p("\tVCMPPS $0x05, %s, %s, K3", a.c("lo"), x) // !(x < −87.3): true for NaN
		p("\tVMOVAPS.Z %s, K3, %s", dst, dst)
		return
	}
	// t = 1.5·2²³ + k, so t<<23 is k<<23 modulo 2³²; adding it to the bits
	// of p scales p by 2^k exactly while the result is a normal number,
	// which it is for every x in [−87.3, 88.7].
	p("\tVPSLLD $23, %s, %s", t, t)
	p("\tVPADDD %s, %s, %s", t, dst, dst)
	// dst += x·0 makes a NaN x give NaN (its exponent sum is garbage);
	// ±Inf become NaN here and are replaced by the range checks below.
	p("\tVFMADD231PS %s, %s, %s", a.c("zero"), x, dst)
	if hi {
		p("\tVCMPPS $0x1e, %s, %s, %s", a.c("hi"), x, m)
		p("\tVBLENDVPS %s, %s, %s, %s", m, a.c("inf"), dst, dst)
	}
	p("\tVCMPPS $0x05, %s, %s, %s", a.c("lo"), x, m)
	p("\tVANDPS %s, %s, %s", m, dst, dst)
}

// sigmoid writes σ(x) into dst given e = e^−|x|; d and t are scratch.
func (a *arch) sigmoid(x, e, dst, d, t string) {
	p("\tVADDPS %s, %s, %s", a.c("one"), e, d)
	p("\tVDIVPS %s, %s, %s", d, a.c("one"), dst) // 1/(1+e)
	if a.avx512() {
		p("\tVPTESTMD %s, %s, K4", a.c("sign"), x) // x < 0 (sign bit set)
		p("\tVMULPS %s, %s, K4, %s", e, dst, dst)
		return
	}
	p("\tVMULPS %s, %s, %s", e, dst, t)
	p("\tVBLENDVPS %s, %s, %s, %s", x, t, dst, dst) // by the sign bit of x
}

// softplus writes softplus(x) into dst given e = e^−|x|; d, u, u2, q
// are scratch.
func (a *arch) softplus(x, e, dst, d, u, u2, q string) {
	p("\tVADDPS %s, %s, %s", a.c("two"), e, d)
	p("\tVDIVPS %s, %s, %s", d, e, u) // u = e/(2+e)
	p("\tVMULPS %s, %s, %s", u, u, u2)
	p("\tVMOVUPS %s, %s", a.c("l13"), q)
	for _, c := range []string{"l11", "l9", "l7", "l5", "l3", "one"} {
		p("\tVFMADD213PS %s, %s, %s", a.c(c), u2, q) // q = u2·q + c
	}
	p("\tVADDPS %s, %s, %s", u, u, u)
	p("\tVMULPS %s, %s, %s", q, u, q)             // ln(1+e) = 2u·q
	p("\tVMAXPS %s, %s, %s", a.c("zero"), x, dst) // max(x, 0)
	p("\tVADDPS %s, %s, %s", q, dst, dst)
}

// negAbs writes −|x| into dst.
func (a *arch) negAbs(x, dst string) {
	if a.avx512() {
		p("\tVPORD %s, %s, %s", a.c("sign"), x, dst)
	} else {
		p("\tVORPS %s, %s, %s", a.c("sign"), x, dst)
	}
}

// mem is a memory access of one vector: full, or masked in the tail.
type mem struct {
	a    *arch
	tail bool
	slot int // vector index within the block
}

func (m mem) addr(ptr string) string {
	return fmt.Sprintf("%d(%s)", 4*m.a.lanes*m.slot, ptr)
}

func (m mem) maskReg() string { return m.a.masks[m.slot] }

func (m mem) load(ptr, reg string) {
	switch {
	case !m.tail:
		p("\tVMOVUPS %s, %s", m.addr(ptr), reg)
	case m.a.avx512():
		p("\tVMOVUPS.Z %s, K1, %s", m.addr(ptr), reg)
	default:
		p("\tVMASKMOVPS %s, %s, %s", m.addr(ptr), m.maskReg(), reg)
	}
}

func (m mem) store(reg, ptr string) {
	switch {
	case !m.tail:
		p("\tVMOVUPS %s, %s", reg, m.addr(ptr))
	case m.a.avx512():
		p("\tVMOVUPS %s, K1, %s", reg, m.addr(ptr))
	default:
		p("\tVMASKMOVPS %s, %s, %s", reg, m.maskReg(), m.addr(ptr))
	}
}

// zeroTail clears the lanes of reg past the end of the slice (tail only).
func (m mem) zeroTail(reg string) {
	switch {
	case !m.tail:
	case m.a.avx512():
		p("\tVMOVAPS.Z %s, K1, %s", reg, reg)
	default:
		p("\tVANDPS %s, %s, %s", m.maskReg(), reg, reg)
	}
}

// loop emits a kernel's loop over n (in CX) elements, block elements per
// iteration (a multiple of the lanes, at most 16), and then the remaining
// n mod block with masks. body emits the work for one vector. ptrs are
// advanced by 4·block bytes per iteration.
func (a *arch) loop(name string, block int, ptrs []string, body func(m mem)) {
	slots := block / a.lanes
	p("\tMOVQ CX, BX")
	p("\tSHRQ $%d, BX", log2(block))
	p("\tJZ %s_tail", name)
	p("%s_loop:", name)
	for s := 0; s < slots; s++ {
		body(mem{a, false, s})
	}
	for _, r := range ptrs {
		p("\tADDQ $%d, %s", 4*block, r)
	}
	p("\tDECQ BX")
	p("\tJNZ %s_loop", name)
	p("%s_tail:", name)
	p("\tANDQ $%d, CX", block-1)
	p("\tJZ %s_done", name)
	if a.avx512() {
		if block != 16 {
			log.Fatal("AVX-512 blocks are one vector")
		}
		p("\tMOVL $1, AX")
		p("\tSHLL CX, AX")
		p("\tDECL AX")
		p("\tKMOVW AX, K1")
	} else {
		// The mask of vector s has the first clamp(CX − 8s, 0, 8) lanes
		// set: 8 dwords of masktab<> (16 ones, 16 zeros) from 16 − CX + 8s.
		p("\tLEAQ masktab<>+64(SB), AX")
		p("\tSHLQ $2, CX")
		p("\tSUBQ CX, AX")
		for s := 0; s < slots; s++ {
			p("\tVMOVDQU %d(AX), %s", 32*s, mem{a, true, s}.maskReg())
		}
	}
	for s := 0; s < slots; s++ {
		body(mem{a, true, s})
	}
	p("%s_done:", name)
}

func log2(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}

func (a *arch) header(name, sig string, frame int) {
	p("")
	p("// func %s%s", name, sig)
	p("TEXT ·%s(SB), NOSPLIT, $0-%d", name, frame)
}

func (a *arch) subReg() string {
	if a.avx512() {
		return "Z14"
	}
	return "Y12"
}

func (a *arch) genExpSub() {
	name := "expSub" + a.name
	a.header(name, "(dst, src *float32, n int, sub float32)", 28)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ src+8(FP), SI")
	p("\tMOVQ n+16(FP), CX")
	p("\tVBROADCASTSS sub+24(FP), %s", a.subReg())
	a.loadConsts(append(append([]string{}, expConsts...), "hi", "inf")...)
	a.loop(name, a.lanes, []string{"DI", "SI"}, func(m mem) {
		x := a.r(0)
		m.load("SI", x)
		p("\tVSUBPS %s, %s, %s", a.subReg(), x, x)
		a.exp(x, a.r(1), a.r(2), a.r(3), a.r(4), a.r(5), true)
		m.store(a.r(1), "DI")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

// genExpSubSum is genExpSub that also adds every result to 16 float64
// partial sums (element i to sum i mod 16) and returns their sum added in
// a fixed tree (see reduce16).
func (a *arch) genExpSubSum() {
	name := "expSubSum" + a.name
	a.header(name, "(dst, src *float32, n int, sub float32) float64", 40)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ src+8(FP), SI")
	p("\tMOVQ n+16(FP), CX")
	p("\tVBROADCASTSS sub+24(FP), %s", a.subReg())
	a.loadConsts(append(append([]string{}, expConsts...), "hi", "inf")...)
	acc := a.accs(8)
	a.zero(acc...)
	a.loop(name, 16, []string{"DI", "SI"}, func(m mem) {
		x, e := a.r(0), a.r(1)
		m.load("SI", x)
		p("\tVSUBPS %s, %s, %s", a.subReg(), x, x)
		a.exp(x, e, a.r(2), a.r(3), a.r(4), a.r(5), true)
		m.store(e, "DI")
		m.zeroTail(e)
		a.accumulate(1, 6, 7, acc, m.slot)
	})
	a.reduce(acc, 6)
	p("\tVMOVSD X%d, ret+32(FP)", acc[0])
	p("\tVZEROUPPER")
	p("\tRET")
}

// accs returns the register numbers of the accumulators of 16 float64
// partial sums from register number first: two zmm (sums 0–7, 8–15) or
// four ymm (0–3, 4–7, 8–11, 12–15).
func (a *arch) accs(first int) []int {
	n := 16 * 8 / (a.lanes * 4)
	r := make([]int, n)
	for i := range r {
		r[i] = first + i
	}
	return r
}

func (a *arch) zero(regs ...int) {
	for _, r := range regs {
		if a.avx512() {
			p("\tVPXORD Z%d, Z%d, Z%d", r, r, r)
		} else {
			p("\tVXORPD Y%d, Y%d, Y%d", r, r, r)
		}
	}
}

// widen converts the float32 lanes of register number src to float64 in
// registers lo (first half) and hi (second half).
func (a *arch) widen(src, lo, hi int) {
	if a.avx512() {
		p("\tVEXTRACTF64X4 $1, Z%d, Y%d", src, hi)
		p("\tVCVTPS2PD Y%d, Z%d", src, lo)
		p("\tVCVTPS2PD Y%d, Z%d", hi, hi)
		return
	}
	p("\tVEXTRACTF128 $1, Y%d, X%d", src, hi)
	p("\tVCVTPS2PD X%d, Y%d", src, lo)
	p("\tVCVTPS2PD X%d, Y%d", hi, hi)
}

// accumulate adds the float32 lanes of register number src, vector slot
// of a 16-block, to the partial sums acc, using lo and hi as scratch.
func (a *arch) accumulate(src, lo, hi int, acc []int, slot int) {
	a.widen(src, lo, hi)
	p("\tVADDPD %s%d, %s%d, %s%d", a.reg, lo, a.reg, acc[2*slot], a.reg, acc[2*slot])
	p("\tVADDPD %s%d, %s%d, %s%d", a.reg, hi, a.reg, acc[2*slot+1], a.reg, acc[2*slot+1])
}

// reduce adds the 16 partial sums in acc in the tree of reduce16
// (s[j] += s[j+8], then +4, +2, +1), leaving the total in the low lane of
// register number acc[0]; tmp is a scratch register number.
func (a *arch) reduce(acc []int, tmp int) {
	r := acc[0]
	if a.avx512() {
		p("\tVADDPD Z%d, Z%d, Z%d", acc[1], r, r)
		p("\tVEXTRACTF64X4 $1, Z%d, Y%d", r, tmp)
		p("\tVADDPD Y%d, Y%d, Y%d", tmp, r, r)
	} else {
		p("\tVADDPD Y%d, Y%d, Y%d", acc[2], r, r)
		p("\tVADDPD Y%d, Y%d, Y%d", acc[3], acc[1], acc[1])
		p("\tVADDPD Y%d, Y%d, Y%d", acc[1], r, r)
	}
	p("\tVEXTRACTF128 $1, Y%d, X%d", r, tmp)
	p("\tVADDPD X%d, X%d, X%d", tmp, r, r)
	p("\tVPERMILPD $1, X%d, X%d", r, tmp)
	p("\tVADDSD X%d, X%d, X%d", tmp, r, r)
}

// genDot2 writes dot2: Σ a[i]·t[i] and Σ b[i]·t[i], each product exact in
// float64, in 16 partial sums each, reduced like expSubSum's.
func (a *arch) genDot2() {
	name := "dot2" + a.name
	a.header(name, "(x, y, t *float32, n int) (xt, yt float64)", 48)
	p("\tMOVQ x+0(FP), SI")
	p("\tMOVQ y+8(FP), DI")
	p("\tMOVQ t+16(FP), DX")
	p("\tMOVQ n+24(FP), CX")
	a.cregs = nil
	accX := a.accs(8)
	accY := a.accs(8 + len(accX))
	a.zero(accX...)
	a.zero(accY...)
	saved := a.masks
	a.masks = [2]string{"Y6", "Y7"}
	a.loop(name, 16, []string{"SI", "DI", "DX"}, func(m mem) {
		m.load("DX", a.r(0))
		m.load("SI", a.r(1))
		m.load("DI", a.r(2))
		a.widen(0, 0, 3)
		a.widen(1, 1, 4)
		a.widen(2, 2, 5)
		for i, acc := range [][]int{accX, accY} {
			src := 1 + i // x or y, widened: lo in src, hi in src+3
			p("\tVFMADD231PD %s%d, %s%d, %s%d", a.reg, src, a.reg, 0, a.reg, acc[2*m.slot])
			p("\tVFMADD231PD %s%d, %s%d, %s%d", a.reg, src+3, a.reg, 3, a.reg, acc[2*m.slot+1])
		}
	})
	a.masks = saved
	a.reduce(accX, 0)
	a.reduce(accY, 0)
	p("\tVMOVSD X%d, xt+32(FP)", accX[0])
	p("\tVMOVSD X%d, yt+40(FP)", accY[0])
	p("\tVZEROUPPER")
	p("\tRET")
}

func (a *arch) genSigmoid() {
	name := "sigmoid" + a.name
	a.header(name, "(dst, src *float32, n int)", 24)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ src+8(FP), SI")
	p("\tMOVQ n+16(FP), CX")
	a.loadConsts(append(append([]string{}, expConsts...), "sign")...)
	a.loop(name, a.lanes, []string{"DI", "SI"}, func(m mem) {
		x, nx, e := a.r(0), a.r(1), a.r(2)
		m.load("SI", x)
		a.negAbs(x, nx)
		a.exp(nx, e, a.r(3), a.r(4), a.r(5), a.r(6), false)
		a.sigmoid(x, e, a.r(7), a.r(3), a.r(4))
		m.store(a.r(7), "DI")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

var log1pConsts = []string{"two", "l13", "l11", "l9", "l7", "l5", "l3"}

func (a *arch) genSoftplus() {
	name := "softplus" + a.name
	a.header(name, "(dst, src *float32, n int)", 24)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ src+8(FP), SI")
	p("\tMOVQ n+16(FP), CX")
	a.loadConsts(append(append(append([]string{}, expConsts...), "sign"), log1pConsts...)...)
	a.loop(name, a.lanes, []string{"DI", "SI"}, func(m mem) {
		x, nx, e := a.r(0), a.r(1), a.r(2)
		m.load("SI", x)
		a.negAbs(x, nx)
		a.exp(nx, e, a.r(3), a.r(4), a.r(5), a.r(6), false)
		a.softplus(x, e, a.r(7), a.r(3), a.r(4), a.r(5), a.r(6))
		m.store(a.r(7), "DI")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

func (a *arch) genSigmoidSoftplus() {
	name := "sigmoidSoftplus" + a.name
	a.header(name, "(sig, sp, src *float32, n int)", 32)
	p("\tMOVQ sig+0(FP), DI")
	p("\tMOVQ sp+8(FP), DX")
	p("\tMOVQ src+16(FP), SI")
	p("\tMOVQ n+24(FP), CX")
	a.loadConsts(append(append(append([]string{}, expConsts...), "sign"), log1pConsts...)...)
	a.loop(name, a.lanes, []string{"DI", "DX", "SI"}, func(m mem) {
		x, nx, e := a.r(0), a.r(1), a.r(2)
		m.load("SI", x)
		a.negAbs(x, nx)
		a.exp(nx, e, a.r(3), a.r(4), a.r(5), a.r(6), false)
		a.sigmoid(x, e, a.r(7), a.r(3), a.r(4))
		m.store(a.r(7), "DI")
		a.softplus(x, e, a.r(8), a.r(3), a.r(4), a.r(5), a.r(6))
		m.store(a.r(8), "DX")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

// genAdd writes add: dst[i] += src[i] (one correctly rounded float32
// add, the same bits as the Go loop).
func (a *arch) genAdd() {
	name := "add" + a.name
	a.header(name, "(dst, src *float32, n int)", 24)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ src+8(FP), SI")
	p("\tMOVQ n+16(FP), CX")
	a.loop(name, a.lanes, []string{"DI", "SI"}, func(m mem) {
		x, y := a.r(0), a.r(1)
		m.load("SI", x)
		m.load("DI", y)
		p("\tVADDPS %s, %s, %s", x, y, y)
		m.store(y, "DI")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

// genSum writes sum: dst[i] = x[i] + y[i] (one correctly rounded float32
// add, the same bits as the Go loop; dst may be x or y).
func (a *arch) genSum() {
	name := "sum" + a.name
	a.header(name, "(dst, x, y *float32, n int)", 32)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ y+16(FP), DX")
	p("\tMOVQ n+24(FP), CX")
	a.loop(name, a.lanes, []string{"DI", "SI", "DX"}, func(m mem) {
		x, y := a.r(0), a.r(1)
		m.load("SI", x)
		m.load("DX", y)
		p("\tVADDPS %s, %s, %s", y, x, x)
		m.store(x, "DI")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

// genAxpy writes axpy: dst[i] += alpha·src[i] as a rounded product and a
// rounded sum (no FMA: the bits of Go's dst[i] += alpha * src[i]).
func (a *arch) genAxpy() {
	name := "axpy" + a.name
	a.header(name, "(dst *float32, alpha float32, src *float32, n int)", 32)
	p("\tMOVQ dst+0(FP), DI")
	p("\tVBROADCASTSS alpha+8(FP), %s", a.r(2))
	p("\tMOVQ src+16(FP), SI")
	p("\tMOVQ n+24(FP), CX")
	a.loop(name, a.lanes, []string{"DI", "SI"}, func(m mem) {
		x, y := a.r(0), a.r(1)
		m.load("SI", x)
		m.load("DI", y)
		p("\tVMULPS %s, %s, %s", a.r(2), x, x)
		p("\tVADDPS %s, %s, %s", x, y, y)
		m.store(y, "DI")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

// genReLU writes relu: dst[i] = src[i] where src[i] > 0 or is NaN, else
// +0 — Go's max(src[i], 0) (max propagates NaN and returns +0 for −0). The
// comparison is not-less-or-equal, unordered (predicate 0x16), so NaN
// keeps its lane; the other lanes are cleared by the opmask (AVX-512) or
// an AND with the comparison mask (AVX2), which leave +0.
func (a *arch) genReLU() {
	name := "relu" + a.name
	a.header(name, "(dst, src *float32, n int)", 24)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ src+8(FP), SI")
	p("\tMOVQ n+16(FP), CX")
	p("\tVXORPS %s, %s, %s", a.r(3), a.r(3), a.r(3))
	a.loop(name, a.lanes, []string{"DI", "SI"}, func(m mem) {
		x, y := a.r(0), a.r(1)
		m.load("SI", x)
		if a.avx512() {
			p("\tVCMPPS $0x16, %s, %s, K2", a.r(3), x)
			p("\tVMOVAPS.Z %s, K2, %s", x, y)
		} else {
			p("\tVCMPPS $0x16, %s, %s, %s", a.r(3), x, a.r(2))
			p("\tVANDPS %s, %s, %s", x, a.r(2), y)
		}
		m.store(y, "DI")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

// genReLUGrad writes reluGrad: dst[i] += g[i] where x[i] > 0 (ordered:
// not for NaN), else dst[i] += +0 — the masked gradient is added in every
// lane, as the Go loop of engine's reluBackward does (predicate 0x1e,
// greater-than ordered quiet).
//
// With set, it writes reluGradSet: dst[i] = g[i] where x[i] > 0, else +0
// (a new gradient buffer, which the add variant would need zeroed).
func (a *arch) genReLUGrad(set bool) {
	name := "reluGrad" + a.name
	if set {
		name = "reluGradSet" + a.name
	}
	a.header(name, "(dst, x, grad *float32, n int)", 32)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ grad+16(FP), DX")
	p("\tMOVQ n+24(FP), CX")
	p("\tVXORPS %s, %s, %s", a.r(4), a.r(4), a.r(4))
	a.loop(name, a.lanes, []string{"DI", "SI", "DX"}, func(m mem) {
		x, gr, d := a.r(0), a.r(1), a.r(2)
		m.load("SI", x)
		m.load("DX", gr)
		if a.avx512() {
			p("\tVCMPPS $0x1e, %s, %s, K2", a.r(4), x)
			p("\tVMOVAPS.Z %s, K2, %s", gr, gr)
		} else {
			p("\tVCMPPS $0x1e, %s, %s, %s", a.r(4), x, a.r(3))
			p("\tVANDPS %s, %s, %s", gr, a.r(3), gr)
		}
		if set {
			m.store(gr, "DI")
			return
		}
		m.load("DI", d)
		p("\tVADDPS %s, %s, %s", gr, d, d)
		m.store(d, "DI")
	})
	p("\tVZEROUPPER")
	p("\tRET")
}

// The norm kernels (AVX-512 only; other CPUs run the Go loops of slice.go,
// which define the arithmetic). Each is the element-wise part of a norm
// layer, with the operations of the Go loop one by one — float32 or
// float64 as there, products rounded before sums (Go on amd64 does not
// fuse), float64 results rounded to float32 by VCVTPD2PS (to nearest, as
// Go's conversion) — so an element gets the Go loop's bits. The float64
// kernels widen each 16-float vector into two halves of 8 doubles.

// kernel512 writes an AVX-512-only kernel: its header, the argument loads
// (instructions, one per line), body, and the return.
func kernel512(name, sig string, frame int, args []string, body func(a *arch)) {
	a := &arch{name: "AVX512", reg: "Z", lanes: 16}
	a.header(name, sig, frame)
	for _, l := range args {
		p("\t%s", l)
	}
	body(a)
	p("\tVZEROUPPER")
	p("\tRET")
}

// genNormAffine writes normAffine: h = (x−mu)·r, xh = h, y = h·gm + bt
// (float32; gm, bt per element): LayerNorm's forward.
func genNormAffine() {
	name := "normAffineAVX512"
	kernel512(name, "(xh, y, x *float32, n int, mu, r float32, gm, bt *float32)", 56, []string{
		"MOVQ xh+0(FP), DI", "MOVQ y+8(FP), SI", "MOVQ x+16(FP), DX", "MOVQ n+24(FP), CX",
		"VBROADCASTSS mu+32(FP), Z20", "VBROADCASTSS r+36(FP), Z21", "MOVQ gm+40(FP), R8", "MOVQ bt+48(FP), R9",
	}, func(a *arch) {
		a.loop(name, 16, []string{"DI", "SI", "DX", "R8", "R9"}, func(m mem) {
			m.load("DX", "Z0")
			p("\tVSUBPS Z20, Z0, Z0")
			p("\tVMULPS Z21, Z0, Z0")
			m.store("Z0", "DI")
			m.load("R8", "Z1")
			p("\tVMULPS Z1, Z0, Z1")
			m.load("R9", "Z2")
			p("\tVADDPS Z2, Z1, Z1")
			m.store("Z1", "SI")
		})
	})
}

// widen writes the two float64 halves of the 16 floats in src into lo, hi.
func widen(src, lo, hi string) {
	p("\tVCVTPS2PD Y%s, %s", src[1:], lo)
	p("\tVEXTRACTF64X4 $1, %s, Y%s", src, hi[1:])
	p("\tVCVTPS2PD Y%s, %s", hi[1:], hi)
}

// narrow writes the 16 floats rounded from the doubles in lo, hi into lo.
func narrow(lo, hi string) {
	p("\tVCVTPD2PS %s, Y%s", lo, lo[1:])
	p("\tVCVTPD2PS %s, Y%s", hi, hi[1:])
	p("\tVINSERTF64X4 $1, Y%s, %s, %s", hi[1:], lo, lo)
}

// genNormAffine64 writes normAffine64: h = float32((float64(x)−mu)·r),
// xh = h, y = h·gm + bt (gm, bt one channel's): GroupNorm's forward.
//
// With relu, normAffine64ReLU stores max(y, 0) instead, with relu's
// comparison (so NaN stays and −0 gives +0): GroupNorm and ReLU in one pass.
func genNormAffine64(relu bool) {
	name := "normAffine64AVX512"
	if relu {
		name = "normAffine64ReLUAVX512"
	}
	args := []string{
		"MOVQ xh+0(FP), DI", "MOVQ y+8(FP), SI", "MOVQ x+16(FP), DX", "MOVQ n+24(FP), CX",
		"VBROADCASTSD mu+32(FP), Z20", "VBROADCASTSD r+40(FP), Z21", "VBROADCASTSS gm+48(FP), Z22", "VBROADCASTSS bt+52(FP), Z23",
	}
	if relu {
		args = append(args, "VXORPS Z24, Z24, Z24")
	}
	kernel512(name, "(xh, y, x *float32, n int, mu, r float64, gm, bt float32)", 56, args, func(a *arch) {
		a.loop(name, 16, []string{"DI", "SI", "DX"}, func(m mem) {
			m.load("DX", "Z0")
			widen("Z0", "Z2", "Z3")
			for _, h := range []string{"Z2", "Z3"} {
				p("\tVSUBPD Z20, %s, %s", h, h)
				p("\tVMULPD Z21, %s, %s", h, h)
			}
			narrow("Z2", "Z3")
			m.store("Z2", "DI")
			p("\tVMULPS Z22, Z2, Z4")
			p("\tVADDPS Z23, Z4, Z4")
			if relu {
				p("\tVCMPPS $0x16, Z24, Z4, K2")
				p("\tVMOVAPS.Z Z4, K2, Z4")
			}
			m.store("Z4", "SI")
		})
	})
}

// reluMask recomputes, from x̂ in the float32 lanes of xh, the
// pre-activation y = x̂·gm + bt of a fused GroupNorm and ReLU as its
// forward did (VMULPS, VADDPS), and zeroes the lanes of g (ps or pd) where
// y > 0 is false (ordered: NaN too) — ReLU's backward mask. tmp is
// clobbered, zero holds +0, K2 is the mask.
func reluMask(xh, gm, bt, zero, tmp, g, mov string) {
	p("\tVMULPS %s, %s, %s", gm, xh, tmp)
	p("\tVADDPS %s, %s, %s", bt, tmp, tmp)
	p("\tVCMPPS $0x1e, %s, %s, K2", zero, tmp)
	p("\t%s.Z %s, K2, %s", mov, g, g)
}

// genLayerNormGrad writes layerNormGrad: dg += g·xh, db += g,
// dx += (g·gm − mg − xh·mgx)·rs (float32): LayerNorm's backward for one row.
//
// With set, layerNormGradSet writes dx instead of adding to it (dg and db
// are added to as before).
func genLayerNormGrad(set bool) {
	name := "layerNormGradAVX512"
	if set {
		name = "layerNormGradSetAVX512"
	}
	kernel512(name, "(dx, dg, db, grad, xh, gm *float32, n int, mg, mgx, rs float32)", 68, []string{
		"MOVQ dx+0(FP), DI", "MOVQ dg+8(FP), SI", "MOVQ db+16(FP), DX", "MOVQ grad+24(FP), R8",
		"MOVQ xh+32(FP), R9", "MOVQ gm+40(FP), R10", "MOVQ n+48(FP), CX",
		"VBROADCASTSS mg+56(FP), Z20", "VBROADCASTSS mgx+60(FP), Z21", "VBROADCASTSS rs+64(FP), Z22",
	}, func(a *arch) {
		a.loop(name, 16, []string{"DI", "SI", "DX", "R8", "R9", "R10"}, func(m mem) {
			m.load("R8", "Z0")
			m.load("R9", "Z1")
			m.load("R10", "Z2")
			m.load("SI", "Z3")
			p("\tVMULPS Z1, Z0, Z4")
			p("\tVADDPS Z4, Z3, Z3")
			m.store("Z3", "SI")
			m.load("DX", "Z3")
			p("\tVADDPS Z0, Z3, Z3")
			m.store("Z3", "DX")
			p("\tVMULPS Z2, Z0, Z4")
			p("\tVSUBPS Z20, Z4, Z4")
			p("\tVMULPS Z21, Z1, Z5")
			p("\tVSUBPS Z5, Z4, Z4")
			p("\tVMULPS Z22, Z4, Z4")
			if set {
				m.store("Z4", "DI")
				return
			}
			m.load("DI", "Z3")
			p("\tVADDPS Z4, Z3, Z3")
			m.store("Z3", "DI")
		})
	})
}

// genNormGradX64 writes normGradX64: dx += float32((float64(g)·gm − mg −
// float64(xh)·mgx)·r): GroupNorm's input gradient for one channel.
//
// With set, normGradX64Set writes dx instead of adding to it. With relu
// (normGradX64ReLU, normGradX64SetReLU), g is first masked by reluMask
// with the channel's float32 gm32 and bt: the input gradient of a fused
// GroupNorm and ReLU, without the masked gradient in memory.
func genNormGradX64(set, relu bool) {
	name := "normGradX64"
	if set {
		name += "Set"
	}
	if relu {
		name += "ReLU"
	}
	name += "AVX512"
	sig, frame := "(dx, grad, xh *float32, n int, gm, mg, mgx, r float64)", 64
	args := []string{
		"MOVQ dx+0(FP), DI", "MOVQ grad+8(FP), SI", "MOVQ xh+16(FP), DX", "MOVQ n+24(FP), CX",
		"VBROADCASTSD gm+32(FP), Z20", "VBROADCASTSD mg+40(FP), Z21", "VBROADCASTSD mgx+48(FP), Z22", "VBROADCASTSD r+56(FP), Z23",
	}
	if relu {
		sig, frame = "(dx, grad, xh *float32, n int, gm, mg, mgx, r float64, gm32, bt float32)", 72
		args = append(args, "VBROADCASTSS gm32+64(FP), Z24", "VBROADCASTSS bt+68(FP), Z25", "VXORPS Z26, Z26, Z26")
	}
	kernel512(name, sig, frame, args, func(a *arch) {
		a.loop(name, 16, []string{"DI", "SI", "DX"}, func(m mem) {
			m.load("SI", "Z0")
			m.load("DX", "Z1")
			if relu {
				reluMask("Z1", "Z24", "Z25", "Z26", "Z6", "Z0", "VMOVAPS")
			}
			widen("Z0", "Z2", "Z3")
			widen("Z1", "Z4", "Z5")
			for _, hv := range [][2]string{{"Z2", "Z4"}, {"Z3", "Z5"}} {
				g, x := hv[0], hv[1]
				p("\tVMULPD Z20, %s, %s", g, g)
				p("\tVSUBPD Z21, %s, %s", g, g)
				p("\tVMULPD Z22, %s, %s", x, x)
				p("\tVSUBPD %s, %s, %s", x, g, g)
				p("\tVMULPD Z23, %s, %s", g, g)
			}
			narrow("Z2", "Z3")
			if set {
				m.store("Z2", "DI")
				return
			}
			m.load("DI", "Z6")
			p("\tVADDPS Z2, Z6, Z6")
			m.store("Z6", "DI")
		})
	})
}

// The row-statistics kernels (AVX-512 only) keep one float64 chain per row
// in one lane: eight rows (stride apart) at once, eight columns per block,
// the 8×8 block transposed in registers so that lane j adds row j's
// elements in index order — the chains of the Go loops, eight of them side
// by side. n is a multiple of 8 (the Go wrappers do the rest).

// rows8 loads eight columns (byte offset off) of the eight rows based at
// SI (rows 0–3) and DI (rows 4–7), row stride R8 bytes, 3·stride in R9,
// into Y0…Y7, and transposes them into Y8…Y15 (Y8+t: column t of rows 0–7).
func rows8(si, di string) {
	for j, a := range []string{"(%[1]s)", "(%[1]s)(R8*1)", "(%[1]s)(R8*2)", "(%[1]s)(R9*1)"} {
		p("\tVMOVUPS %s, Y%d", fmt.Sprintf(a, si), j)
		p("\tVMOVUPS %s, Y%d", fmt.Sprintf(a, di), j+4)
	}
	for q := 0; q < 4; q++ { // unpack pairs of rows
		p("\tVUNPCKLPS Y%d, Y%d, Y%d", 2*q+1, 2*q, 8+2*q)
		p("\tVUNPCKHPS Y%d, Y%d, Y%d", 2*q+1, 2*q, 9+2*q)
	}
	for q := 0; q < 2; q++ { // rows 4q…4q+3, columns (0,1,4,5) and (2,3,6,7)
		b := 8 + 4*q
		p("\tVSHUFPS $0x44, Y%d, Y%d, Y%d", b+2, b, 4*q)
		p("\tVSHUFPS $0xEE, Y%d, Y%d, Y%d", b+2, b, 4*q+1)
		p("\tVSHUFPS $0x44, Y%d, Y%d, Y%d", b+3, b+1, 4*q+2)
		p("\tVSHUFPS $0xEE, Y%d, Y%d, Y%d", b+3, b+1, 4*q+3)
	}
	for t := 0; t < 4; t++ { // halves: columns t and t+4
		p("\tVPERM2F128 $0x20, Y%d, Y%d, Y%d", t+4, t, 8+t)
		p("\tVPERM2F128 $0x31, Y%d, Y%d, Y%d", t+4, t, 12+t)
	}
}

// rowsLoop writes the block loop over CX/8 blocks around body, advancing
// the given row bases by 32 bytes.
func rowsLoop(name string, bases []string, body func()) {
	p("\tSHRQ $3, CX")
	p("\tJZ %s_done", name)
	p("%s_loop:", name)
	body()
	for _, b := range bases {
		p("\tADDQ $32, %s", b)
	}
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_done:", name)
}

// rowArgs are the row kernels' common argument loads: the row base x (or
// gr) in SI and DI (rows 4–7), the row stride in bytes in R8, 3·stride in
// R9, n in CX.
func rowArgs(x string, xOff, strideOff, nOff int) []string {
	return []string{
		fmt.Sprintf("MOVQ %s+%d(FP), SI", x, xOff), fmt.Sprintf("MOVQ stride+%d(FP), R8", strideOff),
		"SHLQ $2, R8", "LEAQ (R8)(R8*2), R9", "LEAQ (SI)(R8*4), DI", fmt.Sprintf("MOVQ n+%d(FP), CX", nOff),
	}
}

// genRowSums8 writes rowSums8: acc[j] += Σ_i float64(x[j·stride+i]).
func genRowSums8() {
	name := "rowSums8AVX512"
	args := append([]string{"MOVQ acc+0(FP), AX"}, rowArgs("x", 8, 16, 24)...)
	kernel512(name, "(acc *float64, x *float32, stride, n int)", 32, append(args, "VMOVUPD (AX), Z30"), func(*arch) {
		rowsLoop(name, []string{"SI", "DI"}, func() {
			rows8("SI", "DI")
			for t := 0; t < 8; t++ {
				p("\tVCVTPS2PD Y%d, Z%d", 8+t, 16+t)
			}
			for t := 0; t < 8; t++ {
				p("\tVADDPD Z%d, Z30, Z30", 16+t)
			}
		})
		p("\tVMOVUPD Z30, (AX)")
	})
}

// genRowSqDevs8 writes rowSqDevs8: acc[j] += Σ_i d·d with
// d = float64(x[j·stride+i]) − mu[j] (product rounded, then the sum).
func genRowSqDevs8() {
	name := "rowSqDevs8AVX512"
	args := append([]string{"MOVQ acc+0(FP), AX"}, rowArgs("x", 8, 16, 24)...)
	args = append(args, "MOVQ mu+32(FP), DX", "VMOVUPD (DX), Z29", "VMOVUPD (AX), Z30")
	kernel512(name, "(acc *float64, x *float32, stride, n int, mu *float64)", 40, args, func(*arch) {
		rowsLoop(name, []string{"SI", "DI"}, func() {
			rows8("SI", "DI")
			for t := 0; t < 8; t++ {
				z := fmt.Sprintf("Z%d", 16+t)
				p("\tVCVTPS2PD Y%d, %s", 8+t, z)
				p("\tVSUBPD Z29, %s, %s", z, z)
				p("\tVMULPD %s, %s, %s", z, z, z)
			}
			for t := 0; t < 8; t++ {
				p("\tVADDPD Z%d, Z30, Z30", 16+t)
			}
		})
		p("\tVMOVUPD Z30, (AX)")
	})
}

// genRowSumDots8 writes rowSumDots8: sg[j] += Σ_i float64(g_j[i]) and
// sgh[j] += Σ_i float64(g_j[i])·float64(h_j[i]) (g_j = g[j·stride:], h_j
// likewise), two chains per row. Without sums it writes rowDots8, the
// second chains alone: acc[j] += Σ_i float64(x_j[i])·float64(y_j[i]) (the
// softmax backward's ⟨y, g⟩ per row). The products are exact in float64.
//
// With relu (sums only), rowSumDots8ReLU masks g_j[i] by reluMask of
// h_j[i] with row j's gm[j] and bt[j] before both sums: a fused GroupNorm
// and ReLU's per-channel sums. The transposed block holds rows in lanes, so
// the row constants are eight-lane vectors (in the low halves of Z25, Z26;
// the high lanes' garbage never reaches the eight-double mask).
func genRowSumDots8(sums, relu bool) {
	common := []string{"SHLQ $2, R8", "LEAQ (R8)(R8*2), R9", "LEAQ (SI)(R8*4), DI", "LEAQ (DX)(R8*4), R11"}
	name, sig, frame := "rowSumDots8AVX512", "(sg, sgh *float64, gr, h *float32, stride, n int)", 48
	args := append([]string{"MOVQ sg+0(FP), AX", "MOVQ sgh+8(FP), BX", "MOVQ gr+16(FP), SI", "MOVQ h+24(FP), DX",
		"MOVQ stride+32(FP), R8"}, append(common, "MOVQ n+40(FP), CX", "VMOVUPD (AX), Z30", "VMOVUPD (BX), Z31")...)
	if relu {
		name, sig, frame = "rowSumDots8ReLUAVX512", "(sg, sgh *float64, gr, h *float32, stride, n int, gm, bt *float32)", 64
		args = append(args, "MOVQ gm+48(FP), R10", "VMOVUPS (R10), Y25", "MOVQ bt+56(FP), R10", "VMOVUPS (R10), Y26",
			"VXORPS Z27, Z27, Z27")
	}
	if !sums {
		name, sig, frame = "rowDots8AVX512", "(acc *float64, x, y *float32, stride, n int)", 40
		args = append([]string{"MOVQ acc+0(FP), BX", "MOVQ x+8(FP), SI", "MOVQ y+16(FP), DX",
			"MOVQ stride+24(FP), R8"}, append(common, "MOVQ n+32(FP), CX", "VMOVUPD (BX), Z31")...)
	}
	kernel512(name, sig, frame, args, func(*arch) {
		rowsLoop(name, []string{"SI", "DI", "DX", "R11"}, func() {
			rows8("SI", "DI")
			for t := 0; t < 8; t++ {
				p("\tVCVTPS2PD Y%d, Z%d", 8+t, 16+t)
			}
			rows8("DX", "R11")
			for t := 0; t < 8; t++ {
				if relu {
					reluMask(fmt.Sprintf("Z%d", 8+t), "Z25", "Z26", "Z27", "Z28", fmt.Sprintf("Z%d", 16+t), "VMOVAPD")
				}
				p("\tVCVTPS2PD Y%d, Z24", 8+t)
				p("\tVMULPD Z%d, Z24, Z24", 16+t)
				if sums {
					p("\tVADDPD Z%d, Z30, Z30", 16+t)
				}
				p("\tVADDPD Z24, Z31, Z31")
			}
		})
		if sums {
			p("\tVMOVUPD Z30, (AX)")
		}
		p("\tVMOVUPD Z31, (BX)")
	})
}

// The stride-2 kernels (AVX-512 only) move every other element: the
// im2col and col2im of a stride-2 convolution, whose taps read or add to
// input columns 2·ox − pad + kj. They copy or add one element each, so any
// kernel gives the Go loop's bits. Vectors of 32 input elements are split
// into their 16 even lanes by VPERMT2PS with the index table evenidx<>
// (gather2) or reached with VEXPANDPS and an add and store masked to the
// even lanes (addStride2); the last vector's masks keep every access
// inside the 2n−1 elements of the strided side.

// stride2Masks sets K2 and K3 to the low and high halves of the mask of
// the first 2·CX−1 lanes of a 32-lane pair (CX in 1…15), ANDed with the
// 32-bit pattern even unless it is empty.
func stride2Masks(even string) {
	p("\tLEAQ -1(CX)(CX*1), CX")
	p("\tMOVL $1, AX")
	p("\tSHLL CX, AX")
	p("\tDECL AX")
	if even != "" {
		p("\tANDL $%s, AX", even)
	}
	p("\tKMOVW AX, K2")
	p("\tSHRL $16, AX")
	p("\tKMOVW AX, K3")
}

// genGather2 writes gather2: dst[i] = src[2i] for i < n.
func genGather2() {
	name := "gather2AVX512"
	kernel512(name, "(dst, src *float32, n int)", 24, []string{
		"MOVQ dst+0(FP), DI", "MOVQ src+8(FP), SI", "MOVQ n+16(FP), CX",
		"VMOVDQU32 evenidx<>(SB), Z20",
		// the odd lane 31 of a pair is never needed: the full loop's
		// second load leaves it out, so the last full pair reads no
		// further than src[2n−2]
		"MOVL $0x7fff, AX", "KMOVW AX, K1",
	}, func(*arch) {
		p("\tMOVQ CX, BX")
		p("\tSHRQ $4, BX")
		p("\tJZ %s_tail", name)
		p("%s_loop:", name)
		p("\tVMOVUPS (SI), Z0")
		p("\tVMOVUPS.Z 64(SI), K1, Z1")
		p("\tVPERMT2PS Z1, Z20, Z0")
		p("\tVMOVUPS Z0, (DI)")
		p("\tADDQ $128, SI")
		p("\tADDQ $64, DI")
		p("\tDECQ BX")
		p("\tJNZ %s_loop", name)
		p("%s_tail:", name)
		p("\tANDQ $15, CX")
		p("\tJZ %s_done", name)
		p("\tMOVL $1, AX")
		p("\tSHLL CX, AX")
		p("\tDECL AX")
		p("\tKMOVW AX, K4")
		stride2Masks("")
		p("\tVMOVUPS.Z (SI), K2, Z0")
		p("\tVMOVUPS.Z 64(SI), K3, Z1")
		p("\tVPERMT2PS Z1, Z20, Z0")
		p("\tVMOVUPS Z0, K4, (DI)")
		p("%s_done:", name)
	})
}

// genAddStride2 writes addStride2: dst[2i] += src[i] for i < n.
func genAddStride2() {
	name := "addStride2AVX512"
	kernel512(name, "(dst, src *float32, n int)", 24, []string{
		"MOVQ dst+0(FP), DI", "MOVQ src+8(FP), SI", "MOVQ n+16(FP), CX",
		"MOVL $0x5555, AX", "KMOVW AX, K1",
	}, func(*arch) {
		body := func(k2, k3 string) {
			// each half: 8 src values expanded into the even lanes of a
			// vector, added to dst's even lanes, stored to them only
			p("\tVEXPANDPS.Z (SI), %s, Z2", k2)
			p("\tVMOVUPS.Z (DI), %s, Z0", k2)
			p("\tVADDPS Z2, Z0, %s, Z0", k2)
			p("\tVMOVUPS Z0, %s, (DI)", k2)
			p("\tVEXPANDPS.Z 32(SI), %s, Z3", k3)
			p("\tVMOVUPS.Z 64(DI), %s, Z1", k3)
			p("\tVADDPS Z3, Z1, %s, Z1", k3)
			p("\tVMOVUPS Z1, %s, 64(DI)", k3)
		}
		p("\tMOVQ CX, BX")
		p("\tSHRQ $4, BX")
		p("\tJZ %s_tail", name)
		p("%s_loop:", name)
		body("K1", "K1")
		p("\tADDQ $64, SI")
		p("\tADDQ $128, DI")
		p("\tDECQ BX")
		p("\tJNZ %s_loop", name)
		p("%s_tail:", name)
		p("\tANDQ $15, CX")
		p("\tJZ %s_done", name)
		stride2Masks("0x55555555")
		body("K2", "K3")
		p("%s_done:", name)
	})
}

// colChunks writes the walk along a row of CX floats shared by addRows
// and copyRows: chunks of 64 (four vectors), then of 16, then the masked
// rest (opmask K1, which the caller sets to CX mod 16 lanes). chunk writes
// one chunk of w vectors (k the opmask of a partial vector, or "" for
// whole ones); after each whole chunk the pointer registers ptrs advance.
// The walk ends at the label prefix_end.
func colChunks(prefix string, ptrs []string, chunk func(w int, k string)) {
	for _, c := range []struct{ floats, vecs int }{{64, 4}, {16, 1}} {
		p("%s_%d:", prefix, c.floats)
		p("\tCMPQ CX, $%d", c.floats)
		p("\tJLT %s_%d", prefix, c.floats/4)
		chunk(c.vecs, "")
		for _, r := range ptrs {
			p("\tADDQ $%d, %s", 4*c.floats, r)
		}
		p("\tSUBQ $%d, CX", c.floats)
		p("\tJMP %s_%d", prefix, c.floats)
	}
	p("%s_4:", prefix) // the rest, fewer than 16
	p("\tTESTQ CX, CX")
	p("\tJZ %s_end", prefix)
	chunk(1, "K1")
	p("%s_end:", prefix)
}

// movps writes a move of vector Z<z> from or to mem (load when it is the
// source), masked by opmask k (zeroing on loads) unless k is "".
func movps(load bool, mem string, z int, k string) {
	switch {
	case load && k == "":
		p("\tVMOVUPS %s, Z%d", mem, z)
	case load:
		p("\tVMOVUPS.Z %s, %s, Z%d", mem, k, z)
	case k == "":
		p("\tVMOVUPS Z%d, %s", z, mem)
	default:
		p("\tVMOVUPS Z%d, %s, %s", z, k, mem)
	}
}

// tailMask writes K1 = the low (BX mod 16) lanes, through CX and AX.
var tailMask = []string{"MOVQ BX, CX", "ANDQ $15, CX", "MOVL $1, AX", "SHLL CX, AX", "DECL AX", "KMOVW AX, K1"}

// genAddRows writes addRows: dst[j] += src[r·stride+j] for r < rows in
// row order, j < n — each element one chain of float32 adds, the bits of
// adding the rows one after another (AddTo per row), with dst held in
// registers across the rows, a chunk of columns at a time (colChunks).
// stride is in floats.
func genAddRows() {
	name := "addRowsAVX512"
	kernel512(name, "(dst, src *float32, n, rows, stride int)", 40, append([]string{
		"MOVQ dst+0(FP), DI", "MOVQ src+8(FP), SI", "MOVQ n+16(FP), BX",
		"MOVQ rows+24(FP), DX", "MOVQ stride+32(FP), R8", "SHLQ $2, R8",
	}, tailMask...), func(*arch) {
		p("\tMOVQ BX, CX")
		p("\tTESTQ DX, DX")
		p("\tJZ %s_done", name)
		colChunks(name, []string{"DI", "SI"}, func(w int, k string) {
			label := fmt.Sprintf("%s_rows%d%s", name, w, k)
			for i := 0; i < w; i++ {
				movps(true, fmt.Sprintf("%d(DI)", 64*i), i, k)
			}
			p("\tMOVQ SI, R9")
			p("\tMOVQ DX, R10")
			p("%s:", label)
			for i := 0; i < w; i++ {
				movps(true, fmt.Sprintf("%d(R9)", 64*i), 8+i, k)
				p("\tVADDPS Z%d, Z%d, Z%d", 8+i, i, i)
			}
			p("\tADDQ R8, R9")
			p("\tDECQ R10")
			p("\tJNZ %s", label)
			for i := 0; i < w; i++ {
				movps(false, fmt.Sprintf("%d(DI)", 64*i), i, k)
			}
		})
		p("%s_done:", name)
	})
}

// genCopyRows writes copyRows: dst[r·ds+j] = src[r·ss+j] for r < rows,
// j < n (strides in floats), one row after another, a chunk of columns at
// a time (colChunks).
func genCopyRows() {
	name := "copyRowsAVX512"
	kernel512(name, "(dst *float32, ds int, src *float32, ss, rows, n int)", 48, append([]string{
		"MOVQ dst+0(FP), DI", "MOVQ ds+8(FP), R8", "SHLQ $2, R8",
		"MOVQ src+16(FP), SI", "MOVQ ss+24(FP), R9", "SHLQ $2, R9",
		"MOVQ rows+32(FP), DX", "MOVQ n+40(FP), BX",
	}, tailMask...), func(*arch) {
		p("\tTESTQ DX, DX")
		p("\tJZ %s_done", name)
		p("%s_row:", name)
		p("\tMOVQ DI, R10")
		p("\tMOVQ SI, R11")
		p("\tMOVQ BX, CX")
		colChunks(name, []string{"R10", "R11"}, func(w int, k string) {
			for i := 0; i < w; i++ {
				movps(true, fmt.Sprintf("%d(R11)", 64*i), i, k)
			}
			for i := 0; i < w; i++ {
				movps(false, fmt.Sprintf("%d(R10)", 64*i), i, k)
			}
		})
		p("\tADDQ R8, DI")
		p("\tADDQ R9, SI")
		p("\tDECQ DX")
		p("\tJNZ %s_row", name)
		p("%s_done:", name)
	})
}

// The softmax kernels (AVX-512 only). The two maxima work on whole 16-lane
// vectors and the Go wrapper does the n mod 16 tail (a masked tail would
// need a −Inf fill, and bm's bytes cannot be loaded masked without
// AVX-512BW); scale and subMul run the shared loop with its masked tail.

// reduceMax16 writes into X2 the largest of the 16 lanes of Z21, which
// hold no NaN.
func reduceMax16() {
	p("\tVMOVAPS Z21, Z2")
	p("\tVEXTRACTF64X4 $1, Z2, Y1")
	p("\tVMAXPS Y1, Y2, Y2")
	p("\tVEXTRACTF128 $1, Y2, X1")
	p("\tVMAXPS X1, X2, X2")
	p("\tVSHUFPS $0x4e, X2, X2, X1")
	p("\tVMAXPS X1, X2, X2")
	p("\tVSHUFPS $0xb1, X2, X2, X1")
	p("\tVMAXPS X1, X2, X2")
}

// genMaxBlocked writes maxBlocked (blocked) or max16: the largest x[i]
// over i < n (n a multiple of 16) by the Go loop's rule "v > mx" — a NaN
// never wins; −Inf if nothing is larger. VMAXPS(x, mx) returns x only if
// x > mx, else mx (also for NaN), so each lane follows that rule; lanes
// are then combined in another order than the loop's, which can only
// change the sign of a zero maximum. maxBlocked also writes ys[i] = −Inf
// where bm[i] (a bool byte) is set, xs[i] elsewhere, and leaves blocked
// entries out of the maximum.
func genMaxBlocked(blocked bool) {
	name, sig, frame := "max16AVX512", "(xs *float32, n int) float32", 20
	args := []string{"MOVQ xs+0(FP), SI", "MOVQ n+8(FP), CX"}
	ret := "ret+16(FP)"
	if blocked {
		name, sig, frame = "maxBlockedAVX512", "(ys, xs *float32, bm *bool, n int) float32", 36
		args = []string{"MOVQ ys+0(FP), DI", "MOVQ xs+8(FP), SI", "MOVQ bm+16(FP), DX", "MOVQ n+24(FP), CX"}
		ret = "ret+32(FP)"
	}
	args = append(args, "MOVL $0xff800000, AX", "VPBROADCASTD AX, Z20", "VMOVAPS Z20, Z21")
	kernel512(name, sig, frame, args, func(*arch) {
		p("\tSHRQ $4, CX")
		p("\tJZ %s_done", name)
		p("%s_loop:", name)
		p("\tVMOVUPS (SI), Z0")
		if blocked {
			p("\tVPMOVZXBD (DX), Z1")
			p("\tVPTESTMD Z1, Z1, K2")
			p("\tVMOVAPS Z20, K2, Z0")
			p("\tVMOVUPS Z0, (DI)")
			p("\tADDQ $64, DI")
			p("\tADDQ $16, DX")
		}
		p("\tVMAXPS Z21, Z0, Z21")
		p("\tADDQ $64, SI")
		p("\tDECQ CX")
		p("\tJNZ %s_loop", name)
		p("%s_done:", name)
		reduceMax16()
		p("\tVMOVSS X2, %s", ret)
	})
}

// genAllFinite writes allFinite: the OR of x[i] − x[i] over i < n, which
// is +0 exactly when every x[i] is finite (Inf − Inf and NaN − NaN are
// NaN); it returns the mask of the lanes whose OR is not zero, so 0 means
// all finite. The tail's masked load fills the other lanes with +0.
func genAllFinite() {
	name := "allFiniteAVX512"
	kernel512(name, "(x *float32, n int) uint32", 20, []string{
		"MOVQ x+0(FP), SI", "MOVQ n+8(FP), CX", "VPXORD Z21, Z21, Z21",
	}, func(a *arch) {
		a.loop(name, 16, []string{"SI"}, func(m mem) {
			m.load("SI", "Z0")
			p("\tVSUBPS Z0, Z0, Z0")
			p("\tVPORD Z0, Z21, Z21")
		})
		p("\tVPTESTMD Z21, Z21, K2")
		p("\tKMOVW K2, AX")
		p("\tMOVL AX, ret+16(FP)")
	})
}

// genScale writes scale: x[i] *= s for i < n.
func genScale() {
	name := "scaleAVX512"
	kernel512(name, "(x *float32, n int, s float32)", 20, []string{
		"MOVQ x+0(FP), DI", "MOVQ n+8(FP), CX", "VBROADCASTSS s+16(FP), Z20",
	}, func(a *arch) {
		a.loop(name, 16, []string{"DI"}, func(m mem) {
			m.load("DI", "Z0")
			p("\tVMULPS Z20, Z0, Z0")
			m.store("Z0", "DI")
		})
	})
}

// genSubMul writes subMul: gr[i] = y[i]·(gr[i] − d) for i < n (the
// difference rounded first, as in Go).
func genSubMul() {
	name := "subMulAVX512"
	kernel512(name, "(gr, y *float32, n int, d float32)", 28, []string{
		"MOVQ gr+0(FP), DI", "MOVQ y+8(FP), SI", "MOVQ n+16(FP), CX", "VBROADCASTSS d+24(FP), Z20",
	}, func(a *arch) {
		a.loop(name, 16, []string{"DI", "SI"}, func(m mem) {
			m.load("DI", "Z0")
			p("\tVSUBPS Z20, Z0, Z0")
			m.load("SI", "Z1")
			p("\tVMULPS Z1, Z0, Z0")
			m.store("Z0", "DI")
		})
	})
}

var decls512 = []kernelDecl{
	{"normAffine", "(xh, y, x *float32, n int, mu, r float32, gm, bt *float32)", "sets h = (x[i]−mu)·r, xh[i] = h, y[i] = h·gm[i] + bt[i] (float32) for i < n."},
	{"normAffine64", "(xh, y, x *float32, n int, mu, r float64, gm, bt float32)", "sets h = float32((float64(x[i])−mu)·r), xh[i] = h, y[i] = h·gm + bt for i < n."},
	{"layerNormGrad", "(dx, dg, db, grad, xh, gm *float32, n int, mg, mgx, rs float32)", "adds grad[i]·xh[i] to dg[i], grad[i] to db[i] and (grad[i]·gm[i] − mg − xh[i]·mgx)·rs to dx[i] (float32) for i < n."},
	{"layerNormGradSet", "(dx, dg, db, grad, xh, gm *float32, n int, mg, mgx, rs float32)", "is layerNormGrad that sets dx[i] instead of adding to it."},
	{"rowSums8", "(acc *float64, x *float32, stride, n int)", "adds Σ_{i<n} float64(x[j·stride+i]) to acc[j] for j < 8, one chain per row in index order (n a multiple of 8)."},
	{"rowSqDevs8", "(acc *float64, x *float32, stride, n int, mu *float64)", "adds Σ_{i<n} d·d, d = float64(x[j·stride+i]) − mu[j], to acc[j] for j < 8, as rowSums8."},
	{"rowDots8", "(acc *float64, x, y *float32, stride, n int)", "adds Σ float64(x[j·stride+i])·float64(y[j·stride+i]) to acc[j] for j < 8, as rowSums8."},
	{"rowSumDots8", "(sg, sgh *float64, gr, h *float32, stride, n int)", "adds Σ float64(gr[j·stride+i]) to sg[j] and Σ float64(gr[j·stride+i])·float64(h[j·stride+i]) to sgh[j] for j < 8, as rowSums8."},
	{"normGradX64", "(dx, grad, xh *float32, n int, gm, mg, mgx, r float64)", "adds float32((float64(grad[i])·gm − mg − float64(xh[i])·mgx)·r) to dx[i] for i < n."},
	{"allFinite", "(x *float32, n int) uint32", "returns 0 when every x[i], i < n, is finite (see gen_amd64.go)."},
	{"normGradX64Set", "(dx, grad, xh *float32, n int, gm, mg, mgx, r float64)", "sets dx[i] = float32((float64(grad[i])·gm − mg − float64(xh[i])·mgx)·r) for i < n."},
	{"normAffine64ReLU", "(xh, y, x *float32, n int, mu, r float64, gm, bt float32)", "is normAffine64 that stores max(y[i], 0) (relu's) instead of y[i]."},
	{"rowSumDots8ReLU", "(sg, sgh *float64, gr, h *float32, stride, n int, gm, bt *float32)", "is rowSumDots8 with gr[j·stride+i] taken as +0 unless float32(h[j·stride+i]·gm[j]) + bt[j] > 0."},
	{"normGradX64ReLU", "(dx, grad, xh *float32, n int, gm, mg, mgx, r float64, gm32, bt float32)", "is normGradX64 with grad[i] taken as +0 unless float32(xh[i]·gm32) + bt > 0."},
	{"normGradX64SetReLU", "(dx, grad, xh *float32, n int, gm, mg, mgx, r float64, gm32, bt float32)", "is normGradX64Set with grad[i] taken as +0 unless float32(xh[i]·gm32) + bt > 0."},
	{"gather2", "(dst, src *float32, n int)", "sets dst[i] = src[2i] for i < n (src has 2n−1 elements)."},
	{"addStride2", "(dst, src *float32, n int)", "sets dst[2i] += src[i] for i < n (dst has 2n−1 elements)."},
	{"copyRows", "(dst *float32, ds int, src *float32, ss, rows, n int)", "sets dst[r·ds+j] = src[r·ss+j] for r < rows, j < n."},
	{"addRows", "(dst, src *float32, n, rows, stride int)", "adds src[r·stride+j] to dst[j] for r < rows in row order, j < n (rows ≥ 1)."},
	{"max16", "(xs *float32, n int) float32", "returns the largest xs[i], i < n (a multiple of 16), NaN never winning, −Inf if none is larger."},
	{"maxBlocked", "(ys, xs *float32, bm *bool, n int) float32", "sets ys[i] = −Inf where bm[i], xs[i] elsewhere, and returns max16 of ys (n a multiple of 16)."},
	{"scale", "(x *float32, n int, s float32)", "sets x[i] *= s for i < n."},
	{"subMul", "(gr, y *float32, n int, d float32)", "sets gr[i] = y[i]·(gr[i] − d) for i < n."},
}

type kernelDecl struct{ name, sig, doc string }

var decls = []kernelDecl{
	{"expSub", "(dst, src *float32, n int, sub float32)", "sets dst[i] = e^(src[i]−sub) for i < n."},
	{"expSubSum", "(dst, src *float32, n int, sub float32) float64", "is expSub that also returns Σ dst[i] in the order of ExpSubSum."},
	{"sigmoid", "(dst, src *float32, n int)", "sets dst[i] = σ(src[i]) for i < n."},
	{"softplus", "(dst, src *float32, n int)", "sets dst[i] = softplus(src[i]) for i < n."},
	{"sigmoidSoftplus", "(sig, sp, src *float32, n int)", "sets sig[i] = σ(src[i]) and sp[i] = softplus(src[i]) for i < n."},
	{"dot2", "(x, y, t *float32, n int) (xt, yt float64)", "returns Σ x[i]·t[i] and Σ y[i]·t[i] over i < n in the order of Dot2."},
	{"add", "(dst, src *float32, n int)", "sets dst[i] += src[i] for i < n."},
	{"sum", "(dst, x, y *float32, n int)", "sets dst[i] = x[i] + y[i] for i < n."},
	{"axpy", "(dst *float32, alpha float32, src *float32, n int)", "sets dst[i] += alpha·src[i] (product rounded, then sum) for i < n."},
	{"relu", "(dst, src *float32, n int)", "sets dst[i] = max(src[i], 0) (Go's max: NaN stays, −0 gives +0) for i < n."},
	{"reluGrad", "(dst, x, grad *float32, n int)", "sets dst[i] += grad[i] where x[i] > 0, += +0 elsewhere, for i < n."},
	{"reluGradSet", "(dst, x, grad *float32, n int)", "sets dst[i] = grad[i] where x[i] > 0, +0 elsewhere, for i < n."},
}

func main() {
	p("// Code generated by gen_amd64.go; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	for i, n := range constNames {
		p("// %s", n)
		for j := 0; j < 16; j += 2 {
			b := uint64(constBits[n])
			p("DATA fmconst<>+%d(SB)/8, $0x%016x", 64*i+4*j, b|b<<32)
		}
	}
	p("GLOBL fmconst<>(SB), RODATA|NOPTR, $%d", 64*len(constNames))
	p("")
	p("// masktab: 16 dwords of ones, then 16 zeros (AVX2 tail masks).")
	for j := 0; j < 32; j += 2 {
		v := "0x0000000000000000"
		if j < 16 {
			v = "0xffffffffffffffff"
		}
		p("DATA masktab<>+%d(SB)/8, $%s", 4*j, v)
	}
	p("GLOBL masktab<>(SB), RODATA|NOPTR, $128")
	p("")
	p("// evenidx: the dword indices 0, 2, …, 30 (gather2's VPERMT2PS).")
	for j := 0; j < 16; j += 2 {
		p("DATA evenidx<>+%d(SB)/8, $0x%016x", 4*j, uint64(2*j)|uint64(2*j+2)<<32)
	}
	p("GLOBL evenidx<>(SB), RODATA|NOPTR, $64")
	for _, a := range []*arch{{name: "AVX2", reg: "Y", lanes: 8, masks: [2]string{"Y15", "Y13"}}, {name: "AVX512", reg: "Z", lanes: 16}} {
		a.genExpSub()
		a.genExpSubSum()
		a.genSigmoid()
		a.genSoftplus()
		a.genSigmoidSoftplus()
		a.genDot2()
		a.genAdd()
		a.genSum()
		a.genAxpy()
		a.genReLU()
		a.genReLUGrad(false)
		a.genReLUGrad(true)
	}
	genNormAffine()
	genNormAffine64(false)
	genNormAffine64(true)
	genLayerNormGrad(false)
	genLayerNormGrad(true)
	genNormGradX64(false, false)
	genNormGradX64(true, false)
	genNormGradX64(false, true)
	genNormGradX64(true, true)
	genRowSums8()
	genRowSqDevs8()
	genRowSumDots8(true, false)
	genRowSumDots8(true, true)
	genRowSumDots8(false, false)
	genGather2()
	genAddStride2()
	genAddRows()
	genCopyRows()
	genMaxBlocked(false)
	genMaxBlocked(true)
	genScale()
	genAllFinite()
	genSubMul()
	if err := os.WriteFile("slice_amd64.s", out.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}

	var d bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&d, format+"\n", args...) }
	w("// Code generated by gen_amd64.go; DO NOT EDIT.")
	w("")
	w("//go:build amd64 && !purego")
	w("")
	w("package fmath")
	for _, a := range []string{"AVX2", "AVX512"} {
		for _, k := range decls {
			w("")
			w("// %s%s %s", k.name, a, k.doc)
			w("//")
			w("//go:noescape")
			w("func %s%s%s", k.name, a, k.sig)
		}
	}
	for _, k := range decls512 {
		w("")
		w("// %sAVX512 %s", k.name, k.doc)
		w("//")
		w("//go:noescape")
		w("func %sAVX512%s", k.name, k.sig)
	}
	src, err := format.Source(d.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("decl_amd64.go", src, 0o644); err != nil {
		log.Fatal(err)
	}
}
