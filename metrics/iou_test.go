package metrics

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

func TestIoU(t *testing.T) {
	for i, tc := range []struct {
		a, b string
		want float64
	}{
		{"11/00", "10/10", 1.0 / 3}, // |A∧B| = 1 (top-left), |A∨B| = 3
		{"11/11", "11/11", 1},       // identical
		{"10/00", "01/00", 0},       // disjoint: 0/2
		{"00/00", "00/00", 1},       // IoU(∅, ∅) = 1 by convention
		{"00/00", "01/00", 0},       // ∅ vs one pixel: 0/1
		{"111/000", "011/001", 0.5}, // ∧ = 2, ∨ = 4
	} {
		if got := IoU(pic(tc.a), pic(tc.b)); !near(got, tc.want, 1e-15) {
			t.Errorf("case %d: IoU(%s, %s) = %v, want %v", i, tc.a, tc.b, got, tc.want)
		}
		if got := iouAtLeast(pic(tc.a), pic(tc.b), 0.5); got != (tc.want >= 0.5) {
			t.Errorf("case %d: iouAtLeast = %v", i, got)
		}
	}
	if !panics(func() { IoU(mask.New(2, 2), mask.New(1, 4)) }) {
		t.Error("size mismatch did not panic")
	}
}

func TestFromLogits(t *testing.T) {
	// logit > 0 ⇔ sigmoid > 0.5: 0 itself is not set, nor is NaN.
	logits := []float32{-1, 0, 1e-7, 3, float32(math.NaN()), -0.5}
	got := FromLogits(2, 3, logits)
	if want := pic("001/100"); !mask.Equal(got, want) {
		t.Errorf("got %v, want %v", got.Bools(), want.Bools())
	}
	if !panics(func() { FromLogits(2, 2, logits) }) {
		t.Error("length mismatch did not panic")
	}
}

func TestStageMasks(t *testing.T) {
	// 1 MP row then 2 matching rows of 1×2 logits: the MP row is dropped.
	logits := []float32{5, 5, 1, -1, -1, 1}
	ms := StageMasks(logits, 1, 2, 1, 2)
	if len(ms) != 2 || !mask.Equal(ms[0], pic("10")) || !mask.Equal(ms[1], pic("01")) {
		t.Errorf("got %v", ms)
	}
	if !panics(func() { StageMasks(logits, 0, 2, 1, 2) }) {
		t.Error("length mismatch did not panic")
	}
}

func TestSeriesJSON(t *testing.T) {
	s := Series{0.5, math.NaN(), 1}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[0.5,null,1]" {
		t.Errorf("marshal: %s", b)
	}
	var back Series
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 3 || back[0] != 0.5 || !math.IsNaN(back[1]) || back[2] != 1 {
		t.Errorf("round trip: %v", back)
	}
	if b, _ := json.Marshal(Series(nil)); string(b) != "null" {
		t.Errorf("nil series: %s", b)
	}
}

func TestMeanValue(t *testing.T) {
	if v := (Mean{Sum: 1.5, N: 3}).Value(); v != 0.5 {
		t.Errorf("1.5/3 = %v", v)
	}
	if v := (Mean{}).Value(); !math.IsNaN(v) {
		t.Errorf("empty mean = %v, want NaN", v)
	}
}
