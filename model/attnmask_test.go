package model

import (
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

func TestAttentionMaskHand(t *testing.T) {
	// Two queries with 4×4 logits, next level 2×2. Bilinear 4→2 with
	// align_corners=False samples at src = 2d + 0.5, i.e. the mean of each
	// 2×2 block. Query 0: block (0,0) has mean +0.5, block (0,1) mean
	// −0.25, block (1,0) exactly 0 (sigmoid 0.5 is not < 0.5: attendable),
	// block (1,1) −2. Query 1 is negative everywhere: fully blocked, so it
	// is unblocked.
	q0 := []float32{
		1, 1, -1, 0,
		0, 0, 0, 0,
		2, -2, -2, -2,
		-1, 1, -2, -2,
	}
	q1 := make([]float32, 16)
	for i := range q1 {
		q1[i] = -3
	}
	logits := append(append([]float32{}, q0...), q1...)
	blocked, unblocked := attentionMask(logits, 4, 4, 2, 2, nil, 0, make([]float32, 16))
	want := []bool{false, true, false, true, false, false, false, false}
	for i := range want {
		if blocked[i] != want[i] {
			t.Fatalf("blocked = %v, want %v", blocked, want)
		}
	}
	if unblocked[0] || !unblocked[1] {
		t.Fatalf("unblocked = %v, want [false true]", unblocked)
	}

	// A pilot replaces the first P rows before the unblocking rule: pilot
	// row 0 attends only at cell 3; an all-blocked pilot row is unblocked.
	pilot := []bool{true, true, true, false}
	blocked, unblocked = attentionMask(logits, 4, 4, 2, 2, pilot, 1, make([]float32, 16))
	want = []bool{true, true, true, false, false, false, false, false}
	for i := range want {
		if blocked[i] != want[i] {
			t.Fatalf("piloted blocked = %v, want %v", blocked, want)
		}
	}
	if unblocked[0] {
		t.Fatal("a pilot row that attends at cell 3 was unblocked")
	}
	_, unblocked = attentionMask(logits, 4, 4, 2, 2, []bool{true, true, true, true}, 1, make([]float32, 16))
	if !unblocked[0] {
		t.Fatal("an empty pilot row was not unblocked")
	}
}

func TestAnyDownTouchedCells(t *testing.T) {
	// 8×8 mask with one pixel at (5, 2): at 2×2 (4×4 windows) only cell
	// (1, 0) is touched; at 4×4 (2×2 windows) only cell (2, 1).
	m := mask.New(8, 8)
	m.Set(5*8+2, true)
	d := anyDown(m, 2, 2)
	if d.Area() != 1 || !d.At(1, 0) {
		t.Fatalf("2×2: %v", d.Bools())
	}
	d = anyDown(m, 4, 4)
	if d.Area() != 1 || !d.At(2, 1) {
		t.Fatalf("4×4: %v", d.Bools())
	}
}
