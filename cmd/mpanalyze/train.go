package main

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/optim"
	"github.com/mpanalyze/mpanalyze/run"
)

func init() { register(newTrainCmd) }

type trainOptions struct {
	Out       string
	Model     modelFlags
	Data, Val data.Spec
	Steps     int
	Batch     int
	Seed      uint64
	LR        float64
	Schedule  string
	Warmup    int
	ClipNorm  float64
	CkptEvery int
	EvalEvery int
	EvalN     int
	NoAugment bool
	Resume    bool
	Workers   int
	JSON      bool
}

func newTrainCmd(s *streams) *cobra.Command {
	opts := &trainOptions{}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train MaskFormer, Mask2Former or MP-Former",
		Long: `train runs a training run into --out: run.json (the resolved settings),
train.jsonl (losses per step and validations), checkpoints/latest.npz every
--ckpt-every steps (atomic; a failed run keeps its last good checkpoint).
--resume continues a stopped run and reproduces the uninterrupted run bit
for bit. A NaN or Inf loss stops the run with an error.`,
		Example: `  mpanalyze train --model mask2former --out runs/m2f
  mpanalyze train --model mpformer --mp-noise point --mp-noise-ratio 0.2 --out runs/mpf
  mpanalyze train --out runs/m2f --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runTrain(s, opts) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "run directory (required)")
	addModelFlags(f, &opts.Model)
	addDatasetFlags(f, &opts.Data, "", "train")
	f.IntVar(&opts.Val.N, "val-n", 200, "validation images")
	f.IntVar(&opts.Steps, "steps", 1500, "training steps")
	f.IntVar(&opts.Batch, "batch", 8, "images per step")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed of the initialisation, data order and noise")
	f.Float64Var(&opts.LR, "lr", 0, "base learning rate (0 = the default, 3e-4)")
	f.StringVar(&opts.Schedule, "schedule", "multistep", "learning-rate schedule: multistep (×0.1 at 90 % of the steps), poly (power 0.9) or constant")
	f.IntVar(&opts.Warmup, "warmup", -1, "linear warm-up steps (-1 = the default, min(50, steps/10))")
	f.Float64Var(&opts.ClipNorm, "clip-norm", 0.01, "gradient-norm clip (0 = off)")
	f.IntVar(&opts.CkptEvery, "ckpt-every", 100, "checkpoint interval in steps")
	f.IntVar(&opts.EvalEvery, "eval-every", 0, "validation interval in steps (0 = at the end only)")
	f.IntVar(&opts.EvalN, "eval-images", 64, "validation images per evaluation")
	f.BoolVar(&opts.NoAugment, "no-augment", false, "no flip or scale jitter")
	f.BoolVar(&opts.Resume, "resume", false, "continue the run in --out")
	f.IntVar(&opts.Workers, "workers", runtime.GOMAXPROCS(0), "images processed in parallel (does not change results)")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	oneOf(f, "schedule", optim.ScheduleMultiStep, optim.SchedulePoly, optim.ScheduleConstant)
	limit(f, "val-n", limits.AtLeast(1).Or(0, "all"))
	limit(f, "steps", limits.AtLeast(1))
	limit(f, "batch", limits.Ints(1, 4096))
	limit(f, "seed", limits.Any())
	limit(f, "lr", limits.Positive().Or(0, "the default, 3e-4"))
	limit(f, "warmup", limits.AtLeast(0).Or(-1, "the default, min(50, steps/10)"))
	limit(f, "clip-norm", limits.Positive().Or(0, "off"))
	limit(f, "ckpt-every", limits.AtLeast(1))
	limit(f, "eval-every", limits.AtLeast(1).Or(0, "at the end only"))
	limit(f, "eval-images", limits.AtLeast(1))
	limit(f, "workers", limits.Ints(1, 1024))
	return cmd
}

// runConfig resolves the flags into a run.Config.
func (o *trainOptions) runConfig() (run.Config, error) {
	rc, err := run.DefaultConfig(o.Model.arch, o.Steps, o.Seed)
	if err != nil {
		return rc, err
	}
	if o.Data.Seed == 0 {
		o.Data.Seed = o.Seed
	}
	rc.Data = o.Data
	rc.Val = o.Data
	rc.Val.Split, rc.Val.N = "val", o.Val.N
	ds, err := data.Open(rc.Data)
	if err != nil {
		return rc, err
	}
	rc.Model = model.ConfigForDataset(o.Model.arch, ds)
	o.Model.apply(&rc.Model)
	if err := rc.Model.Validate(); err != nil {
		return rc, &usageError{msg: err.Error()}
	}
	rc.Train.Batch = o.Batch
	if o.LR > 0 {
		rc.Train.Schedule.BaseLR = o.LR
	}
	rc.Train.Schedule.Name = o.Schedule
	if o.Warmup >= 0 {
		rc.Train.Schedule.WarmupIters = o.Warmup
	}
	if err := rc.Train.Schedule.Validate(); err != nil {
		return rc, &usageError{msg: err.Error()}
	}
	rc.Train.ClipNorm = o.ClipNorm
	rc.CkptEvery, rc.EvalEvery, rc.EvalImages = o.CkptEvery, o.EvalEvery, o.EvalN
	if o.NoAugment {
		rc.Augment = data.Augment{}
	}
	rc.Workers = o.Workers
	return rc, nil
}

type trainSummary struct {
	Out          string              `json:"out"`
	Model        string              `json:"model"`
	Steps        int                 `json:"steps"`
	Seconds      float64             `json:"seconds"`
	ImagesPerSec float64             `json:"images_per_s"`
	Params       int                 `json:"params"`
	Checkpoint   string              `json:"checkpoint"`
	Eval         *metrics.EvalReport `json:"eval,omitempty"`
}

func runTrain(s *streams, o *trainOptions) error {
	if o.Out == "" {
		return usageErrorf("--out is required")
	}
	rc, err := o.runConfig()
	if err != nil {
		return err
	}
	res, err := run.Train(o.Out, rc, run.Options{Resume: o.Resume, Progress: s.Err})
	if err != nil {
		if errors.Is(err, run.ErrRunExists) {
			return &usageError{msg: err.Error()}
		}
		return err
	}
	sum := trainSummary{Out: o.Out, Model: rc.Model.Arch, Steps: res.Steps, Seconds: res.Seconds,
		ImagesPerSec: res.ImagesPS, Params: res.Model.NumParams(), Checkpoint: o.Out + "/" + run.LatestCkpt, Eval: res.Final}
	if o.JSON {
		return writeJSON(s.Out, sum)
	}
	fmt.Fprintf(s.Out, "trained %s for %d steps in %.0f s (%.1f images/s, %d parameters)\n", sum.Model, sum.Steps, sum.Seconds, sum.ImagesPerSec, sum.Params)
	fmt.Fprintf(s.Out, "checkpoint: %s\n", sum.Checkpoint)
	if e := res.Final; e != nil {
		printEval(s, e)
	}
	return nil
}

// printEval prints the headline task metrics (percent).
func printEval(s *streams, e *metrics.EvalReport) {
	fmt.Fprintf(s.Out, "validation (%d images): PQ %.1f (things %.1f, stuff %.1f)  mask AP %.1f (AP50 %.1f)  mIoU %.1f\n",
		e.Images, 100*e.Panoptic.All.PQ, 100*e.Panoptic.Things.PQ, 100*e.Panoptic.Stuff.PQ,
		100*e.Instance.AP, 100*e.Instance.AP50, 100*e.Semantic.MIoU)
}
