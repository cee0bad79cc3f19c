package gemm

import "fmt"

// Precisions. Every implementation computes in FP32 ("fp32") except
// "amx-bf16", which rounds the operands of all but small products to BF16
// and accumulates in FP32 ("bf16"). The precision is a numeric mode: the
// same inputs give different (each deterministic) results in the two.
const (
	FP32 = "fp32"
	BF16 = "bf16"
)

// precisioned is an implementation that is not FP32.
type precisioned interface{ precision() string }

// Precision reports the precision of the implementation in use.
func Precision() string { return precisionOf(Current()) }

func precisionOf(impl Impl) string {
	if p, ok := impl.(precisioned); ok {
		return p.precision()
	}
	return FP32
}

// SetPrecision switches to an implementation of precision p ("" means
// FP32): for FP32 it keeps the implementation in use if it is FP32 (so a
// test's Use("ref") survives) and otherwise takes the highest-priority FP32
// one; for BF16 it takes "amx-bf16", and fails where this machine has none.
func SetPrecision(p string) error {
	if p == "" {
		p = FP32
	}
	if p == Precision() {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	var best Impl
	for name, impl := range impls {
		if precisionOf(impl) == p && (best == nil || priorities[name] > priorities[best.Name()]) {
			best = impl
		}
	}
	if best == nil {
		if p == BF16 {
			return fmt.Errorf("gemm: precision bf16 needs a CPU with AMX-BF16 and AVX512-BF16 (and Linux ≥ 5.16 to grant the tile state); this machine runs %s", Current().Name())
		}
		return fmt.Errorf("gemm: unknown precision %q (want %s or %s)", p, FP32, BF16)
	}
	current.Store(&implBox{best})
	return nil
}

// tileTimer is an implementation that can time the unit it multiplies on.
type tileTimer interface{ tileNs() float64 }

// TileSpeed reports how fast the current implementation's tile unit runs
// right now: nanoseconds per tile multiply (amx-bf16: one TDPBF16PS, a
// 16×16×32 product, 16,384 floating-point operations) on hot operands, the
// median of five timings of about 5,000 multiplies each (well under a
// millisecond in all on an idle unit). ok is false for implementations
// without a tile unit. On a shared host the figure moves from minute to
// minute (docs/performance.md, "BF16, fifth round"), and with it the speed
// of every BF16 product; bench torch records it before each of its races.
func TileSpeed() (ns float64, ok bool) {
	t, ok := Current().(tileTimer)
	if !ok {
		return 0, false
	}
	return t.tileNs(), true
}
