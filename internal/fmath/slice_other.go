//go:build !amd64 || purego

package fmath

// asmKernels lists the assembly kernels: none without amd64 assembly.
func asmKernels() []*kernels { return nil }
