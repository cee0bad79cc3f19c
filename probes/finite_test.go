package probes

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestCheckValues(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	shape := []int{2, 1, 2, 2}
	for _, c := range []struct {
		name, dtype string
		data        []float32
		want        string // "" = accepted
	}{
		{"img0/mask_logits", "<f4", []float32{1, -2, 0, 3, 4, 5, 6, 7}, ""},
		{"img0/mask_logits", "<f4", []float32{1, -2, 0, 3, 4, nan, 6, 7}, "NaN at index 5 [1, 0, 0, 1]"},
		{"img0/mask_logits", "<f4", []float32{1, -2, 0, 3, 4, 5, inf, 7}, "+Inf at index 6 [1, 0, 1, 0] of shape [2 1 2 2] (float32 logits are finite"},
		{"img0/mask_logits", "<f2", []float32{1, -inf, 0, 3, inf, 5, 6, 7}, ""},
		{"img0/mp_mask_logits", "<f2", []float32{1, -inf, 0, 3, inf, nan, 6, 7}, "NaN at index 5"},
		{"img2/class_logits", "<f2", []float32{1, 2, -inf, 0, 0, 0, 0, 0}, "-Inf at index 2 [0, 0, 1, 0]"},
		{"img2/class_logits", "<f4", []float32{nan, 2, 0, 0, 0, 0, 0, 0}, "NaN at index 0 [0, 0, 0, 0]"},
	} {
		err := CheckValues("t.npz", c.name, c.dtype, shape, c.data)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s %s %v: %v", c.name, c.dtype, c.data, err)
			}
			continue
		}
		if !errors.Is(err, ErrTraceValue) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "probes: t.npz: "+c.name) {
			t.Errorf("%s %s %v: %v, want %q", c.name, c.dtype, c.data, err, c.want)
		}
	}
}
