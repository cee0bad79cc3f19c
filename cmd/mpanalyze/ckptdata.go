package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/run"
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
	limit(f, "images", limits.AtLeast(1).Or(0, "all"))
	limit(f, "workers", limits.Ints(1, 1024))
}

// open loads the checkpoint and the dataset. Unless dataset flags were
// given, the dataset is the validation set of the run that wrote the
// checkpoint (recorded in its metadata).
func (o *ckptData) open() (*run.Checkpoint, data.Dataset, error) {
	if o.Checkpoint == "" {
		return nil, nil, usageErrorf("--checkpoint is required")
	}
	ck, err := run.LoadCheckpoint(o.Checkpoint)
	if err != nil {
		return nil, nil, err
	}
	spec := o.Spec
	if !o.datasetFlagsSet() && ck.Run != nil {
		spec = ck.Run.Val
	} else if err := checkDatasetFlags(spec, ""); err != nil {
		return nil, nil, err
	}
	ds, err := data.Open(spec)
	if err != nil {
		return nil, nil, err
	}
	if len(ds.Categories()) != ck.Model.Cfg.NumClasses {
		return nil, nil, fmt.Errorf("%s: the model has %d classes but dataset %s has %d", o.Checkpoint, ck.Model.Cfg.NumClasses, ds.Name(), len(ds.Categories()))
	}
	return ck, ds, nil
}

func (o *ckptData) datasetFlagsSet() bool {
	for _, n := range []string{"kind", "split", "n", "size", "data-seed", "max-things", "shape-only", "annotations", "image-dir", "panoptic-pngs"} {
		if o.flags.Changed(n) {
			return true
		}
	}
	return false
}
