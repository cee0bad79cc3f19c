package model

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mpanalyze/mpanalyze/internal/version"
	"github.com/mpanalyze/mpanalyze/model/ckpt"
)

// ErrWrongModel is returned (wrapped) when a checkpoint belongs to another
// architecture or config than the one asked for.
var ErrWrongModel = errors.New("checkpoint of another model")

// SaveCheckpoint writes the model's parameters and config, and the
// trainer's optimiser state and step when tr is not nil, to path
// atomically (see model/ckpt for the layout). extra fields are stored in
// the metadata under their names.
func SaveCheckpoint(path string, m *Model, tr *Trainer, extra map[string]any) error {
	c := ckpt.New()
	c.Meta.ToolVersion = version.String()
	c.Meta.Model = m.Cfg.MarshalIndent()
	c.PutParams(ckpt.ParamPrefix, m.Params())
	if tr != nil {
		c.Meta.Step = int64(tr.StepCount())
		tc, err := json.Marshal(tr.Cfg)
		if err != nil {
			return fmt.Errorf("model: save %s: %w", path, err)
		}
		c.Meta.Train = tc
		c.PutAdamW(tr.Opt)
	}
	if len(extra) > 0 {
		c.Meta.Extra = map[string]json.RawMessage{}
		for k, v := range extra {
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("model: save %s: extra %s: %w", path, k, err)
			}
			c.Meta.Extra[k] = b
		}
	}
	return ckpt.Save(path, c)
}

// LoadModel rebuilds a model from a checkpoint: its config, then its
// parameters. The checkpoint's metadata is returned for callers that need
// the step, the training config or extra fields.
func LoadModel(path string) (*Model, *ckpt.Checkpoint, error) {
	c, err := ckpt.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if len(c.Meta.Model) == 0 {
		return nil, nil, fmt.Errorf("model: %s: no model config in meta.json: %w", path, ErrWrongModel)
	}
	// Decode over the defaults so that fields added after the checkpoint
	// was written keep their default values.
	var probe struct {
		Arch       string `json:"arch"`
		NumClasses int    `json:"num_classes"`
	}
	if err := json.Unmarshal(c.Meta.Model, &probe); err != nil {
		return nil, nil, fmt.Errorf("model: %s: model config: %w", path, err)
	}
	cfg := DefaultConfig(probe.Arch, probe.NumClasses)
	if err := json.Unmarshal(c.Meta.Model, &cfg); err != nil {
		return nil, nil, fmt.Errorf("model: %s: model config: %w", path, err)
	}
	m, err := New(cfg, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %s: %w", path, err)
	}
	if err := c.GetParams(ckpt.ParamPrefix, m.Params()); err != nil {
		return nil, nil, fmt.Errorf("model: %s: %w (%w)", path, err, ErrWrongModel)
	}
	return m, c, nil
}

// ResumeTrainer loads a checkpoint written with a trainer into m and tr:
// parameters, optimiser state and step. The checkpoint's model config must
// equal m's and its training config tr's, so that the resumed run
// continues the same run.
func ResumeTrainer(path string, m *Model, tr *Trainer) error {
	c, err := ckpt.Load(path)
	if err != nil {
		return err
	}
	want := m.Cfg.MarshalIndent()
	var got Config
	if err := json.Unmarshal(c.Meta.Model, &got); err != nil {
		return fmt.Errorf("model: resume %s: model config: %w", path, err)
	}
	if string(got.MarshalIndent()) != string(want) {
		return fmt.Errorf("model: resume %s: the checkpoint's model config differs from this run's: %w", path, ErrWrongModel)
	}
	tc, _ := json.Marshal(tr.Cfg)
	var gotTC, wantTC any
	if err := json.Unmarshal(c.Meta.Train, &gotTC); err != nil || c.Meta.Optimizer == nil {
		return fmt.Errorf("model: resume %s: no training state in the checkpoint", path)
	}
	_ = json.Unmarshal(tc, &wantTC)
	if a, b := mustJSON(gotTC), mustJSON(wantTC); a != b {
		return fmt.Errorf("model: resume %s: the checkpoint's training config differs from this run's (%s vs %s)", path, a, b)
	}
	if err := c.GetParams(ckpt.ParamPrefix, m.Params()); err != nil {
		return fmt.Errorf("model: resume %s: %w", path, err)
	}
	if err := c.GetAdamW(tr.Opt); err != nil {
		return fmt.Errorf("model: resume %s: %w", path, err)
	}
	tr.SetStepCount(int(c.Meta.Step))
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
