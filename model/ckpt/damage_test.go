package ckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
)

// TestDamageIsCorruptNotTruncated flips single bits in every byte of a
// full-length checkpoint: whatever does not load unchanged must be
// reported as a damaged file (ErrCorrupt) — never as truncated, as not a
// zip, or (a damaged array name) as a checkpoint of another model — and
// anything that loads must hold exactly the saved arrays. A damaged name
// in the zip directory is caught by meta.json's list of arrays, a damaged
// end record by the file length (internal/npz).
func TestDamageIsCorruptNotTruncated(t *testing.T) {
	good := savedBytes(t)
	want, err := read(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	dirOff := int(binary.LittleEndian.Uint32(good[len(good)-6:]))
	counts := map[string]int{}
	b := slices.Clone(good)
	for i := range b {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			b[i] ^= x
			c, err := read(bytes.NewReader(b), int64(len(b)))
			b[i] ^= x
			switch {
			case err == nil:
				counts["loaded"]++
				if len(c.Arrays) != len(want.Arrays) {
					t.Fatalf("byte %d ^ %#x: loaded %d arrays, want %d", i, x, len(c.Arrays), len(want.Arrays))
				}
				for name, a := range want.Arrays {
					if got, ok := c.Arrays[name]; !ok || !slices.Equal(got.Shape, a.Shape) || !slices.Equal(bitsOf(got.Data), bitsOf(a.Data)) {
						t.Fatalf("byte %d ^ %#x: array %q loaded changed", i, x, name)
					}
				}
			case errors.Is(err, ErrCorrupt):
				counts["corrupt"]++
				if i >= dirOff {
					counts["corrupt in the directory or end record"]++
				}
			default:
				t.Errorf("byte %d of %d ^ %#x (directory at %d): %v; want ErrCorrupt", i, len(b), x, dirOff, err)
			}
		}
	}
	t.Logf("%d bytes × 3 flips: %v", len(b), counts)
	for _, n := range []int{len(good) - 1, len(good) - 22, dirOff + 10, dirOff} {
		if _, err := read(bytes.NewReader(good[:n]), int64(n)); !errors.Is(err, ErrTruncated) {
			t.Errorf("cut to %d of %d bytes: %v, want ErrTruncated", n, len(good), err)
		}
	}
}

func bitsOf(x []float32) []uint32 {
	out := make([]uint32, len(x))
	for i, v := range x {
		out[i] = math.Float32bits(v)
	}
	return out
}
