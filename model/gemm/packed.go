package gemm

import (
	"runtime"
	"sync"
	"unsafe"
)

// kernel is one micro-kernel with the block sizes the driver uses with it.
type kernel struct {
	name   string
	mr, nr int // tile: mr rows of C (broadcast from A) × nr columns (vectors of B)
	// Block limits. The driver splits k into near-equal blocks of at most
	// kc, m into blocks of at most mc rows and n into blocks of at most nc
	// columns (both rounded to the tile). A packed B block (kc×nc) is meant
	// to sit in L2, a packed A micro-panel (mr×kc) in L1.
	kc, mc, nc int
	// tile computes the rows×nr tile (1 ≤ rows ≤ mr)
	//	C[r][j] = alpha·Σ_p a[p·mr+r]·b[p·nr+j] + beta·C[r][j]
	// over p < k, with C[r][j] at c[r·ldc+j]; beta == 0 means C is only
	// written. The sum over p runs in index order.
	tile func(rows, k int, a, b, c []float32, ldc int, alpha, beta float32)
	// edge, when set, computes a rows×cols tile with cols < nr in place
	// (same contract, C touched only in its first cols columns). Without
	// it, such tiles are computed into a scratch tile and merged.
	edge func(rows, cols, k int, a, b, c []float32, ldc int, alpha, beta float32)
	// pack holds assembly packing helpers; nil means the Go loops.
	pack *packFuncs
	// direct, when set (AVX-512), computes a rows×cols tile (rows ≤ mr,
	// cols ≤ nr) of k steps from operands where they are stored:
	//	C[r][j] = alpha·Σ_p A(r, p)·b[p·bs+j] + beta·C[r][j]
	// with A(r, p) = a[r·as+p] if rowMajor, else a[p·as+r], with the
	// arithmetic of tile element by element (same bits).
	direct func(rows, cols, k int, a []float32, rowMajor bool, as int, b []float32, bs int, c []float32, ldc int, alpha, beta float32)
	// offsetB, when set, is direct with row-major A (rows lda apart) and
	// B row p at b[offs[p]:] (SgemmOffsetB).
	// The offsets of the k steps lie in [0, maxOff].
	offsetB func(rows, cols, k int, a []float32, lda int, b []float32, offs []int, maxOff int, c []float32, ldc int, alpha, beta float32)
	// taps, when set, computes a 9×cols tile whose A rows are the 3×3
	// taps of a padded plane with rows rs apart, A(3i+j, p) = a[i·rs+j+p],
	// against B row p at b[p·bs:] (SgemmTaps3x3).
	taps func(cols, k int, a []float32, rs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32)
}

// packFuncs are vectorised packing helpers (kernel_amd64.go).
type packFuncs struct {
	// trans4 sets dst[j·ds+r] = src[r·lds+j] for r < 4, j < n, n a
	// multiple of 8.
	trans4 func(dst []float32, ds int, src []float32, lds, n int)
	// copyRows copies n rows of w floats, lds apart in src, densely into
	// dst. It reports false (doing nothing) for an unsupported w.
	copyRows func(dst, src []float32, w, lds, n int) bool
}

// packed is the Goto/BLIS-style blocked SGEMM around one micro-kernel.
type packed struct {
	k *kernel
	// mode forces a path for tests and benchmarks: 0 chooses (useDirect),
	// packOnly always packs, directAlways takes the direct path whenever
	// the kernel has one.
	mode int
}

const (
	packOnly = 1 + iota
	directAlways
)

// The registered "asm" implementation uses the best kernel for this CPU
// (see selectKernel in kernel_*.go).
var asmImpl = packed{k: selectKernel()}

func init() { Register(asmImpl, 20) }

// KernelName reports the micro-kernel the "asm" implementation runs on this
// machine: "avx512-12x32", "avx2-6x16" or "go-4x2" (the pure-Go fallback,
// used without AVX2+FMA, on other architectures and with the purego tag).
func KernelName() string { return asmImpl.k.name }

func (packed) Name() string { return "asm" }

