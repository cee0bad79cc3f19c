//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_amd64.go

// The assembly micro-kernels (kernel_amd64.s, written by gen_amd64.go). Each
// computes a full tile; see kernel.tile for the contract.

//go:noescape
func kernelAVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kernelAVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)

// checkTile panics unless a, b and c hold a k-step mr×nr tile. It keeps the
// assembly memory-safe whatever the driver passes.
func checkTile(k, mr, nr int, a, b, c []float32, ldc int) {
	if k < 1 || len(a) < k*mr || len(b) < k*nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
		panic("gemm: micro-kernel called on a short panel or tile")
	}
}

var avx2Kernel = kernel{
	name: "avx2-6x16",
	mr:   6, nr: 16,
	kc: 384, mc: 1536, nc: 384,
	tile: func(k int, a, b, c []float32, ldc int, alpha, beta float32) {
		checkTile(k, 6, 16, a, b, c, ldc)
		kernelAVX2(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
}

var avx512Kernel = kernel{
	name: "avx512-12x32",
	mr:   12, nr: 32,
	kc: 384, mc: 1536, nc: 384,
	tile: func(k int, a, b, c []float32, ldc int, alpha, beta float32) {
		checkTile(k, 12, 32, a, b, c, ldc)
		kernelAVX512(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
	},
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
