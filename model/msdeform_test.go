package model

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/internal/testenv"
	"github.com/mpanalyze/mpanalyze/model/ckpt"
)

// msdeformConfig is the default Mask2Former with the msdeform pixel
// decoder.
func msdeformConfig(k int) Config {
	c := DefaultConfig(ArchMask2Former, k)
	c.PixelDecoder = PixelMSDeform
	return c
}

// TestMSDeformLayout checks the msdeform pixel decoder's outputs (shapes
// and order: strides 32, 16, 8, 4) and its official initialisation.
func TestMSDeformLayout(t *testing.T) {
	m, err := New(msdeformConfig(3), 1)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph()
	g.SetGrad(false)
	x := g.Scratch(3 * 128 * 128)
	normalizeInto(x, make([]float32, 3*128*128), 128)
	mf, out := m.pixel.Forward(g, m.backbone.fwd(g, g.Const(x, 1, 3, 128, 128)))
	if want := []int{1, 64, 32, 32}; fmt.Sprint(mf.Shape) != fmt.Sprint(want) {
		t.Errorf("mask features %v, want %v", mf.Shape, want)
	}
	for i, s := range []int{4, 8, 16, 32} {
		if want := []int{1, 64, s, s}; fmt.Sprint(out[i].Shape) != fmt.Sprint(want) {
			t.Errorf("output %d is %v, want %v", i, out[i].Shape, want)
		}
	}
	// sampling offsets: zero weights, bias (p+1)·direction of head m (8
	// heads: 0°, 45°, …), the same on every level (MSDeformAttn.
	// _reset_parameters); hand values: head 0 → (1, 0), head 2 (90°) →
	// (≈0, 1), head 5 (225°) → (−1, −1), times p+1.
	b := m.Param("pixel_decoder.transformer.encoder.layers.0.self_attn.sampling_offsets.bias").Data
	at := func(head, level, point int) [2]float32 {
		i := ((head*3+level)*4 + point) * 2
		return [2]float32{b[i], b[i+1]}
	}
	for _, c := range []struct {
		head, level, point int
		x, y               float64
	}{{0, 0, 0, 1, 0}, {0, 2, 3, 4, 0}, {2, 1, 1, 0, 2}, {5, 0, 2, -3, -3}, {7, 2, 0, 1, -1}} {
		v := at(c.head, c.level, c.point)
		if math.Abs(float64(v[0])-c.x) > 1e-6 || math.Abs(float64(v[1])-c.y) > 1e-6 {
			t.Errorf("offset bias head %d level %d point %d = %v, want (%g, %g)", c.head, c.level, c.point, v, c.x, c.y)
		}
	}
	for _, name := range []string{"sampling_offsets.weight", "attention_weights.weight", "attention_weights.bias", "value_proj.bias", "output_proj.bias"} {
		for _, v := range m.Param("pixel_decoder.transformer.encoder.layers.5.self_attn." + name).Data {
			if v != 0 {
				t.Fatalf("%s is not zero-initialised", name)
			}
		}
	}
	if m.Param("pixel_decoder.transformer.encoder.layers.6.norm1.weight") != nil || m.Param("pixel_decoder.transformer.encoder.layers.5.norm2.weight") == nil {
		t.Error("want 6 encoder layers")
	}
}

// TestOldConfigIsFPN: a config saved before Config.PixelDecoder existed
// (no pixel_decoder or msdeform keys) builds the FPN and marshals as
// today's default, so old checkpoints load and resume.
func TestOldConfigIsFPN(t *testing.T) {
	c := DefaultConfig(ArchMask2Former, 4)
	want := string(c.MarshalIndent())
	old := c
	old.PixelDecoder, old.MSDeform = "", MSDeformConfig{}
	if got := string(old.MarshalIndent()); got != want {
		t.Errorf("old config marshals as\n%s\nwant\n%s", got, want)
	}
	m, err := New(old, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.pixel.(*fpn); !ok || m.Cfg.PixelDecoder != PixelFPN {
		t.Errorf("old config built %T (%q)", m.pixel, m.Cfg.PixelDecoder)
	}
	bad := c
	bad.PixelDecoder = "deformable"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `unknown pixel decoder "deformable"`) {
		t.Errorf("bad pixel decoder: %v", err)
	}
	bad = msdeformConfig(4)
	bad.MSDeform.Heads = 5
	if err := bad.Validate(); err == nil {
		t.Error("64 channels over 5 heads accepted")
	}
}

