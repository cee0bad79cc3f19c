package optim

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/model/engine"
)

func scalarParam(name string, v float32) *engine.Param[float32] {
	p := engine.NewParam[float32](name, 1)
	p.Data[0] = v
	return p
}

// withinRel reports |got−want| <= tol·|want|.
func withinRel(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want)
}

// TestAdamWHandComputed checks the first two AdamW steps against values
// computed by hand (exact decimal arithmetic, written out below) with
// lr 0.1, β1 0.9, β2 0.999, eps 1e-8, weight decay 0.05.
func TestAdamWHandComputed(t *testing.T) {
	w := scalarParam("w", 1.0)  // decayed, lr×1
	b := scalarParam("b", -2.0) // NoDecay, lr×1
	b.NoDecay = true
	bb := scalarParam("bb", 0.5) // decayed, lr×0.1 ("backbone")
	bb.LRMult = 0.1
	o := NewAdamW([]*engine.Param[float32]{w, b, bb}, DefaultAdamWConfig())
	const lr = 0.1

	// Step 1.
	// w: g=0.5. p = 1·(1−0.1·0.05) = 0.995; m = 0.1·0.5 = 0.05;
	//    v = 0.001·0.25 = 0.00025; m̂ = 0.05/(1−0.9) = 0.5;
	//    v̂ = 0.00025/(1−0.999) = 0.25; √v̂ = 0.5;
	//    p = 0.995 − 0.1·0.5/(0.5+1e-8) = 0.995 − 0.099999998 = 0.895000002.
	// b: g=−1, no decay. m = −0.1, v = 0.001, m̂ = −1, v̂ = 1;
	//    p = −2 + 0.1·1/(1+1e-8) = −1.900000001.
	// bb: g=2, lr 0.01. p = 0.5·(1−0.01·0.05) = 0.49975; m = 0.2, v = 0.004,
	//    m̂ = 2, v̂ = 4, √v̂ = 2; p = 0.49975 − 0.01·2/(2+1e-8) = 0.48975000005.
	w.Grad[0], b.Grad[0], bb.Grad[0] = 0.5, -1, 2
	o.Step(lr)
	check := func(step int, p *engine.Param[float32], want, wantM, wantV float64) {
		t.Helper()
		s := o.State()
		// float32 arithmetic over ~10 operations: a few ulps (ulp = 6e-8 relative).
		if !withinRel(float64(p.Data[0]), want, 3e-7) {
			t.Errorf("step %d: %s = %.10g, want %.10g", step, p.Name, p.Data[0], want)
		}
		if !withinRel(float64(s.M[p.Name][0]), wantM, 3e-7) {
			t.Errorf("step %d: m[%s] = %.10g, want %.10g", step, p.Name, s.M[p.Name][0], wantM)
		}
		if !withinRel(float64(s.V[p.Name][0]), wantV, 3e-7) {
			t.Errorf("step %d: v[%s] = %.10g, want %.10g", step, p.Name, s.V[p.Name][0], wantV)
		}
	}
	check(1, w, 0.895000002, 0.05, 0.00025)
	check(1, b, -1.900000001, -0.1, 0.001)
	check(1, bb, 0.48975000005, 0.2, 0.004)

	// Step 2 (bias corrections 1−0.9² = 0.19, 1−0.999² = 0.001999).
	// w: g=−0.25. p = 0.895000002·0.995 = 0.89052500199;
	//    m = 0.9·0.05 + 0.1·(−0.25) = 0.02; v = 0.999·0.00025 + 0.001·0.0625
	//    = 0.00031225; m̂ = 0.02/0.19 = 0.105263157895;
	//    v̂ = 0.00031225/0.001999 = 0.156203101551; √v̂ = 0.395225380702;
	//    p = 0.89052500199 − 0.1·0.105263157895/(0.395225380702+1e-8)
	//      = 0.89052500199 − 0.026633703292 = 0.863891298698.
	// b: g=−1. m = −0.19, v = 0.001999, m̂ = −1, v̂ = 1;
	//    p = −1.900000001 + 0.1/(1+1e-8) = −1.800000002.
	// bb: g=2. p = 0.48975000005·0.9995 = 0.48950512505; m = 0.38,
	//    v = 0.007996, m̂ = 2, v̂ = 4; p = 0.48950512505 − 0.01·2/(2+1e-8)
	//    = 0.4795051251.
	w.Grad[0], b.Grad[0], bb.Grad[0] = -0.25, -1, 2
	o.Step(lr)
	check(2, w, 0.863891298698, 0.02, 0.00031225)
	check(2, b, -1.800000002, -0.19, 0.001999)
	check(2, bb, 0.4795051251, 0.38, 0.007996)
	if o.StepCount() != 2 {
		t.Errorf("StepCount = %d, want 2", o.StepCount())
	}
}

// randomParams returns params of the given sizes with N(0,1) data and
// grads from a fixed seed.
func randomParams(seed uint64, sizes ...int) []*engine.Param[float32] {
	r := rng.New(seed)
	ps := make([]*engine.Param[float32], len(sizes))
	for i, n := range sizes {
		p := engine.NewParam[float32]("p"+string(rune('a'+i)), n)
		for j := range p.Data {
			p.Data[j] = float32(r.Normal())
		}
		ps[i] = p
		if i%3 == 1 {
			p.NoDecay = true
		}
		if i%3 == 2 {
			p.LRMult = 0.1
		}
	}
	return ps
}

