package optim

import (
	"math"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/model/engine"
)

func TestFanInOut(t *testing.T) {
	// PyTorch _calculate_fan_in_and_fan_out: fan_in = shape[1]·prod(shape[2:]),
	// fan_out = shape[0]·prod(shape[2:]).
	for _, c := range []struct {
		shape   []int
		in, out int
	}{
		{[]int{8, 3}, 3, 8},             // nn.Linear(3, 8).weight
		{[]int{16, 4, 3, 3}, 36, 144},   // nn.Conv2d(4, 16, 3).weight
		{[]int{5, 7, 2}, 14, 10},        // nn.Conv1d(7, 5, 2).weight
		{[]int{16, 1, 3, 3}, 9, 144},    // depthwise nn.Conv2d(16, 16, 3, groups=16)
		{[]int{6, 2, 2, 3, 3}, 36, 108}, // nn.Conv3d(2, 6, (2,3,3))
	} {
		in, out := FanInOut(c.shape)
		if in != c.in || out != c.out {
			t.Errorf("FanInOut(%v) = %d, %d; want %d, %d", c.shape, in, out, c.in, c.out)
		}
	}
	if !panics(func() { FanInOut([]int{5}) }) {
		t.Error("FanInOut of a 1-D shape did not panic")
	}
}

func TestGain(t *testing.T) {
	// torch.nn.init.calculate_gain.
	for _, c := range []struct {
		name        string
		param, want float64
	}{
		{"linear", 0, 1}, {"conv2d", 0, 1}, {"sigmoid", 0, 1},
		{"tanh", 0, 5.0 / 3}, {"relu", 0, math.Sqrt2}, {"selu", 0, 0.75},
		{"leaky_relu", 0.01, math.Sqrt(2 / 1.0001)},
		{"leaky_relu", math.Sqrt(5), math.Sqrt(1.0 / 3)}, // PyTorch's default Linear/Conv init
	} {
		if got := Gain(c.name, c.param); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("Gain(%s, %v) = %v, want %v", c.name, c.param, got, c.want)
		}
	}
	if !panics(func() { Gain("swish", 0) }) {
		t.Error("Gain of an unknown name did not panic")
	}
}

type stats struct{ mean, std, maxAbs, within1Std float64 }

func sampleStats(x []float32) stats {
	var s, ss, m float64
	for _, v := range x {
		s += float64(v)
	}
	mean := s / float64(len(x))
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
		m = max(m, math.Abs(float64(v)))
	}
	std := math.Sqrt(ss / float64(len(x)))
	in := 0
	for _, v := range x {
		if math.Abs(float64(v)-mean) <= std {
			in++
		}
	}
	return stats{mean, std, m, float64(in) / float64(len(x))}
}

// checkUniform requires x to look like U(lo, hi): inside the bounds, the max
// near the bound, mean and std within a few standard errors.
func checkUniform(t *testing.T, what string, x []float32, lo, hi float64) {
	t.Helper()
	n := float64(len(x))
	st := sampleStats(x)
	wantMean, wantStd := (lo+hi)/2, (hi-lo)/math.Sqrt(12)
	for i, v := range x {
		// float32 rounding of a draw just below hi can land on hi.
		if float64(v) < lo-1e-7*math.Abs(lo) || float64(v) > hi+1e-7*math.Abs(hi) {
			t.Fatalf("%s: x[%d] = %v outside [%v, %v]", what, i, v, lo, hi)
		}
	}
	// Mean: standard error wantStd/√n; allow 5.
	if math.Abs(st.mean-wantMean) > 5*wantStd/math.Sqrt(n) {
		t.Errorf("%s: mean %v, want %v ± %v", what, st.mean, wantMean, 5*wantStd/math.Sqrt(n))
	}
	// Std of a uniform sample: relative standard error √(0.8/n)/2 (kurtosis 1.8); allow 6.
	if math.Abs(st.std/wantStd-1) > 6*math.Sqrt(0.8/n)/2 {
		t.Errorf("%s: std %v, want %v", what, st.std, wantStd)
	}
	// Max: P(all n draws in the inner 99.9%) = 0.999^n, negligible for n ≥ 1e5.
	if half := (hi - lo) / 2; n >= 1e5 && st.maxAbs-math.Abs(wantMean) < 0.999*half {
		t.Errorf("%s: max |x| %v, want near %v", what, st.maxAbs, half)
	}
}

