package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/ckpt"
)

// ckptData are the flags of commands that run a checkpoint on a dataset.
type ckptData struct {
	Checkpoint string
	Spec       data.Spec
	Images     int
	Workers    int
	flags      *pflag.FlagSet
}

func addCkptDataFlags(f *pflag.FlagSet, o *ckptData, workers int) {
	o.flags = f
	f.StringVar(&o.Checkpoint, "checkpoint", "", "model checkpoint (.npz), e.g. RUN/checkpoints/latest.npz (required)")
	addDatasetFlags(f, &o.Spec, "", "val")
	f.IntVar(&o.Images, "images", 0, "use only the first N images (0 = all)")
	f.IntVar(&o.Workers, "workers", workers, "images processed in parallel (does not change results)")
}

// open loads the checkpoint and the dataset. Unless dataset flags were
// given, the dataset is the validation set of the run that wrote the
// checkpoint (recorded in its metadata).
func (o *ckptData) open() (*model.Model, *ckpt.Checkpoint, data.Dataset, error) {
	if o.Checkpoint == "" {
		return nil, nil, nil, usageErrorf("--checkpoint is required")
	}
	m, c, err := model.LoadModel(o.Checkpoint)
	if err != nil {
		return nil, nil, nil, err
	}
	spec := o.Spec
	if !o.datasetFlagsSet() {
		if raw, ok := c.Meta.Extra["run"]; ok {
			var rc model.RunConfig
			if err := json.Unmarshal(raw, &rc); err != nil {
				return nil, nil, nil, fmt.Errorf("%s: run settings in meta.json: %w", o.Checkpoint, err)
			}
			spec = rc.Val
		}
	}
	ds, err := data.Open(spec)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(ds.Categories()) != m.Cfg.NumClasses {
		return nil, nil, nil, fmt.Errorf("%s: the model has %d classes but dataset %s has %d", o.Checkpoint, m.Cfg.NumClasses, ds.Name(), len(ds.Categories()))
	}
	return m, c, ds, nil
}

func (o *ckptData) datasetFlagsSet() bool {
	for _, n := range []string{"kind", "split", "n", "size", "data-seed", "max-things", "shape-only", "annotations", "image-dir", "panoptic-pngs"} {
		if o.flags.Changed(n) {
			return true
		}
	}
	return false
}

// trainingSeed is the seed of the run that wrote a checkpoint (0 when the
// checkpoint has no training config).
func trainingSeed(c *ckpt.Checkpoint) uint64 {
	var tc struct {
		Seed uint64 `json:"seed"`
	}
	if len(c.Meta.Train) > 0 {
		_ = json.Unmarshal(c.Meta.Train, &tc)
	}
	return tc.Seed
}
