package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/gemm"
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
	Precision string
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
for bit; it reads the run's settings from its run.json, so --out and
--resume are all it needs (a flag given with --resume must agree with the
run). A NaN or Inf loss stops the run with an error. With --kind coco, give
the validation files with --val-annotations (and --val-image-dir,
--val-panoptic-pngs); without them validation uses the training file.`,
		Example: `  mpanalyze train --model mask2former --out runs/m2f
  mpanalyze train --model mpformer --mp-noise point --mp-noise-ratio 0.2 --out runs/mpf
  mpanalyze train --out runs/m2f --resume
  mpanalyze train --kind coco --annotations train.json --image-dir train/ --val-annotations val.json --val-image-dir val/ --out runs/coco`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runTrain(s, opts, cmd.Flags()) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "run directory (required)")
	addModelFlags(f, &opts.Model)
	addDatasetFlags(f, &opts.Data, "", "train")
	f.IntVar(&opts.Val.N, "val-n", 200, "validation images")
	f.StringVar(&opts.Val.Annotations, "val-annotations", "", "coco: validation instance or panoptic JSON (default: the training file, with a warning)")
	f.StringVar(&opts.Val.Images, "val-image-dir", "", "coco: validation image directory (default: --image-dir)")
	f.StringVar(&opts.Val.PanopticPNGs, "val-panoptic-pngs", "", "coco: panoptic PNG directory of --val-annotations")
	f.IntVar(&opts.Steps, "steps", 1500, "training steps")
	f.IntVar(&opts.Batch, "batch", 8, "images per step")
	f.Uint64Var(&opts.Seed, "seed", 1, "seed of the initialisation, data order and noise")
	f.Float64Var(&opts.LR, "lr", 0, "base learning rate (0 = the default, 3e-4)")
	f.StringVar(&opts.Schedule, "schedule", "multistep", "learning-rate schedule: multistep (×0.1 at 90 % of the steps), poly (power 0.9) or constant")
	f.IntVar(&opts.Warmup, "warmup", -1, "linear warm-up steps (-1 = the default, min(50, steps/10))")
	f.Float64Var(&opts.ClipNorm, "clip-norm", 0.01, "gradient-norm clip (0 = off)")
	f.StringVar(&opts.Precision, "precision", gemm.FP32, "matrix products: fp32, or bf16 (operands rounded to BF16 on the AMX tile unit, FP32 accumulation; CPUs with AMX-BF16 only; see docs/performance.md for its accuracy cost)")
	f.IntVar(&opts.CkptEvery, "ckpt-every", 100, "checkpoint interval in steps")
	f.IntVar(&opts.EvalEvery, "eval-every", 0, "validation interval in steps (0 = at the end only)")
	f.IntVar(&opts.EvalN, "eval-images", 64, "validation images per evaluation")
	f.BoolVar(&opts.NoAugment, "no-augment", false, "no flip or scale jitter")
	f.BoolVar(&opts.Resume, "resume", false, "continue the run in --out")
	f.IntVar(&opts.Workers, "workers", runtime.GOMAXPROCS(0), "images processed in parallel (does not change results)")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	oneOf(f, "schedule", optim.ScheduleMultiStep, optim.SchedulePoly, optim.ScheduleConstant)
	oneOf(f, "precision", gemm.FP32, gemm.BF16)
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
func (o *trainOptions) runConfig(warn io.Writer) (run.Config, error) {
	if err := checkDatasetFlags(o.Data, ""); err != nil {
		return run.Config{}, err
	}
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
	if err := o.valFiles(&rc, warn); err != nil {
		return rc, err
	}
	ds, err := data.Open(rc.Data)
	if err != nil {
		return rc, err
	}
	if rc.Val.Annotations != rc.Data.Annotations {
		val, err := data.Open(rc.Val)
		if err != nil {
			return rc, err
		}
		if a, b := categoryNames(ds), categoryNames(val); a != b {
			return rc, fmt.Errorf("--val-annotations %s has other categories than --annotations %s (%s vs %s): the model is scored on the classes it trains", rc.Val.Annotations, rc.Data.Annotations, b, a)
		}
	}
	rc.Model = model.ConfigForDataset(o.Model.arch, ds)
	if err := o.Model.apply(&rc.Model); err != nil {
		return rc, err
	}
	if err := rc.Model.Validate(); err != nil {
		return rc, asUsage(err)
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
		return rc, asUsage(err)
	}
	rc.Train.ClipNorm = o.ClipNorm
	if o.Precision == gemm.BF16 {
		rc.Train.Precision = gemm.BF16 // FP32 stays "" in run.json, as before the flag
	}
	rc.CkptEvery, rc.EvalEvery, rc.EvalImages = o.CkptEvery, o.EvalEvery, o.EvalN
	if o.NoAugment {
		rc.Augment = data.Augment{}
	}
	rc.Workers = o.Workers
	return rc, nil
}

// categoryNames lists a dataset's categories as "id:name, ...".
func categoryNames(ds data.Dataset) string {
	var parts []string
	for _, c := range ds.Categories() {
		parts = append(parts, fmt.Sprintf("%d:%s", c.ID, c.Name))
	}
	return strings.Join(parts, ", ")
}

// valFiles sets the validation files of a COCO run: --val-annotations
// with --val-image-dir (default: --image-dir) and, for a panoptic file,
// --val-panoptic-pngs; or else the training file itself, with a warning.
func (o *trainOptions) valFiles(rc *run.Config, warn io.Writer) error {
	given := o.Val.Annotations != "" || o.Val.Images != "" || o.Val.PanopticPNGs != ""
	if o.Data.Kind != "coco" {
		if given {
			return usageErrorf("--val-annotations, --val-image-dir and --val-panoptic-pngs are for --kind coco (generated kinds have their own val split)")
		}
		return nil
	}
	if o.Val.Annotations == "" {
		if given {
			return usageErrorf("--val-image-dir and --val-panoptic-pngs need --val-annotations")
		}
		if warn != nil {
			which := fmt.Sprintf("the first %d images", o.Val.N)
			if o.Val.N == 0 {
				which = "the images"
			}
			fmt.Fprintf(warn, "warning: no --val-annotations: validation uses %s of the training file %s, so its scores are not held-out scores\n", which, o.Data.Annotations)
		}
		return nil
	}
	rc.Val.Annotations = o.Val.Annotations
	if o.Val.Images != "" {
		rc.Val.Images = o.Val.Images
	}
	rc.Val.PanopticPNGs = o.Val.PanopticPNGs
	return nil
}

// configFlags maps every train flag that sets part of the run config to
// the run.json keys it sets. On --resume a flag given explicitly must
// agree with the run's stored value there (TestTrainFlagsMapped checks
// that every flag is here or in otherFlags).
var configFlags = map[string][]string{
	"model": {"model.arch"}, "image-size": {"model.image_size"}, "queries": {"model.queries"},
	"hidden": {"model.hidden"}, "ffn": {"model.ffn"}, "heads": {"model.heads"}, "layers": {"model.dec_layers"},
	"points": {"model.loss.points"}, "query-pos": {"model.query_pos"}, "mp-groups": {"model.mp.groups"},
	"mp-layers": {"model.mp.pilot_layers"}, "mp-noise": {"model.mp.noise"}, "mp-noise-ratio": {"model.mp.noise_ratio"},
	"label-noise": {"model.mp.label_noise"}, "mp-no-class-loss": {"model.mp.no_class_loss"},
	"kind": {"data.kind"}, "split": {"data.split"}, "n": {"data.n"}, "size": {"data.size"},
	"data-seed": {"data.seed"}, "max-things": {"data.max_things"}, "shape-only": {"data.shape_only"},
	"annotations": {"data.annotations"}, "image-dir": {"data.images"}, "panoptic-pngs": {"data.panoptic_pngs"},
	"skip-invalid": {"data.skip_invalid"}, "val-n": {"val.n"}, "val-annotations": {"val.annotations"},
	"val-image-dir": {"val.images"}, "val-panoptic-pngs": {"val.panoptic_pngs"},
	"steps": {"train.steps"}, "batch": {"train.batch"}, "seed": {"train.seed"}, "lr": {"train.schedule.base_lr"},
	"schedule": {"train.schedule.name"}, "warmup": {"train.schedule.warmup_iters"}, "clip-norm": {"train.clip_norm"},
	"precision":  {"train.precision"},
	"ckpt-every": {"ckpt_every"}, "eval-every": {"eval_every"}, "eval-images": {"eval_images"},
	"no-augment":    {"augment"},
	"pixel-decoder": {"model.pixel_decoder"}, "enc-layers": {"model.msdeform.layers"},
	"pixel-dim": {"model.pixel_dim"}, "mask-dim": {"model.mask_dim"},
	"loss-weights":  {"model.loss.class_weight", "model.loss.mask_weight", "model.loss.dice_weight"},
	"match-weights": {"model.loss.match_class", "model.loss.match_mask", "model.loss.match_dice"},
}

// otherFlags are the train flags that are not part of the run config.
var otherFlags = []string{"out", "resume", "workers", "json", "help"}

// resumeConfig is the config of the run in o.Out (its run.json). Flags
// given explicitly must agree with it: the first that does not is a usage
// error naming both values.
func (o *trainOptions) resumeConfig(flags *pflag.FlagSet, note io.Writer) (run.Config, error) {
	stored, err := run.ReadConfig(o.Out)
	if errors.Is(err, run.ErrNoRun) {
		if stored, err = o.configFromCheckpoint(err); err == nil {
			fmt.Fprintf(note, "note: %s was missing; restored it from %s\n", filepath.Join(o.Out, run.ConfigFile), filepath.Join(o.Out, run.LatestCkpt))
		}
	}
	if err != nil {
		return run.Config{}, err
	}
	if err := stored.Validate(); err != nil {
		return run.Config{}, fmt.Errorf("%s: %w", filepath.Join(o.Out, run.ConfigFile), err)
	}
	var changed []string
	for _, name := range slices.Sorted(maps.Keys(configFlags)) {
		if flags.Changed(name) {
			changed = append(changed, name)
		}
	}
	if len(changed) > 0 {
		given, err := o.runConfig(nil)
		if err != nil {
			return run.Config{}, err
		}
		for _, name := range changed {
			for _, key := range configFlags[name] {
				a, b := jsonAt(stored, key), jsonAt(&given, key)
				if a != b {
					return run.Config{}, usageErrorf("--%s %s contradicts the run being resumed: %s is %s in %s but %s with this flag (leave the flag out to resume the run as it was, or start a new run in another --out)",
						name, flags.Lookup(name).Value.String(), key, a, filepath.Join(o.Out, run.ConfigFile), b)
				}
			}
		}
	}
	rc := *stored
	rc.Workers = o.Workers
	return rc, nil
}

// configFromCheckpoint restores a run.json that is missing (deleted, or
// lost with its directory's other files) from checkpoints/latest.npz, which
// stores the run's settings; without a checkpoint it returns noRun.
func (o *trainOptions) configFromCheckpoint(noRun error) (*run.Config, error) {
	latest := filepath.Join(o.Out, run.LatestCkpt)
	if _, err := os.Stat(latest); err != nil {
		return nil, noRun
	}
	ck, err := run.LoadCheckpoint(latest)
	if err != nil {
		return nil, fmt.Errorf("%w; and the checkpoint cannot stand in for it: %w", noRun, err)
	}
	if ck.Run == nil {
		return nil, fmt.Errorf("%w, and %s holds no run settings", noRun, latest)
	}
	b, err := json.MarshalIndent(ck.Run, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(filepath.Join(o.Out, run.ConfigFile), append(b, '\n')); err != nil {
		return nil, err
	}
	return ck.Run, nil
}

// jsonAt is the JSON text of the value at a dotted key of v's JSON form
// ("null" when absent).
func jsonAt(v any, key string) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		panic(err)
	}
	for _, k := range strings.Split(key, ".") {
		m, _ := x.(map[string]any)
		x = m[k]
	}
	out, _ := json.Marshal(x)
	return string(out)
}

type trainSummary struct {
	Out          string              `json:"out"`
	Model        string              `json:"model"`
	Steps        int                 `json:"steps"`
	StepsRun     int                 `json:"steps_run"`
	Seconds      float64             `json:"seconds"`
	ImagesPerSec float64             `json:"images_per_s"`
	Params       int                 `json:"params"`
	Checkpoint   string              `json:"checkpoint"`
	Eval         *metrics.EvalReport `json:"eval,omitempty"`
}

func runTrain(s *streams, o *trainOptions, flags *pflag.FlagSet) error {
	if o.Out == "" {
		return usageErrorf("--out is required")
	}
	var rc run.Config
	var err error
	if o.Resume {
		rc, err = o.resumeConfig(flags, s.Err)
	} else if rc, err = o.runConfig(s.Err); err == nil {
		err = outDir("out", o.Out)
	}
	if err != nil {
		return err
	}
	res, err := run.Train(o.Out, rc, run.Options{Resume: o.Resume, Progress: s.Err})
	if err != nil {
		if errors.Is(err, run.ErrRunExists) {
			return asUsage(err)
		}
		return err
	}
	sum := trainSummary{Out: o.Out, Model: rc.Model.Arch, Steps: res.Steps, StepsRun: res.StepsRun, Seconds: res.Seconds,
		ImagesPerSec: res.ImagesPS, Params: res.Model.NumParams(), Checkpoint: o.Out + "/" + run.LatestCkpt, Eval: res.Final}
	if o.JSON {
		return writeJSON(s.Out, sum)
	}
	if res.StepsRun == 0 {
		fmt.Fprintf(s.Out, "%s: all %d steps were done already (%d parameters)\n", sum.Model, sum.Steps, sum.Params)
	} else {
		resumed := ""
		if res.StepsRun < res.Steps {
			resumed = fmt.Sprintf(" (resumed at step %d)", res.Steps-res.StepsRun)
		}
		fmt.Fprintf(s.Out, "trained %s for %d steps%s in %.0f s (%.1f images/s, %d parameters)\n", sum.Model, res.StepsRun, resumed, sum.Seconds, sum.ImagesPerSec, sum.Params)
	}
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
