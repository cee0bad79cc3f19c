package run

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestEveryNumericSettingLimited fails when Config gains a numeric setting
// without a range in Limits, or Limits names a key Config does not have.
func TestEveryNumericSettingLimited(t *testing.T) {
	rc, err := DefaultConfig("mpformer", 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	rc.Snapshots = []int{50}
	seen := map[string]bool{}
	WalkNumbers(&rc, func(key string, _ int, _ float64) {
		seen[key] = true
		if _, ok := Limits[key]; !ok {
			t.Errorf("setting %s has no range in run.Limits", key)
		}
	})
	for key := range Limits {
		if !seen[key] {
			t.Errorf("run.Limits has %s, which Config does not hold", key)
		}
	}
	for _, arch := range []string{"maskformer", "mask2former", "mpformer"} {
		rc, _ := DefaultConfig(arch, 1500, 7)
		if err := rc.CheckLimits(); err != nil {
			t.Errorf("%s defaults: %v", arch, err)
		}
	}
}

func TestCheckLimits(t *testing.T) {
	for _, c := range []struct {
		set  func(*Config)
		want string
	}{
		{func(rc *Config) { rc.Train.Schedule.BaseLR = -1 }, "train.schedule.base_lr -1: out of range (want a number ≥ 0)"},
		{func(rc *Config) { rc.Train.Schedule.BaseLR = math.NaN() }, "train.schedule.base_lr NaN: out of range"},
		{func(rc *Config) { rc.Train.ClipNorm = math.Inf(1) }, "train.clip_norm +Inf: out of range"},
		{func(rc *Config) { rc.Model.BackboneWidths[2] = 0 }, "model.backbone_widths[2] 0: out of range (want a whole number in [1, 4096])"},
		{func(rc *Config) { rc.Model.MP.LabelNoise = 1.5 }, "model.mp.label_noise 1.5: out of range (want a number in [0, 1])"},
		{func(rc *Config) { rc.Train.AdamW.Beta2 = 1 }, "train.adamw.beta2 1: out of range (want a number in [0, 1))"},
		{func(rc *Config) { rc.Augment.ScaleMax = -2 }, "augment.scale_max -2: out of range"},
		{func(rc *Config) { rc.EvalImages = -1 }, "eval_images -1: out of range (want a whole number ≥ 0)"},
	} {
		rc, _ := DefaultConfig("mpformer", 100, 1)
		c.set(&rc)
		err := rc.Validate()
		var le *LimitError
		if err == nil || !errors.As(err, &le) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate() = %v, want a LimitError with %q", err, c.want)
		}
	}
}
