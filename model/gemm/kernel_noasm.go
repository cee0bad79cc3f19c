//go:build !amd64 || purego

package gemm

// selectKernel: without the amd64 assembly the pure-Go kernel is the only one.
func selectKernel() *kernel { return &goKernel }

// asmKernels lists the assembly kernels usable on this machine (none here).
func asmKernels() []*kernel { return nil }
