package probes

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// synth describes a synthetic run for tests: random logits of a decoder
// with S stages, Q queries, K classes and H×W masks.
type synth struct {
	S, Q, K, H, W int
	MP            int      // MP rows per stage (0 = inference)
	Attn          [][2]int // attention size per stage; nil = none anywhere
	StageLayers   []int
	Model         string
}

// m2f is a small Mask2Former-like run: 4 stages (3 layers), attention at
// stages 0..2 on 2×2, 4×4, 8×8 levels in the round-robin order.
var m2f = synth{S: 4, Q: 5, K: 3, H: 8, W: 8, Attn: [][2]int{{2, 2}, {4, 4}, {8, 8}, {0, 0}}, Model: "mask2former"}

func (c synth) info() RunInfo {
	cfg, _ := json.Marshal(map[string]any{"queries": c.Q, "layers": c.S - 1})
	return RunInfo{
		Model: c.Model, NumStages: c.S, NumQueries: c.Q, NumClasses: c.K, MaskStride: 4,
		MaskH: c.H, MaskW: c.W, Config: cfg, Dataset: map[string]any{"kind": "synthetic", "n": 3},
		Seed: 7, ToolVersion: "test", StageLayers: c.StageLayers,
	}
}

// image makes one image: gt = −1 for no ground truth, else the number of
// GT segments; match says whether stages carry a matching.
func (c synth) image(r *rand.Rand, index, gt int, match bool) Image {
	P := c.MP
	rows := P + c.Q
	HW := c.H * c.W
	im := Image{Index: index}
	if gt >= 0 {
		im.GT = &GroundTruth{Classes: make([]int, gt), Masks: make([]*mask.Bits, gt), Cover: make([][]float32, gt)}
		for g := range gt {
			im.GT.Classes[g] = r.IntN(c.K)
			// Coverage in sixteenths (stride 4); the mask is coverage ≥ 1/2.
			cov := make([]float32, HW)
			for i := range cov {
				if r.IntN(3) == 0 {
					cov[i] = float32(8+r.IntN(9)) / 16
				} else if r.IntN(2) == 0 {
					cov[i] = float32(r.IntN(8)) / 16
				}
			}
			im.GT.Cover[g] = cov
			im.GT.Masks[g] = mask.FromFunc(c.H, c.W, func(i int) bool { return cov[i] >= 0.5 })
		}
	}
	for s := 0; s < c.S; s++ {
		st := Stage{
			Image: index, Stage: s, NumMP: P, NumQueries: c.Q, NumClasses: c.K, H: c.H, W: c.W,
			MaskLogits: make([]float32, rows*HW), ClassLogits: make([]float32, rows*(c.K+1)), GT: im.GT,
		}
		for i := range st.MaskLogits {
			st.MaskLogits[i] = float32(r.NormFloat64() * 3)
		}
		for i := range st.ClassLogits {
			st.ClassLogits[i] = float32(r.NormFloat64())
		}
		if c.Attn != nil && c.Attn[s][0] > 0 {
			st.AttnH, st.AttnW = c.Attn[s][0], c.Attn[s][1]
			cells := st.AttnH * st.AttnW
			st.AttnMask = make([]bool, rows*cells)
			st.Unblocked = make([]bool, rows)
			for row := range rows {
				if r.IntN(4) == 0 {
					st.Unblocked[row] = true // all open
					continue
				}
				for j := range cells {
					st.AttnMask[row*cells+j] = r.IntN(2) == 0
				}
			}
		}
		if match && gt >= 0 {
			perm := r.Perm(c.Q)
			st.Match = make([]int, gt)
			for g := range gt {
				if g < c.Q {
					st.Match[g] = perm[g]
				} else {
					st.Match[g] = -1
				}
			}
		}
		im.Stages = append(im.Stages, st)
	}
	return im
}

// images makes one image per entry of gts (see image).
func (c synth) images(seed uint64, gts []int, match bool) []Image {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]Image, len(gts))
	for i, g := range gts {
		out[i] = c.image(r, 10+3*i, g, match)
	}
	return out
}

