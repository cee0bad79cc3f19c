package run

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mpanalyze/mpanalyze/internal/version"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/ckpt"
)

// ErrWrongModel is returned (wrapped) when a checkpoint belongs to another
// architecture or config than the one asked for.
var ErrWrongModel = errors.New("checkpoint of another model")

// Checkpoint is a loaded checkpoint: the model it rebuilds and what the
// file records about the run that wrote it.
type Checkpoint struct {
	Path  string
	Model *model.Model
	// Step is the number of training steps done when it was written.
	Step int
	// Run is the run's settings; nil for a checkpoint written outside a
	// run (model-only files).
	Run *Config
	// Train is the optimisation config; nil without a trainer state.
	Train *model.TrainConfig
	// File is the raw checkpoint (arrays and metadata).
	File *ckpt.Checkpoint
}

// Seed is the seed of the run that wrote the checkpoint (0 when unknown).
func (c *Checkpoint) Seed() uint64 {
	if c.Train != nil {
		return c.Train.Seed
	}
	if c.Run != nil {
		return c.Run.Train.Seed
	}
	return 0
}

// SaveCheckpoint writes the model's parameters and config, the run config
// rc when not nil, and the trainer's optimiser state and step when tr is
// not nil, to path atomically (model/ckpt gives the layout; the run config
// is meta.json's "run").
func SaveCheckpoint(path string, m *model.Model, tr *model.Trainer, rc *Config, step int) error {
	c := ckpt.New()
	c.Meta.ToolVersion = version.String()
	c.Meta.Model = m.Cfg.MarshalIndent()
	c.Meta.Step = int64(step)
	c.PutParams(ckpt.ParamPrefix, m.Params())
	if rc != nil {
		b, err := json.Marshal(rc)
		if err != nil {
			return fmt.Errorf("run: save %s: %w", path, err)
		}
		c.Meta.Run = b
	}
	if tr != nil {
		c.Meta.Step = int64(tr.StepCount())
		tc, err := json.Marshal(tr.Cfg)
		if err != nil {
			return fmt.Errorf("run: save %s: %w", path, err)
		}
		c.Meta.Train = tc
		c.PutAdamW(tr.Opt)
	}
	return ckpt.Save(path, c)
}

// LoadCheckpoint rebuilds the model of a checkpoint (its config, then its
// parameters) and decodes what the file says about its run. Checkpoints of
// earlier versions, whose run config sits in meta.json's extra.run, load
// too.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := ckpt.Load(path)
	if err != nil {
		return nil, err
	}
	if err := checkValues(path, f); err != nil {
		return nil, err
	}
	if len(f.Meta.Model) == 0 {
		return nil, fmt.Errorf("run: %s: no model config in meta.json: %w", path, ErrWrongModel)
	}
	// Decode over the defaults so that fields added after the checkpoint
	// was written keep their default values.
	var head struct {
		Arch       string `json:"arch"`
		NumClasses int    `json:"num_classes"`
	}
	if err := json.Unmarshal(f.Meta.Model, &head); err != nil {
		return nil, fmt.Errorf("run: %s: model config: %w", path, err)
	}
	cfg := model.DefaultConfig(head.Arch, head.NumClasses)
	if err := json.Unmarshal(f.Meta.Model, &cfg); err != nil {
		return nil, fmt.Errorf("run: %s: model config: %w", path, err)
	}
	m, err := model.New(cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("run: %s: %w", path, err)
	}
	if err := f.GetParams(ckpt.ParamPrefix, m.Params()); err != nil {
		return nil, fmt.Errorf("run: %s: %w (%w)", path, err, ErrWrongModel)
	}
	c := &Checkpoint{Path: path, Model: m, Step: int(f.Meta.Step), File: f}
	raw := f.Meta.Run
	if len(raw) == 0 {
		raw = f.Meta.Extra["run"] // written before meta.json had "run"
	}
	if len(raw) > 0 {
		var rc Config
		if err := json.Unmarshal(raw, &rc); err != nil {
			return nil, fmt.Errorf("run: %s: run config in meta.json: %w", path, err)
		}
		if err := rc.CheckLimits(); err != nil {
			return nil, fmt.Errorf("run: %s: run config in meta.json: %w: %w", path, err, ErrBadValue)
		}
		c.Run = &rc
	}
	if len(f.Meta.Train) > 0 {
		tc := model.DefaultTrainConfig(0)
		if err := json.Unmarshal(f.Meta.Train, &tc); err != nil {
			return nil, fmt.Errorf("run: %s: training config in meta.json: %w", path, err)
		}
		c.Train = &tc
	}
	return c, nil
}

// resumeTrainer loads a checkpoint written with a trainer into m and tr:
// parameters, optimiser state and step. The checkpoint's model config must
// equal m's and its training config tr's, so that the resumed run
// continues the same run.
func resumeTrainer(path string, m *model.Model, tr *model.Trainer) error {
	c, err := ckpt.Load(path)
	if err != nil {
		return err
	}
	if err := checkValues(path, c); err != nil {
		return err
	}
	want := m.Cfg.MarshalIndent()
	var got model.Config
	if err := json.Unmarshal(c.Meta.Model, &got); err != nil {
		return fmt.Errorf("run: resume %s: model config: %w", path, err)
	}
	if string(got.MarshalIndent()) != string(want) {
		return fmt.Errorf("run: resume %s: the checkpoint's model config differs from this run's: %w", path, ErrWrongModel)
	}
	if len(c.Meta.Train) == 0 || c.Meta.Optimizer == nil {
		return fmt.Errorf("run: resume %s: no training state in the checkpoint", path)
	}
	if a, b := canonicalJSON(c.Meta.Train), canonicalJSON(mustMarshal(tr.Cfg)); a != b {
		return fmt.Errorf("run: resume %s: the checkpoint's training config differs from this run's (%s vs %s)", path, a, b)
	}
	if err := c.GetParams(ckpt.ParamPrefix, m.Params()); err != nil {
		return fmt.Errorf("run: resume %s: %w", path, err)
	}
	if err := c.GetAdamW(tr.Opt); err != nil {
		return fmt.Errorf("run: resume %s: %w", path, err)
	}
	tr.SetStepCount(int(c.Meta.Step))
	return nil
}

// canonicalJSON re-encodes a JSON document with sorted keys, so that two
// encodings of the same value compare equal ("" when b is not JSON).
func canonicalJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
