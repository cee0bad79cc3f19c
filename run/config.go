package run

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/model"
)

// Config is everything a training run needs; it is written to the run
// directory (run.json) and into every checkpoint, and fixes the run: the
// same Config gives the same checkpoints bit for bit.
type Config struct {
	Model model.Config      `json:"model"`
	Train model.TrainConfig `json:"train"`
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

// DefaultConfig returns a run of the given architecture on the built-in
// synthetic scenes.
func DefaultConfig(arch string, steps int, seed uint64) (Config, error) {
	rc := Config{
		Train:      model.DefaultTrainConfig(steps),
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
	rc.Model = model.ConfigForDataset(arch, ds)
	return rc, nil
}

// withDefaults fills the fields whose zero value means "default".
func (rc Config) withDefaults() Config {
	if rc.EvalImages == 0 {
		rc.EvalImages = 64
	}
	if rc.CkptEvery == 0 {
		rc.CkptEvery = 100
	}
	return rc
}

// Validate reports the first setting out of range, naming it by its JSON
// path in run.json (e.g. "train.steps").
func (rc *Config) Validate() error {
	if err := rc.CheckLimits(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if err := rc.Model.Validate(); err != nil {
		return err
	}
	if err := rc.Train.Validate(); err != nil {
		return err
	}
	switch {
	case rc.EvalEvery < 0:
		return fmt.Errorf("run: eval_every %d is negative", rc.EvalEvery)
	case rc.EvalImages < 0:
		return fmt.Errorf("run: eval_images %d is negative", rc.EvalImages)
	case rc.CkptEvery < 0:
		return fmt.Errorf("run: ckpt_every %d is negative", rc.CkptEvery)
	case rc.Workers < 0:
		return fmt.Errorf("run: workers %d is negative", rc.Workers)
	}
	for _, s := range rc.Snapshots {
		if s <= 0 || s > rc.Train.Steps {
			return fmt.Errorf("run: snapshot step %d outside 1..%d", s, rc.Train.Steps)
		}
	}
	if a := rc.Augment; a.ScaleMin < 0 || a.ScaleMax < a.ScaleMin || (a.ScaleMin == 0) != (a.ScaleMax == 0) {
		return fmt.Errorf("run: augment scale range [%g, %g] (want 0 < min ≤ max, or both 0 for none)", a.ScaleMin, a.ScaleMax)
	}
	return nil
}
