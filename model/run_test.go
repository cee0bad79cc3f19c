package model

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
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
