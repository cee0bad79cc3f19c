//go:build amd64 && !purego

package gemm

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestKernelSelection: on amd64 the "asm" implementation runs the widest
// assembly kernel the CPU has, and every usable one is in asmKernels (which
// the correctness tests force one by one, next to the pure-Go kernel).
func TestKernelSelection(t *testing.T) {
	want := goKernel.name
	switch {
	case cpu.X86.HasAVX512F:
		want = avx512Kernel.name
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		want = avx2Kernel.name
	}
	if got := KernelName(); got != want {
		t.Errorf("KernelName() = %q, want %q", got, want)
	}
	n := 0
	if cpu.X86.HasAVX512F {
		n++
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		n++
	}
	if got := len(asmKernels()); got != n {
		t.Errorf("%d assembly kernels usable, want %d", got, n)
	}
	t.Logf("AVX2=%v FMA=%v AVX512F=%v: kernel %s", cpu.X86.HasAVX2, cpu.X86.HasFMA, cpu.X86.HasAVX512F, KernelName())
}