func fillGrads(ps []*engine.Param[float32], seed uint64, step int) {
	r := rng.New(rng.Derive(seed, uint64(step)))
	for _, p := range ps {
		for j := range p.Grad {
			p.Grad[j] = float32(r.Normal())
		}
	}
}

func runSteps(o *AdamW, ps []*engine.Param[float32], from, to int) {
	for s := from; s < to; s++ {
		fillGrads(ps, 7, s)
		ClipGradNorm(ps, 50)
		o.Step(1e-3 * float64(s+1))
	}
}

func sameBits(t *testing.T, what string, a, b []*engine.Param[float32]) {
	t.Helper()
	for i := range a {
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				t.Fatalf("%s: %s[%d] = %v vs %v", what, a[i].Name, j, a[i].Data[j], b[i].Data[j])
			}
		}
	}
}

// TestAdamWDeterministic runs the same 4 steps serially (GOMAXPROCS 1) and
// in parallel (GOMAXPROCS 2 and 3, whose splits cut parameters at different
// places) and requires identical bits; sizes exceed parallelMin.
func TestAdamWDeterministic(t *testing.T) {
	sizes := []int{40001, 7, 30011, 12345, 1}
	var ref []*engine.Param[float32]
	for _, procs := range []int{1, 2, 3, 2} {
		prev := runtime.GOMAXPROCS(procs)
		ps := randomParams(3, sizes...)
		o := NewAdamW(ps, DefaultAdamWConfig())
		runSteps(o, ps, 0, 4)
		runtime.GOMAXPROCS(prev)
		if ref == nil {
			ref = ps
			continue
		}
		sameBits(t, "GOMAXPROCS "+string(rune('0'+procs)), ref, ps)
	}
}

// TestAdamWStateRoundTrip stops after 3 steps, moves the state to a fresh
// optimiser and parameters, and requires the same bits after 5 steps as an
// uninterrupted run.
func TestAdamWStateRoundTrip(t *testing.T) {
	sizes := []int{100, 3, 50}
	full := randomParams(1, sizes...)
	of := NewAdamW(full, DefaultAdamWConfig())
	runSteps(of, full, 0, 5)

	a := randomParams(1, sizes...)
	oa := NewAdamW(a, DefaultAdamWConfig())
	runSteps(oa, a, 0, 3)
	st := oa.State()
	b := randomParams(99, sizes...) // different values, restored below
	for i := range b {
		copy(b[i].Data, a[i].Data)
	}
	ob := NewAdamW(b, DefaultAdamWConfig())
	if err := ob.SetState(st); err != nil {
		t.Fatal(err)
	}
	if ob.StepCount() != 3 {
		t.Fatalf("StepCount after SetState = %d, want 3", ob.StepCount())
	}
	runSteps(ob, b, 3, 5)
	sameBits(t, "resumed", full, b)
}

func TestAdamWSetStateErrors(t *testing.T) {
	ps := randomParams(1, 4, 2)
	o := NewAdamW(ps, DefaultAdamWConfig())
	good := o.State()
	cases := []struct {
		name string
		edit func(s *AdamWState)
		want string
	}{
		{"missing m", func(s *AdamWState) { delete(s.M, "pa") }, `no first moment (m) for parameter "pa"`},
		{"short v", func(s *AdamWState) { s.V["pb"] = s.V["pb"][:1] }, `second moment (v) for parameter "pb" has 1 values, parameter has 2`},
		{"extra m", func(s *AdamWState) { s.M["zz"] = []float32{1} }, `first moment (m) for "zz", which is not a parameter`},
		{"negative step", func(s *AdamWState) { s.Step = -1 }, "negative step"},
	}
	for _, c := range cases {
		s := o.State()
		c.edit(&s)
		err := o.SetState(s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if err := o.SetState(good); err != nil {
		t.Errorf("good state: %v", err)
	}
}

func TestNewAdamWPanics(t *testing.T) {
	p := engine.NewParam[float32]("x", 2)
	cases := []struct {
		name string
		f    func()
	}{
		{"duplicate name", func() { NewAdamW([]*engine.Param[float32]{p, p}, DefaultAdamWConfig()) }},
		{"nil param", func() { NewAdamW([]*engine.Param[float32]{nil}, DefaultAdamWConfig()) }},
		{"beta1 = 1", func() { c := DefaultAdamWConfig(); c.Beta1 = 1; NewAdamW(nil, c) }},
		{"negative decay", func() { c := DefaultAdamWConfig(); c.WeightDecay = -1; NewAdamW(nil, c) }},
	}
	for _, c := range cases {
		if !panics(c.f) {
			t.Errorf("%s: no panic", c.name)
		}
	}
}

func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}

func BenchmarkAdamWStep(b *testing.B) {
	ps := randomParams(1, 1<<20, 1<<18, 1<<16, 1000)
	fillGrads(ps, 1, 0)
	o := NewAdamW(ps, DefaultAdamWConfig())
	n := 0
	for _, p := range ps {
		n += len(p.Data)
	}
	b.SetBytes(int64(n) * 16)
	for b.Loop() {
		o.Step(1e-4)
	}
}
