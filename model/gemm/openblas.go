//go:build cgo && openblas

package gemm

// OpenBLAS binding, built only with `-tags openblas` (and cgo). It links the
// system libopenblas (Debian/Ubuntu: libopenblas-dev) and registers
// "openblas" with priority 30, above the assembly implementation.
//
// OpenBLAS is set to one thread at init (openblas_set_num_threads(1)): the
// engine already runs one image per goroutine, and one level of
// parallelism is the project rule. With one thread OpenBLAS is deterministic
// and safe to call from several goroutines at once.

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// OpenBLAS calls cblas_sgemm of the system OpenBLAS, single-threaded.
type OpenBLAS struct{}

func (OpenBLAS) Name() string { return "openblas" }

func (OpenBLAS) Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(tA, tB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c))
	if nothingToMultiply(m, n, k, alpha, beta, c, ldc) {
		return
	}
	for _, v := range [...]int{m, n, k, lda, ldb, ldc} {
		if v > math.MaxInt32 {
			panic(fmt.Sprintf("gemm: dimension %d too large for OpenBLAS's 32-bit ints", v))
		}
	}
	ta, tb := C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans), C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans)
	if tA {
		ta = C.CblasTrans
	}
	if tB {
		tb = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// OpenBLASConfig reports the library's build configuration and the core
// type it dispatches to (for example "OpenBLAS 0.3.21 DYNAMIC_ARCH ... /
// SkylakeX").
func OpenBLASConfig() string {
	return C.GoString(C.openblas_get_config()) + " / " + C.GoString(C.openblas_get_corename())
}

// openblasThreads is the number of threads OpenBLAS uses (tests: must be 1).
func openblasThreads() int { return int(C.openblas_get_num_threads()) }

func init() {
	C.openblas_set_num_threads(1)
	Register(OpenBLAS{}, 30)
}
