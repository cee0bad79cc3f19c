package gemm

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Impl is one float32 GEMM implementation.
type Impl interface {
	// Name identifies the implementation ("gonum", "openblas", ...).
	Name() string
	// Sgemm is the float32 GEMM with the contract of the package doc.
	Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

var (
	mu    sync.RWMutex
	impls = map[string]Impl{}
	// current is written under mu and read without it by Sgemm, so that
	// the hot path takes no lock and Use may run concurrently with it.
	current atomic.Pointer[implBox]
)

type implBox struct{ Impl }

// Register adds an implementation. Implementations register from init
// functions; the one with the highest priority becomes the default.
func Register(impl Impl, priority int) {
	mu.Lock()
	defer mu.Unlock()
	impls[impl.Name()] = impl
	if cur := current.Load(); cur == nil || priority > priorities[cur.Name()] {
		current.Store(&implBox{impl})
	}
	priorities[impl.Name()] = priority
}

var priorities = map[string]int{}

// Use selects the implementation named name for all later calls.
func Use(name string) error {
	mu.Lock()
	defer mu.Unlock()
	impl, ok := impls[name]
	if !ok {
		return fmt.Errorf("gemm: no implementation %q (have %v)", name, namesLocked())
	}
	current.Store(&implBox{impl})
	return nil
}

// Current returns the implementation in use.
func Current() Impl { return current.Load().Impl }

// Names lists the registered implementations.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	var s []string
	for n := range impls {
		s = append(s, n)
	}
	sort.Strings(s)
	return s
}

// Sgemm calls the current implementation. See the package doc.
func Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(tA, tB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c))
	if m == 0 || n == 0 {
		return
	}
	current.Load().Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is the float64 GEMM used by the engine's float64 instantiation
// (gradient checks). It is a plain blocked loop: correctness, not speed.
func Dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	refGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// refGemm is the reference triple loop, generic over the float type. The
// reduction over k runs in index order. As in BLAS, alpha == 0 means A and B
// are not read.
func refGemm[T float32 | float64](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if alpha == 0 {
		k = 0
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
		} else if beta != 1 {
			for j := range ci {
				ci[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av T
			if tA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if tB {
				for j := 0; j < n; j++ {
					ci[j] += av * b[j*ldb+p]
				}
			} else {
				bp := b[p*ldb : p*ldb+n]
				for j, bv := range bp {
					ci[j] += av * bv
				}
			}
		}
	}
}

// Ref is the reference implementation (slow; for tests).
type Ref struct{}

func (Ref) Name() string { return "ref" }
func (Ref) Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	refGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func init() { Register(Ref{}, 0) }
