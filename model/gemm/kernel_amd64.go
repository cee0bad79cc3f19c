//go:build amd64 && !purego

package gemm

import (
	"github.com/mpanalyze/mpanalyze/model/gemm/internal/asm"
	"golang.org/x/sys/cpu"
)

// avxPack are the AVX packing helpers (AVX2 machines and up have AVX).
var avxPack = packFuncs{
	trans4: func(dst []float32, ds int, src []float32, lds, n int) {
		if n <= 0 || n%8 != 0 || ds < 4 || lds < n || len(dst) < (n-1)*ds+4 || len(src) < 3*lds+n {
			panic("gemm: bad Trans4x8 arguments")
		}
		asm.Trans4x8(&dst[0], ds, &src[0], lds, n)
	},
	copyRows: func(dst, src []float32, w, lds, n int) bool {
		if n <= 0 {
			return true
		}
		if lds < w || len(dst) < n*w || len(src) < (n-1)*lds+w {
			panic("gemm: bad copyRows arguments")
		}
		switch w {
		case 6:
			asm.CopyRows6(&dst[0], &src[0], lds, n)
		case 12:
			asm.CopyRows12(&dst[0], &src[0], lds, n)
		case 16:
			asm.CopyRows16(&dst[0], &src[0], lds, n)
		case 32:
			asm.CopyRows32(&dst[0], &src[0], lds, n)
		default:
			return false
		}
		return true
	},
}

// checkTile panics unless a and b hold k steps of an mr-row A panel and an
// nr-column B panel and c a rows×cols tile with row stride ldc ≥ cols. It
// keeps the assembly memory-safe whatever the driver passes.
func checkTile(rows, cols, k, mr, nr int, a, b, c []float32, ldc int) {
	if rows < 1 || rows > mr || cols < 1 || cols > nr || k < 1 || len(a) < k*mr || len(b) < k*nr || ldc < cols || len(c) < (rows-1)*ldc+cols {
		panic("gemm: micro-kernel called on a short panel or tile")
	}
}

var avx2Kernel = kernel{
	name: "avx2-6x16",
	mr:   6, nr: 16,
	kc: 384, mc: 1536, nc: 384,
	tile: func(rows, k int, a, b, c []float32, ldc int, alpha, beta float32) {
		checkTile(rows, 16, k, 6, 16, a, b, c, ldc)
		asm.AVX2Tiles[rows](k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
	pack: &avxPack,
}

var avx512Kernel = kernel{
	name: "avx512-12x32",
	mr:   12, nr: 32,
	kc: 384, mc: 1536, nc: 384,
	tile: func(rows, k int, a, b, c []float32, ldc int, alpha, beta float32) {
		checkTile(rows, 32, k, 12, 32, a, b, c, ldc)
		asm.AVX512Tiles[rows](k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
	edge: func(rows, cols, k int, a, b, c []float32, ldc int, alpha, beta float32) {
		checkTile(rows, cols, k, 12, 32, a, b, c, ldc)
		if cols > 16 {
			asm.AVX512Masked2[rows](k, &a[0], &b[0], &c[0], ldc, alpha, beta, 1<<(cols-16)-1)
		} else {
			asm.AVX512Masked1[rows](k, &a[0], &b[0], &c[0], ldc, alpha, beta, 1<<cols-1)
		}
	},
	pack:    &avxPack,
	direct:  directAVX512,
	offsetB: offsetBAVX512,
	taps:    taps3x3AVX512,
}

// tileVecs returns the number of 16-column vectors of a cols-wide tile and
// the mask of the columns of the last one.
func tileVecs(cols int) (vecs, mask int) {
	if cols > 16 {
		return 2, 1<<(cols-16) - 1
	}
	return 1, 1<<cols - 1
}

// offsetBAVX512 runs the offset-table kernel for a rows×cols tile (see
// kernel.offsetB) after checking every index it uses; offs[:k] must lie
// in [0, maxOff] (the caller checks that once per call, not per tile).
func offsetBAVX512(rows, cols, k int, a []float32, lda int, b []float32, offs []int, maxOff int, c []float32, ldc int, alpha, beta float32) {
	if rows < 1 || rows > 12 || cols < 1 || cols > 32 || k < 1 || lda < k || len(offs) < k || ldc < cols ||
		(rows-1)*lda+k > len(a) || (rows-1)*ldc+cols > len(c) || maxOff+cols > len(b) {
		panic("gemm: offset kernel called on a short operand")
	}
	vecs, mask := tileVecs(cols)
	asm.OffsetB[vecs][rows](k, &a[0], lda, &b[0], &offs[0], &c[0], ldc, alpha, beta, mask)
}

// taps3x3AVX512 runs the 3×3-taps kernel for a 9×cols tile (see
// kernel.taps) after checking every index it uses.
func taps3x3AVX512(cols, k int, a []float32, rs int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
	if cols < 1 || cols > 32 || k < 1 || rs < 3 || bs < cols || ldc < cols ||
		2*rs+2+k > len(a) || (k-1)*bs+cols > len(b) || 8*ldc+cols > len(c) {
		panic("gemm: taps kernel called on a short operand")
	}
	vecs, mask := tileVecs(cols)
	asm.Taps3x3[vecs](k, &a[0], rs, &b[0], bs, &c[0], ldc, alpha, beta, mask)
}

// directAVX512 runs the direct kernel for a rows×cols tile (see
// kernel.direct), after checking that every float it reads or writes is
// inside the slices.
func directAVX512(rows, cols, k int, a []float32, rowMajor bool, as int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
	lastA := (k-1)*as + rows - 1
	if rowMajor {
		lastA = (rows-1)*as + k - 1
	}
	if rows < 1 || rows > 12 || cols < 1 || cols > 32 || k < 1 || as < 1 || bs < cols || ldc < cols ||
		lastA >= len(a) || (k-1)*bs+cols > len(b) || (rows-1)*ldc+cols > len(c) {
		panic("gemm: direct kernel called on a short operand")
	}
	vecs, mask := tileVecs(cols)
	tab := &asm.DirectKM
	if rowMajor {
		tab = &asm.DirectRM
	}
	tab[vecs][rows](k, &a[0], as, &b[0], bs, &c[0], ldc, alpha, beta, mask)
}

// asmKernels lists the assembly kernels this CPU can run, best first.
// (x/sys/cpu also checks that the OS saves the ymm/zmm state.)
func asmKernels() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, &avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &avx2Kernel)
	}
	return ks
}

// selectKernel picks the widest kernel the CPU supports, else the Go one.
func selectKernel() *kernel {
	if ks := asmKernels(); len(ks) > 0 {
		return ks[0]
	}
	return &goKernel
}
