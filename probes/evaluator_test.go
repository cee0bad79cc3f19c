package probes

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// bits parses a 1×n mask written as "1100".
func bits(s string) *mask.Bits {
	return mask.FromFunc(1, len(s), func(i int) bool { return s[i] == '1' })
}

// logits writes each mask of qs ("1100") as logits +1 (set) / −1, in rows.
func logits(qs ...string) []float32 {
	var out []float32
	for _, q := range qs {
		for _, c := range q {
			if c == '1' {
				out = append(out, 1)
			} else {
				out = append(out, -1)
			}
		}
	}
	return out
}

// blocked parses per-row attention masks ("FT" = open, blocked).
func blocked(rows ...string) []bool {
	var out []bool
	for _, r := range rows {
		for _, c := range r {
			out = append(out, c == 'T')
		}
	}
	return out
}

// handRun is a hand-made run of 3 stages, 3 queries, 1×4 masks, K = 2:
// image 1 has 2 GT segments, image 2 none. The expected figures in
// TestEvaluatorHandMade are worked out by hand from these masks.
func handRun() (RunInfo, []Image) {
	info := RunInfo{Model: "mask2former", NumStages: 3, NumQueries: 3, NumClasses: 2, MaskStride: 4, MaskH: 1, MaskW: 4, StageLayers: []int{0, 1, 2}}
	gt := &GroundTruth{Classes: []int{0, 1}, Masks: []*mask.Bits{bits("1110"), bits("0011")}}
	cls := make([]float32, 3*3)
	st := func(img, s int, masks []string, match []int, g *GroundTruth, ah, aw int, attn []bool, unb []bool) Stage {
		return Stage{Image: img, Stage: s, NumQueries: 3, NumClasses: 2, H: 1, W: 4,
			MaskLogits: logits(masks...), ClassLogits: cls, AttnH: ah, AttnW: aw, AttnMask: attn, Unblocked: unb, Match: match, GT: g}
	}
	one := Image{Index: 1, GT: gt, Stages: []Stage{
		st(1, 0, []string{"1100", "0000", "0011"}, []int{0, 2}, gt, 1, 2, blocked("FT", "FF", "FF"), []bool{false, true, false}),
		st(1, 1, []string{"1110", "0001", "0000"}, []int{0, 1}, gt, 1, 4, blocked("FFFT", "TTTF", "FFFF"), []bool{false, false, true}),
		st(1, 2, []string{"1110", "0011", "0000"}, []int{0, 1}, gt, 0, 0, nil, nil),
	}}
	two := Image{Index: 2, Stages: []Stage{
		st(2, 0, []string{"1000", "0000", "0000"}, nil, nil, 1, 2, blocked("FF", "FF", "FF"), nil),
		st(2, 1, []string{"1000", "0000", "0000"}, nil, nil, 1, 4, blocked("FFFF", "FFFF", "FFFF"), nil),
		st(2, 2, []string{"1000", "0000", "0000"}, nil, nil, 0, 0, nil, nil),
	}}
	return info, []Image{one, two}
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-12
}

