//go:build linux

package fmath

import (
	"syscall"
	"testing"
	"unsafe"
)

// TestStride2GuardPage runs checkStride2 with each slice ending at a page
// that may not be read or written: a kernel that loads or stores one
// element too many (a full vector in the tail, a mask one lane too wide)
// faults instead of passing.
func TestStride2GuardPage(t *testing.T) {
	page := syscall.Getpagesize()
	const span = 16 // pages per region: room for n = 1001 (8 KB)
	region := func() []byte {
		b, err := syscall.Mmap(-1, 0, (span+1)*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			t.Skipf("mmap: %v", err)
		}
		if err := syscall.Mprotect(b[span*page:], syscall.PROT_NONE); err != nil {
			t.Skipf("mprotect: %v", err)
		}
		t.Cleanup(func() { syscall.Munmap(b) })
		return b[:span*page]
	}
	// floats ending at the guard page
	atEnd := func(b []byte, n int) []float32 {
		all := unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
		return all[len(all)-n:]
	}
	rd, rs := region(), region()
	checkStride2(t, func(n int) ([]float32, []float32) {
		return atEnd(rd, n), atEnd(rs, 2*n-1)
	})
}
