package engine

import (
	"encoding/json"

	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"codeberg.org/sbinet/npyio/npz"
	"github.com/mpanalyze/mpanalyze/internal/testenv"
)

// parityCase is one op compared with PyTorch. Inputs are flat float32; the
// Go side rebuilds the op on a float32 graph.
type parityCase struct {
	Name   string           `json:"name"`
	Op     string           `json:"op"`
	Shapes map[string][]int `json:"shapes"`
	Grads  []string         `json:"grads"`
	Params map[string]any   `json:"params,omitempty"`

	extra map[string][]float32                                                    // non-differentiable inputs (targets, masks, points)
	init  map[string][]float32                                                    // inputs with chosen values (default: N(0, 1))
	run   func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] // the Go op
}

func TestParityWithPyTorch(t *testing.T) {
	py := testenv.RequirePython(t, "torch", "numpy")
	r := rand.New(rand.NewPCG(2024, 11))
	randn := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * s)
		}
		return v
	}
	const D, H, Lq, Lk = 16, 4, 5, 9
	mask := make([]float32, Lq*Lk) // 1 = blocked; no fully blocked row (PyTorch gives NaN there)
	for i := range mask {
		if r.IntN(3) == 0 && i%Lk != 0 {
			mask[i] = 1
		}
	}
	headMask := make([]float32, H*Lq*Lk)
	for i := range headMask {
		if r.IntN(2) == 0 && i%Lk != 3 {
			headMask[i] = 1
		}
	}
	toBool := func(m []float32) []bool {
		b := make([]bool, len(m))
		for i, v := range m {
			b[i] = v > 0.5
		}
		return b
	}
	targets01 := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			switch r.IntN(3) {
			case 0:
				v[i] = 1
			case 1:
				v[i] = float32(r.Float64())
			}
		}
		return v
	}
	mhaShapes := map[string][]int{"q": {Lq, D}, "k": {Lk, D}, "qpos": {Lq, D}, "kpos": {Lk, D},
		"wq": {D, D}, "wk": {D, D}, "wv": {D, D}, "wo": {D, D}, "bq": {D}, "bk": {D}, "bv": {D}, "bo": {D}}
	mhaRun := func(m []bool) func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
		return func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
			w := AttnWeights[float32]{x["wq"], x["bq"], x["wk"], x["bk"], x["wv"], x["bv"], x["wo"], x["bo"]}
			return g.Attention(x["q"], x["k"], x["k"], x["qpos"], x["kpos"], w, H, m)
		}
	}
	bceT, diceT := targets01(3*20), targets01(4*16)
	clear(diceT[16:32]) // an empty target row
	pts := make([]float32, 2*13)
	for i := range pts {
		pts[i] = float32(r.Float64()*1.1 - 0.05) // a few just outside [0,1]
	}
	cases := []parityCase{
		{Name: "conv_s2", Op: "conv2d", Shapes: map[string][]int{"x": {2, 3, 9, 9}, "w": {4, 3, 3, 3}, "b": {4}}, Params: map[string]any{"stride": 2, "pad": 1},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.Conv2d(x["x"], x["w"], x["b"], ConvSpec{Stride: 2, Pad: 1})
			}},
		{Name: "conv_1x1", Op: "conv2d", Shapes: map[string][]int{"x": {1, 8, 6, 5}, "w": {3, 8, 1, 1}, "b": {3}}, Params: map[string]any{"stride": 1, "pad": 0},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.Conv2d(x["x"], x["w"], x["b"], ConvSpec{Stride: 1})
			}},
		{Name: "groupnorm", Op: "groupnorm", Shapes: map[string][]int{"x": {2, 8, 5, 5}, "gamma": {8}, "beta": {8}}, Params: map[string]any{"groups": 4},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.GroupNorm(x["x"], x["gamma"], x["beta"], 4, 1e-5)
			}},
		{Name: "layernorm", Op: "layernorm", Shapes: map[string][]int{"x": {6, 16}, "gamma": {16}, "beta": {16}},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.LayerNorm(x["x"], x["gamma"], x["beta"], 1e-5)
			}},
		{Name: "mha_shared_mask", Op: "mha", Shapes: mhaShapes, Params: map[string]any{"heads": H, "mask_shape": []int{Lq, Lk}},
			extra: map[string][]float32{"mask": mask}, run: mhaRun(toBool(mask))},
		{Name: "mha_head_mask", Op: "mha", Shapes: mhaShapes, Params: map[string]any{"heads": H, "mask_shape": []int{H, Lq, Lk}},
			extra: map[string][]float32{"mask": headMask}, run: mhaRun(toBool(headMask))},
		{Name: "bilinear_up", Op: "bilinear", Shapes: map[string][]int{"x": {2, 3, 7, 5}}, Params: map[string]any{"size": []int{11, 4}},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.ResizeBilinear(x["x"], 11, 4)
			}},
		{Name: "bilinear_down", Op: "bilinear", Shapes: map[string][]int{"x": {1, 2, 16, 16}}, Params: map[string]any{"size": []int{3, 5}},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.ResizeBilinear(x["x"], 3, 5)
			}},
		{Name: "nearest", Op: "nearest", Shapes: map[string][]int{"x": {1, 2, 7, 5}}, Params: map[string]any{"size": []int{3, 9}},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.ResizeNearest(x["x"], 3, 9)
			}},
		{Name: "point_sample", Op: "point_sample", Shapes: map[string][]int{"x": {3, 6, 7}}, extra: map[string][]float32{"points": pts},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.PointSample(x["x"], pts)
			}},
		{Name: "cross_entropy", Op: "cross_entropy", Shapes: map[string][]int{"x": {7, 5}},
			extra: map[string][]float32{"targets": {4, 0, 4, 2, 1, 4, 3}, "weights": {1, 1, 1, 1, 0.1}},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.CrossEntropy(x["x"], []int{4, 0, 4, 2, 1, 4, 3}, []float32{1, 1, 1, 1, 0.1})
			}},
		{Name: "bce", Op: "bce", Shapes: map[string][]int{"x": {3, 20}}, extra: map[string][]float32{"targets": bceT},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.BCEWithLogits(x["x"], bceT)
			}},
		{Name: "dice", Op: "dice", Shapes: map[string][]int{"x": {4, 16}}, extra: map[string][]float32{"targets": diceT},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.DiceLoss(x["x"], diceT)
			}},
	}
	cases = append(cases, msDeformParityCases(r)...)

	dir := t.TempDir()
	inputs := map[string][]float32{}
	for i := range cases {
		c := &cases[i]
		if c.Grads == nil {
			for k := range c.Shapes {
				c.Grads = append(c.Grads, k)
			}
			sort.Strings(c.Grads)
		}
		for _, k := range sortedKeys(c.Shapes) {
			data := randn(NumElems(c.Shapes[k]), 1)
			if v, ok := c.init[k]; ok {
				data = v
			}
			inputs[c.Name+"/"+k] = data
		}
		for k, v := range c.extra {
			inputs[c.Name+"/"+k] = v
		}
	}
	// Run the Go side first to know each output's size for R.
	goOut := map[string][]float32{}
	goGrad := map[string][]float32{}
	for _, c := range cases {
		g := NewGraph[float32]()
		x := map[string]*Tensor[float32]{}
		for k, s := range c.Shapes {
			x[k] = g.Leaf(inputs[c.Name+"/"+k], s...)
		}
		out := c.run(g, x)
		R := randn(len(out.Data), 1)
		inputs[c.Name+"/R"] = R
		goOut[c.Name] = append([]float32(nil), out.Data...)
		g.Backward(g.SumAll(g.Mul(out, g.Const(R, out.Shape...))))
		for _, k := range c.Grads {
			goGrad[c.Name+"/"+k] = x[k].Grad
		}
	}
	specPath, inPath, outPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "in.npz"), filepath.Join(dir, "out.npz")
	js, _ := json.Marshal(cases)
	if err := os.WriteFile(specPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	anyMap := map[string]any{}
	for k, v := range inputs {
		anyMap[k] = v
	}
	if err := npz.Write(inPath, anyMap); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/parity.py", specPath, inPath, outPath)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference script failed: %v\n%s", err, b)
	}
	rd, err := npz.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	read := func(name string) []float32 {
		var v []float32
		if err := rd.Read(name+".npy", &v); err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return v
	}
	const tol = 1e-4
	for _, c := range cases {
		worst, worstName := 0.0, ""
		fe := relErr(goOut[c.Name], read(c.Name+"/out"))
		if fe > tol {
			t.Errorf("%s: forward relative error %.3g > %g", c.Name, fe, tol)
		}
		for _, k := range c.Grads {
			if c.Op == "mha" && k == "bk" {
				// The key bias adds q·bk to every score of a row, which
				// softmax ignores: its exact gradient is 0 and both sides
				// hold rounding noise, so compare it with the scale of the
				// value bias's gradient.
				noise := relErr(goGrad[c.Name+"/"+k], make([]float32, D))
				scale := relErr(read(c.Name+"/grad/bv"), make([]float32, D))
				if noise > tol*scale {
					t.Errorf("%s: gradient of bk is %.3g, want ≈ 0 (bv's is %.3g)", c.Name, noise, scale)
				}
				continue
			}
			e := relErr(goGrad[c.Name+"/"+k], read(c.Name+"/grad/"+k))
			if e > tol {
				t.Errorf("%s: gradient of %s relative error %.3g > %g", c.Name, k, e, tol)
			}
			if e >= worst {
				worst, worstName = e, k
			}
		}
		t.Logf("%-16s forward rel err %.2g, worst gradient %.2g (%s)", c.Name, fe, worst, worstName)
	}
}