func TestEvaluatorHandMade(t *testing.T) {
	info, imgs := handRun()
	var e Evaluator
	feed(t, &e, info, imgs)
	rep := e.Report()
	nan := math.NaN()
	// Hand-computed from handRun's masks (final-matched queries 0 and 1):
	//   IoU(1100,1110) = 2/3, IoU(0000,0001) = 0, IoU(0001,0011) = 1/2.
	want := map[string][]float64{
		"consecutive_iou": {1.0 / 3, 0.75},
		"iou_to_final":    {1.0 / 3, 0.75, 1},
		"util_a":          {0.5, 1, 1},
		"util_b":          {0.5, 1, 1},
		"util_c":          {0.5, 1, 1},
		"match_change":    {0.5, 0},
		"attended":        {(0.5 + 1 + 1 + 3) / 6, (0.75 + 0.25 + 1 + 3) / 6, nan},
		"unblocked":       {1.0 / 6, 1.0 / 6, nan},
		"empty":           {0.5, 0, 0}, // query 1's stage-0 mask 0000
	}
	fig := func(key string, set metrics.QuerySet) metrics.Series {
		return metrics.MustFigure(key).Series(rep.Figures(), set)
	}
	for key, w := range want {
		g := fig(key, metrics.FinalMatched)
		if len(g) != len(w) {
			t.Errorf("%s: %v, want %v", key, g, w)
			continue
		}
		for s := range w {
			if !near(w[s], g[s]) {
				t.Errorf("%s[%d] = %v, want %v", key, s, g[s], w[s])
			}
		}
	}
	// NonEmpty pools image 2's query 0 (IoU 1 at every pair): stage 0→1
	// (2/3 + 0 + 0 + 1)/4, stage 1→2 (1 + 1/2 + 1)/3 (image 1's query 2
	// is empty at both stages and skipped).
	if ne := fig("consecutive_iou", metrics.NonEmpty); !near(ne[0], 5.0/12) || !near(ne[1], 5.0/6) {
		t.Errorf("NonEmpty consecutive %v", ne)
	}
	// StageMatched at stage 0 is {0, 2}: (2/3 + IoU(0011,0000) = 0)/2.
	if sm := fig("consecutive_iou", metrics.StageMatched); !near(sm[0], 1.0/3) || !near(sm[1], 0.75) {
		t.Errorf("StageMatched consecutive %v", sm)
	}
	// Stage×stage matrix over queries 0, 1: (0,1) = (2/3 + 0)/2, (1,2) = (1 + 1/2)/2.
	m := rep.Layer.Matrix
	if !near(m[0][1], 1.0/3) || !near(m[0][2], 1.0/3) || !near(m[1][2], 0.75) || !near(m[2][1], 0.75) || !near(m[1][1], 1) {
		t.Errorf("matrix %v", m)
	}
	if rep.Images != 2 || rep.Layer.GT != 2 || rep.Layer.FinalMatched != 2 || rep.Run.Model != "mask2former" {
		t.Errorf("report header %+v", rep)
	}

	// The same figures straight from the metrics package, on masks built
	// without logits.
	var le metrics.LayerEvaluator
	var ae metrics.AttentionEvaluator
	le.Add(&metrics.ImageStages{
		Index: 1,
		Masks: [][]*mask.Bits{
			{bits("1100"), bits("0000"), bits("0011")},
			{bits("1110"), bits("0001"), bits("0000")},
			{bits("1110"), bits("0011"), bits("0000")},
		},
		Match: [][]int{{0, 2}, {0, 1}, {0, 1}},
		GT:    []*mask.Bits{bits("1110"), bits("0011")},
	})
	le.Add(&metrics.ImageStages{Index: 2, Masks: [][]*mask.Bits{
		{bits("1000"), bits("0000"), bits("0000")},
		{bits("1000"), bits("0000"), bits("0000")},
		{bits("1000"), bits("0000"), bits("0000")},
	}})
	ae.Add(imgs[0].AttnStages())
	ae.Add(imgs[1].AttnStages())
	if jsonOf(t, rep.Layer) != jsonOf(t, le.Result()) {
		t.Errorf("layer report differs from metrics.LayerEvaluator:\n%s\n%s", jsonOf(t, rep.Layer), jsonOf(t, le.Result()))
	}
	if jsonOf(t, rep.Attention) != jsonOf(t, ae.Result()) {
		t.Errorf("attention report differs from metrics.AttentionEvaluator")
	}
}

// TestMemoryEvaluatorAgree: the Evaluator's streaming report equals the
// metrics of the images Memory kept, on random runs with MP rows, no-GT
// images and images with more segments than queries.
func TestMemoryEvaluatorAgree(t *testing.T) {
	mp := m2f
	mp.MP = 2
	for _, c := range []synth{m2f, mp} {
		imgs := c.images(11, []int{2, -1, 7, 0, 3}, true)
		var mem Memory
		var ev Evaluator
		feed(t, Multi{&mem, &ev}, c.info(), imgs)
		if d := diffImages(imgs, mem.Images); d != "" {
			t.Fatalf("memory: %s", d)
		}
		var le metrics.LayerEvaluator
		var ae metrics.AttentionEvaluator
		for i := range mem.Images {
			le.Add(mem.Images[i].ImageStages())
			ae.Add(mem.Images[i].AttnStages())
		}
		rep := ev.Report()
		if jsonOf(t, rep.Layer) != jsonOf(t, le.Result()) || jsonOf(t, rep.Attention) != jsonOf(t, ae.Result()) {
			t.Fatalf("evaluator and memory disagree")
		}
		if rep.Images != 5 || rep.Layer.GT != 12 {
			t.Fatalf("images %d, GT %d", rep.Images, rep.Layer.GT)
		}
		if c.MP > 0 && rep.Attention.MP == nil {
			t.Fatal("MP rows not reported")
		}
	}
}

