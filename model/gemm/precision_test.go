package gemm

import (
	"slices"
	"testing"
)

// TestSetPrecision: FP32 keeps an FP32 implementation in use, BF16 takes
// amx-bf16 where it is registered and fails with a message naming the
// requirement elsewhere, and back to FP32 restores the default; nonsense
// is refused.
func TestSetPrecision(t *testing.T) {
	defer Use(Current().Name())
	def := Current().Name()
	if err := Use("ref"); err != nil {
		t.Fatal(err)
	}
	if err := SetPrecision(FP32); err != nil || Current().Name() != "ref" || Precision() != FP32 {
		t.Fatalf("SetPrecision(fp32) from ref: %v, now %s", err, Current().Name())
	}
	err := SetPrecision(BF16)
	if slices.Contains(Names(), "amx-bf16") {
		if err != nil || Current().Name() != "amx-bf16" || Precision() != BF16 {
			t.Fatalf("SetPrecision(bf16): %v, now %s", err, Current().Name())
		}
		if err := SetPrecision(""); err != nil || Current().Name() != def {
			t.Fatalf("SetPrecision(\"\") from amx-bf16: %v, now %s, want %s", err, Current().Name(), def)
		}
	} else if err == nil || Current().Name() != "ref" {
		t.Fatalf("SetPrecision(bf16) without AMX: err %v, now %s", err, Current().Name())
	}
	if err := SetPrecision("fp16"); err == nil {
		t.Error("SetPrecision(fp16) accepted")
	}
}
