//go:build ignore

// gen_amd64.go writes kernel_amd64.s, the AVX2+FMA and AVX-512 micro-kernels
// and AVX packing helpers of the packed SGEMM. Run it with
// `go generate ./model/gemm/internal/asm/` after editing.
//
// Every kernel has the Go signature
//
//	func name(k int, a, b, c *float32, ldc int, alpha, beta float32)
//
// and computes the R×NR tile (R ≤ MR, one kernel per R)
//
//	C[r][j] = alpha·Σ_p a[p·MR+r]·b[p·NR+j] + beta·C[r][j]   (r < R, j < NR)
//
// where a is a packed A micro-panel (k steps of MR values) and b a packed B
// micro-panel (k steps of NR values). The sum over p runs in index order in
// one accumulator per element, so the result only depends on the inputs.
// When beta is ±0, C is only written. C rows are ldc float32s apart.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

// spec describes one kernel.
type spec struct {
	name   string
	mr     int    // rows of C computed: values of A broadcast per k step
	panel  int    // rows of the packed A micro-panel (≥ mr): A values per k step
	vecs   int    // vector registers per C row
	reg    string // "Y" or "Z"
	vbytes int    // bytes per vector register
	unroll int    // k steps per main-loop iteration
	bcst   bool   // use EVEX embedded broadcast (AVX-512) instead of VBROADCASTSS
	// bstride is the width of the packed B micro-panel in floats (0: the
	// tile width). A masked kernel may use fewer vectors than the panel has.
	bstride int
	// masked kernels take a mask argument and touch only the columns of
	// the last vector whose bit is set (AVX-512 opmask K1): column edges.
	masked bool
}

func (s spec) nr() int { return s.vecs * s.vbytes / 4 }

func (s spec) bWidth() int {
	if s.bstride != 0 {
		return s.bstride
	}
	return s.nr()
}

func (s spec) acc(r, v int) string { return fmt.Sprintf("%s%d", s.reg, r*s.vecs+v) }

// bReg is the register of B vector v of a k step, after the accumulators.
func (s spec) bReg(v int) string { return fmt.Sprintf("%s%d", s.reg, s.mr*s.vecs+v) }

// scratch is scratch register i, after the accumulators and B vectors.
func (s spec) scratch(i int) string { return fmt.Sprintf("%s%d", s.reg, s.mr*s.vecs+s.vecs+i) }

// k1 is the opmask operand of vector v: "K1, " for the last vector of a
// masked kernel, else "".
func (s spec) k1(v int) string {
	if s.masked && v == s.vecs-1 {
		return "K1, "
	}
	return ""
}

// gen writes the kernel: its header and arguments, the C-tile prefetch,
// the zeroed accumulators, the k loop and the stores.
func (s spec) gen() {
	s.genEntry()
	s.genLoop()
	s.genStore()
}

// genEntry writes the kernel's header, loads its arguments, prefetches
// the C tile (read or written once the k loop ends) and zeroes the
// accumulators.
func (s spec) genEntry() {
	nr := s.nr()
	nacc := s.mr * s.vecs
	if s.masked {
		p("// func %s(k int, a, b, c *float32, ldc int, alpha, beta float32, mask int)", s.name)
		p("// %d×%d tile (last vector masked by mask) from a %d-row A panel, %s registers.", s.mr, nr, s.panel, s.reg)
		p("TEXT ·%s(SB), NOSPLIT, $0-56", s.name)
		p("\tMOVQ mask+48(FP), R10")
		p("\tKMOVW R10, K1")
	} else {
		p("// func %s(k int, a, b, c *float32, ldc int, alpha, beta float32)", s.name)
		p("// %d×%d tile from a %d-row A panel, %s registers.", s.mr, nr, s.panel, s.reg)
		p("TEXT ·%s(SB), NOSPLIT, $0-48", s.name)
	}
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), SI")
	p("\tMOVQ b+16(FP), DI")
	p("\tMOVQ c+24(FP), DX")
	p("\tMOVQ ldc+32(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ DX, R9")
	rowBytes := nr * 4
	for r := 0; r < s.mr; r++ {
		for off := 0; off < rowBytes; off += 64 {
			p("\tPREFETCHT0 %d(R9)", off)
		}
		if r < s.mr-1 {
			p("\tADDQ R8, R9")
		}
	}
	for i := 0; i < nacc; i++ {
		if s.reg == "Z" {
			p("\tVPXORD %s, %s, %s", s.acc(i/s.vecs, i%s.vecs), s.acc(i/s.vecs, i%s.vecs), s.acc(i/s.vecs, i%s.vecs))
		} else {
			p("\tVXORPS %s, %s, %s", s.acc(i/s.vecs, i%s.vecs), s.acc(i/s.vecs, i%s.vecs), s.acc(i/s.vecs, i%s.vecs))
		}
	}
}

