package model

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/probes"
)

func tinyRun(t *testing.T, arch string, steps int) RunConfig {
	t.Helper()
	rc, err := DefaultRunConfig(arch, steps, 5)
	if err != nil {
		t.Fatal(err)
	}
	rc.Data.Size, rc.Val.Size, rc.Val.N = 64, 64, 4
	k := rc.Model.NumClasses
	tc := tinyConfig(arch, k)
	tc.ClassNames, tc.ThingClasses = rc.Model.ClassNames, rc.Model.ThingClasses
	rc.Model = tc
	rc.Train.Batch = 2
	rc.EvalImages = 4
	rc.CkptEvery = 2
	return rc
}

// TestResumeIsBitIdentical: a run stopped after 3 steps and resumed ends
// with exactly the checkpoint of the uninterrupted run.
func TestResumeIsBitIdentical(t *testing.T) {
	rc := tinyRun(t, ArchMPFormer, 6)
	rc.Model.MP.Noise, rc.Model.MP.NoiseRatio = "point", 0.2
	a, b := t.TempDir(), t.TempDir()
	if _, err := Train(a, rc, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(b, rc, RunOptions{StopAfter: 3}); err != nil {
		t.Fatal(err)
	}
	// starting again without --resume must refuse to clobber the run
	if _, err := Train(b, rc, RunOptions{}); !errors.Is(err, ErrRunExists) {
		t.Fatalf("restart without resume: err = %v, want ErrRunExists", err)
	}
	// resuming with other settings must refuse too
	other := rc
	other.Train.Batch = 3
	if _, err := Train(b, other, RunOptions{Resume: true}); err == nil {
		t.Fatal("resume with a different config succeeded")
	}
	res, err := Train(b, rc, RunOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 6 {
		t.Fatalf("resumed run ended at step %d", res.Steps)
	}
	ca, _ := os.ReadFile(filepath.Join(a, LatestCkpt))
	cb, _ := os.ReadFile(filepath.Join(b, LatestCkpt))
	if len(ca) == 0 || !bytes.Equal(ca, cb) {
		t.Fatalf("resumed checkpoint differs from the uninterrupted one (%d vs %d bytes)", len(ca), len(cb))
	}
}

// TestCheckpointRoundTrip: a loaded model predicts exactly what the saved
// one did.
func TestCheckpointRoundTrip(t *testing.T) {
	ex, k := tinyExamples(t, 1, 2)
	m, err := New(tinyConfig(ArchMask2Former, k), 3)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "m.npz")
	if err := SaveCheckpoint(p, m, nil, nil); err != nil {
		t.Fatal(err)
	}
	m2, _, err := LoadModel(p)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Predict(newGraph(), ex[0].Input)
	b := m2.Predict(newGraph(), ex[0].Input)
	last := len(a) - 1
	if !bytes.Equal(f32bytes(a[last].MaskLogits.Data), f32bytes(b[last].MaskLogits.Data)) {
		t.Fatal("loaded model predicts differently")
	}
	// a checkpoint of another model does not load into this one
	mf, _ := New(tinyConfig(ArchMaskFormer, k), 3)
	q := filepath.Join(t.TempDir(), "mf.npz")
	if err := SaveCheckpoint(q, mf, nil, nil); err != nil {
		t.Fatal(err)
	}
	tr, _ := NewTrainer(m, DefaultTrainConfig(2))
	if err := ResumeTrainer(q, m, tr); !errors.Is(err, ErrWrongModel) {
		t.Fatalf("resume from another model: %v", err)
	}
}

func f32bytes(v []float32) []byte {
	var b bytes.Buffer
	for _, x := range v {
		u := math.Float32bits(x)
		b.Write([]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
	}
	return b.Bytes()
}

// TestNonFiniteStopsRunKeepsCheckpoint: an absurd learning rate drives the
// parameters to Inf within a few steps; the run stops with an error
// wrapping ErrNonFinite, and checkpoints/latest.npz is the last good one
// (it loads, and its parameters are finite).
func TestNonFiniteStopsRunKeepsCheckpoint(t *testing.T) {
	rc := tinyRun(t, ArchMask2Former, 50)
	rc.Train.Schedule.BaseLR = 1e30
	rc.Train.Schedule.WarmupIters = 0
	rc.CkptEvery = 1
	dir := t.TempDir()
	_, runErr := Train(dir, rc, RunOptions{})
	if !errors.Is(runErr, ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", runErr)
	}
	m, c, err := LoadModel(filepath.Join(dir, LatestCkpt))
	if err != nil {
		t.Fatalf("last checkpoint does not load: %v", err)
	}
	for _, p := range m.Params() {
		for _, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("checkpoint at step %d holds a non-finite %s", c.Meta.Step, p.Name)
			}
		}
	}
	t.Logf("stopped with %v; kept the checkpoint of step %d", runErr, c.Meta.Step)
}

// TestProbingDoesNotChangeResults: evaluating with a probe (the streaming
// evaluator and a trace writer) gives bit-identical predictions and scores
// to evaluating without one.
func TestProbingDoesNotChangeResults(t *testing.T) {
	ds, err := data.Open(data.Spec{Kind: "synthetic", Split: "val", Seed: 4, Size: 64, N: 4})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig(ArchMask2Former, len(ds.Categories()))
	m, err := New(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	run := func(p probes.Probe) (*EvalReport, [][]int32) {
		var pans [][]int32
		rep, err := Evaluate(m, ds, EvalOptions{Workers: 2, Probe: p, Predictions: func(_ *data.BatchImage, pr *Prediction) error {
			pans = append(pans, append(append([]int32(nil), pr.Panoptic...), pr.Semantic...))
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		rep.Seconds = 0
		return rep, pans
	}
	a, pa := run(nil)
	w := probes.NewTraceWriter(filepath.Join(t.TempDir(), "t"), nil)
	b, pb := run(probes.Multi{&probes.Evaluator{}, w})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if mustJSON(a) != mustJSON(b) {
		t.Fatalf("scores differ with a probe:\n%s\n%s", mustJSON(a), mustJSON(b))
	}
	for i := range pa {
		if !slices.Equal(pa[i], pb[i]) {
			t.Fatalf("image %d: predictions differ with a probe", i)
		}
	}
}
