package optim

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestWarmupFactorAt(t *testing.T) {
	cases := []struct {
		method       string
		it, iters    int
		factor, want float64
	}{
		// detectron2 linear: factor·(1−α) + α, α = it/iters.
		{WarmupLinear, 0, 1000, 0.001, 0.001},
		{WarmupLinear, 500, 1000, 0.001, 0.5005},   // 0.001·0.5 + 0.5
		{WarmupLinear, 999, 1000, 0.001, 0.999001}, // 0.001·0.001 + 0.999
		{WarmupLinear, 1000, 1000, 0.001, 1},       // warm-up over
		{WarmupLinear, 3, 10, 1.0, 1},              // official configs: factor 1.0
		{WarmupConstant, 5, 10, 0.25, 0.25},
		{WarmupConstant, 10, 10, 0.25, 1},
		{"bogus", 10, 10, 0.25, 1}, // past warm-up the method is not consulted
	}
	for _, c := range cases {
		if got := WarmupFactorAt(c.method, c.it, c.iters, c.factor); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("WarmupFactorAt(%s, %d, %d, %v) = %v, want %v", c.method, c.it, c.iters, c.factor, got, c.want)
		}
	}
}

func TestMultiStepAndPoly(t *testing.T) {
	// COCO 50ep steps (327778, 355092), γ 0.1 (docs/papers.md#schedules).
	steps := []int{327778, 355092}
	for _, c := range []struct {
		it   int
		want float64
	}{{0, 1}, {327777, 1}, {327778, 0.1}, {355091, 0.1}, {355092, 0.010000000000000002}, {368749, 0.010000000000000002}} {
		// 0.010000000000000002 is Python's 0.1 ** 2.
		if got := MultiStepFactor(c.it, steps, 0.1); got != c.want {
			t.Errorf("MultiStepFactor(%d) = %v, want %v", c.it, got, c.want)
		}
	}
	for _, c := range []struct {
		it, max     int
		power, want float64
	}{
		{0, 160000, 0.9, 1},
		{80000, 160000, 0.9, 0.5358867312681466},  // 0.5 ** 0.9 (Python)
		{120000, 160000, 0.9, 0.2871745887492587}, // 0.25 ** 0.9 (Python)
		{160000, 160000, 0.9, 0},
		{170000, 160000, 0.9, 0},
		{5, 10, 1, 0.5},
	} {
		if got := PolyFactor(c.it, c.max, c.power); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("PolyFactor(%d, %d, %v) = %v, want %v", c.it, c.max, c.power, got, c.want)
		}
	}
}

func TestScheduleConfig(t *testing.T) {
	// COCO-like: base 1e-4, steps at 8 and 9, linear warm-up over 4 iterations from 0.5.
	c := DefaultScheduleConfig()
	c.MaxIter = 10
	c.Steps = []int{8, 9}
	c.WarmupIters = 4
	c.WarmupFactor = 0.5
	want := []float64{
		1e-4 * 0.5,   // it 0: warm-up 0.5
		1e-4 * 0.625, // it 1: 0.5·0.75 + 0.25
		1e-4 * 0.75,  // it 2: 0.5·0.5 + 0.5
		1e-4 * 0.875, // it 3: 0.5·0.25 + 0.75
		1e-4, 1e-4, 1e-4, 1e-4,
		1e-4 * 0.1,                  // it 8: first step
		1e-4 * 0.010000000000000002, // it 9: 0.1 ** 2
	}
	for it, w := range want {
		if got := c.LR(it); math.Abs(got-w) > 1e-18 {
			t.Errorf("multistep LR(%d) = %v, want %v", it, got, w)
		}
	}

	// ADE20K-like poly over 100 iterations with a 10-iteration linear warm-up
	// from 0.001: LR(5) = 1e-4 · (0.001·0.5 + 0.5) · (1 − 0.05)^0.9.
	p := DefaultScheduleConfig()
	p.Name = SchedulePoly
	p.MaxIter = 100
	p.WarmupFactor = 0.001
	wantP := 1e-4 * 0.5005 * math.Pow(0.95, 0.9) // = 4.7792e-05
	if got := p.LR(5); math.Abs(got-wantP) > 1e-18 {
		t.Errorf("poly LR(5) = %v, want %v", got, wantP)
	}
	if got := p.LR(50); math.Abs(got-1e-4*0.5358867312681466) > 1e-18 { // 0.5 ** 0.9
		t.Errorf("poly LR(50) = %v", got)
	}
	p.PolyConstantEnding = 0.2
	// (1 − 90/100)^0.9 = 0.1259 < 0.2: held at 0.2.
	if got := p.LR(90); math.Abs(got-1e-4*0.2) > 1e-18 {
		t.Errorf("poly LR(90) with constant ending = %v, want 2e-5", got)
	}

	k := DefaultScheduleConfig()
	k.Name = ScheduleConstant
	k.WarmupIters = 0
	if got := k.LR(12345); got != 1e-4 {
		t.Errorf("constant LR = %v", got)
	}
}

func TestScheduleJSON(t *testing.T) {
	c := DefaultScheduleConfig()
	if err := json.Unmarshal([]byte(`{"name":"poly","max_iter":160000}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != SchedulePoly || c.MaxIter != 160000 || c.BaseLR != 1e-4 || c.PolyPower != 0.9 || c.WarmupIters != 10 {
		t.Errorf("decoded into defaults: %+v", c)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var d ScheduleConfig
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.LR(1234) != c.LR(1234) || d.PolyPower != c.PolyPower {
		t.Errorf("JSON round trip changed the schedule: %s", b)
	}
}

func TestScheduleValidate(t *testing.T) {
	for _, c := range []struct {
		edit func(*ScheduleConfig)
		want string
	}{
		{func(c *ScheduleConfig) { c.Name = "cosine" }, `unknown schedule name "cosine"`},
		{func(c *ScheduleConfig) { c.Name = SchedulePoly }, "poly schedule needs max_iter > 0"},
		{func(c *ScheduleConfig) { c.Steps = []int{5, 3} }, "not ascending"},
		{func(c *ScheduleConfig) { c.WarmupMethod = "exp" }, `unknown warmup_method "exp"`},
		{func(c *ScheduleConfig) { c.BaseLR = math.NaN() }, "base_lr"},
	} {
		s := DefaultScheduleConfig()
		c.edit(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate = %v, want %q", err, c.want)
		}
		if !panics(func() { s.LR(0) }) {
			t.Errorf("LR with invalid config (%q) did not panic", c.want)
		}
	}
	if err := DefaultScheduleConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}
