package optim

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"codeberg.org/sbinet/npyio/npz"
	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/internal/testenv"
	"github.com/mpanalyze/mpanalyze/model/engine"
)

const python = testenv.Python

func lastLine(b []byte) string {
	s := string(b)
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:] + " "
		}
	}
	return s + " "
}

// relErr is |a−b| / max(|b|, floor): relative error, with an absolute floor
// for elements near zero where relative error is meaningless.
func relErr(a, b, floor float64) float64 {
	return math.Abs(a-b) / math.Max(math.Abs(b), floor)
}

// TestAdamWMatchesPyTorch runs 5 steps of ClipGradNorm + AdamW.Step and
// the same steps of torch.nn.utils.clip_grad_norm_ + torch.optim.AdamW
// (testdata/adamw_ref.py) on the same float32 parameters and gradients, and
// compares parameters after every step, the final moments and the norms.
func TestAdamWMatchesPyTorch(t *testing.T) {
	testenv.RequirePython(t, "torch", "numpy")
	dir := t.TempDir()
	const steps = 5
	// A weight (decayed), a bias (no decay), a "backbone" weight (lr ×0.1),
	// an embedding (no decay, lr ×0.1), and a weight whose gradients are
	// ~1e-8, where eps (1e-8) is as large as √v̂ and shapes the update.
	sizes := []int{64, 16, 48, 40, 8}
	noDecay := []bool{false, true, false, true, false}
	lrMult := []float64{1, 1, 0.1, 0.1, 1}
	gradMult := []float64{1, 1, 1, 1, 1e-8}
	// A linear warm-up then constant, with a large base lr so each update is
	// visible in float32 (the official 1e-4 would move parameters by ~1e-4).
	sched := DefaultScheduleConfig()
	sched.Name = ScheduleConstant
	sched.BaseLR = 0.01
	sched.WarmupIters = 3
	sched.WarmupFactor = 0.25
	lrs := make([]float64, steps)
	for s := range lrs {
		lrs[s] = sched.LR(s)
	}
	// Gradient scales per step: the norm over 168 N(0, scale²) elements is
	// about 13·scale, so max_norm 1 clips steps 0, 1, 3 and not 2, 4.
	scales := []float64{1, 0.5, 0.05, 2, 0.01}
	const maxNorm = 1.0

	r := rng.New(20240601)
	ps := make([]*engine.Param[float32], len(sizes))
	in := map[string]any{}
	for i, n := range sizes {
		p := engine.NewParam[float32](fmt.Sprintf("p%d", i), n)
		p.NoDecay, p.LRMult = noDecay[i], lrMult[i]
		Normal(p, 0, 1, r)
		ps[i] = p
		in[fmt.Sprintf("p_%d.npy", i)] = append([]float32(nil), p.Data...)
	}
	grads := make([][][]float32, steps)
	for s := range steps {
		grads[s] = make([][]float32, len(sizes))
		for i, n := range sizes {
			g := make([]float32, n)
			for j := range g {
				g[j] = float32(gradMult[i] * scales[s] * r.Normal())
			}
			grads[s][i] = g
			in[fmt.Sprintf("g_%d_%d.npy", s, i)] = g
		}
	}
	cfg := DefaultAdamWConfig()
	inPath, cfgPath, outPath := filepath.Join(dir, "in.npz"), filepath.Join(dir, "cfg.json"), filepath.Join(dir, "out.npz")
	if err := npz.Write(inPath, in); err != nil {
		t.Fatal(err)
	}
	cj, _ := json.Marshal(map[string]any{
		"nparams": len(sizes), "steps": steps, "lrs": lrs, "lr_mult": lrMult, "no_decay": noDecay,
		"beta1": cfg.Beta1, "beta2": cfg.Beta2, "eps": cfg.Eps, "weight_decay": cfg.WeightDecay, "max_norm": maxNorm,
	})
	if err := os.WriteFile(cfgPath, cj, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "adamw_ref.py"), inPath, cfgPath, outPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("adamw_ref.py: %v\n%s", err, out)
	}
	t.Logf("%s", lastLine(out))

	ref, err := npz.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	read32 := func(name string) []float32 {
		var x []float32
		if err := ref.Read(name+".npy", &x); err != nil {
			t.Fatalf("read %s from torch output: %v", name, err)
		}
		return x
	}
	var torchNorms []float64
	if err := ref.Read("norms.npy", &torchNorms); err != nil {
		t.Fatal(err)
	}

	// Tolerance: 1e-6 relative (float32 has a 6e-8 ulp; the two sides may
	// round products and the clip coefficient differently by an ulp or
	// two). Floor: elements within 1e-3 of zero are compared absolutely
	// at 1e-9, since parameters start at N(0,1) scale.
	const tol, floor = 1e-6, 1e-3
	o := NewAdamW(ps, cfg)
	worst := map[string]float64{}
	note := func(kind string, e float64) { worst[kind] = math.Max(worst[kind], e) }
	clipped := 0
	// mScale[i][j] = Σ_s β1^(t−s)·(1−β1)·|g_s|: the size of the terms m sums.
	// m can cancel to far below them, and its error is then a few ulps of
	// the terms, not of the result; compare m relative to this scale.
	mScale := make([][]float64, len(ps))
	for i, p := range ps {
		mScale[i] = make([]float64, len(p.Data))
	}
	for s := range steps {
		for i, p := range ps {
			copy(p.Grad, grads[s][i])
		}
		norm := ClipGradNorm(ps, maxNorm)
		if norm > maxNorm {
			clipped++
		}
		for i, p := range ps {
			for j, g := range p.Grad {
				mScale[i][j] = cfg.Beta1*mScale[i][j] + (1-cfg.Beta1)*math.Abs(float64(g))
			}
		}
		note("norm", relErr(norm, torchNorms[s], 0))
		o.Step(lrs[s])
		for i, p := range ps {
			want := read32(fmt.Sprintf("p_%d_%d", s, i))
			for j := range want {
				e := relErr(float64(p.Data[j]), float64(want[j]), floor)
				note("param", e)
				if e > tol {
					t.Errorf("step %d: %s[%d] = %.9g, torch %.9g (rel err %.2g)", s, p.Name, j, p.Data[j], want[j], e)
				}
			}
		}
	}
	st := o.State()
	for i, p := range ps {
		wantM, wantV := read32(fmt.Sprintf("m_%d", i)), read32(fmt.Sprintf("v_%d", i))
		for j := range wantM {
			note("m raw", relErr(float64(st.M[p.Name][j]), float64(wantM[j]), 0))
			e := relErr(float64(st.M[p.Name][j]), float64(wantM[j]), mScale[i][j])
			note("m", e)
			if e > tol {
				t.Errorf("m[%s][%d] = %.9g, torch %.9g (err %.2g relative to the summed terms' scale %.3g)",
					p.Name, j, st.M[p.Name][j], wantM[j], e, mScale[i][j])
			}
			// v sums squares: no cancellation, plain relative error.
			e = relErr(float64(st.V[p.Name][j]), float64(wantV[j]), 0)
			note("v", e)
			if e > tol {
				t.Errorf("v[%s][%d] = %.9g, torch %.9g (rel err %.2g)", p.Name, j, st.V[p.Name][j], wantV[j], e)
			}
		}
	}
	if worst["norm"] > tol {
		t.Errorf("gradient norms differ from torch by %.2g relative", worst["norm"])
	}
	if clipped == 0 || clipped == steps {
		t.Errorf("%d of %d steps clipped: the test should exercise both paths", clipped, steps)
	}
	t.Logf("max rel err vs torch over %d steps (%d clipped): params %.2g, m %.2g (%.2g elementwise, with cancellation), v %.2g, norms %.2g",
		steps, clipped, worst["param"], worst["m"], worst["m raw"], worst["v"], worst["norm"])
}