// Describe names the implementation in use and, for "asm", its
// micro-kernel ("asm/avx512-12x32"): the results of a computation are
// bit-identical between machines that Describe the same.
func Describe() string {
	name := Current().Name()
	if name == asmImpl.Name() {
		return name + "/" + KernelName()
	}
	return name
}

// workspace holds the packing buffers of one Sgemm call.
type workspace struct {
	aBuf, bBuf []float32        // backing stores; a and b are 64-byte aligned views
	accBuf     []float32        // amx-bf16: one strip of results
	tmp        []float32        // one edge tile
	tab        []unsafe.Pointer // amx-bf16: B's k steps as AMXStrip reads them
	atab       []unsafe.Pointer // amx-bf16: A's strips as AMXStrip reads them
	offs       []int            // SgemmConv3x3's tap offsets where it falls back
}

// Workspaces are recycled through a free list, so a call allocates nothing
// once a big enough one is free, and concurrent calls never share buffers.
// Unlike a sync.Pool, the list survives garbage collections (a training
// loop collects often, and the buffers are megabytes). It keeps at most
// maxFree workspaces, enough for one call per core and then some.
var freeWorkspaces struct {
	sync.Mutex
	list []*workspace
}

var maxFree = max(8, 2*runtime.NumCPU())

func getWorkspace() *workspace {
	f := &freeWorkspaces
	f.Lock()
	defer f.Unlock()
	if n := len(f.list); n > 0 {
		ws := f.list[n-1]
		f.list[n-1] = nil
		f.list = f.list[:n-1]
		return ws
	}
	return new(workspace)
}

func putWorkspace(ws *workspace) {
	f := &freeWorkspaces
	f.Lock()
	defer f.Unlock()
	if len(f.list) < maxFree {
		f.list = append(f.list, ws)
	}
}

// aligned returns an n-float slice of *buf starting on a 64-byte boundary,
// growing *buf when needed.
func aligned(buf *[]float32, n int) []float32 {
	if cap(*buf) < n+16 {
		*buf = make([]float32, n+16)
	}
	s := (*buf)[:cap(*buf)]
	off := 0
	if mis := int(uintptr(unsafe.Pointer(&s[0])) & 63); mis != 0 {
		off = (64 - mis) / 4
	}
	return s[off : off+n : off+n]
}

// blockLen splits total into the fewest blocks of at most maxLen, makes them
// as even as possible and rounds the block length up to a multiple of align.
// It depends only on its arguments, so the blocking (and with it the order of
// the floating-point additions) depends only on m, n and k.
func blockLen(total, maxLen, align int) int {
	nb := (total + maxLen - 1) / maxLen
	l := (total + nb - 1) / nb
	return (l + align - 1) / align * align
}

