package probes

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// TestRuns checks hand-made cases and random masks of many sizes against a
// pixel-by-pixel encoder.
func TestRuns(t *testing.T) {
	bits := func(s string) *mask.Bits { return mask.FromFunc(1, len(s), func(i int) bool { return s[i] == '1' }) }
	for _, c := range []struct {
		mask string
		want []uint16
	}{
		{"0000", []uint16{4}},
		{"1111", []uint16{0, 4}},
		{"0110", []uint16{1, 2, 1}},
		{"1001", []uint16{0, 1, 2, 1}},
		{"0", []uint16{1}},
		{"1", []uint16{0, 1}},
	} {
		if got := appendRuns(nil, bits(c.mask)); !slices.Equal(got, c.want) {
			t.Errorf("%s: runs %v, want %v", c.mask, got, c.want)
		}
	}
	// A run longer than 65535 is split: 70000 zeros then 5 ones.
	long := mask.New(1, 70005)
	for i := 70000; i < 70005; i++ {
		long.Set(i, true)
	}
	if got := appendRuns(nil, long); !slices.Equal(got, []uint16{65535, 0, 4465, 5}) {
		t.Errorf("long run: %v", got)
	}
	// 140000 ones: 0 zeros, 65535 ones, 0 zeros, 65535 ones, 0, 8930.
	ones := mask.FromFunc(1, 140000, func(int) bool { return true })
	if got := appendRuns(nil, ones); !slices.Equal(got, []uint16{0, 65535, 0, 65535, 0, 8930}) {
		t.Errorf("long ones: %v", got)
	}
	naive := func(m *mask.Bits) []uint16 {
		var out []uint16
		run, val := 0, false
		for i := range m.Len() {
			if m.Get(i) != val {
				out = appendRun(out, run)
				run, val = 0, !val
			}
			run++
		}
		return appendRun(out, run)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		h, w := 1+r.IntN(40), 1+r.IntN(300)
		if trial%50 == 0 {
			h, w = 300, 400 // long runs
		}
		p := r.Float64()
		m := mask.FromFunc(h, w, func(int) bool { return r.Float64() < p*p })
		runs := appendRuns(nil, m)
		if want := naive(m); !slices.Equal(runs, want) {
			t.Fatalf("%d×%d: runs %v, want %v", h, w, runs, want)
		}
		logits := make([]float32, h*w)
		bools := make([]bool, h*w)
		for i := range logits {
			logits[i] = -1
			if m.Get(i) {
				logits[i], bools[i] = 1, true
			}
		}
		if got := appendRunsLogits(nil, logits); !slices.Equal(got, runs) {
			t.Fatalf("%d×%d: logits give %v", h, w, got)
		}
		if got := appendRunsBools(nil, bools); !slices.Equal(got, runs) {
			t.Fatalf("%d×%d: bools give %v", h, w, got)
		}
		back := mask.New(h, w)
		if err := decodeRuns(back, runs); err != nil || !mask.Equal(back, m) {
			t.Fatalf("%d×%d: decoded %v", h, w, err)
		}
	}
	// Runs that do not sum to the mask size are an error.
	m := mask.New(2, 2)
	for _, bad := range [][]uint16{{3}, {2, 3}, {}, {1, 1, 1}} {
		if err := decodeRuns(m, bad); !errors.Is(err, errRuns) {
			t.Errorf("runs %v: %v", bad, err)
		}
	}
}