// TestMSDeformPixelDecoderTorchParity runs the msdeform pixel decoder in
// Go and in the PyTorch build of it (torchref.MSDeformPixelDecoder, driven
// by torchref/pixel_parity.py) on the same weights and backbone features,
// and requires the outputs (mask features; levels at strides 32, 16, 8, 4)
// and the gradients of Σ R⊙outputs with respect to every parameter and the
// features to agree within relative error 1e-4 (max |Go − PyTorch| over
// max |PyTorch|, per array).
//
// The weights are the default initialisation plus N(0, 0.05²) noise: at
// the initialisation itself every sampling offset is a whole number of
// pixels (zero offset weights, the grid bias), so every sampling point
// sits exactly on a pixel centre, where bilinear sampling has a kink; the
// location gradient there depends on which side a rounding error puts the
// point, and our coordinates (x·W − ½ in float64, as the official CUDA
// kernel computes them) and grid_sample's (through 2x − 1 in float32)
// round differently.
func TestMSDeformPixelDecoderTorchParity(t *testing.T) {
	py := testenv.RequirePython(t, "torch", "numpy", "scipy")
	m, err := New(msdeformConfig(5), 3)
	if err != nil {
		t.Fatal(err)
	}
	r := rng.New(11)
	var pd []*Param
	for _, p := range m.Params() {
		if strings.HasPrefix(p.Name, "pixel_decoder.") {
			for i := range p.Data {
				p.Data[i] += float32(0.05 * r.Normal())
			}
			pd = append(pd, p)
		}
	}
	ck := ckpt.New()
	ck.Meta.Model = m.Cfg.MarshalIndent()
	ck.PutParams(ckpt.ParamPrefix, pd)
	g := NewGraph()
	var feats [4]*Tensor
	for s := range feats {
		n := m.Cfg.ImageSize / (4 << s)
		shape := []int{1, m.Cfg.BackboneWidths[s], n, n}
		data := make([]float32, shape[1]*n*n)
		for i := range data {
			data[i] = float32(r.Normal())
		}
		feats[s] = g.Leaf(data, shape...)
		ck.Arrays[fmt.Sprintf("feat/%d", s)] = ckpt.Array{Shape: shape, Data: data}
	}
	mf, out := m.pixel.Forward(g, feats)
	outputs := map[string]*Tensor{"mask_features": mf}
	for i, o := range out {
		outputs[fmt.Sprintf("out%d", i)] = o
	}
	var terms []*Tensor
	for _, name := range sortedNames(outputs) {
		o := outputs[name]
		R := make([]float32, len(o.Data))
		for i := range R {
			R[i] = float32(r.Normal())
		}
		ck.Arrays["R/"+name] = ckpt.Array{Shape: o.Shape, Data: R}
		terms = append(terms, g.SumAll(g.Mul(o, g.Const(R, o.Shape...))))
	}
	g.Backward(g.AddN(terms...))

	dir := t.TempDir()
	in, outPath := filepath.Join(dir, "go.npz"), filepath.Join(dir, "torch.npz")
	if err := ckpt.Save(in, ck); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("torchref", "pixel_parity.py"), in, outPath)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "OMP_NUM_THREADS=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pixel_parity.py: %v\n%s", err, b)
	}
	tc, err := ckpt.Load(outPath)
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-4
	worst, worstName := 0.0, ""
	check := func(what string, got, ref []float32) {
		e := maxRelErr(got, ref)
		if e > tol {
			t.Errorf("%s: relative error %.3g > %g", what, e, tol)
		}
		if e > worst {
			worst, worstName = e, what
		}
	}
	for _, name := range sortedNames(outputs) {
		check("output "+name, outputs[name].Data, tc.Arrays["out/"+name].Data)
	}
	for s, f := range feats {
		check(fmt.Sprintf("gradient of backbone feature %d", s), f.Grad, tc.Arrays[fmt.Sprintf("grad/feat%d", s)].Data)
	}
	for _, p := range pd {
		ref, ok := tc.Arrays["grad/"+strings.TrimPrefix(p.Name, "pixel_decoder.")]
		if !ok {
			t.Fatalf("no PyTorch gradient for %s", p.Name)
		}
		check("gradient of "+p.Name, g.ParamGrad(p), ref.Data)
	}
	t.Logf("%d parameters, 5 outputs, 4 feature gradients: worst relative error %.3g (%s)", len(pd), worst, worstName)
}

// maxRelErr is max|a − ref| / max|ref| (the engine parity's measure).
func maxRelErr(a, ref []float32) float64 {
	if len(a) != len(ref) {
		return math.Inf(1)
	}
	var d, s float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(ref[i])))
		s = max(s, math.Abs(float64(ref[i])))
	}
	if s == 0 {
		return d
	}
	return d / s
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