func (p packed) Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(tA, tB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c))
	if nothingToMultiply(m, n, k, alpha, beta, c, ldc) {
		return
	}
	kr := p.k
	if kr.direct != nil && (p.mode == directAlways || p.mode == 0 && useDirect(tA, m, n, k, lda, kr.kc)) {
		p.direct(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	mr, nr := kr.mr, kr.nr
	kcb := blockLen(k, kr.kc, 1)
	mcb := blockLen(m, kr.mc, mr)
	ncb := blockLen(n, kr.nc, nr)

	ws := getWorkspace()
	ap := aligned(&ws.aBuf, mcb*kcb)
	bp := aligned(&ws.bBuf, ncb*kcb)
	if len(ws.tmp) < mr*nr {
		ws.tmp = make([]float32, mr*nr)
	}
	tmp := ws.tmp[:mr*nr]

	for ic := 0; ic < m; ic += mcb {
		mc := min(mcb, m-ic)
		for pc := 0; pc < k; pc += kcb {
			kc := min(kcb, k-pc)
			packA(kr.pack, tA, a, lda, ic, pc, mc, kc, mr, ap)
			// The first k block applies beta; later ones accumulate.
			bet := beta
			if pc > 0 {
				bet = 1
			}
			for jc := 0; jc < n; jc += ncb {
				nc := min(ncb, n-jc)
				packB(kr.pack, tB, b, ldb, pc, jc, kc, nc, nr, bp)
				macroKernel(kr, mc, nc, kc, alpha, ap, bp, bet, c[ic*ldc+jc:], ldc, tmp)
			}
		}
	}
	putWorkspace(ws)
}

// useDirect reports whether the direct path is the faster one for a
// product, a rule fitted to BenchmarkSgemm's asm-packonly and asm-direct
// variants on Zen 5 (the model's shapes): packing pays when a B block of
// more than 64K floats (256 KB) is read by many row tiles, and when a
// transposed A with rows a page or more apart (lda ≥ 512) is read by more
// than two column tiles; everywhere else (the decoder's 20-row products,
// the convolutions of small maps, narrow outputs) packing costs more than
// the multiply it feeds.
func useDirect(tA bool, m, n, k, lda, kc int) bool {
	return n*min(k, kc) <= 1<<16 && !(tA && lda >= 512 && n > 64)
}

// direct is Sgemm without packing A, and without packing B unless it is
// transposed: the direct kernel reads them where they are stored. k is
// split into the same blocks as in the packed path and each C element
// gets the same sequence of operations (see kernel.direct), so the two
// paths compute the same bits; only the memory traffic differs.
func (p packed) direct(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	kr := p.k
	mr, nr := kr.mr, kr.nr
	kcb := blockLen(k, kr.kc, 1)
	var ws *workspace
	var bp []float32
	if tB {
		ws = getWorkspace()
		bp = aligned(&ws.bBuf, (n+nr-1)/nr*nr*kcb)
	}
	for pc := 0; pc < k; pc += kcb {
		kc := min(kcb, k-pc)
		bet := beta
		if pc > 0 {
			bet = 1
		}
		if tB {
			packB(kr.pack, tB, b, ldb, pc, 0, kc, n, nr, bp)
		}
		for ir := 0; ir < m; ir += mr {
			rows := min(mr, m-ir)
			var aa []float32
			as := lda
			if tA {
				aa = a[pc*lda+ir:] // A(r, p) = a[(pc+p)·lda + ir+r]
			} else {
				aa = a[ir*lda+pc:] // A(r, p) = a[(ir+r)·lda + pc+p]
			}
			for jr := 0; jr < n; jr += nr {
				cols := min(nr, n-jr)
				var bb []float32
				bs := ldb
				if tB {
					bb, bs = bp[jr*kc:], nr
				} else {
					bb = b[pc*ldb+jr:]
				}
				kr.direct(rows, cols, kc, aa, !tA, as, bb, bs, c[ir*ldc+jr:], ldc, alpha, bet)
			}
		}
	}
	if ws != nil {
		putWorkspace(ws)
	}
}

// macroKernel multiplies a packed mc×kc block of A by a packed kc×nc block of
// B into the mc×nc block of C at c. Tiles go straight to C (the kernels
// handle short row tiles, and kernels with an edge function narrow ones);
// other tiles narrower than nr are computed into tmp and merged.
func macroKernel(kr *kernel, mc, nc, kc int, alpha float32, ap, bp []float32, beta float32, c []float32, ldc int, tmp []float32) {
	mr, nr := kr.mr, kr.nr
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		a := ap[ir*kc : (ir+mr)*kc]
		for jr := 0; jr < nc; jr += nr {
			cols := min(nr, nc-jr)
			b := bp[jr*kc : (jr+nr)*kc]
			cc := c[ir*ldc+jr:]
			if cols == nr {
				kr.tile(rows, kc, a, b, cc, ldc, alpha, beta)
				continue
			}
			if kr.edge != nil {
				kr.edge(rows, cols, kc, a, b, cc, ldc, alpha, beta)
				continue
			}
			kr.tile(rows, kc, a, b, tmp, nr, alpha, 0)
			for r := 0; r < rows; r++ {
				t := tmp[r*nr : r*nr+cols]
				cr := cc[r*ldc : r*ldc+cols]
				if beta == 0 {
					copy(cr, t)
					continue
				}
				for j, v := range t {
					cr[j] = beta*cr[j] + v
				}
			}
		}
	}
}

