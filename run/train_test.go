package run

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/gemm"
	"github.com/mpanalyze/mpanalyze/probes"
)

func tinyRun(t *testing.T, arch string, steps int) Config {
	t.Helper()
	rc, err := DefaultConfig(arch, steps, 5)
	if err != nil {
		t.Fatal(err)
	}
	rc.Data.Size, rc.Val.Size, rc.Val.N = 64, 64, 4
	tc := model.TinyConfig(arch, rc.Model.NumClasses)
	tc.ClassNames, tc.ThingClasses = rc.Model.ClassNames, rc.Model.ThingClasses
	rc.Model = tc
	rc.Train.Batch = 2
	rc.EvalImages = 4
	rc.CkptEvery = 2
	return rc
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeIsBitIdentical: a run stopped after 3 steps and resumed ends
// with exactly the checkpoint and train.jsonl of the uninterrupted run.
func TestResumeIsBitIdentical(t *testing.T) {
	rc := tinyRun(t, model.ArchMPFormer, 6)
	rc.Model.MP.Noise, rc.Model.MP.NoiseRatio = "point", 0.2
	rc.EvalEvery = 3
	a, b := t.TempDir(), t.TempDir()
	if _, err := Train(a, rc, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(b, rc, Options{StopAfter: 3}); err != nil {
		t.Fatal(err)
	}
	// starting again without resuming must refuse to clobber the run
	if _, err := Train(b, rc, Options{}); !errors.Is(err, ErrRunExists) {
		t.Fatalf("restart without resume: err = %v, want ErrRunExists", err)
	}
	// resuming with other settings must refuse too, naming the setting
	other := rc
	other.Train.Batch = 3
	if _, err := Train(b, other, Options{Resume: true}); err == nil || !strings.Contains(err.Error(), "train.batch is 2") {
		t.Fatalf("resume with a different config: err = %v", err)
	}
	res, err := Train(b, rc, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	// stopped after 3 steps, the last checkpoint is at step 2 (CkptEvery 2)
	if res.Steps != 6 || res.StepsRun != 4 {
		t.Fatalf("resumed run ended at step %d after %d steps", res.Steps, res.StepsRun)
	}
	for _, f := range []string{LatestCkpt, LogFile} {
		fa, fb := readFile(t, filepath.Join(a, f)), readFile(t, filepath.Join(b, f))
		if len(fa) == 0 || !bytes.Equal(fa, fb) {
			t.Fatalf("resumed %s differs from the uninterrupted one (%d vs %d bytes)", f, len(fa), len(fb))
		}
	}
}

// TestResumeIsBitIdenticalBF16: the BF16 precision (AMX machines only) is
// as deterministic as FP32 — a stopped and resumed run ends with the
// uninterrupted run's checkpoint — and it is a different computation: its
// checkpoint differs from the FP32 run's.
func TestResumeIsBitIdenticalBF16(t *testing.T) {
	if !slices.Contains(gemm.Names(), "amx-bf16") {
		t.Skip("no AMX-BF16 on this machine")
	}
	defer gemm.SetPrecision(gemm.FP32)
	rc := tinyRun(t, model.ArchMask2Former, 4)
	fp32 := t.TempDir()
	if _, err := Train(fp32, rc, Options{}); err != nil {
		t.Fatal(err)
	}
	rc.Train.Precision = gemm.BF16
	a, b := t.TempDir(), t.TempDir()
	if _, err := Train(a, rc, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(b, rc, Options{StopAfter: 3}); err != nil {
		t.Fatal(err)
	}
	gemm.SetPrecision(gemm.FP32) // the resumed run must switch back to BF16 itself
	if _, err := Train(b, rc, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	fa, fb := readFile(t, filepath.Join(a, LatestCkpt)), readFile(t, filepath.Join(b, LatestCkpt))
	if len(fa) == 0 || !bytes.Equal(fa, fb) {
		t.Fatalf("resumed BF16 checkpoint differs from the uninterrupted one (%d vs %d bytes)", len(fa), len(fb))
	}
	if bytes.Equal(fa, readFile(t, filepath.Join(fp32, LatestCkpt))) {
		t.Fatal("the BF16 run's checkpoint equals the FP32 run's")
	}
	if !strings.Contains(string(readFile(t, filepath.Join(a, ConfigFile))), `"precision": "bf16"`) {
		t.Error("run.json does not record the precision")
	}
}

// TestResumeAfterKillDuringFinalValidation: a run whose last checkpoint is
// written but whose final validation never reached the log (killed during
// it) runs that validation when resumed, and its log then equals the
// uninterrupted run's.
func TestResumeAfterKillDuringFinalValidation(t *testing.T) {
	rc := tinyRun(t, model.ArchMask2Former, 4)
	a, b := t.TempDir(), t.TempDir()
	if _, err := Train(a, rc, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(b, rc, Options{}); err != nil {
		t.Fatal(err)
	}
	// cut b's log before its final eval line, as a kill during it leaves it
	logB := filepath.Join(b, LogFile)
	lines := bytes.SplitAfter(readFile(t, logB), []byte("\n"))
	last := lines[len(lines)-2]
	if !bytes.Contains(last, []byte(`"event":"eval"`)) {
		t.Fatalf("last log line is not the final validation: %s", last)
	}
	if err := os.WriteFile(logB, bytes.Join(lines[:len(lines)-2], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Train(b, rc, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.StepsRun != 0 || res.Final == nil {
		t.Fatalf("resume of a finished run: %d steps, final validation %v", res.StepsRun, res.Final)
	}
	if !bytes.Equal(readFile(t, filepath.Join(a, LogFile)), readFile(t, logB)) {
		t.Fatal("log after the resumed final validation differs from the uninterrupted run's")
	}
}

// TestRestartWithoutCheckpointRefused: a run killed before its first
// checkpoint still owns its directory: a new run there is refused, and
// resuming starts it again from step 0 with the stored settings.
func TestRestartWithoutCheckpointRefused(t *testing.T) {
	rc := tinyRun(t, model.ArchMask2Former, 3)
	rc.CkptEvery = 100
	a, b := t.TempDir(), t.TempDir()
	if _, err := Train(a, rc, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(b, rc, Options{StopAfter: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b, LatestCkpt)); err == nil {
		t.Fatal("a checkpoint was written before CkptEvery")
	}
	other := rc
	other.Train.Schedule.BaseLR *= 2
	if _, err := Train(b, other, Options{}); !errors.Is(err, ErrRunExists) {
		t.Fatalf("new run over a run without checkpoint: err = %v, want ErrRunExists", err)
	}
	// leftovers of a write cut short are removed on resume, in the run
	// directory and its subdirectories (an experiment's reports/ too)
	tmps := []string{filepath.Join(b, "checkpoints", ".latest.npz.tmp-123"), filepath.Join(b, ".run.json.tmp-9"), filepath.Join(b, "reports", ".step-000001.json.tmp-77")}
	for _, tmp := range tmps {
		if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Train(b, rc, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	for _, tmp := range tmps {
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("leftover temporary file %s still there: %v", tmp, err)
		}
	}
	for _, f := range []string{LatestCkpt, LogFile} {
		if !bytes.Equal(readFile(t, filepath.Join(a, f)), readFile(t, filepath.Join(b, f))) {
			t.Fatalf("%s of the restarted run differs from the uninterrupted one", f)
		}
	}
}

// TestResumeMissingDirectoryCreatesNothing: resuming a directory that
// does not exist is an error and leaves no directory behind.
func TestResumeMissingDirectoryCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := Train(dir, tinyRun(t, model.ArchMask2Former, 2), Options{Resume: true})
	if !errors.Is(err, ErrNoRun) {
		t.Fatalf("err = %v, want ErrNoRun", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("resume created %s", dir)
	}
}

// TestCheckpointRoundTrip: a loaded model predicts exactly what the saved
// one did, and the checkpoint carries the run's settings.
func TestCheckpointRoundTrip(t *testing.T) {
	rc := tinyRun(t, model.ArchMask2Former, 2)
	m, err := model.New(rc.Model, 3)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "m.npz")
	if err := SaveCheckpoint(p, m, nil, &rc, 7); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Step != 7 || c.Run == nil || c.Run.Val != rc.Val || c.Train != nil {
		t.Fatalf("loaded step %d, run %+v, train %v", c.Step, c.Run, c.Train)
	}
	ds, err := data.Open(rc.Val)
	if err != nil {
		t.Fatal(err)
	}
	b, err := data.MakeBatch(ds, []int{0}, data.BatchConfig{Size: 64}, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := b.Images[0].Input
	x := m.Predict(model.NewGraph(), in)
	y := c.Model.Predict(model.NewGraph(), in)
	last := len(x) - 1
	if !slices.Equal(x[last].MaskLogits.Data, y[last].MaskLogits.Data) {
		t.Fatal("loaded model predicts differently")
	}
	// a checkpoint of another model does not resume this one
	mf, _ := model.New(model.TinyConfig(model.ArchMaskFormer, rc.Model.NumClasses), 3)
	q := filepath.Join(t.TempDir(), "mf.npz")
	if err := SaveCheckpoint(q, mf, nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	tr, _ := model.NewTrainer(m, model.DefaultTrainConfig(2))
	if err := resumeTrainer(q, m, tr); !errors.Is(err, ErrWrongModel) {
		t.Fatalf("resume from another model: %v", err)
	}
}

// TestNonFiniteStopsRunKeepsCheckpoint: an absurd learning rate drives the
// parameters to Inf within a few steps; the run stops with an error
// wrapping ErrNonFinite, and checkpoints/latest.npz is the last good one
// (it loads, and its parameters are finite).
func TestNonFiniteStopsRunKeepsCheckpoint(t *testing.T) {
	rc := tinyRun(t, model.ArchMask2Former, 50)
	rc.Train.Schedule.BaseLR = 1e30
	rc.Train.Schedule.WarmupIters = 0
	rc.CkptEvery = 1
	dir := t.TempDir()
	_, runErr := Train(dir, rc, Options{})
	if !errors.Is(runErr, model.ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", runErr)
	}
	c, err := LoadCheckpoint(filepath.Join(dir, LatestCkpt))
	if err != nil {
		t.Fatalf("last checkpoint does not load: %v", err)
	}
	for _, p := range c.Model.Params() {
		for _, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("checkpoint at step %d holds a non-finite %s", c.Step, p.Name)
			}
		}
	}
	t.Logf("stopped with %v; kept the checkpoint of step %d", runErr, c.Step)
}

// TestProbingDoesNotChangeResults: evaluating with a probe (the streaming
// evaluator and a trace writer) gives bit-identical predictions and scores
// to evaluating without one.
func TestProbingDoesNotChangeResults(t *testing.T) {
	ds, err := data.Open(data.Spec{Kind: "synthetic", Split: "val", Seed: 4, Size: 64, N: 4})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.TinyConfig(model.ArchMask2Former, len(ds.Categories())), 9)
	if err != nil {
		t.Fatal(err)
	}
	evaluate := func(p probes.Probe) (string, [][]int32) {
		var pans [][]int32
		rep, err := Evaluate(m, ds, EvalOptions{Workers: 2, Probe: p, Predictions: func(_ *data.BatchImage, pr *model.Prediction) error {
			pans = append(pans, append(slices.Clone(pr.Panoptic), pr.Semantic...))
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		rep.Seconds = 0
		return string(mustMarshal(rep)), pans
	}
	a, pa := evaluate(nil)
	w := probes.NewTraceWriter(filepath.Join(t.TempDir(), "t"), nil)
	b, pb := evaluate(probes.Multi{&probes.Evaluator{}, w})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("scores differ with a probe:\n%s\n%s", a, b)
	}
	for i := range pa {
		if !slices.Equal(pa[i], pb[i]) {
			t.Fatalf("image %d: predictions differ with a probe", i)
		}
	}
}
