package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/progress"
)

// RunConfig is everything a training run needs; it is written to the run
// directory (run.json) and fixes the run: the same RunConfig gives the same
// checkpoints bit for bit.
type RunConfig struct {
	Model Config      `json:"model"`
	Train TrainConfig `json:"train"`
	// Data is the training set and Val the validation set.
	Data data.Spec `json:"data"`
	Val  data.Spec `json:"val"`
	// Augment is the training augmentation. Default: flip and scale
	// jitter 0.8–1.25.
	Augment data.Augment `json:"augment"`
	// EvalEvery runs a validation every so many steps (0: only at the
	// end); EvalImages is its size (default 64).
	EvalEvery  int `json:"eval_every"`
	EvalImages int `json:"eval_images"`
	// CkptEvery writes checkpoints/latest.npz every so many steps
	// (default 100) and at the end.
	CkptEvery int `json:"ckpt_every"`
	// Snapshots are steps at which a permanent checkpoint
	// checkpoints/step-NNNNNN.npz is kept (for probing training progress).
	Snapshots []int `json:"snapshots,omitempty"`
	// Workers is the number of images processed in parallel (0 = all cores).
	// It never changes the results.
	Workers int `json:"-"`
}

// DefaultRunConfig returns a run of the given architecture on the built-in
// synthetic scenes.
func DefaultRunConfig(arch string, steps int, seed uint64) (RunConfig, error) {
	rc := RunConfig{
		Train:      DefaultTrainConfig(steps),
		Data:       data.Spec{Kind: "synthetic", Split: "train", Seed: seed},
		Val:        data.Spec{Kind: "synthetic", Split: "val", Seed: seed, N: 200},
		Augment:    data.Augment{Flip: true, ScaleMin: 0.8, ScaleMax: 1.25},
		EvalImages: 64,
		CkptEvery:  100,
	}
	rc.Train.Seed = seed
	ds, err := data.Open(rc.Data)
	if err != nil {
		return rc, err
	}
	rc.Model = ConfigForDataset(arch, ds)
	return rc, nil
}

// ConfigForDataset is DefaultConfig with the dataset's classes.
func ConfigForDataset(arch string, ds data.Dataset) Config {
	cats := ds.Categories()
	c := DefaultConfig(arch, len(cats))
	for _, cat := range cats {
		c.ClassNames = append(c.ClassNames, cat.Name)
		c.ThingClasses = append(c.ThingClasses, cat.IsThing)
	}
	return c
}

// Run paths inside a run directory.
const (
	RunConfigFile = "run.json"
	LatestCkpt    = "checkpoints/latest.npz"
	TrainLog      = "train.jsonl"
)

// SnapshotPath is the permanent checkpoint of a step.
func SnapshotPath(dir string, step int) string {
	return filepath.Join(dir, "checkpoints", fmt.Sprintf("step-%06d.npz", step))
}

// ErrRunExists is returned when a run directory already holds a run and
// resuming was not asked for.
var ErrRunExists = errors.New("run directory already holds a run")

// RunOptions are the side channels of a training run.
type RunOptions struct {
	// Resume continues the run in the directory from its latest
	// checkpoint; the run config must be the one stored there.
	Resume bool
	// Progress receives the progress bar (nil: none).
	Progress io.Writer
	// StopAfter stops the run after this many steps of this invocation
	// (0: run to the end), leaving a resumable checkpoint; for tests of
	// resuming and for splitting long runs.
	StopAfter int
}

// TrainResult is what Train returns.
type TrainResult struct {
	Model    *Model
	Steps    int         // steps completed (all invocations)
	Final    *EvalReport // the last validation, nil if none ran
	Seconds  float64     // wall time of this invocation
	ImagesPS float64     // training images per second in this invocation
}

