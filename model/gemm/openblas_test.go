//go:build cgo && openblas

package gemm

import "testing"

func TestOpenBLASSingleThreaded(t *testing.T) {
	if n := openblasThreads(); n != 1 {
		t.Errorf("OpenBLAS runs %d threads, want 1", n)
	}
	if Current().Name() != "openblas" {
		t.Errorf("default implementation %q with the openblas tag", Current().Name())
	}
	t.Logf("%s", OpenBLASConfig())
}
