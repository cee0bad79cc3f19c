package run

import (
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/ckpt"
)

// TestCheckpointBadValues: a checkpoint holding NaN or ±Inf, a negative
// AdamW second moment, a negative step or a run config out of range is
// refused by LoadCheckpoint and by resuming, with the array and the first
// offending index (flat and per axis) named.
func TestCheckpointBadValues(t *testing.T) {
	rc := tinyRun(t, model.ArchMask2Former, 2)
	m, err := model.New(rc.Model, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := model.NewTrainer(m, rc.Train)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.npz")
	if err := SaveCheckpoint(good, m, tr, &rc, 0); err != nil {
		t.Fatal(err)
	}
	p0 := m.Params()[0]
	name := ckpt.ParamPrefix + p0.Name
	cases := []struct {
		what   string
		change func(c *ckpt.Checkpoint)
		want   string
	}{
		{"NaN param", func(c *ckpt.Checkpoint) { c.Arrays[name].Data[5] = float32(math.NaN()) },
			`array "` + name + `" holds NaN at index 5 `},
		{"+Inf moment", func(c *ckpt.Checkpoint) { c.Arrays[ckpt.AdamMPrefix+p0.Name].Data[0] = float32(math.Inf(1)) },
			`array "` + ckpt.AdamMPrefix + p0.Name + `" holds +Inf at index 0 [0`},
		{"negative second moment", func(c *ckpt.Checkpoint) { c.Arrays[ckpt.AdamVPrefix+p0.Name].Data[1] = -1 },
			`holds -1 at index 1 [0`},
		{"negative step", func(c *ckpt.Checkpoint) { c.Meta.Step = -3 }, "meta.json step -3"},
		{"run config out of range", func(c *ckpt.Checkpoint) {
			bad := rc
			bad.Train.Schedule.BaseLR = -1
			c.Meta.Run, _ = json.Marshal(bad)
		}, "run config in meta.json: train.schedule.base_lr -1: out of range"},
	}
	for _, c := range cases {
		f, err := ckpt.Load(good)
		if err != nil {
			t.Fatal(err)
		}
		c.change(f)
		path := filepath.Join(dir, "bad.npz")
		if err := ckpt.Save(path, f); err != nil {
			t.Fatal(err)
		}
		_, err = LoadCheckpoint(path)
		if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: LoadCheckpoint: %v; want ErrBadValue with %q", c.what, err, c.want)
		}
		if c.what == "run config out of range" {
			continue // resuming compares the run config, not the checkpoint's copy
		}
		m2, _ := model.New(rc.Model, 1)
		tr2, _ := model.NewTrainer(m2, rc.Train)
		if err := resumeTrainer(path, m2, tr2); !errors.Is(err, ErrBadValue) {
			t.Errorf("%s: resume: %v, want ErrBadValue", c.what, err)
		}
	}
	if _, err := LoadCheckpoint(good); err != nil {
		t.Fatal(err)
	}
}
