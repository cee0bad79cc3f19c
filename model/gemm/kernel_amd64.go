//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// The assembly micro-kernels (kernel_amd64.s, written by gen_amd64.go).
// kernelAVX2rR computes R rows of a 6×16 tile, kernelAVX512rR R rows of a
// 12×32 tile; see kernel.tile for the contract.

//go:noescape
func kernelAVX2r1(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2r2(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2r3(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2r4(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2r5(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX2r6(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r1(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r2(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r3(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r4(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r5(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r6(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r7(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r8(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r9(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r10(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r11(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512r12(k int, a, b, c *float32, ldc int, alpha, beta float32)

type asmTile func(k int, a, b, c *float32, ldc int, alpha, beta float32)

var avx2Tiles = [...]asmTile{nil, kernelAVX2r1, kernelAVX2r2, kernelAVX2r3, kernelAVX2r4, kernelAVX2r5, kernelAVX2r6}

var avx512Tiles = [...]asmTile{nil, kernelAVX512r1, kernelAVX512r2, kernelAVX512r3, kernelAVX512r4, kernelAVX512r5, kernelAVX512r6, kernelAVX512r7, kernelAVX512r8, kernelAVX512r9, kernelAVX512r10, kernelAVX512r11, kernelAVX512r12}

//go:noescape
func trans4x8(dst *float32, dstStride int, src *float32, lds, n int)

//go:noescape
func copyRows6(dst, src *float32, lds, n int)

//go:noescape
func copyRows12(dst, src *float32, lds, n int)

//go:noescape
func copyRows16(dst, src *float32, lds, n int)

//go:noescape
func copyRows32(dst, src *float32, lds, n int)

// avxPack are the AVX packing helpers (AVX2 machines and up have AVX).
var avxPack = packFuncs{
	trans4: func(dst []float32, ds int, src []float32, lds, n int) {
		if n <= 0 || n%8 != 0 || ds < 4 || lds < n || len(dst) < (n-1)*ds+4 || len(src) < 3*lds+n {
			panic("gemm: bad trans4x8 arguments")
		}
		trans4x8(&dst[0], ds, &src[0], lds, n)
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
			copyRows6(&dst[0], &src[0], lds, n)
		case 12:
			copyRows12(&dst[0], &src[0], lds, n)
		case 16:
			copyRows16(&dst[0], &src[0], lds, n)
		case 32:
			copyRows32(&dst[0], &src[0], lds, n)
		default:
			return false
		}
		return true
	},
}

// checkTile panics unless a, b and c hold a k-step rows×nr tile of an
// mr-row panel. It keeps the assembly memory-safe whatever the driver passes.
func checkTile(rows, k, mr, nr int, a, b, c []float32, ldc int) {
	if rows < 1 || rows > mr || k < 1 || len(a) < k*mr || len(b) < k*nr || ldc < nr || len(c) < (rows-1)*ldc+nr {
		panic("gemm: micro-kernel called on a short panel or tile")
	}
}

var avx2Kernel = kernel{
	name: "avx2-6x16",
	mr:   6, nr: 16,
	kc: 384, mc: 1536, nc: 384,
	tile: func(rows, k int, a, b, c []float32, ldc int, alpha, beta float32) {
		checkTile(rows, k, 6, 16, a, b, c, ldc)
		avx2Tiles[rows](k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
	pack: &avxPack,
}

var avx512Kernel = kernel{
	name: "avx512-12x32",
	mr:   12, nr: 32,
	kc: 384, mc: 1536, nc: 384,
	tile: func(rows, k int, a, b, c []float32, ldc int, alpha, beta float32) {
		checkTile(rows, k, 12, 32, a, b, c, ldc)
		avx512Tiles[rows](k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
	pack: &avxPack,
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