// TestProbesDoNotMutate records the same stages through every probe and
// checks that none changed them.
func TestProbesDoNotMutate(t *testing.T) {
	mp := m2f
	mp.MP = 2
	imgs := mp.images(12, []int{3, -1}, true)
	before := cloneImages(imgs)
	probes := []Probe{
		&Memory{}, &Evaluator{},
		NewTraceWriter(t.TempDir()+"/a", &TraceSettings{KeepMP: true, Float16: true}),
		Multi{&Evaluator{}, NewTraceWriter(t.TempDir()+"/b", nil)},
	}
	for _, p := range probes {
		feed(t, p, mp.info(), imgs)
		if d := diffImages(before, imgs); d != "" {
			t.Fatalf("%T changed its input: %s", p, d)
		}
	}
	// Nor does a probe keep the caller's slices: scribbling over the input
	// after recording leaves Memory's copy unchanged.
	var mem Memory
	feed(t, &mem, mp.info(), imgs)
	for i := range imgs {
		for s := range imgs[i].Stages {
			st := &imgs[i].Stages[s]
			clear(st.MaskLogits)
			clear(st.AttnMask)
			for g := range st.Match {
				st.Match[g] = -1
			}
		}
		if imgs[i].GT != nil {
			clear(imgs[i].GT.Masks[0].Words)
		}
	}
	if d := diffImages(before, mem.Images); d != "" {
		t.Fatalf("memory aliases its input: %s", d)
	}
}

func TestRecordErrors(t *testing.T) {
	info, imgs := handRun()
	st := func(f func(s *Stage)) *Stage {
		c := imgs[0].Stages[0].Clone()
		f(&c)
		return &c
	}
	cases := []struct {
		name  string
		stage *Stage
		msg   string
	}{
		{"not stage 0", &imgs[0].Stages[1], "an image must start at stage 0"},
		{"short logits", st(func(s *Stage) { s.MaskLogits = s.MaskLogits[1:] }), "11 mask logits"},
		{"wrong queries", st(func(s *Stage) { s.NumQueries = 2 }), "2 queries"},
		{"attention size", st(func(s *Stage) { s.AttnW = 3 }), "attention mask entries"},
		{"duplicate match", st(func(s *Stage) { s.Match = []int{1, 1} }), "query 1 matched twice"},
		{"match out of range", st(func(s *Stage) { s.Match = []int{3, 0} }), "matched to query 3"},
		{"match without GT", st(func(s *Stage) { s.GT = nil }), "a matching without ground truth"},
		{"GT class", st(func(s *Stage) { s.GT = &GroundTruth{Classes: []int{0, 2}, Masks: s.GT.Masks} }), "class 2"},
		{"stage range", st(func(s *Stage) { s.Stage = 3 }), "out of 0..2"},
	}
	for _, tc := range cases {
		for _, p := range []Probe{&Memory{}, &Evaluator{}, NewTraceWriter(t.TempDir()+"/x", nil)} {
			if err := p.Init(info); err != nil {
				t.Fatal(err)
			}
			err := p.Record(tc.stage)
			if !errors.Is(err, ErrStage) || !strings.HasPrefix(err.Error(), "probes: image 1 stage") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s, %T: %v", tc.name, p, err)
			}
			p.Close()
		}
	}
	// Order: a new image before the last one ended, and Close mid-image.
	for _, p := range []Probe{&Memory{}, &Evaluator{}, NewTraceWriter(t.TempDir()+"/y", nil)} {
		p.Init(info)
		p.Record(&imgs[0].Stages[0])
		if err := p.Record(&imgs[1].Stages[1]); !errors.Is(err, ErrStage) || !strings.Contains(err.Error(), "image 1 has only 1 of 3 stages") {
			t.Errorf("%T: %v", p, err)
		}
		// (The writer reports its first error, the others the half image.)
		if err := p.Close(); !errors.Is(err, ErrStage) || !strings.Contains(err.Error(), "1 of 3 stages") {
			t.Errorf("%T close: %v", p, err)
		}
		if err := p.Record(&imgs[0].Stages[0]); !errors.Is(err, ErrClosed) {
			t.Errorf("%T after close: %v", p, err)
		}
	}
	// Bad run info.
	if err := (&Evaluator{}).Init(RunInfo{NumStages: 2, NumQueries: 1, NumClasses: 1, MaskH: 1, MaskW: 1, StageLayers: []int{1, 0}}); !errors.Is(err, ErrRunInfo) {
		t.Errorf("init: %v", err)
	}
	// Multi reports which probe failed, and still calls the others.
	var mem Memory
	m := Multi{&Evaluator{}, &mem}
	m.Init(info)
	bad := st(func(s *Stage) { s.Match = []int{1, 1} })
	if err := m.Record(bad); err == nil || !strings.Contains(err.Error(), "multi[0] (*probes.Evaluator)") || !strings.Contains(err.Error(), "multi[1] (*probes.Memory)") {
		t.Errorf("multi: %v", err)
	}
}

func TestRunInfoLayers(t *testing.T) {
	ri := RunInfo{NumStages: 3}
	if ri.Layers(2) != 2 {
		t.Error("default layers")
	}
	ri.StageLayers = []int{1, 2, 3} // MaskFormer: no stage 0
	if ri.Layers(0) != 1 {
		t.Error("maskformer layers")
	}
}