// packA packs op(A)[i0:i0+mc, p0:p0+kc] into dst as ceil(mc/mr) micro-panels
// of mr×kc, each stored k-major (mr values per k step), rows past mc zero.
func packA(pf *packFuncs, tA bool, a []float32, lda, i0, p0, mc, kc, mr int, dst []float32) {
	if tA {
		// Stored A is k×m: each k step is a contiguous run of rows.
		packCopy(pf, dst, mr, a[p0*lda+i0:], lda, kc, mc)
		return
	}
	// Stored A is m×k: transpose rows into the k-major panels.
	for ir := 0; ir < mc; ir += mr {
		transposeInto(pf, dst[ir*kc:(ir+mr)*kc], mr, a[(i0+ir)*lda+p0:], lda, min(mr, mc-ir), kc)
	}
}

// packB packs op(B)[p0:p0+kc, j0:j0+nc] into dst as ceil(nc/nr) micro-panels
// of kc×nr, each stored k-major (nr values per k step), columns past nc zero.
func packB(pf *packFuncs, tB bool, b []float32, ldb, p0, j0, kc, nc, nr int, dst []float32) {
	if !tB {
		// Stored B is k×n: each k step is a contiguous run of columns.
		packCopy(pf, dst, nr, b[p0*ldb+j0:], ldb, kc, nc)
		return
	}
	// Stored B is n×k: transpose rows of the stored matrix.
	for jr := 0; jr < nc; jr += nr {
		transposeInto(pf, dst[jr*kc:(jr+nr)*kc], nr, b[(j0+jr)*ldb+p0:], ldb, min(nr, nc-jr), kc)
	}
}

// packChunk is the number of source rows packCopy copies into every panel
// before moving on: the source is read in runs along its rows (friendly to
// the hardware prefetchers) rather than panel by panel down the column.
const packChunk = 16

// packCopy packs the rows×cols block at src (rows lds apart) into
// ceil(cols/w) panels of rows×w, panel q at dst[q·w·rows:], each stored
// row by row, columns past cols zero.
func packCopy(pf *packFuncs, dst []float32, w int, src []float32, lds, rows, cols int) {
	for p0 := 0; p0 < rows; p0 += packChunk {
		pn := min(packChunk, rows-p0)
		for q := 0; q < cols; q += w {
			copyInto(pf, dst[q*rows+p0*w:q*rows+(p0+pn)*w], w, src[p0*lds+q:], lds, pn, min(w, cols-q))
		}
	}
}

// copyInto sets d[p·w+j] = src[p·lds+j] for p < rows, j < cols ≤ w, and
// zeroes d[p·w+j] for cols ≤ j < w.
func copyInto(pf *packFuncs, d []float32, w int, src []float32, lds, rows, cols int) {
	if cols == w && pf != nil && pf.copyRows(d, src, w, lds, rows) {
		return
	}
	for p := 0; p < rows; p++ {
		dp := d[p*w : p*w+w]
		sp := src[p*lds : p*lds+cols]
		if w <= 8 {
			// Narrow panels (the Go kernel's): a loop beats a memmove call.
			//lint:ignore S1001 measured faster than copy for w ≤ 8
			for j, v := range sp {
				dp[j] = v
			}
		} else {
			copy(dp, sp)
		}
		clear(dp[cols:])
	}
}

// transposeInto sets d[j·w+r] = src[r·lds+j] for r < rows ≤ w, j < cols,
// and zeroes d[j·w+r] for rows ≤ r < w.
func transposeInto(pf *packFuncs, d []float32, w int, src []float32, lds, rows, cols int) {
	r := 0
	if pf != nil {
		if c8 := cols &^ 7; c8 > 0 {
			for ; r+4 <= rows; r += 4 {
				pf.trans4(d[r:], w, src[r*lds:], lds, c8)
			}
			// The last columns of the rows done above.
			for rr := 0; rr < r; rr++ {
				s := src[rr*lds : rr*lds+cols]
				for j := c8; j < cols; j++ {
					d[j*w+rr] = s[j]
				}
			}
		}
	}
	for ; r < rows; r++ {
		s := src[r*lds : r*lds+cols]
		dr := d[r:]
		for j, v := range s {
			dr[j*w] = v
		}
	}
	if rows < w {
		for j := 0; j < cols; j++ {
			clear(d[j*w+rows : j*w+w])
		}
	}
}