// relErr is max|a−b| / max|b|: the largest deviation relative to the
// reference's scale (elementwise relative errors blow up near zeros).
func relErr(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, s float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = max(s, math.Abs(float64(b[i])))
	}
	if s == 0 {
		return d
	}
	return d / s
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// msDeformParityCases compare multi-scale deformable attention with a
// transcription of the official pure-PyTorch reference
// ms_deform_attn_core_pytorch (testdata/parity.py): the sampling core on
// chosen locations, and the MSDeformAttn module on random weights.
//
// The core's locations mix pixel centres (where PyTorch's backward, like
// ours, takes the derivative from the right; the levels whose sides are
// powers of two make those coordinates exact in float32 on both sides),
// cell borders, the maps' edges, points partly and entirely outside the
// maps, and uniform random points.
func msDeformParityCases(r *rand.Rand) []parityCase {
	levels := [][2]int{{4, 8}, {2, 4}, {3, 5}}
	const Lq, M, Dh, P = 6, 4, 8, 4
	L := len(levels)
	Len := 0
	for _, hw := range levels {
		Len += hw[0] * hw[1]
	}
	loc := make([]float32, Lq*M*L*P*2)
	for s := 0; s < Lq*M*L*P; s++ {
		l := (s / P) % L
		H, W := levels[l][0], levels[l][1]
		coord := func(n int, kind int) float32 {
			switch kind {
			case 0: // pixel centre (exact only on power-of-two sides)
				return (float32(r.IntN(n)) + 0.5) / float32(n)
			case 1: // cell border or map edge
				return float32(r.IntN(n+1)) / float32(n)
			case 2: // partly outside
				return float32(-0.3+r.Float64()*0.1) / float32(n)
			case 3: // entirely outside
				return 1 + 2/float32(n)
			}
			return float32(r.Float64()*1.2 - 0.1) // uniform, a few just outside
		}
		kx, ky := s%6, (s/6)%6
		if l == 2 && kx == 0 { // 3×5: no exact pixel centres
			kx = 4
		}
		if l == 2 && ky == 0 {
			ky = 4
		}
		if ky == 3 && kx != 3 { // keep most samples on the maps
			ky = 5
		}
		loc[2*s], loc[2*s+1] = coord(W, kx), coord(H, ky)
	}
	attn := make([]float32, Lq*M*L*P)
	for i := range attn {
		attn[i] = float32(r.Float64())
	}
	// the module: D = 16, 4 heads, 4 points, the three levels above
	const D = M * 4
	refs := make([]float32, Lq*L*2)
	for i := range refs {
		refs[i] = float32(r.Float64())
	}
	small := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * s)
		}
		return v
	}
	lv := make([]int, 0, 2*L)
	for _, hw := range levels {
		lv = append(lv, hw[0], hw[1])
	}
	return []parityCase{
		{Name: "msdeform_core", Op: "msdeform_core", Shapes: map[string][]int{"value": {Len, M, Dh}, "loc": {Lq, M, L, P, 2}, "attn": {Lq, M, L, P}},
			Params: map[string]any{"levels": lv}, init: map[string][]float32{"loc": loc, "attn": attn},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				return g.MSDeformSample(x["value"], levels, x["loc"], x["attn"])
			}},
		{Name: "msdeform_attn", Op: "msdeform_attn", Params: map[string]any{"levels": lv, "heads": M, "points": P},
			Shapes: map[string][]int{"query": {Lq, D}, "input": {Len, D}, "ref": {Lq, L, 2},
				"w_off": {M * L * P * 2, D}, "b_off": {M * L * P * 2}, "w_attn": {M * L * P, D}, "b_attn": {M * L * P},
				"w_value": {D, D}, "b_value": {D}, "w_out": {D, D}, "b_out": {D}},
			init: map[string][]float32{"ref": refs, "w_off": small(M*L*P*2*D, 0.3), "b_off": small(M*L*P*2, 1), "w_attn": small(M*L*P*D, 0.3)},
			run: func(g *Graph[float32], x map[string]*Tensor[float32]) *Tensor[float32] {
				w := MSDeformWeights[float32]{x["w_off"], x["b_off"], x["w_attn"], x["b_attn"], x["w_value"], x["b_value"], x["w_out"], x["b_out"]}
				return g.MSDeformAttn(x["query"], x["input"], x["ref"], levels, w, M, P)
			}},
	}
}
