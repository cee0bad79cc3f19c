//go:build !amd64 || purego

package gemm

// selectKernel: without the amd64 assembly the pure-Go kernel is the only one.
func selectKernel() *kernel { return &goKernel }

// asmKernels lists the assembly kernels usable on this machine (none here).
func asmKernels() []*kernel { return nil }

// withScratchOnly: there is no amx-bf16 here to change (benchmarks only
// call it on a registered amx-bf16).
func withScratchOnly(im Impl) Impl { return im }
