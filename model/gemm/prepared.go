package gemm

import (
	"fmt"
	"sync"
)

// Prepared is the right operand op(B) (k×n) of several products, converted
// once the way the current implementation reads it: the decoder multiplies
// each image's mask features by every stage's mask embeddings, and its
// backward multiplies every stage's gradient by their transpose.
// SgemmPrepared(tA, m, alpha, a, lda, p, beta, c, ldc) gives exactly the
// bits of Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
// without converting B again. Only implementations that convert B before
// multiplying ("amx-bf16") prepare it; with the others Prepare returns nil
// and callers call Sgemm.
//
// B must not change while its Prepared is in use. Release returns the
// buffer for reuse, or a caller that prepares the same operand again (a
// weight, step after step) passes the old Prepared to Prepare.
//
// A Prepared made by PrepareLeft holds a left operand instead: a
// convolution kernel multiplying image after image (SgemmConv3x3Prepared).
type Prepared struct {
	tB      bool
	left    bool // a left operand A (m×k, stored in b with rows ldb apart)
	m, k, n int
	b       []float32
	ldb     int
	impl    Impl // the implementation that converted the operand
	buf     []float32
	pairs   []uint32 // op(B) as impl reads it
	stride  int      // dwords between rows of pairs
	rows    []uint16 // A as impl reads it
}

// preparer is an implementation that can keep its conversion of B.
type preparer interface {
	// prepareB converts p's B into p.buf (setting pairs and stride) and
	// reports true, or reports false when its Sgemm would not convert B
	// for these n and k.
	prepareB(p *Prepared) bool
	// prepareA converts p's left operand into p.buf (setting rows) and
	// reports true, or reports false when it would not convert it.
	prepareA(p *Prepared) bool
	// sgemmPrepared is Sgemm with B converted by prepareB; with bias
	// non-nil (alpha and beta 1) C's rows are taken to hold bias.
	sgemmPrepared(tA bool, m int, alpha float32, a []float32, lda int, p *Prepared, beta float32, c []float32, ldc int, bias []float32)
}

var freePrepared struct {
	sync.Mutex
	list []*Prepared
}

// Prepare converts op(B), B stored k×n (n×k when tB) with rows ldb apart,
// for SgemmPrepared, or returns nil when the current implementation would
// not convert it (every FP32 implementation; amx-bf16 for products it
// leaves to FP32 kernels). With reuse non-nil, its buffer is used (reuse
// is then invalid unless returned); else one from Release's free list.
func Prepare(reuse *Prepared, tB bool, k, n int, b []float32, ldb int) *Prepared {
	checkSgemm(false, tB, 0, n, k, max(k, 1), ldb, max(n, 1), 0, len(b), 0)
	im := Current()
	pr, ok := im.(preparer)
	if !ok {
		return nil
	}
	p := reuseOrFree(reuse)
	*p = Prepared{tB: tB, k: k, n: n, b: b, ldb: ldb, impl: im, buf: p.buf}
	if !pr.prepareB(p) {
		p.Release()
		return nil
	}
	return p
}

// PrepareLeft converts A, stored m×k with rows lda apart, as the current
// implementation converts a left operand, for SgemmConv3x3Prepared, or
// returns nil when it does not convert operands (every FP32
// implementation). reuse is as for Prepare.
func PrepareLeft(reuse *Prepared, m, k int, a []float32, lda int) *Prepared {
	if m < 1 || k < 1 || lda < k || len(a) < (m-1)*lda+k {
		panic(fmt.Sprintf("gemm: PrepareLeft: bad arguments m=%d k=%d lda=%d len(a)=%d", m, k, lda, len(a)))
	}
	im := Current()
	pr, ok := im.(preparer)
	if !ok {
		return nil
	}
	p := reuseOrFree(reuse)
	*p = Prepared{left: true, m: m, k: k, b: a, ldb: lda, impl: im, buf: p.buf}
	if !pr.prepareA(p) {
		p.Release()
		return nil
	}
	return p
}

// reuseOrFree returns reuse, or else a Prepared from Release's free list
// or a new one.
func reuseOrFree(reuse *Prepared) *Prepared {
	if reuse != nil {
		return reuse
	}
	f := &freePrepared
	f.Lock()
	defer f.Unlock()
	if n := len(f.list); n > 0 {
		p := f.list[n-1]
		f.list = f.list[:n-1]
		return p
	}
	return new(Prepared)
}

// SgemmPrepared computes C = alpha·op(A)·op(B) + beta·C with op(B) the
// operand p holds (m×n C, op(A) m×k), bit for bit as Sgemm would. If the
// implementation has changed since Prepare, it calls Sgemm with the
// original B.
func SgemmPrepared(tA bool, m int, alpha float32, a []float32, lda int, p *Prepared, beta float32, c []float32, ldc int) {
	sgemmPrepared(tA, m, alpha, a, lda, p, beta, c, ldc, nil)
}

// SgemmPreparedBias computes C = op(A)·op(B) + bias, bias (n) added to
// every row, with the bits of SgemmPrepared(tA, m, 1, a, lda, p, 1, c,
// ldc) on a C whose rows were all set to bias: a linear layer's forward.
// C is only written. An implementation that starts its sums from C takes
// them from bias instead (amx-bf16's tile loads), saving the pass that
// fills C.
func SgemmPreparedBias(tA bool, m int, a []float32, lda int, p *Prepared, bias, c []float32, ldc int) {
	if len(bias) != p.n {
		panic(fmt.Sprintf("gemm: SgemmPreparedBias: bias has %d elements for n=%d", len(bias), p.n))
	}
	sgemmPrepared(tA, m, 1, a, lda, p, 1, c, ldc, bias)
}

func sgemmPrepared(tA bool, m int, alpha float32, a []float32, lda int, p *Prepared, beta float32, c []float32, ldc int, bias []float32) {
	if p.left {
		panic("gemm: SgemmPrepared with a left operand (PrepareLeft)")
	}
	if Current() == p.impl {
		if pr, ok := p.impl.(preparer); ok {
			pr.sgemmPrepared(tA, m, alpha, a, lda, p, beta, c, ldc, bias)
			return
		}
	}
	if bias != nil && p.n > 0 {
		checkSgemm(tA, p.tB, m, p.n, p.k, lda, p.ldb, ldc, len(a), len(p.b), len(c))
		fillRows(c, ldc, m, bias)
	}
	Sgemm(tA, p.tB, m, p.n, p.k, alpha, a, lda, p.b, p.ldb, beta, c, ldc)
}

// fillRows sets rows rows of c, ldc apart, to row.
func fillRows(c []float32, ldc, rows int, row []float32) {
	for r := 0; r < rows; r++ {
		copy(c[r*ldc:r*ldc+len(row)], row)
	}
}

// Release returns p's buffer for reuse; p must not be used afterwards.
func (p *Prepared) Release() {
	*p = Prepared{buf: p.buf}
	f := &freePrepared
	f.Lock()
	if len(f.list) < 64 {
		f.list = append(f.list, p)
	}
	f.Unlock()
}