// feed runs a probe over images as the model would.
func feed(t testing.TB, p Probe, info RunInfo, imgs []Image) {
	t.Helper()
	if err := p.Init(info); err != nil {
		t.Fatal(err)
	}
	for _, im := range imgs {
		for s := range im.Stages {
			if err := p.Record(&im.Stages[s]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// cloneImages deep-copies images (stages share each image's GT copy).
func cloneImages(imgs []Image) []Image {
	out := make([]Image, len(imgs))
	for i, im := range imgs {
		gt := im.GT.Clone()
		out[i] = Image{Index: im.Index, GT: gt}
		for s := range im.Stages {
			out[i].Stages = append(out[i].Stages, im.Stages[s].cloneWithGT(gt))
		}
	}
	return out
}

// diffStage describes the first difference between two stages, comparing
// floats bit for bit. Nil and empty slices are equal, and a nil Unblocked
// equals all false (the trace stores the flags as a [S, Q] array).
func diffStage(a, b *Stage) string {
	if a.Image != b.Image || a.Stage != b.Stage || a.NumMP != b.NumMP || a.NumQueries != b.NumQueries ||
		a.NumClasses != b.NumClasses || a.H != b.H || a.W != b.W || a.AttnH != b.AttnH || a.AttnW != b.AttnW {
		return fmt.Sprintf("header %+v vs %+v", hdr(a), hdr(b))
	}
	if d := diffF32(a.MaskLogits, b.MaskLogits); d != "" {
		return "mask logits: " + d
	}
	if d := diffF32(a.ClassLogits, b.ClassLogits); d != "" {
		return "class logits: " + d
	}
	if fmt.Sprint(a.AttnMask) != fmt.Sprint(b.AttnMask) && !(len(a.AttnMask) == 0 && len(b.AttnMask) == 0) {
		return "attention masks differ"
	}
	if d := diffMasks(a.Masks, b.Masks); d != "" {
		return "binary masks: " + d
	}
	if d := diffMasks(a.AttnBits, b.AttnBits); d != "" {
		return "packed attention masks: " + d
	}
	rows := a.NumMP + a.NumQueries
	for r := range rows {
		if at(a.Unblocked, r) != at(b.Unblocked, r) {
			return fmt.Sprintf("unblocked row %d", r)
		}
	}
	if (a.Match == nil) != (b.Match == nil) && (len(a.Match) > 0 || len(b.Match) > 0) {
		return fmt.Sprintf("match %v vs %v", a.Match, b.Match)
	}
	if fmt.Sprint(a.Match) != fmt.Sprint(b.Match) {
		return fmt.Sprintf("match %v vs %v", a.Match, b.Match)
	}
	if d := diffGT(a.GT, b.GT); d != "" {
		return d
	}
	return ""
}

// diffMasks compares two mask lists (nil and empty are equal).
func diffMasks(a, b []*mask.Bits) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d vs %d masks", len(a), len(b))
	}
	for i := range a {
		if a[i].H != b[i].H || a[i].W != b[i].W || !mask.Equal(a[i], b[i]) {
			return fmt.Sprintf("mask %d differs", i)
		}
	}
	return ""
}

func hdr(s *Stage) [11]int {
	return [11]int{s.Image, s.Stage, s.NumMP, s.NumQueries, s.NumClasses, s.H, s.W, s.AttnH, s.AttnW, len(s.MaskLogits), len(s.ClassLogits)}
}

func at(v []bool, i int) bool { return v != nil && v[i] }

func diffF32(a, b []float32) string {
	if len(a) != len(b) {
		return fmt.Sprintf("length %d vs %d", len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return fmt.Sprintf("[%d] %v vs %v", i, a[i], b[i])
		}
	}
	return ""
}

func diffGT(a, b *GroundTruth) string {
	if (a == nil) != (b == nil) {
		return fmt.Sprintf("GT %v vs %v", a, b)
	}
	if a == nil {
		return ""
	}
	if fmt.Sprint(a.Classes) != fmt.Sprint(b.Classes) && len(a.Classes)+len(b.Classes) > 0 {
		return fmt.Sprintf("GT classes %v vs %v", a.Classes, b.Classes)
	}
	if len(a.Masks) != len(b.Masks) {
		return "GT mask count"
	}
	for g := range a.Masks {
		if !mask.Equal(a.Masks[g], b.Masks[g]) {
			return fmt.Sprintf("GT mask %d", g)
		}
	}
	if (a.Cover == nil) != (b.Cover == nil) {
		return fmt.Sprintf("GT coverage present %v vs %v", a.Cover != nil, b.Cover != nil)
	}
	for g := range a.Cover {
		if d := diffF32(a.Cover[g], b.Cover[g]); d != "" {
			return fmt.Sprintf("GT coverage %d: %s", g, d)
		}
	}
	return ""
}

// asCompact returns the images as a compact trace yields them: binary
// masks in Masks, mask logits and GT coverage dropped (or the logits
// rounded to float16 when keepLogits), class logits rounded to float16,
// attention as packed masks.
func asCompact(imgs []Image, keepLogits bool) []Image {
	out := cloneImages(imgs)
	for i := range out {
		if out[i].GT != nil && !keepLogits {
			out[i].GT.Cover = nil
		}
	}
	round := func(v []float32) {
		for i, x := range v {
			v[i] = f16ToF32(f32ToF16(x))
		}
	}
	for i := range out {
		for s := range out[i].Stages {
			st := &out[i].Stages[s]
			st.Masks = st.BinaryMasks()
			if keepLogits {
				round(st.MaskLogits)
			} else {
				st.MaskLogits = nil
			}
			round(st.ClassLogits)
			if cells := st.AttnH * st.AttnW; cells > 0 {
				rows := st.NumMP + st.NumQueries
				st.AttnBits = make([]*mask.Bits, rows)
				for r := range rows {
					st.AttnBits[r] = mask.FromBools(st.AttnH, st.AttnW, st.AttnMask[r*cells:(r+1)*cells])
				}
			}
			st.AttnMask = nil
		}
	}
	return out
}

// diffImages compares two image lists stage by stage.
func diffImages(a, b []Image) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d images vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Index != b[i].Index || len(a[i].Stages) != len(b[i].Stages) {
			return fmt.Sprintf("image %d: index %d vs %d, %d vs %d stages", i, a[i].Index, b[i].Index, len(a[i].Stages), len(b[i].Stages))
		}
		if d := diffGT(a[i].GT, b[i].GT); d != "" {
			return fmt.Sprintf("image %d: %s", i, d)
		}
		for s := range a[i].Stages {
			if d := diffStage(&a[i].Stages[s], &b[i].Stages[s]); d != "" {
				return fmt.Sprintf("image %d stage %d: %s", i, s, d)
			}
		}
	}
	return ""
}

// jsonOf encodes v, for comparing structs holding NaN series.
func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
