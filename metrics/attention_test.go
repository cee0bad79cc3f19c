package metrics

import (
	"math"
	"testing"
)

// attnFixture: 1 MP row and 2 matching rows over 4 cells (true = blocked).
//
//	row 0 (MP)   T T F F  → 2/4 attendable
//	row 1        F F F F  → 4/4, unblocked (it was entirely blocked)
//	row 2        T F T T  → 1/4
func attnFixture() AttnStage {
	return AttnStage{
		NumMP: 1, NumQueries: 2, Cells: 4,
		Blocked: []bool{
			true, true, false, false,
			false, false, false, false,
			true, false, true, true,
		},
		Unblocked: []bool{false, true, false},
	}
}

func TestAttentionStats(t *testing.T) {
	a := attnFixture()
	m, p := AttentionStats(&a)
	// Matching rows 1, 2: attended 1 + 1/4; kept row 2 only: 1/4; 1 unblocked.
	if m != (AttnRows{Rows: 2, Attended: 1.25, Kept: 1, AttendedKept: 0.25, Unblocked: 1}) {
		t.Errorf("matching %+v", m)
	}
	// MP row 0: 2/4, kept.
	if p != (AttnRows{Rows: 1, Attended: 0.5, Kept: 1, AttendedKept: 0.5}) {
		t.Errorf("MP %+v", p)
	}
	// No next layer: nothing counted.
	if m, p := AttentionStats(&AttnStage{NumQueries: 2}); m.Rows != 0 || p.Rows != 0 {
		t.Errorf("last stage counted rows: %+v %+v", m, p)
	}
	for i, bad := range []AttnStage{
		{NumQueries: 1, Cells: 2, Blocked: []bool{true}},
		{NumQueries: 1, Cells: 1, Blocked: []bool{true}, Unblocked: []bool{true, false}},
		{NumQueries: -1},
	} {
		if !panics(func() { AttentionStats(&bad) }) {
			t.Errorf("case %d: no panic", i)
		}
	}
}

func TestAttentionEvaluator(t *testing.T) {
	var e AttentionEvaluator
	// Two images of 2 stages: stage 0 the fixture, stage 1 the last (no mask).
	for i := 0; i < 2; i++ {
		e.Add([]AttnStage{attnFixture(), {NumMP: 1, NumQueries: 2}})
	}
	r := e.Result()
	// Stage 0 pools 4 matching rows: attended (1.25+1.25)/4 = 0.625, kept
	// (0.25+0.25)/2 = 0.25, unblocked 2/4. Stage 1 has no row: NaN.
	mc := r.Matching
	if mc.Rows[0] != 4 || mc.Attended[0] != 0.625 || mc.AttendedKept[0] != 0.25 || mc.Unblocked[0] != 0.5 || mc.Kept[0] != 2 {
		t.Errorf("matching %+v", mc)
	}
	if mc.Rows[1] != 0 || !math.IsNaN(mc.Attended[1]) {
		t.Errorf("last stage %+v", mc)
	}
	if r.MP == nil || r.MP.Attended[0] != 0.5 || r.MP.Unblocked[0] != 0 {
		t.Errorf("MP %+v", r.MP)
	}
	if r.NumStages != 2 || r.Images != 2 {
		t.Errorf("counts %+v", r)
	}
	// Without MP rows the MP curve is absent.
	e.Reset()
	e.Add([]AttnStage{{NumQueries: 1, Cells: 2, Blocked: []bool{true, false}}})
	if r := e.Result(); r.MP != nil || r.Matching.Attended[0] != 0.5 {
		t.Errorf("no-MP report %+v", r)
	}
	if !panics(func() { e.Add(nil) }) {
		t.Error("stage count change: no panic")
	}
}