// checkNormal requires x to look like N(mean, std²).
func checkNormal(t *testing.T, what string, x []float32, mean, std float64) {
	t.Helper()
	n := float64(len(x))
	st := sampleStats(x)
	if math.Abs(st.mean-mean) > 5*std/math.Sqrt(n) {
		t.Errorf("%s: mean %v, want %v ± %v", what, st.mean, mean, 5*std/math.Sqrt(n))
	}
	// Relative standard error of a normal sample std: 1/√(2n); allow 6.
	if math.Abs(st.std/std-1) > 6/math.Sqrt(2*n) {
		t.Errorf("%s: std %v, want %v", what, st.std, std)
	}
	// P(|z| ≤ 1) = 0.682689; binomial standard error √(p(1−p)/n); allow 6.
	if math.Abs(st.within1Std-0.682689) > 6*math.Sqrt(0.682689*0.317311/n) {
		t.Errorf("%s: %.4f within one std, want 0.6827 (not normal?)", what, st.within1Std)
	}
}

func TestInitialisers(t *testing.T) {
	r := rng.New(2023)
	conv := func() *engine.Param[float32] { return engine.NewParam[float32]("w", 256, 128, 3, 3) }
	// fan_in = 128·9 = 1152, fan_out = 256·9 = 2304.

	p := conv()
	XavierUniform(p, 1, r)
	a := math.Sqrt(6.0 / (1152 + 2304)) // √3·√(2/(fan_in+fan_out))
	checkUniform(t, "XavierUniform", p.Data, -a, a)

	p = conv()
	KaimingNormal(p, FanOut, Gain("relu", 0), r)
	checkNormal(t, "KaimingNormal(fan_out, relu)", p.Data, 0, math.Sqrt(2.0/2304))

	p = conv()
	KaimingUniform(p, FanIn, Gain("relu", 0), r)
	b := math.Sqrt(6.0 / 1152) // √3·√2/√fan_in
	checkUniform(t, "KaimingUniform(fan_in, relu)", p.Data, -b, b)

	// nn.Linear(1000, 300) default: weight and bias U(±1/√1000).
	w := engine.NewParam[float32]("fc.weight", 300, 1000)
	bias := engine.NewParam[float32]("fc.bias", 300)
	TorchDefault(w, bias, r)
	checkUniform(t, "TorchDefault weight", w.Data, -1/math.Sqrt(1000), 1/math.Sqrt(1000))
	checkUniform(t, "TorchDefault bias", bias.Data, -1/math.Sqrt(1000), 1/math.Sqrt(1000))

	// nn.Conv2d(128, 256, 3) default: U(±1/√1152).
	p = conv()
	TorchDefault(p, nil, r)
	checkUniform(t, "TorchDefault conv weight", p.Data, -1/math.Sqrt(1152), 1/math.Sqrt(1152))

	e := engine.NewParam[float32]("emb", 100, 1000)
	Normal(e, 0.5, 0.02, r)
	checkNormal(t, "Normal(0.5, 0.02)", e.Data, 0.5, 0.02)
	Uniform(e, -1, 3, r)
	checkUniform(t, "Uniform(-1, 3)", e.Data, -1, 3)
	Constant(e, 0.25)
	for i, v := range e.Data {
		if v != 0.25 {
			t.Fatalf("Constant: e[%d] = %v", i, v)
		}
	}
}

func TestInitialisersDeterministic(t *testing.T) {
	draw := func() []float32 {
		r := rng.New(5)
		w := engine.NewParam[float32]("w", 7, 5, 3, 3)
		b := engine.NewParam[float32]("b", 7)
		empty := engine.NewParam[float32]("e", 0, 4)
		XavierUniform(empty, 1, r) // no elements: draws nothing
		TorchDefault(w, b, r)
		KaimingNormal(w, FanIn, 1, r)
		return append(w.Data, b.Data...)
	}
	x, y := draw(), draw()
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			t.Fatalf("element %d differs between runs: %v vs %v", i, x[i], y[i])
		}
	}
	// The first weight draw is the first Uniform of the seed: the empty
	// parameter consumed nothing.
	r := rng.New(5)
	first := float32(r.Uniform(-1/math.Sqrt(45), 1/math.Sqrt(45)))
	r2 := rng.New(5)
	w := engine.NewParam[float32]("w", 7, 5, 3, 3)
	XavierUniform(engine.NewParam[float32]("e", 0, 4), 1, r2)
	TorchDefault(w, nil, r2)
	if math.Abs(float64(w.Data[0]-first)) > 1e-7 {
		t.Errorf("first TorchDefault draw %v, want %v", w.Data[0], first)
	}
}