// genStep writes k step u of an unrolled iteration: load the B vectors,
// then one FMA per accumulator with the broadcast A value of its row.
func (s spec) genStep(u int) {
	ao := u * s.panel * 4
	bo := u * s.bWidth() * 4
	for v := 0; v < s.vecs; v++ {
		p("\tVMOVUPS %d(DI), %s", bo+v*s.vbytes, s.bReg(v))
	}
	for r := 0; r < s.mr; r++ {
		if s.bcst {
			for v := 0; v < s.vecs; v++ {
				p("\tVFMADD231PS.BCST %d(SI), %s, %s", ao+4*r, s.bReg(v), s.acc(r, v))
			}
		} else {
			br := s.scratch(r % 2)
			p("\tVBROADCASTSS %d(SI), %s", ao+4*r, br)
			for v := 0; v < s.vecs; v++ {
				p("\tVFMADD231PS %s, %s, %s", br, s.bReg(v), s.acc(r, v))
			}
		}
	}
}

// genLoop writes the k loop: k/unroll unrolled iterations, then the
// k mod unroll remaining steps one at a time.
func (s spec) genLoop() {
	aStep := s.panel * 4
	bStep := s.bWidth() * 4
	p("\tMOVQ CX, BX")
	p("\tSHRQ $%d, BX", log2(s.unroll))
	p("\tJZ %s_tail", s.name)
	p("%s_loop:", s.name)
	p("\tPREFETCHT0 %d(SI)", 8*aStep)
	for u := 0; u < s.unroll; u++ {
		s.genStep(u)
	}
	p("\tADDQ $%d, SI", s.unroll*aStep)
	p("\tADDQ $%d, DI", s.unroll*bStep)
	p("\tDECQ BX")
	p("\tJNZ %s_loop", s.name)
	p("%s_tail:", s.name)
	p("\tANDQ $%d, CX", s.unroll-1)
	p("\tJZ %s_store", s.name)
	p("%s_tailloop:", s.name)
	s.genStep(0)
	p("\tADDQ $%d, SI", aStep)
	p("\tADDQ $%d, DI", bStep)
	p("\tDECQ CX")
	p("\tJNZ %s_tailloop", s.name)
}

