package model

import (
	"math"
	"testing"

	"github.com/mpanalyze/mpanalyze/model/engine"
)

// postModel is a model shell for post-processing tests: PostProcess only
// reads the config and the mask size, so no parameters are needed. Input
// 16×16 (masks 4×4 at stride 4), K classes, the last of which is stuff.
func postModel(k int, thing []bool) *Model {
	c := DefaultConfig(ArchMask2Former, k)
	c.ImageSize = 16
	c.ThingClasses = thing
	return &Model{Cfg: c, h4: 4, w4: 4}
}

// stageOf builds a last stage from class logits [Q, K+1] and 4×4 mask
// logits [Q, 16].
func stageOf(cls, masks []float32, q, k1 int) StageOutput {
	g := engine.NewGraph[float32]()
	return StageOutput{ClassLogits: g.Const(cls, q, k1), MaskLogits: g.Const(masks, q, 16)}
}

// block returns 4×4 mask logits: +big inside rows [y0,y1) × cols [x0,x1),
// −big outside (σ = 1 or 0 up to e^−big).
func block(y0, y1, x0, x1 int) []float32 {
	m := make([]float32, 16)
	for i := range m {
		y, x := i/4, i%4
		if y >= y0 && y < y1 && x >= x0 && x < x1 {
			m[i] = 30
		} else {
			m[i] = -30
		}
	}
	return m
}

func TestPostProcessHand(t *testing.T) {
	// K = 2 classes: 0 thing, 1 stuff; K+1 = 3 logits per query.
	// q0: class 0 with p ≈ 0.98 (logits 10, 6, 6 → e^10/(e^10+2e^6) =
	//     1/(1+2e^−4) = 0.9647), mask = left half (cols 0–1).
	// q1: class 1 (stuff) p = 0.9647, mask = right half (cols 2–3).
	// q2: no object (logits 0, 0, 10), mask everywhere — dropped by panoptic.
	// q3: class 1 p = 0.9647, mask = bottom-right quarter: same stuff class
	//     as q1, so its pixels merge into q1's segment.
	cls := []float32{
		10, 6, 6,
		6, 10, 6,
		0, 0, 10,
		6, 10, 6,
	}
	masks := append(append(append(block(0, 4, 0, 2), block(0, 4, 2, 4)...), block(0, 4, 0, 4)...), block(2, 4, 2, 4)...)
	m := postModel(2, []bool{true, false})
	p := m.PostProcess(stageOf(cls, masks, 4, 3), 0, DefaultInferConfig())

	// Panoptic: pixels go to argmax_q score_q·σ(mask). Left half: q0 (0.965);
	// right-top: q1; right-bottom: q1 and q3 tie at 0.965 — the first
	// (q1) wins. q3 then owns no pixel and is dropped; q1's segment is
	// the right half. Segments: id 1 = q0 (class 0, thing), id 2 = q1.
	if len(p.Segments) != 2 {
		t.Fatalf("segments %+v, want 2", p.Segments)
	}
	if s := p.Segments[0]; s.ID != 1 || s.Class != 0 || !s.IsThing || s.Area != 128 {
		t.Errorf("segment 1 = %+v, want id 1 class 0 thing, area 128 (left half of 16×16)", s)
	}
	if s := p.Segments[1]; s.ID != 2 || s.Class != 1 || s.IsThing || s.Area != 128 {
		t.Errorf("segment 2 = %+v, want id 2 class 1 stuff, area 128", s)
	}
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			want := int32(1)
			if x >= 8 {
				want = 2
			}
			if got := p.Panoptic[y*16+x]; got != want {
				t.Fatalf("panoptic (%d,%d) = %d, want %d", y, x, got, want)
			}
		}
	}

	// Semantic: S[c,p] = Σ_q p_q(c)·σ(mask_q[p]). On the left half only q0
	// and q2 have σ = 1: S[0] = 0.9647 + p_q2(0) (= 1/(2+e^10) ≈ 4.5e-5),
	// S[1] = 0.0177 + 4.5e-5 → class 0. On the right q1, q2 (and q3 at the
	// bottom) give class 1.
	for i, c := range p.Semantic {
		want := int32(0)
		if i%16 >= 8 {
			want = 1
		}
		if c != want {
			t.Fatalf("semantic pixel %d = %d, want %d", i, c, want)
		}
	}

	// Instance: things only (class 0). Top-k over (query, class 0): every
	// query gives one candidate; the score is p_q(0) × mean σ inside the
	// binary mask (≈ 1 for these saturated masks). Highest: q0 with
	// 0.9647; the others have p(0) = e^6/(e^10+2e^6) = 0.0177 (q1, q3)
	// and 4.5e-5 (q2).
	if len(p.Detections) != 4 {
		t.Fatalf("%d detections, want 4 (one per query for the one thing class)", len(p.Detections))
	}
	d := p.Detections[0]
	want := 1 / (1 + 2*math.Exp(-4))
	if d.Query != 0 || d.Class != 0 || math.Abs(d.Score-want) > 1e-4 || d.Mask.Area() != 128 {
		t.Errorf("top detection %+v (area %d), want query 0, class 0, score %.4f, area 128", d, d.Mask.Area(), want)
	}
	for i := 1; i < len(p.Detections); i++ {
		if p.Detections[i].Score > p.Detections[i-1].Score {
			t.Fatal("detections not sorted by score")
		}
	}
}

func TestPostProcessThresholds(t *testing.T) {
	// A query whose top class has p = 0.7 < 0.8 is not a panoptic segment;
	// lowering the threshold to 0.6 keeps it. Logits (ln 7, ln 2, ln 1):
	// p = 7/10 = 0.7.
	cls := []float32{float32(math.Log(7)), float32(math.Log(2)), 0}
	m := postModel(2, []bool{true, false})
	st := stageOf(cls, block(0, 4, 0, 4), 1, 3)
	if p := m.PostProcess(st, 0, DefaultInferConfig()); len(p.Segments) != 0 {
		t.Fatalf("p = 0.7 kept at threshold 0.8: %+v", p.Segments)
	}
	ic := DefaultInferConfig()
	ic.ObjectThreshold = 0.6
	if p := m.PostProcess(st, 0, ic); len(p.Segments) != 1 || p.Segments[0].Area != 256 {
		t.Fatalf("threshold 0.6: %+v", p.Segments)
	}

	// Overlap: q0 (p 0.9647) covers the left half, q1 (same p, class 0
	// too) covers everything; pixels of the left half go to q0 (first
	// among equal scores), so q1 wins only half of its own mask: 0.5 < 0.8,
	// dropped. With OverlapThreshold 0.4 it stays.
	cls2 := []float32{10, 6, 6, 10, 6, 6}
	st2 := stageOf(cls2, append(block(0, 4, 0, 2), block(0, 4, 0, 4)...), 2, 3)
	if p := m.PostProcess(st2, 0, DefaultInferConfig()); len(p.Segments) != 1 {
		t.Fatalf("overlap 0.5 kept at 0.8: %+v", p.Segments)
	}
	ic = DefaultInferConfig()
	ic.OverlapThreshold = 0.4
	if p := m.PostProcess(st2, 0, ic); len(p.Segments) != 2 {
		t.Fatalf("overlap threshold 0.4: %+v", p.Segments)
	}
}