// Train runs (or resumes) a training run in dir: it writes run.json, a
// JSON-lines log of losses and validations (train.jsonl), checkpoints every
// CkptEvery steps and at the end (atomically; a failed run keeps its last
// good checkpoint), and returns the trained model.
func Train(dir string, rc RunConfig, opt RunOptions) (*TrainResult, error) {
	if rc.EvalImages == 0 {
		rc.EvalImages = 64
	}
	if rc.CkptEvery == 0 {
		rc.CkptEvery = 100
	}
	if err := os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o755); err != nil {
		return nil, fmt.Errorf("model: run directory: %w", err)
	}
	cfgPath := filepath.Join(dir, RunConfigFile)
	rcJSON, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return nil, err
	}
	latest := filepath.Join(dir, LatestCkpt)
	_, statErr := os.Stat(latest)
	hasCkpt := statErr == nil
	if opt.Resume {
		old, err := os.ReadFile(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("model: resume %s: %w", dir, err)
		}
		if !jsonEqual(old, rcJSON) {
			return nil, fmt.Errorf("model: resume %s: %s differs from this run's settings (resume with the same flags, or start a new run)", dir, cfgPath)
		}
	} else if hasCkpt {
		return nil, fmt.Errorf("model: %s: %w (use --resume to continue it, or another directory)", dir, ErrRunExists)
	}
	if err := atomicfile.WriteBytes(cfgPath, append(rcJSON, '\n')); err != nil {
		return nil, err
	}
	ds, err := data.Open(rc.Data)
	if err != nil {
		return nil, err
	}
	val, err := data.Open(rc.Val)
	if err != nil {
		return nil, err
	}
	if len(ds.Categories()) != rc.Model.NumClasses {
		return nil, fmt.Errorf("model: dataset %s has %d classes, the model config %d", ds.Name(), len(ds.Categories()), rc.Model.NumClasses)
	}
	m, err := New(rc.Model, rc.Train.Seed)
	if err != nil {
		return nil, err
	}
	tr, err := NewTrainer(m, rc.Train)
	if err != nil {
		return nil, err
	}
	tr.Workers = rc.Workers
	if opt.Resume && hasCkpt {
		if err := ResumeTrainer(latest, m, tr); err != nil {
			return nil, err
		}
	}
	ld, err := data.NewLoader(ds, rc.Train.Batch, data.BatchConfig{Size: rc.Model.ImageSize, Augment: rc.Augment, Seed: rc.Train.Seed, Workers: rc.Workers})
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, TrainLog), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("model: log: %w", err)
	}
	defer logf.Close()
	logEnc := json.NewEncoder(logf)
	res := &TrainResult{Model: m}
	start := time.Now()
	first := tr.StepCount()
	bar := progress.New(opt.Progress, rc.Model.Arch, rc.Train.Steps)
	var lossEMA float64
	save := func() error {
		return SaveCheckpoint(latest, m, tr, map[string]any{"run": rc})
	}
	evaluate := func(step int) error {
		rep, err := Evaluate(m, val, EvalOptions{Images: rc.EvalImages, Workers: rc.Workers})
		if err != nil {
			return err
		}
		res.Final = rep
		return logEnc.Encode(map[string]any{
			"event": "eval", "step": step, "images": rep.Images,
			"pq": rep.Panoptic.All.PQ, "pq_things": rep.Panoptic.Things.PQ, "pq_stuff": rep.Panoptic.Stuff.PQ,
			"ap": rep.Instance.AP, "ap50": rep.Instance.AP50, "miou": rep.Semantic.MIoU,
		})
	}
	for tr.StepCount() < rc.Train.Steps {
		if opt.StopAfter > 0 && tr.StepCount()-first >= opt.StopAfter {
			break
		}
		step := tr.StepCount()
		b, err := ld.Batch(step)
		if err != nil {
			return nil, err
		}
		ex := make([]*Example, len(b.Images))
		for i := range b.Images {
			ex[i] = ExampleFromBatch(&b.Images[i])
		}
		t0 := time.Now()
		sr, err := tr.TrainStep(ex)
		if err != nil {
			return nil, fmt.Errorf("%w; the last good checkpoint is %s", err, latest)
		}
		dt := time.Since(t0).Seconds()
		if step == first {
			lossEMA = sr.Loss
		}
		lossEMA = 0.95*lossEMA + 0.05*sr.Loss
		var cls, bce, dice, mp float64
		for _, st := range sr.Images {
			cls += st.Class
			bce += st.Mask
			dice += st.Dice
			mp += st.MPClass + st.MPMask + st.MPDice
		}
		rec := map[string]any{"event": "step", "step": step, "loss": sr.Loss, "class": cls, "bce": bce, "dice": dice,
			"lr": sr.LR, "grad_norm": sr.GradNorm, "images_per_s": float64(len(ex)) / dt}
		if rc.Model.Arch == ArchMPFormer {
			rec["mp"] = mp
		}
		if err := logEnc.Encode(rec); err != nil {
			return nil, fmt.Errorf("model: log: %w", err)
		}
		done := tr.StepCount()
		bar.Update(done, fmt.Sprintf("loss %.2f  %.1f img/s", lossEMA, float64(len(ex))/dt))
		if done%rc.CkptEvery == 0 || done == rc.Train.Steps {
			if err := save(); err != nil {
				return nil, err
			}
		}
		for _, s := range rc.Snapshots {
			if s == done {
				if err := SaveCheckpoint(SnapshotPath(dir, s), m, nil, map[string]any{"step": s, "run": rc}); err != nil {
					return nil, err
				}
			}
		}
		if rc.EvalEvery > 0 && done%rc.EvalEvery == 0 && done < rc.Train.Steps {
			if err := evaluate(done); err != nil {
				return nil, err
			}
		}
	}
	res.Steps = tr.StepCount()
	res.Seconds = time.Since(start).Seconds()
	if n := res.Steps - first; n > 0 {
		res.ImagesPS = float64(n*rc.Train.Batch) / res.Seconds
	}
	if res.Steps == rc.Train.Steps && res.Steps > first {
		if err := save(); err != nil {
			return nil, err
		}
		if err := evaluate(res.Steps); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return mustJSON(x) == mustJSON(y)
}
