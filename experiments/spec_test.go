package experiments

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/model"
)

// tinySet shrinks the model so that a run trains in a fraction of a second
// (the brief's tiny configuration).
const tinySet = `{image_size: 64, queries: 8, hidden: 32, ffn: 64, heads: 4, backbone_widths: [16, 16, 32, 32], pixel_dim: 32, mask_dim: 32, batch: 2, ckpt_every: 1}`

// tinySpec is a two-point experiment of 3-step runs on 4 validation images
// of 64 px.
func tinySpec(seeds string) string {
	return `
name: tiny
base:
  steps: 3
  val_images: 4
  data: {size: 64}
  snapshots: [0.34, 1]
  set: ` + tinySet + `
grid:
  - name: mask2former
    set: {arch: mask2former}
  - name: mpformer
    set: {arch: mpformer, mp.noise: point, mp.noise_ratio: 0.2}
seeds: ` + seeds + "\n"
}

func mustParse(t *testing.T, src string) *Spec {
	t.Helper()
	s, err := ParseSpec([]byte(src), "tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseSpecErrors(t *testing.T) {
	base := func(extra string) string {
		return "name: x\nbase:\n  steps: 10\n" + extra
	}
	grid := "grid:\n  - name: a\n    set: {queries: 8}\nseeds: [1]\n"
	for _, c := range []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"unknown key", base("") + "grid:\n  - name: a\n    set: {mp.noize: point}\nseeds: [1]\n",
			[]string{"spec bad.yaml", `point "a"`, `key "mp.noize"`, "unknown key", "did you mean mp.noise"}},
		{"wrong type number", base("") + "grid:\n  - name: a\n    set: {mp.noise_ratio: high}\nseeds: [1]\n",
			[]string{"spec bad.yaml", `key "mp.noise_ratio"`, `want a number, got the string "high"`}},
		{"wrong type int", base("") + "grid:\n  - name: a\n    set: {queries: 2.5}\nseeds: [1]\n",
			[]string{`key "queries"`, "want a whole number, got 2.5"}},
		{"wrong type bool", base("") + "grid:\n  - name: a\n    set: {query_pos: 1}\nseeds: [1]\n",
			[]string{`key "query_pos"`, "want true or false"}},
		{"list length", base("") + "grid:\n  - name: a\n    set: {backbone_widths: [16, 16]}\nseeds: [1]\n",
			[]string{`key "backbone_widths"`, "want a list of 4 values, got 2"}},
		{"group", base("") + "grid:\n  - name: a\n    set: {mp: 1}\nseeds: [1]\n",
			[]string{`key "mp"`, "is a group of settings"}},
		{"base set key", base("  set: {hiden: 32}\n") + grid,
			[]string{"base.set", `key "hiden"`, "did you mean hidden"}},
		{"forbidden", base("") + "grid:\n  - name: a\n    set: {num_classes: 3}\nseeds: [1]\n",
			[]string{`key "num_classes"`, "set from the dataset"}},
		{"seed key", base("") + "grid:\n  - name: a\n    set: {seed: 3}\nseeds: [1]\n",
			[]string{`key "seed"`, "seeds are listed"}},
		{"unknown field", base("  stpes: 3\n") + grid, []string{"spec bad.yaml", "line 4", "stpes"}},
		{"no steps", "name: x\nbase: {}\n" + grid, []string{"base.steps"}},
		{"no seeds", base("") + "grid:\n  - name: a\nseeds: []\n", []string{"seeds"}},
		{"dup seed", base("") + "grid:\n  - name: a\nseeds: [1, 1]\n", []string{"seed 1 given twice"}},
		{"dup point", base("") + "grid:\n  - name: a\n  - name: a\nseeds: [1]\n", []string{`point "a" appears twice`}},
		{"bad name", base("") + "grid:\n  - name: a/b\nseeds: [1]\n", []string{`point "a/b"`, "not allowed"}},
		{"bad arch", base("") + "grid:\n  - name: a\n    set: {arch: detr}\nseeds: [1]\n", []string{`unknown arch "detr"`}},
		{"steps twice", base("") + "grid:\n  - name: a\n    set: {steps: 5, steps_scale: 0.5}\nseeds: [1]\n", []string{"steps and steps_scale"}},
		{"bad snapshot", base("  snapshots: [0, 1]\n") + grid, []string{"base.snapshots: 0"}},
		{"bad data key", base("  data: {sise: 64}\n") + grid, []string{"base.data", "sise"}},
		{"model invalid", base("") + "grid:\n  - name: a\n    set: {hidden: 30, heads: 4}\nseeds: [1]\n", []string{`point "a"`, "not divisible"}},
		{"mp noise invalid", base("") + "grid:\n  - name: a\n    set: {arch: mpformer, mp.noise: blur}\nseeds: [1]\n", []string{"unknown MP noise"}},
		{"not yaml", "name: [", []string{"spec bad.yaml"}},
		{"empty", "", []string{"spec bad.yaml", "empty spec"}},
		{"mapping value", base("") + "grid:\n  - name: a\n    set: {mp: {noise: point}}\nseeds: [1]\n", []string{"write nested keys with dots"}},
		// Values out of their range (run.Limits), NaN and Inf included.
		{"negative lr", base("") + "grid:\n  - name: a\n    set: {schedule.base_lr: -1}\nseeds: [1]\n",
			[]string{`point "a": key "schedule.base_lr": -1: out of range (want a number ≥ 0)`}},
		{"nan lr", base("") + "grid:\n  - name: a\n    set: {schedule.base_lr: .nan}\nseeds: [1]\n",
			[]string{`key "schedule.base_lr": NaN: out of range`}},
		{"inf clip", base("  set: {clip_norm: .inf}\n") + grid, []string{`base.set: key "clip_norm": +Inf: out of range`}},
		{"zero queries", base("") + "grid:\n  - name: a\n    set: {queries: 0}\nseeds: [1]\n",
			[]string{`key "queries": 0: out of range (want a whole number in [1, 1000])`}},
		{"label noise", base("") + "grid:\n  - name: a\n    set: {arch: mpformer, mp.label_noise: 2}\nseeds: [1]\n",
			[]string{`key "mp.label_noise": 2: out of range (want a number in [0, 1])`}},
		{"list entry", base("") + "grid:\n  - name: a\n    set: {backbone_widths: [16, -1, 32, 32]}\nseeds: [1]\n",
			[]string{`key "backbone_widths": entry 1: -1: out of range`}},
		{"data n", base("  data: {n: -5}\n") + grid, []string{`base.data: key "n": -5: out of range (want a whole number ≥ 0)`}},
		{"inf steps", base("") + "grid:\n  - name: a\n    set: {steps: .inf}\nseeds: [1]\n", []string{`key "steps": want a positive whole number, got +Inf`}},
		{"inf steps_scale", base("") + "grid:\n  - name: a\n    set: {steps_scale: .inf}\nseeds: [1]\n", []string{`key "steps_scale": want a positive fraction`}},
		{"nan snapshot", base("  snapshots: [.nan]\n") + grid, []string{"base.snapshots: NaN"}},
		{"negative ckpt_every", base("  set: {ckpt_every: -3}\n") + grid, []string{`key "ckpt_every": -3: out of range`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(c.src), "bad.yaml")
			if err == nil {
				t.Fatalf("no error for\n%s", c.src)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadSpecFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mine.json")
	// JSON is YAML; a JSON spec reads the same.
	src := `{"name": "mine", "base": {"steps": 5}, "grid": [{"name": "a", "set": {"mp.noise_ratio": 0.1, "arch": "mpformer", "mp.noise": "point"}}], "seeds": [3]}`
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSpec(p)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Config.Model.MP.NoiseRatio != 0.1 || runs[0].Seed != 3 || s.Source != p {
		t.Fatalf("runs %+v source %s", runs, s.Source)
	}
	if _, err := LoadSpec(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") || !strings.Contains(err.Error(), "diagnosis") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestResolve(t *testing.T) {
	s := mustParse(t, `
name: r
base:
  steps: 200
  data: {size: 64, max_things: 3}
  val_images: 8
  snapshots: [0.25, 0.5, 1.0]
  set: {image_size: 64, schedule.base_lr: 0.001, model.queries: 10}
grid:
  - name: full
    set: {arch: mpformer, mp.noise: shift, mp.noise_ratio: 0.3, augment.flip: false}
  - name: quarter
    set: {steps_scale: 0.25, queries: 12}
seeds: [4, 5]
`)
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 {
		t.Fatalf("%d runs", len(runs))
	}
	// Index order is point-major.
	for i, want := range []struct {
		point string
		seed  uint64
	}{{"full", 4}, {"full", 5}, {"quarter", 4}, {"quarter", 5}} {
		if runs[i].Index != i || runs[i].Point.Name != want.point || runs[i].Seed != want.seed {
			t.Errorf("run %d = %d %s %d", i, runs[i].Index, runs[i].Point.Name, runs[i].Seed)
		}
	}
	full, q := runs[1].Config, runs[2].Config
	if full.Model.Arch != model.ArchMPFormer || full.Model.MP.Noise != "shift" || full.Model.MP.NoiseRatio != 0.3 || full.Augment.Flip {
		t.Errorf("full: %+v %+v", full.Model.MP, full.Augment)
	}
	if full.Model.Queries != 10 || q.Model.Queries != 12 || full.Model.ImageSize != 64 {
		t.Errorf("queries %d %d size %d", full.Model.Queries, q.Model.Queries, full.Model.ImageSize)
	}
	if full.Train.Seed != 5 || full.Train.Schedule.BaseLR != 0.001 || q.Train.Schedule.BaseLR != 0.001 {
		t.Errorf("seed %d lr %g %g", full.Train.Seed, full.Train.Schedule.BaseLR, q.Train.Schedule.BaseLR)
	}
	// steps_scale 0.25 of 200 = 50 steps, and the schedule follows the
	// run's own length (model.DefaultTrainConfig: decay at 90 %).
	if q.Train.Steps != 50 || q.Train.Schedule.MaxIter != 50 || !slices.Equal(q.Train.Schedule.Steps, []int{45}) {
		t.Errorf("quarter train: %+v", q.Train)
	}
	if !slices.Equal(q.Snapshots, []int{13, 25, 50}) || !slices.Equal(full.Snapshots, []int{50, 100, 200}) {
		t.Errorf("snapshots %v %v", q.Snapshots, full.Snapshots)
	}
	// Data keys reach both sets; the validation set is the first
	// val_images of the val split, with the same data seed for every run.
	if full.Data.Size != 64 || full.Val.Size != 64 || full.Val.MaxThings != 3 || full.Val.Split != "val" || full.Val.N != 8 || full.EvalImages != 8 {
		t.Errorf("data %+v val %+v", full.Data, full.Val)
	}
	if full.Data.Seed != 1 || runs[0].Config.Data.Seed != 1 {
		t.Errorf("data seed %d", full.Data.Seed)
	}
	if len(full.Model.ClassNames) != full.Model.NumClasses || full.Model.NumClasses == 0 {
		t.Errorf("classes %d names %v", full.Model.NumClasses, full.Model.ClassNames)
	}
}

func TestSnapshotSteps(t *testing.T) {
	for _, c := range []struct {
		fracs []float64
		steps int
		want  []int
	}{
		{nil, 10, []int{10}},
		{[]float64{0.25, 0.5, 1}, 3, []int{1, 2, 3}},
		{[]float64{0.1, 0.2, 1}, 3, []int{1, 3}}, // 0.3 → at least step 1; 0.6 rounds to 1: one snapshot
		{[]float64{1, 0.5}, 100, []int{50, 100}},
	} {
		got, _ := snapshotSteps(c.fracs, c.steps)
		if !slices.Equal(got, c.want) {
			t.Errorf("snapshotSteps(%v, %d) = %v, want %v", c.fracs, c.steps, got, c.want)
		}
	}
}

func TestProductPoints(t *testing.T) {
	s := mustParse(t, `
name: p
base: {steps: 10, set: {arch: mpformer}}
grid:
  - name: g
    set: {mp.label_noise: 0}
product:
  - key: mp.noise
    values: [point, shift]
  - key: mp.noise_ratio
    values: [0.1, 0.4]
seeds: [1]
`)
	pts, err := s.Points()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pts {
		names = append(names, p.Name)
	}
	want := []string{"g,noise=point,noise_ratio=0.1", "g,noise=point,noise_ratio=0.4", "g,noise=shift,noise_ratio=0.1", "g,noise=shift,noise_ratio=0.4"}
	if !slices.Equal(names, want) {
		t.Fatalf("names %v", names)
	}
	if v, _ := pts[2].Set.Get("mp.noise"); v != "shift" {
		t.Errorf("point 2 noise %v", v)
	}
	if len(pts[3].Set) != 3 || pts[3].Set[0].Key != "mp.label_noise" {
		t.Errorf("point 3 set %v", pts[3].Set)
	}
}

// The built-in specs hold exactly the grids of the issue.
func TestBuiltinSpecs(t *testing.T) {
	want := map[string][]string{
		"diagnosis":                 {"mask2former", "mpformer"},
		"noise_type":                {"noise=none", "noise=point", "noise=shift", "noise=scale"},
		"noise_ratio":               {"noise_ratio=0", "noise_ratio=0.1", "noise_ratio=0.2", "noise_ratio=0.4"},
		"pilot_layers":              {"first-1", "first-4", "all-9"},
		"label_noise":               {"label_noise=0", "label_noise=0.2"},
		"schedule":                  {"mask2former", "mask2former-half", "mpformer-half", "mpformer-quarter"},
		"queries":                   {"mask2former,queries=20", "mpformer,queries=20", "mask2former,queries=50", "mpformer,queries=50", "mask2former,queries=100", "mpformer,queries=100"},
		"maskformer_vs_mask2former": {"maskformer", "mask2former"},
		"paper":                     {"mask2former", "mpformer"},
	}
	if got := Builtins(); len(got) != len(want) {
		t.Fatalf("built-ins %v", got)
	}
	check := func(name string, f func(rs []Run) string) {
		s, err := LoadSpec(name)
		if err != nil {
			t.Fatal(err)
		}
		runs, err := s.Runs()
		if err != nil {
			t.Fatal(err)
		}
		var points []string
		for _, r := range runs {
			if len(points) == 0 || points[len(points)-1] != r.Point.Name {
				points = append(points, r.Point.Name)
			}
			if !r.Config.Model.QueryPos {
				t.Errorf("%s %s: query_pos differs between compared models", name, r.Point.Name)
			}
		}
		if !slices.Equal(points, want[name]) {
			t.Errorf("%s points %v, want %v", name, points, want[name])
		}
		if msg := f(runs); msg != "" {
			t.Errorf("%s: %s", name, msg)
		}
	}
	one := func(rs []Run, i int) model.Config { return rs[i*len(rs)/len(pointsOf(rs))].Config.Model }
	check("diagnosis", func(rs []Run) string {
		m2f, mpf := one(rs, 0), one(rs, 1)
		if m2f.Arch != model.ArchMask2Former || mpf.Arch != model.ArchMPFormer || mpf.MP.PilotLayers != 0 || mpf.MP.LabelNoise != 0.2 || mpf.MP.Noise != "none" || mpf.MP.Groups != 1 {
			return "not the release settings"
		}
		if !slices.Equal(rs[0].Fractions, []float64{0.25, 0.5, 1}) {
			return "snapshots not at 25/50/100 %"
		}
		return ""
	})
	check("noise_type", func(rs []Run) string {
		for i, n := range []string{"none", "point", "shift", "scale"} {
			if c := one(rs, i); c.MP.Noise != n || c.MP.NoiseRatio != 0.2 {
				return "noise " + c.MP.Noise
			}
		}
		return ""
	})
	check("noise_ratio", func(rs []Run) string {
		for i, r := range []float64{0, 0.1, 0.2, 0.4} {
			if c := one(rs, i); c.MP.NoiseRatio != r || c.MP.Noise != "point" {
				return "ratio"
			}
		}
		return ""
	})
	check("pilot_layers", func(rs []Run) string {
		for i, k := range []int{1, 4, 0} {
			if c := one(rs, i); c.MP.PilotLayers != k || c.DecLayers != 9 {
				return "pilot layers"
			}
		}
		return ""
	})
	check("label_noise", func(rs []Run) string {
		for i, k := range []float64{0, 0.2} {
			if c := one(rs, i); c.MP.LabelNoise != k {
				return "label noise"
			}
		}
		return ""
	})
	check("schedule", func(rs []Run) string {
		full := rs[0].Config.Train.Steps
		steps := []int{full, full / 2, full / 2, full / 4}
		for i := range 4 {
			r := rs[i*len(rs)/4]
			if r.Config.Train.Steps != steps[i] && r.Config.Train.Steps != steps[i]+1 {
				return "steps"
			}
			if (i <= 1) != (r.Config.Model.Arch == model.ArchMask2Former) {
				return "arch"
			}
		}
		return ""
	})
	check("queries", func(rs []Run) string {
		for i, q := range []int{20, 20, 50, 50, 100, 100} {
			c := one(rs, i)
			if c.Queries != q {
				return "queries"
			}
			if (i%2 == 0) != (c.Arch == model.ArchMask2Former) {
				return "arch"
			}
			if c.Arch == model.ArchMPFormer && (c.MP.PilotLayers != 0 || c.MP.LabelNoise != 0.2 || c.MP.Noise != "none" || c.MP.Groups != 1) {
				return "not the release settings"
			}
		}
		if !slices.Equal(rs[0].Fractions, []float64{0.25, 0.5, 1}) {
			return "snapshots not at 25/50/100 %"
		}
		return ""
	})
	check("paper", func(rs []Run) string {
		m2f, mpf := one(rs, 0), one(rs, 1)
		for _, c := range []model.Config{m2f, mpf} {
			if c.Queries != 100 || c.ImageSize != 192 || c.PixelDecoder != model.PixelMSDeform || c.Loss.Points != 12544 ||
				c.Loss.ClassWeight != 2 || c.Loss.MaskWeight != 5 || c.Loss.DiceWeight != 5 {
				return "not the paper's model and loss"
			}
		}
		if d := rs[0].Config.Data; d.Size != 192 || d.MaxThings != 12 {
			return "not the paper's scenes"
		}
		if m2f.Arch != model.ArchMask2Former || mpf.Arch != model.ArchMPFormer || mpf.MP.PilotLayers != 0 || mpf.MP.LabelNoise != 0.2 ||
			mpf.MP.Noise != "point" || mpf.MP.NoiseRatio != 0.2 || mpf.MP.Groups != 1 {
			return "not the paper's MP-Former"
		}
		return ""
	})
	check("maskformer_vs_mask2former", func(rs []Run) string {
		if one(rs, 0).Arch != model.ArchMaskFormer || one(rs, 1).Arch != model.ArchMask2Former {
			return "arch"
		}
		return ""
	})
}

func pointsOf(rs []Run) map[string]bool {
	m := map[string]bool{}
	for _, r := range rs {
		m[r.Point.Name] = true
	}
	return m
}

func TestWithAdjustments(t *testing.T) {
	s, err := LoadSpec("diagnosis")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := s.WithSteps(40)
	if err != nil {
		t.Fatal(err)
	}
	if s2, err = s2.WithSeeds(3); err != nil {
		t.Fatal(err)
	}
	if s2, err = s2.WithSet("image_size", 64); err != nil {
		t.Fatal(err)
	}
	runs, err := s2.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 6 || runs[5].Config.Train.Steps != 40 || runs[5].Config.Model.ImageSize != 64 || runs[5].Seed != 3 {
		t.Fatalf("runs %d, last %+v", len(runs), runs[5].Config.Train)
	}
	if !slices.Equal(s2.Adjusted, []string{"steps=40", "seeds=1..3", "image_size=64"}) {
		t.Errorf("adjusted %v", s2.Adjusted)
	}
	if s.Base.Steps == 40 || len(s.Seeds) != 1 {
		t.Errorf("the original spec changed")
	}
	if _, err := s.WithSet("queries", "many"); err == nil || !strings.Contains(err.Error(), `key "queries"`) {
		t.Errorf("WithSet bad value: %v", err)
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	for _, k := range []string{"arch", "steps", "steps_scale", "queries", "mp.noise", "mp.noise_ratio", "mp.pilot_layers", "mp.label_noise", "loss.class_weight", "batch", "schedule.base_lr", "augment.flip", "data.size", "ckpt_every"} {
		if !slices.Contains(keys, k) {
			t.Errorf("Keys lacks %s", k)
		}
	}
	for _, k := range []string{"num_classes", "seed", "snapshots", "data.split"} {
		if slices.Contains(keys, k) {
			t.Errorf("Keys lists forbidden %s", k)
		}
	}
}
