package metrics

import (
	"math"
	"strings"
	"testing"
)

func TestEmptyFinalMatchedHand(t *testing.T) {
	// handImage's final-matched queries are q0 and q1 (layer_test.go):
	// q0 = 10/00, 11/00, 11/10 is never empty; q1 = 00/00, 00/00, 00/01 is
	// empty at stages 0 and 1. So 1 of 2, 1 of 2, 0 of 2.
	checkMeans(t, "empty", EmptyFinalMatched(handImage()), []Mean{{1, 2}, {1, 2}, {0, 2}})
}

func TestConsecutiveVariantsHand(t *testing.T) {
	// handImage (layer_test.go): final-matched {q0, q1}. q1 is empty at
	// stages 0 and 1, so the non-empty variant drops it at s0→s1:
	// s0→s1 q0 IoU(10/00, 11/00) = 1/2; s1→s2 q0 2/3, q1 IoU(∅, 00/01) = 0.
	checkMeans(t, "matched non-empty", ConsecutiveIoUMatchedNonEmpty(handImage()), []Mean{{0.5, 1}, {2.0 / 3, 2}})
	// GT-anchored, σ_0 = [q2, q0], σ_1 = [q0, q2], σ_2 = [q0, q1]:
	// s0→s1 g0 q2@s0 11/00 vs q0@s1 11/00 = 1, g1 q0@s0 10/00 vs q2@s1
	// 01/00 = 0; s1→s2 g0 q0@s1 11/00 vs q0@s2 11/10 = 2/3, g1 q2@s1
	// 01/00 vs q1@s2 00/01 = 0.
	checkMeans(t, "GT-anchored", ConsecutiveIoUGT(handImage()), []Mean{{1, 2}, {2.0 / 3, 2}})
}

// Every registry entry yields a series of the right length from a pooled
// report, and keys and headers are unique.
func TestFiguresRegistry(t *testing.T) {
	var e LayerEvaluator
	e.Add(handImage())
	lr := e.Result()
	var a AttentionEvaluator
	a.Add([]AttnStage{{NumQueries: 3, Cells: 2, Blocked: []bool{true, false, false, false, true, true}, Unblocked: []bool{false, false, true}}, {NumQueries: 3, Cells: 1, Blocked: []bool{false, false, true}}, {NumQueries: 3}})
	ar := a.Result()
	f := &StageFigures{Layer: &lr, Attention: &ar}
	keys, headers := map[string]bool{}, map[string]bool{}
	for i := range Figures {
		fg := &Figures[i]
		if keys[fg.Key] || headers[fg.Header] {
			t.Errorf("duplicate key %q or header %q", fg.Key, fg.Header)
		}
		keys[fg.Key], headers[fg.Header] = true, true
		if fg.Doc == "" || fg.Title == "" || fg.Axis == "" || strings.HasSuffix(fg.Doc, ".") {
			t.Errorf("%s: incomplete text (doc %q, title %q, axis %q)", fg.Key, fg.Doc, fg.Title, fg.Axis)
		}
		want := 3
		if fg.Pair {
			want = 2
		}
		if got := fg.Series(f, FinalMatched); len(got) != want {
			t.Errorf("%s: %d entries, want %d", fg.Key, len(got), want)
		}
	}
	// the empty share through the evaluator equals the hand count
	if got := MustFigure("empty").Series(f, FinalMatched); got[0] != 0.5 || got[2] != 0 {
		t.Errorf("empty = %v, want [0.5 0.5 0]", got)
	}
	// attended at stage 0: the rows open 1 of 2, 2 of 2 and 0 of 2 cells
	// (the share is taken from Blocked as recorded): (1/2 + 1 + 0)/3 = 1/2
	if got := MustFigure("attended").Series(f, FinalMatched); !near(got[0], (0.5+1+0)/3, 1e-12) {
		t.Errorf("attended[0] = %v, want 0.5", got[0])
	}
	fg, set, err := FigureByKey("consecutive_iou_non_empty")
	if err != nil || fg.Key != "consecutive_iou" || set != NonEmpty {
		t.Fatalf("FigureByKey(consecutive_iou_non_empty) = %v, %v, %v", fg, set, err)
	}
	// NonEmpty consecutive IoU of handImage: 1/2 and 2/9 (layer_test.go)
	if got := fg.Series(f, set); !near(got[0], 0.5, 1e-12) || !near(got[1], 2.0/9, 1e-12) {
		t.Errorf("consecutive_iou_non_empty = %v", got)
	}
	if _, _, err := FigureByKey("cons. IoU"); err == nil {
		t.Error("a header found a figure: lookups must be by key")
	}
}

func TestSummarize(t *testing.T) {
	// consecutive IoU over the final-matched queries of handImage: 1.5/2 and
	// (2/3)/2, mean 0.5417; Util-A 0, 1/2, 1 → mean of the stages before
	// the last: 0.25.
	var e LayerEvaluator
	e.Add(handImage())
	lr := e.Result()
	s := Summarize(&StageFigures{Layer: &lr})
	if !near(s.ConsecutiveIoU, (0.75+1.0/3)/2, 1e-12) || !near(s.UtilA, 0.25, 1e-12) {
		t.Errorf("Summarize = %+v", s)
	}
	if s := Summarize(&StageFigures{}); !math.IsNaN(s.ConsecutiveIoU) || !math.IsNaN(s.UtilA) {
		t.Errorf("Summarize of nothing = %+v, want NaN", s)
	}
}
