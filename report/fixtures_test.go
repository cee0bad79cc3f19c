package report

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/probes"
)

// Tiny traces of a fake decoder on real synthetic validation scenes: the
// GT is the scene's (data.MakeImage's Masks4), query g < G predicts GT
// segment g's mask shifted by a drift that shrinks through the stages (by
// more for the "mask2former" fixture than for "mpformer"), so that masks
// become consistent late, as in a trained model; the other queries predict
// a small square that wanders, or nothing.

// fixtureSpec is the dataset the fixture traces record: 4 synthetic
// validation scenes of 128 px.
var fixtureSpec = data.Spec{Kind: "synthetic", Split: "val", Seed: 1, Size: 128, N: 4}

const (
	fixStages  = 4 // stages 0..3 (3 decoder layers)
	fixQueries = 8
	fixSize    = 128
	fixMask    = fixSize / 4
)

type fixture struct {
	model string
	ckpt  string // checkpoint path recorded in the trace
	drift int    // pixel drift of stage 0; stage s drifts drift·(S−1−s)/(S−1)
	// images are the dataset indices traced, in order.
	images []int
	// describe overrides the recorded dataset description (nil: the
	// dataset's own).
	describe map[string]any
}

// writeFixture writes the fixture's trace into dir and returns its path.
func writeFixture(t testing.TB, dir string, f fixture) string {
	t.Helper()
	ds, err := data.Open(fixtureSpec)
	if err != nil {
		t.Fatal(err)
	}
	cats := ds.Categories()
	var names []string
	for _, c := range cats {
		names = append(names, c.Name)
	}
	K := len(cats)
	cfg, _ := json.Marshal(map[string]any{"image_size": fixSize, "class_names": names, "queries": fixQueries})
	desc := f.describe
	if desc == nil {
		desc = ds.Describe()
	}
	info := probes.RunInfo{
		Model: f.model, NumStages: fixStages, NumQueries: fixQueries, NumClasses: K, MaskStride: 4,
		MaskH: fixMask, MaskW: fixMask, Config: cfg, Dataset: desc, Checkpoint: f.ckpt,
		Seed: 1, ToolVersion: "test", StageLayers: []int{0, 1, 2, 3},
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s", f.model, filepath.Base(f.ckpt)))
	tw := probes.NewTraceWriter(path, nil)
	if err := tw.Init(info); err != nil {
		t.Fatal(err)
	}
	for _, idx := range f.images {
		smp, err := ds.Sample(idx)
		if err != nil {
			t.Fatal(err)
		}
		bi := data.MakeImage(smp, fixSize, data.AugParams{Scale: 1})
		gt := &probes.GroundTruth{Classes: bi.Classes, Masks: bi.Masks4}
		G := len(gt.Masks)
		for s := range fixStages {
			st := fixtureStage(idx, s, f.drift, K, gt)
			// Matching: query g for segment g (g < Q); at stage 0 the
			// mask2former fixture has the first two swapped.
			st.Match = make([]int, G)
			for g := range G {
				st.Match[g] = -1
				if g < fixQueries {
					st.Match[g] = g
				}
			}
			if s == 0 && f.model == "mask2former" && G >= 2 {
				st.Match[0], st.Match[1] = 1, 0
			}
			if err := tw.Record(&st); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	npz, _ := tw.Paths()
	return npz
}

// fixtureStage is stage s of one image.
func fixtureStage(idx, s, drift, K int, gt *probes.GroundTruth) probes.Stage {
	const H, W, Q = fixMask, fixMask, fixQueries
	st := probes.Stage{Image: idx, Stage: s, NumQueries: Q, NumClasses: K, H: H, W: W,
		MaskLogits: make([]float32, Q*H*W), ClassLogits: make([]float32, Q*(K+1)), GT: gt}
	d := drift * (fixStages - 1 - s) / (fixStages - 1)
	masks := make([]*mask.Bits, Q)
	for q := range Q {
		m := mask.New(H, W)
		if q < len(gt.Masks) {
			// The GT segment moved by (d, d/2) cells, wrapping around.
			g := gt.Masks[q]
			for y := range H {
				for x := range W {
					if g.At(((y-d/2)%H+H)%H, ((x-d)%W+W)%W) {
						m.Set(y*W+x, true)
					}
				}
			}
		} else if q%2 == 0 {
			// A 4×4 square that wanders with the stage and the query.
			x0, y0 := (3*q+5*s)%(W-4), (7*q+2*s+idx)%(H-4)
			for y := y0; y < y0+4; y++ {
				for x := x0; x < x0+4; x++ {
					m.Set(y*W+x, true)
				}
			}
		}
		masks[q] = m
		for i := range H * W {
			v := float32(-2)
			if m.Get(i) {
				v = 2
			}
			st.MaskLogits[q*H*W+i] = v
		}
		// Class logits: the GT class grows more certain through the
		// stages; other queries say "no object".
		cl := st.ClassLogits[q*(K+1) : (q+1)*(K+1)]
		if q < len(gt.Masks) {
			cl[gt.Classes[q]] = float32(1 + s)
		} else {
			cl[K] = 3
		}
	}
	if s < fixStages-1 {
		// The next layer attends where the mask is, on an 8×8 map.
		st.AttnH, st.AttnW = 8, 8
		st.AttnMask = make([]bool, Q*64)
		st.Unblocked = make([]bool, Q)
		for q := range Q {
			open := false
			for a := range 64 {
				ay, ax := a/8, a%8
				in := false
				for y := ay * 4; y < ay*4+4; y++ {
					for x := ax * 4; x < ax*4+4; x++ {
						in = in || masks[q].At(y, x)
					}
				}
				st.AttnMask[q*64+a] = !in
				open = open || in
			}
			if !open { // entirely blocked rows attend everywhere
				st.Unblocked[q] = true
				for a := range 64 {
					st.AttnMask[q*64+a] = false
				}
			}
		}
	} else {
		st.Unblocked = make([]bool, Q)
	}
	return st
}

// fixtureTraces writes the viewer fixture: Mask2Former and MP-Former at
// steps 2 and 4 (a larger drift at step 2) on the 4 scenes.
func fixtureTraces(t testing.TB) []string {
	dir := t.TempDir()
	var paths []string
	for _, m := range []struct {
		model string
		drift int
	}{{"mask2former", 6}, {"mpformer", 3}} {
		for _, step := range []int{2, 4} {
			paths = append(paths, writeFixture(t, dir, fixture{model: m.model,
				ckpt: fmt.Sprintf("runs/%s/checkpoints/step-%06d.npz", m.model, step), drift: m.drift * 4 / step, images: []int{0, 1, 2, 3}}))
		}
	}
	return paths
}