// genStore writes the stores: C = alpha·acc + beta·C, or C = alpha·acc
// when beta is ±0 (C is then not read).
func (s spec) genStore() {
	p("%s_store:", s.name)
	alpha, beta := s.scratch(0), s.scratch(1)
	p("\tVBROADCASTSS alpha+40(FP), %s", alpha)
	p("\tMOVL beta+44(FP), AX")
	p("\tANDL $0x7fffffff, AX")
	p("\tJZ %s_store0", s.name)
	p("\tVBROADCASTSS beta+44(FP), %s", beta)
	for r := 0; r < s.mr; r++ {
		for v := 0; v < s.vecs; v++ {
			a := s.acc(r, v)
			p("\tVMULPS %s, %s, %s", alpha, a, a)
			p("\tVFMADD231PS %d(DX), %s, %s%s", v*s.vbytes, beta, s.k1(v), a)
			p("\tVMOVUPS %s, %s%d(DX)", a, s.k1(v), v*s.vbytes)
		}
		if r < s.mr-1 {
			p("\tADDQ R8, DX")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_store0:", s.name)
	for r := 0; r < s.mr; r++ {
		for v := 0; v < s.vecs; v++ {
			a := s.acc(r, v)
			p("\tVMULPS %s, %s, %s", alpha, a, a)
			p("\tVMOVUPS %s, %s%d(DX)", a, s.k1(v), v*s.vbytes)
		}
		if r < s.mr-1 {
			p("\tADDQ R8, DX")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// genDirect writes a direct AVX-512 kernel, which reads A and B where they
// are stored instead of from packed panels:
//
//	func name(k int, a *float32, as int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, mask int)
//
// computes the rows×cols tile (rows ≤ 12, cols ≤ 16·vecs)
//
//	C[r][j] = alpha·Σ_p A(r, p)·b[p·bs+j] + beta·C[r][j]
//
// with A(r, p) = a[p·as+r] (k-major: transposed A, or a packed panel) or,
// rowMajor, a[r·as+p] (A stored row by row). The last of the vecs vectors
// of B and C is masked by mask (bit j for its column j; B loads zero the
// other lanes, so no float past the columns is read). Per element the
// arithmetic is the packed kernels' exactly: one accumulator from zero,
// one FMA per p in index order, then alpha·acc + beta·C as one multiply and
// one FMA (beta ±0: alpha·acc only) — so a product does not depend on
// which of the two paths computed it.
//
// Each k step also prefetches the B row prefetchRows steps ahead (R14):
// the direct kernels serve the decoder's 20-row products, whose B is a
// weight matrix that the rest of a training step has evicted from the
// caches, and the hardware prefetcher does not follow its 512-byte row
// stride fast enough (BenchmarkSgemmCold, 20×128×128 with a cold B: 61 →
// 143 GFLOP per CPU-second on Zen 5). Prefetching past the end of B is harmless (a
// prefetch never faults). R14 is the goroutine register only in
// ABIInternal; these ABI0 functions may use it (the ABI wrapper restores it).
func genDirect(name string, rows, vecs int, rowMajor bool) {
	d := &direct{name: name, rows: rows, vecs: vecs, rowMajor: rowMajor}
	d.prologue()
	loopAndStore(name, rows, vecs, d.step, d.advance)
}

// prefetchRows is how many k steps ahead the direct kernels prefetch B (a
// power of two): 8, 16, 32 and 64 gave the training step the same GEMM
// time within noise; 16 fetches least past B's end.
const prefetchRows = 16

// direct is one direct kernel being written (genDirect): its name, its
// tile of rows × vecs 16-column vectors, and its A layout.
type direct struct {
	name       string
	rows, vecs int
	rowMajor   bool
}

// acc is the accumulator of row r, vector v; bReg holds vector v of B.
func (d *direct) acc(r, v int) string { return fmt.Sprintf("Z%d", r*2+v) }
func (d *direct) bReg(v int) string   { return fmt.Sprintf("Z%d", 24+v) }

// bAddr is the address of vector v of B at k step u of an unrolled
// iteration; aAddr that of A(r, p+u).
func (d *direct) bAddr(u, v int) string {
	idx := []string{"", "(R11*1)", "(R11*2)", "(R12*1)"}
	return fmt.Sprintf("%d(DI)%s", 64*v, idx[u])
}

func (d *direct) aAddr(u, r int) string {
	aidx := []string{"", "(R13*1)", "(R13*2)", "(AX*1)"}
	if d.rowMajor {
		base := []string{"SI", "R9", "R10"}[r/4]
		return fmt.Sprintf("%d(%s)%s", 4*u, base, aidx[r%4])
	}
	return fmt.Sprintf("%d(SI)%s", 4*r, aidx[u])
}

// prologue writes the header, loads the arguments, prefetches C, sets the
// row bases of a row-major A and zeroes the accumulators.
func (d *direct) prologue() {
	name, rows, vecs := d.name, d.rows, d.vecs
	p("// func %s(k int, a *float32, as int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, mask int)", name)
	mode := "k-major"
	if d.rowMajor {
		mode = "row-major"
	}
	p("// %d×%d tile (last vector masked), %s A, strided B.", rows, 16*vecs, mode)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVQ mask+64(FP), AX")
	p("\tKMOVW AX, K1")
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), SI")
	p("\tMOVQ as+16(FP), R13")
	p("\tSHLQ $2, R13")
	p("\tLEAQ (R13)(R13*2), AX") // 3·as bytes
	p("\tMOVQ b+24(FP), DI")
	p("\tMOVQ bs+32(FP), R11")
	p("\tSHLQ $2, R11")
	p("\tLEAQ (R11)(R11*2), R12") // 3·bs bytes
	p("\tMOVQ R11, R14")          // R14: B, prefetchRows rows ahead
	p("\tSHLQ $%d, R14", log2(prefetchRows))
	p("\tADDQ DI, R14")
	p("\tMOVQ c+40(FP), DX")
	p("\tMOVQ ldc+48(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ DX, R9")
	for r := 0; r < rows; r++ {
		for off := 0; off < vecs*64; off += 64 {
			p("\tPREFETCHT0 %d(R9)", off)
		}
		if r < rows-1 {
			p("\tADDQ R8, R9")
		}
	}
	if d.rowMajor && rows > 4 {
		p("\tLEAQ (SI)(R13*4), R9") // row 4
		if rows > 8 {
			p("\tLEAQ (R9)(R13*4), R10") // row 8
		}
	}
	for r := 0; r < rows; r++ {
		for v := 0; v < vecs; v++ {
			p("\tVPXORD %s, %s, %s", d.acc(r, v), d.acc(r, v), d.acc(r, v))
		}
	}
}

// step writes k step u: a prefetch of the B row prefetchRows ahead, the
// B vectors (the last masked), then one FMA per accumulator with A(r, p+u)
// broadcast.
func (d *direct) step(u int) {
	for v := 0; v < d.vecs; v++ {
		p("\tPREFETCHT0 %s", strings.Replace(d.bAddr(u, v), "(DI)", "(R14)", 1))
	}
	for v := 0; v < d.vecs; v++ {
		if v == d.vecs-1 {
			p("\tVMOVUPS.Z %s, K1, %s", d.bAddr(u, v), d.bReg(v))
		} else {
			p("\tVMOVUPS %s, %s", d.bAddr(u, v), d.bReg(v))
		}
	}
	for r := 0; r < d.rows; r++ {
		for v := 0; v < d.vecs; v++ {
			p("\tVFMADD231PS.BCST %s, %s, %s", d.aAddr(u, r), d.bReg(v), d.acc(r, v))
		}
	}
}

// advance moves A and B on by steps k steps (4 or 1).
func (d *direct) advance(steps int) {
	if steps == 4 {
		p("\tLEAQ (DI)(R11*4), DI")
		p("\tLEAQ (R14)(R11*4), R14")
	} else {
		p("\tADDQ R11, DI")
		p("\tADDQ R11, R14")
	}
	if d.rowMajor {
		for q := 0; q*4 < d.rows; q++ {
			p("\tADDQ $%d, %s", 4*steps, []string{"SI", "R9", "R10"}[q])
		}
	} else if steps == 4 {
		p("\tLEAQ (SI)(R13*4), SI")
	} else {
		p("\tADDQ R13, SI")
	}
}

// genOffsetB writes a direct AVX-512 kernel whose B rows are found through
// a table of offsets (row-major A as in genDirect):
//
//	func name(k int, a *float32, lda int, b *float32, offs *int, c *float32, ldc int, alpha, beta float32, mask int)
//
// computes C[r][j] = alpha·Σ_p a[r·lda+p]·b[offs[p]+j] + beta·C[r][j] for
// r < rows, j < 16·vecs (last vector masked), with the arithmetic of the
// other kernels. A convolution's B is its input shifted per kernel tap, so
// the im2col matrix never has to be written.
func genOffsetB(name string, rows, vecs int) {
	acc := func(r, v int) string { return fmt.Sprintf("Z%d", r*2+v) }
	bReg := func(v int) string { return fmt.Sprintf("Z%d", 24+v) }
	p("// func %s(k int, a *float32, lda int, b *float32, offs *int, c *float32, ldc int, alpha, beta float32, mask int)", name)
	p("// %d×%d tile (last vector masked), row-major A, B rows at b+offs[p].", rows, 16*vecs)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVQ mask+64(FP), AX")
	p("\tKMOVW AX, K1")
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), SI")
	p("\tMOVQ lda+16(FP), R13")
	p("\tSHLQ $2, R13")
	p("\tLEAQ (R13)(R13*2), AX")
	p("\tMOVQ b+24(FP), DI")
	p("\tMOVQ offs+32(FP), R11")
	p("\tMOVQ c+40(FP), DX")
	p("\tMOVQ ldc+48(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ DX, R9")
	for r := 0; r < rows; r++ {
		for off := 0; off < vecs*64; off += 64 {
			p("\tPREFETCHT0 %d(R9)", off)
		}
		if r < rows-1 {
			p("\tADDQ R8, R9")
		}
	}
	if rows > 4 {
		p("\tLEAQ (SI)(R13*4), R9")
		if rows > 8 {
			p("\tLEAQ (R9)(R13*4), R10")
		}
	}
	for r := 0; r < rows; r++ {
		for v := 0; v < vecs; v++ {
			p("\tVPXORD %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
		}
	}
	aidx := []string{"", "(R13*1)", "(R13*2)", "(AX*1)"}
	step := func(u int) {
		p("\tMOVQ %d(R11), R12", 8*u)
		for v := 0; v < vecs; v++ {
			if v == vecs-1 {
				p("\tVMOVUPS.Z %d(DI)(R12*4), K1, %s", 64*v, bReg(v))
			} else {
				p("\tVMOVUPS %d(DI)(R12*4), %s", 64*v, bReg(v))
			}
		}
		for r := 0; r < rows; r++ {
			base := []string{"SI", "R9", "R10"}[r/4]
			for v := 0; v < vecs; v++ {
				p("\tVFMADD231PS.BCST %d(%s)%s, %s, %s", 4*u, base, aidx[r%4], bReg(v), acc(r, v))
			}
		}
	}
	advance := func(steps int) {
		p("\tADDQ $%d, R11", 8*steps)
		for q := 0; q*4 < rows; q++ {
			p("\tADDQ $%d, %s", 4*steps, []string{"SI", "R9", "R10"}[q])
		}
	}
	loopAndStore(name, rows, vecs, step, advance)
}

// genTaps writes a direct AVX-512 kernel whose 9 A rows are the 3×3 taps
// of one input channel:
//
//	func name(k int, a *float32, rs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, mask int)
//
// computes C[3i+j][q] = alpha·Σ_p a[i·rs+j+p]·b[p·bs+q] + beta·C[3i+j][q]
// (i, j < 3; q < 16·vecs, last vector masked), with the arithmetic of the
// other kernels: row 3i+j of a convolution's im2col matrix, read from the
// zero-padded input plane (rows rs floats apart) instead.
func genTaps(name string, vecs int) {
	const rows = 9
	acc := func(r, v int) string { return fmt.Sprintf("Z%d", r*2+v) }
	bReg := func(v int) string { return fmt.Sprintf("Z%d", 24+v) }
	p("// func %s(k int, a *float32, rs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, mask int)", name)
	p("// 9×%d tile (last vector masked): the 3×3 taps of a padded plane against strided B.", 16*vecs)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVQ mask+64(FP), AX")
	p("\tKMOVW AX, K1")
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), SI")
	p("\tMOVQ rs+16(FP), R13")
	p("\tSHLQ $2, R13")
	p("\tMOVQ b+24(FP), DI")
	p("\tMOVQ bs+32(FP), R11")
	p("\tSHLQ $2, R11")
	p("\tLEAQ (R11)(R11*2), R12")
	p("\tMOVQ c+40(FP), DX")
	p("\tMOVQ ldc+48(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ DX, R9")
	for r := 0; r < rows; r++ {
		for off := 0; off < vecs*64; off += 64 {
			p("\tPREFETCHT0 %d(R9)", off)
		}
		if r < rows-1 {
			p("\tADDQ R8, R9")
		}
	}
	for r := 0; r < rows; r++ {
		for v := 0; v < vecs; v++ {
			p("\tVPXORD %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
		}
	}
	idx := []string{"", "(R11*1)", "(R11*2)", "(R12*1)"}
	aidx := []string{"", "(R13*1)", "(R13*2)"}
	step := func(u int) {
		for v := 0; v < vecs; v++ {
			if v == vecs-1 {
				p("\tVMOVUPS.Z %d(DI)%s, K1, %s", 64*v, idx[u], bReg(v))
			} else {
				p("\tVMOVUPS %d(DI)%s, %s", 64*v, idx[u], bReg(v))
			}
		}
		for r := 0; r < rows; r++ {
			ki, kj := r/3, r%3
			for v := 0; v < vecs; v++ {
				p("\tVFMADD231PS.BCST %d(SI)%s, %s, %s", 4*(u+kj), aidx[ki], bReg(v), acc(r, v))
			}
		}
	}
	advance := func(steps int) {
		if steps == 4 {
			p("\tLEAQ (DI)(R11*4), DI")
		} else {
			p("\tADDQ R11, DI")
		}
		p("\tADDQ $%d, SI", 4*steps)
	}
	loopAndStore(name, rows, vecs, step, advance)
}

// loopAndStore writes the k loop (unrolled by 4, then a tail loop) around
// step and advance, and the masked alpha/beta store of the accumulators
// Z0… (row r, vector v in Z(2r+v)), as genDirect does.
func loopAndStore(name string, rows, vecs int, step func(u int), advance func(steps int)) {
	acc := func(r, v int) string { return fmt.Sprintf("Z%d", r*2+v) }
	p("\tMOVQ CX, BX")
	p("\tSHRQ $2, BX")
	p("\tJZ %s_tail", name)
	p("%s_loop:", name)
	for u := 0; u < 4; u++ {
		step(u)
	}
	advance(4)
	p("\tDECQ BX")
	p("\tJNZ %s_loop", name)
	p("%s_tail:", name)
	p("\tANDQ $3, CX")
	p("\tJZ %s_store", name)
	p("%s_tailloop:", name)
	step(0)
	advance(1)
	p("\tDECQ CX")
	p("\tJNZ %s_tailloop", name)
	p("%s_store:", name)
	alpha, beta := "Z26", "Z27"
	p("\tVBROADCASTSS alpha+56(FP), %s", alpha)
	p("\tMOVL beta+60(FP), BX")
	p("\tANDL $0x7fffffff, BX")
	p("\tJZ %s_store0", name)
	p("\tVBROADCASTSS beta+60(FP), %s", beta)
	k1 := func(v int) string {
		if v == vecs-1 {
			return "K1, "
		}
		return ""
	}
	for r := 0; r < rows; r++ {
		for v := 0; v < vecs; v++ {
			a := acc(r, v)
			p("\tVMULPS %s, %s, %s", alpha, a, a)
			p("\tVFMADD231PS %d(DX), %s, %s%s", v*64, beta, k1(v), a)
			p("\tVMOVUPS %s, %s%d(DX)", a, k1(v), v*64)
		}
		if r < rows-1 {
			p("\tADDQ R8, DX")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_store0:", name)
	for r := 0; r < rows; r++ {
		for v := 0; v < vecs; v++ {
			a := acc(r, v)
			p("\tVMULPS %s, %s, %s", alpha, a, a)
			p("\tVMOVUPS %s, %s%d(DX)", a, k1(v), v*64)
		}
		if r < rows-1 {
			p("\tADDQ R8, DX")
		}
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// directName names a direct kernel.
func directName(rowMajor bool, vecs, rows int) string {
	m := "KM"
	if rowMajor {
		m = "RM"
	}
	return fmt.Sprintf("directAVX512%s%dr%d", m, vecs, rows)
}

// genTrans4 writes
//
//	func Trans4x8(dst *float32, dstStride int, src *float32, lds, n int)
//
// which transposes 4 rows of n floats (n a multiple of 8; rows lds floats
// apart at src) into n groups of 4 floats, dstStride floats apart at dst:
// dst[j·dstStride+r] = src[r·lds+j]. It packs non-transposed A and
// transposed B panels, 4 panel rows at a time, 4×8 blocks with AVX shuffles.
func genTrans4() {
	p("// func Trans4x8(dst *float32, dstStride int, src *float32, lds, n int)")
	p("TEXT ·Trans4x8(SB), NOSPLIT, $0-40")
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ dstStride+8(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tLEAQ (R8)(R8*2), R9") // 3·stride
	p("\tMOVQ src+16(FP), SI")
	p("\tMOVQ lds+24(FP), R10")
	p("\tSHLQ $2, R10")
	p("\tLEAQ (R10)(R10*2), R11") // 3·lds
	p("\tMOVQ n+32(FP), CX")
	p("\tSHRQ $3, CX")
	p("\tJZ Trans4x8_done")
	p("Trans4x8_loop:")
	p("\tVMOVUPS (SI), Y0")
	p("\tVMOVUPS (SI)(R10*1), Y1")
	p("\tVMOVUPS (SI)(R10*2), Y2")
	p("\tVMOVUPS (SI)(R11*1), Y3")
	p("\tVUNPCKLPS Y1, Y0, Y4") // r0c0 r1c0 r0c1 r1c1 | c4 c5
	p("\tVUNPCKHPS Y1, Y0, Y5") // c2 c3 | c6 c7
	p("\tVUNPCKLPS Y3, Y2, Y6")
	p("\tVUNPCKHPS Y3, Y2, Y7")
	p("\tVUNPCKLPD Y6, Y4, Y0") // col0 | col4
	p("\tVUNPCKHPD Y6, Y4, Y1") // col1 | col5
	p("\tVUNPCKLPD Y7, Y5, Y2") // col2 | col6
	p("\tVUNPCKHPD Y7, Y5, Y3") // col3 | col7
	p("\tVMOVUPS X0, (DI)")
	p("\tVMOVUPS X1, (DI)(R8*1)")
	p("\tVMOVUPS X2, (DI)(R8*2)")
	p("\tVMOVUPS X3, (DI)(R9*1)")
	p("\tLEAQ (DI)(R8*4), DI")
	p("\tVEXTRACTF128 $1, Y0, (DI)")
	p("\tVEXTRACTF128 $1, Y1, (DI)(R8*1)")
	p("\tVEXTRACTF128 $1, Y2, (DI)(R8*2)")
	p("\tVEXTRACTF128 $1, Y3, (DI)(R9*1)")
	p("\tLEAQ (DI)(R8*4), DI")
	p("\tADDQ $32, SI")
	p("\tDECQ CX")
	p("\tJNZ Trans4x8_loop")
	p("Trans4x8_done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// genCopy writes
//
//	func CopyRowsW(dst, src *float32, lds, n int)
//
// which copies n rows of W floats, lds floats apart at src, densely to dst
// (row r at dst[r·W:]). It packs non-transposed B and transposed A panels.
func genCopy(w int) {
	name := fmt.Sprintf("CopyRows%d", w)
	p("// func %s(dst, src *float32, lds, n int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-32", name)
	p("\tMOVQ dst+0(FP), DI")
	p("\tMOVQ src+8(FP), SI")
	p("\tMOVQ lds+16(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ n+24(FP), CX")
	p("\tTESTQ CX, CX")
	p("\tJZ %s_done", name)
	p("%s_loop:", name)
	off, reg := 0, 0
	type mv struct {
		ins, r string
		sz     int
	}
	var moves []mv
	for rem := w * 4; rem > 0; {
		switch {
		case rem >= 32:
			moves = append(moves, mv{"VMOVUPS", fmt.Sprintf("Y%d", reg), 32})
		case rem >= 16:
			moves = append(moves, mv{"VMOVUPS", fmt.Sprintf("X%d", reg), 16})
		case rem >= 8:
			moves = append(moves, mv{"MOVQ", []string{"AX", "BX"}[reg%2], 8})
		default:
			log.Fatalf("copy width %d not a multiple of 2", w)
		}
		rem -= moves[len(moves)-1].sz
		reg++
	}
	for _, m := range moves {
		p("\t%s %d(SI), %s", m.ins, off, m.r)
		off += m.sz
	}
	off = 0
	for _, m := range moves {
		p("\t%s %s, %d(DI)", m.ins, m.r, off)
		off += m.sz
	}
	p("\tADDQ R8, SI")
	p("\tADDQ $%d, DI", w*4)
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_done:", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

func log2(n int) int {
	l := 0
	for 1<<l < n {
		l++
	}
	if 1<<l != n {
		log.Fatalf("unroll %d is not a power of two", n)
	}
	return l
}

// copyWidths are the panel widths with a CopyRows helper: both kernels' mr
// and nr.
var copyWidths = []int{6, 12, 16, 32}

func main() {
	p("// Code generated by gen_amd64.go; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	// One kernel per row count, so that the last row tile of a block
	// computes only the rows it has.
	for r := 1; r <= 6; r++ {
		spec{name: fmt.Sprintf("kernelAVX2r%d", r), mr: r, panel: 6, vecs: 2, reg: "Y", vbytes: 32, unroll: 4}.gen()
	}
	for r := 1; r <= 12; r++ {
		spec{name: fmt.Sprintf("kernelAVX512r%d", r), mr: r, panel: 12, vecs: 2, reg: "Z", vbytes: 64, unroll: 4, bcst: true}.gen()
	}
	// Column edges: 1 or 2 vectors of a 32-wide B panel, the last masked.
	for v := 1; v <= 2; v++ {
		for r := 1; r <= 12; r++ {
			spec{name: fmt.Sprintf("kernelAVX512m%dr%d", v, r), mr: r, panel: 12, vecs: v, reg: "Z", vbytes: 64, unroll: 4, bcst: true, bstride: 32, masked: true}.gen()
		}
	}
	for _, rm := range []bool{false, true} {
		for v := 1; v <= 2; v++ {
			for r := 1; r <= 12; r++ {
				genDirect(directName(rm, v, r), r, v, rm)
			}
		}
	}
	for v := 1; v <= 2; v++ {
		for r := 1; r <= 12; r++ {
			genOffsetB(fmt.Sprintf("offsetBAVX512%dr%d", v, r), r, v)
		}
		genTaps(fmt.Sprintf("taps3x3AVX512%d", v), v)
	}
	genTrans4()
	for _, w := range copyWidths {
		genCopy(w)
	}
	if err := os.WriteFile("kernel_amd64.s", out.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	genDecls()
}

// genDecls writes decl_amd64.go, the Go declarations of the functions above
// and the tables of kernels by row count.
func genDecls() {
	var d bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&d, format+"\n", args...) }
	w("// Code generated by gen_amd64.go; DO NOT EDIT.")
	w("")
	w("//go:build amd64 && !purego")
	w("")
	w("package asm")
	w("")
	declTiles(w)
	declMasked(w)
	declDirect(w)
	declOffsetTaps(w)
	declHelpers(w)
	src, err := format.Source(d.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("decl_amd64.go", src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// declTiles declares the packed kernels and their AVX2Tiles and AVX512Tiles tables.
func declTiles(w func(format string, args ...any)) {
	tables := []struct {
		name, doc string
		isa       string
		rows      int
	}{
		{"AVX2Tiles", "6×16 tile (AVX2+FMA, ymm)", "AVX2", 6},
		{"AVX512Tiles", "12×32 tile (AVX-512F, zmm)", "AVX512", 12},
	}
	for _, t := range tables {
		for r := 1; r <= t.rows; r++ {
			w("//go:noescape")
			w("func kernel%sr%d(k int, a, b, c *float32, ldc int, alpha, beta float32)", t.isa, r)
			w("")
		}
		w("// %s[r] computes the first r rows of a %s; see Tile.", t.name, t.doc)
		w("var %s = [...]Tile{", t.name)
		w("nil,")
		for r := 1; r <= t.rows; r++ {
			w("kernel%sr%d,", t.isa, r)
		}
		w("}")
		w("")
	}
}

// declMasked declares the masked-column AVX-512 kernels and their AVX512Masked tables.
func declMasked(w func(format string, args ...any)) {
	for v := 1; v <= 2; v++ {
		for r := 1; r <= 12; r++ {
			w("//go:noescape")
			w("func kernelAVX512m%dr%d(k int, a, b, c *float32, ldc int, alpha, beta float32, mask int)", v, r)
			w("")
		}
		w("// AVX512Masked%d[r] computes the first r rows and the first %d columns of a", v, 16*(v-1))
		w("// 12×32 tile plus the columns of the next 16 whose bit is set in mask; see")
		w("// MaskedTile.")
		w("var AVX512Masked%d = [...]MaskedTile{", v)
		w("nil,")
		for r := 1; r <= 12; r++ {
			w("kernelAVX512m%dr%d,", v, r)
		}
		w("}")
		w("")
	}
}

// declDirect declares the direct kernels (A and B read in place) and their DirectKM and DirectRM tables.
func declDirect(w func(format string, args ...any)) {
	for _, rm := range []bool{false, true} {
		for v := 1; v <= 2; v++ {
			for r := 1; r <= 12; r++ {
				w("//go:noescape")
				w("func %s(k int, a *float32, as int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, mask int)", directName(rm, v, r))
				w("")
			}
		}
	}
	for _, rm := range []bool{false, true} {
		mode, tab := "k-major A (A(r, p) = a[p·as+r])", "DirectKM"
		if rm {
			mode, tab = "row-major A (A(r, p) = a[r·as+p])", "DirectRM"
		}
		w("// %s[v][r] computes the first r rows of a tile of v 16-column vectors", tab)
		w("// (the last masked) from %s and B where they are", mode)
		w("// stored; see DirectTile.")
		w("var %s = [3][13]DirectTile{", tab)
		w("{},")
		for v := 1; v <= 2; v++ {
			w("{nil,")
			for r := 1; r <= 12; r++ {
				w("%s,", directName(rm, v, r))
			}
			w("},")
		}
		w("}")
		w("")
	}
}

// declOffsetTaps declares the offset-table and 3×3-tap kernels and their OffsetB and Taps3x3 tables.
func declOffsetTaps(w func(format string, args ...any)) {
	for v := 1; v <= 2; v++ {
		for r := 1; r <= 12; r++ {
			w("//go:noescape")
			w("func offsetBAVX512%dr%d(k int, a *float32, lda int, b *float32, offs *int, c *float32, ldc int, alpha, beta float32, mask int)", v, r)
			w("")
		}
		w("//go:noescape")
		w("func taps3x3AVX512%d(k int, a *float32, rs int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, mask int)", v)
		w("")
	}
	w("// OffsetB[v][r] computes the first r rows of a tile of v 16-column vectors")
	w("// (the last masked) from row-major A and B rows found through a table of")
	w("// offsets; see OffsetBTile.")
	w("var OffsetB = [3][13]OffsetBTile{")
	w("{},")
	for v := 1; v <= 2; v++ {
		w("{nil,")
		for r := 1; r <= 12; r++ {
			w("offsetBAVX512%dr%d,", v, r)
		}
		w("},")
	}
	w("}")
	w("")
	w("// Taps3x3[v] computes the 9 rows of a tile of v 16-column vectors whose A")
	w("// rows are the 3×3 taps of one padded input plane; see TapsTile.")
	w("var Taps3x3 = [3]DirectTile{nil, taps3x3AVX5121, taps3x3AVX5122}")
	w("")
}

// declHelpers declares the transpose and row-copy helpers.
func declHelpers(w func(format string, args ...any)) {
	w("// Trans4x8 sets dst[j·dstStride+r] = src[r·lds+j] for r < 4 and j < n,")
	w("// n a multiple of 8 (4×8 blocks transposed with AVX shuffles).")
	w("//")
	w("//go:noescape")
	w("func Trans4x8(dst *float32, dstStride int, src *float32, lds, n int)")
	w("")
	for _, c := range copyWidths {
		w("// CopyRows%d copies n rows of %d floats, lds floats apart at src, densely to dst.", c, c)
		w("//")
		w("//go:noescape")
		w("func CopyRows%d(dst, src *float32, lds, n int)", c)
		w("")
	}
}
