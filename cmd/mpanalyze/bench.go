package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/gemm"
	"github.com/mpanalyze/mpanalyze/model/torchref"
	"github.com/mpanalyze/mpanalyze/run"
)

func init() { register(newBenchCmd) }

func newBenchCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure training speed",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBenchTorchCmd(s))
	return cmd
}

type benchTorchOptions struct {
	torchref.RaceOptions
	Keep   string
	Format string
	JSON   bool
}

func newBenchTorchCmd(s *streams) *cobra.Command {
	o := &benchTorchOptions{}
	cmd := &cobra.Command{
		Use:   "torch",
		Short: "Race our trainer against the PyTorch reference on the same batches",
		Long: `bench torch builds the default model (synthetic scenes) at each --image-size,
writes its initial weights and the batches of warm-up + steps training steps
to an .npz, and times full training steps (forward over all stages,
matching, criterion, backward, clipping, AdamW) on those batches: ours with
GOMAXPROCS and trainer workers = t for each --threads t, then the PyTorch
reference (model/torchref/bench.py, Debian's python3-torch on CPU) with
torch.set_num_threads(t) for each --torch-threads t (and, for t > 1, each
--omp-wait-policy: PyTorch's OpenMP threads spin-wait by default, which
collapses when another process holds a core, so the passive policy is timed
by default and labelled). 1 thread is always timed on both sides. Warm-up
steps are not timed. The race runs --repeat times, the sides alternating.

It prints three tables: the headlines — PER CORE (ours on 1 thread /
PyTorch on 1 thread, on wall time and on each process's CPU time, which
other load on a shared machine disturbs least) and BEST (each side at its
fastest thread count and variant) — then each side's median images/s
[min–max] and images per CPU-second with its losses, then every ratio ours
/ PyTorch (ranges race by race). The race itself lives in
model/torchref (Race).`,
		Example: `  mpanalyze bench torch
  mpanalyze bench torch --image-size 96,128 --threads 1,2 --repeat 5
  mpanalyze bench torch --threads 1 --models mask2former --format markdown`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runBenchTorch(s, o) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Models, "models", []string{model.ArchMask2Former, model.ArchMPFormer}, "architectures to race")
	f.IntSliceVar(&o.Threads, "threads", []int{1, 2}, "thread counts of both sides, each timed: our GOMAXPROCS and workers, PyTorch's set_num_threads (1 is always timed, for the per-core headline)")
	f.IntSliceVar(&o.TorchThreads, "torch-threads", nil, "PyTorch thread counts to time (default: --threads; 1 is always timed)")
	f.StringSliceVar(&o.WaitPolicies, "omp-wait-policy", []string{"passive"},
		"OMP_WAIT_POLICY of multi-threaded PyTorch runs, each timed: passive, active, or default (unset: libgomp spins, which on a loaded machine can be many times slower)")
	f.IntVar(&o.Steps, "steps", 10, "timed training steps")
	f.IntVar(&o.Warmup, "warmup", 2, "untimed warm-up steps before them")
	f.IntVar(&o.Batch, "batch", model.DefaultTrainConfig(1).Batch, "images per step")
	f.IntSliceVar(&o.ImageSizes, "image-size", []int{0}, "input sides, each a separate race (0 = the default config's)")
	f.StringVar(&o.PixelDecoder, "pixel-decoder", model.PixelFPN, "pixel decoder of both sides: fpn or msdeform")
	f.IntVar(&o.Repeat, "repeat", 3, "races per model and size (median and range are reported)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the data, the weights and the training draws")
	f.StringVar(&o.Precision, "precision", gemm.FP32, "our side's matrix products: fp32, or bf16 (BF16 operands on the AMX tile unit, FP32 accumulation; CPUs with AMX-BF16 only)")
	f.StringSliceVar(&o.TorchPrecisions, "torch-precision", nil, "PyTorch's precisions, each timed: fp32, bf16 (forward under CPU autocast) (default: fp32, and bf16 too with --precision bf16; the headlines take the fastest)")
	f.StringVar(&o.Python, "python", "/usr/bin/python3", "Python with torch, numpy and scipy")
	f.StringVar(&o.Keep, "keep", "", "keep the scripts and the batch files in this directory")
	f.StringVar(&o.Format, "format", "text", "output format: text, markdown, csv or json (json also holds every race's raw figures)")
	f.BoolVar(&o.JSON, "json", false, "print JSON (same as --format json)")
	limit(f, "threads", limits.Ints(1, 1024))
	limit(f, "torch-threads", limits.Ints(1, 1024))
	limit(f, "steps", limits.AtLeast(1))
	limit(f, "warmup", limits.AtLeast(0))
	limit(f, "batch", limits.Ints(1, 4096))
	limit(f, "image-size", limits.Ints(32, 4096).Times(32).Or(0, "the default config's"))
	limit(f, "repeat", limits.Ints(1, 1000))
	limit(f, "seed", limits.Any())
	oneOf(f, "pixel-decoder", model.PixelFPN, model.PixelMSDeform)
	oneOf(f, "models", archs...)
	oneOf(f, "omp-wait-policy", "passive", "active", "default")
	oneOf(f, "precision", gemm.FP32, gemm.BF16)
	oneOf(f, "torch-precision", gemm.FP32, gemm.BF16)
	oneOf(f, "format", tables.Formats...)
	return cmd
}

func runBenchTorch(s *streams, o *benchTorchOptions) error {
	// Ranges and choices are checked while parsing (limit, oneOf).
	if len(o.WaitPolicies) == 0 {
		return usageErrorf("--omp-wait-policy needs at least one policy")
	}
	if o.JSON {
		o.Format = "json"
	}
	if len(o.TorchPrecisions) == 0 {
		// like for like: PyTorch gets the mixed precision we run, and
		// FP32, and the headlines take its faster
		o.TorchPrecisions = slices.Compact([]string{gemm.FP32, o.Precision})
	}
	// the batches are a training run's: its default augmentation
	rc, err := run.DefaultConfig(model.ArchMask2Former, 1, o.Seed)
	if err != nil {
		return err
	}
	o.Augment = rc.Augment
	if o.Dir = o.Keep; o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "mpanalyze-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.Dir)
	} else if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	o.Progress = s.Err
	rep, err := torchref.Race(&o.RaceOptions)
	if cerr := (*torchref.ConfigError)(nil); errors.As(err, &cerr) {
		return usageErrorf("%v", cerr)
	} else if err != nil {
		return err
	}
	command := "mpanalyze bench torch " + strings.Join(o.flags(), " ")
	return tables.WriteSet(s.Out, benchTables(rep, command, o.Repeat), o.Format, map[string]any{
		"command": command, "torch_version": rep.TorchVersion, "cores": rep.Cores, "cpu": rep.CPU, "gemm": rep.GEMM, "precision": rep.Precision, "models": rep.Models,
	})
}

// flags spells the options as a command line (for the report).
func (o *benchTorchOptions) flags() []string {
	ints := func(v []int) string {
		ts := make([]string, len(v))
		for i, t := range v {
			ts[i] = strconv.Itoa(t)
		}
		return strings.Join(ts, ",")
	}
	f := []string{"--models", strings.Join(o.Models, ","), "--image-size", ints(o.ImageSizes), "--threads", ints(o.Threads)}
	if len(o.TorchThreads) > 0 {
		f = append(f, "--torch-threads", ints(o.TorchThreads))
	}
	f = append(f, "--omp-wait-policy", strings.Join(o.WaitPolicies, ","),
		"--steps", strconv.Itoa(o.Steps), "--warmup", strconv.Itoa(o.Warmup), "--batch", strconv.Itoa(o.Batch),
		"--repeat", strconv.Itoa(o.Repeat), "--seed", strconv.FormatUint(o.Seed, 10))
	if o.PixelDecoder != model.PixelFPN {
		f = append(f, "--pixel-decoder", o.PixelDecoder)
	}
	if o.Precision != gemm.FP32 || !slices.Equal(o.TorchPrecisions, []string{gemm.FP32}) {
		f = append(f, "--precision", o.Precision, "--torch-precision", strings.Join(o.TorchPrecisions, ","))
	}
	return f
}

// benchTables lays the race out as the headlines, the sides and the
// ratios.
func benchTables(rep *torchref.RaceReport, command string, repeat int) []tables.Named {
	num := func(v float64) *tables.Number { return tables.Plain(v) }
	times := func(r torchref.Ratio) string { return fmt.Sprintf("%.2f×", r.Ratio) }
	span := func(lo, hi float64, unit string) string { return fmt.Sprintf("%.2f–%.2f%s", lo, hi, unit) }
	races := fmt.Sprintf("medians over %d race%s; ranges race by race", repeat, map[bool]string{true: "", false: "s"}[repeat == 1])
	head := tables.Table{
		Title:  "bench torch: training images/s, mpanalyze / PyTorch (" + fmt.Sprintf("PyTorch %s on CPU, %d cores of %s; our GEMM %s, %s", rep.TorchVersion, rep.Cores, rep.CPU, rep.GEMM, rep.Precision) + ")",
		Header: []string{"model", "px", "per core (1 thread each)", "range", "per core, CPU time", "range", "best thread counts", "range", "best pairing"},
		Keys:   []string{"arch", "image_size", "per_core_ratio", "per_core_range", "per_core_cpu_ratio", "per_core_cpu_range", "best_ratio", "best_range", "best_pairing"},
		Notes: []string{"Ratios of " + races + ". Per core: images/s of wall time, and images per CPU-second of each process (what other load on a shared machine disturbs least). Best: each side at its fastest thread count and PyTorch variant (wall time).",
			command},
	}
	sides := tables.Table{
		Title:  "Sides: training images/s",
		Header: []string{"model", "px", "side", "images/s", "range", "images/CPU-s", "tile ns", "loss step 0", "loss last step"},
		Keys:   []string{"arch", "image_size", "side", "images_per_s", "range", "images_per_cpu_s", "tile_ns", "loss_step0", "loss_last"},
		Notes: []string{"images/s: " + races + ". Step 0 has the same weights and batch on both sides; MP-Former's label-noise draws differ between the sides, so its losses differ slightly.",
			"tile ns: our tile unit's speed before each race (ns per tile multiply on hot operands; median [range]); a shared host's tile unit changes speed from minute to minute, and our BF16 images/s with it."},
	}
	ratios := tables.Table{
		Title:  "Ratios mpanalyze / PyTorch",
		Header: []string{"model", "px", "mpanalyze threads", "PyTorch", "ratio", "range", "pairing"},
		Keys:   []string{"arch", "image_size", "threads", "pytorch", "ratio", "range", "pairing"},
		Notes:  []string{"Ratios of " + races + "."},
	}
	for _, bm := range rep.Models {
		name := bm.Arch
		if bm.PixelDecoder != model.PixelFPN {
			name += " (" + bm.PixelDecoder + ")"
		}
		px := strconv.Itoa(bm.ImageSize)
		best := bm.Ours[0]
		for _, sd := range bm.Ours {
			if sd.Threads == bm.Best.Threads {
				best = sd
			}
		}
		bt := torchref.Side{Side: "pytorch", Threads: bm.Best.TorchThreads, WaitPolicy: bm.Best.WaitPolicy, Precision: bm.Best.Precision}
		head.Rows = append(head.Rows, []string{name, px, times(bm.PerCore), span(bm.PerCore.Min, bm.PerCore.Max, "×"),
			times(bm.PerCoreCPU), span(bm.PerCoreCPU.Min, bm.PerCoreCPU.Max, "×"), times(bm.Best), span(bm.Best.Min, bm.Best.Max, "×"), best.Label() + " / " + bt.Label()})
		head.Values = append(head.Values, []*tables.Number{nil, num(float64(bm.ImageSize)), num(bm.PerCore.Ratio), nil, num(bm.PerCoreCPU.Ratio), nil, num(bm.Best.Ratio), nil, nil})
		for _, sd := range append(append([]torchref.Side(nil), bm.Ours...), bm.Torch...) {
			last := len(sd.Losses) - 1
			tile, tileV := "", (*tables.Number)(nil)
			if len(sd.TileNs) > 0 {
				med, lo, hi := torchref.MedianRange(sd.TileNs)
				tile, tileV = fmt.Sprintf("%.1f [%.1f–%.1f]", med, lo, hi), num(med)
			}
			sides.Rows = append(sides.Rows, []string{name, px, sd.Label(), fmt.Sprintf("%.2f", sd.Median), span(sd.Min, sd.Max, ""), fmt.Sprintf("%.2f", sd.MedianCPU),
				tile, fmt.Sprintf("%.4f", sd.Losses[0]), fmt.Sprintf("%.4f (step %d)", sd.Losses[last], last)})
			sides.Values = append(sides.Values, []*tables.Number{nil, num(float64(bm.ImageSize)), nil, num(sd.Median), nil, num(sd.MedianCPU), tileV, num(sd.Losses[0]), num(sd.Losses[last])})
		}
		for _, r := range bm.Ratios {
			what := "other thread count"
			if r.Headline {
				what = "same threads, fastest PyTorch variant"
			} else if r.SameThreads {
				what = "same threads"
			}
			t := torchref.Side{Side: "pytorch", Threads: r.TorchThreads, WaitPolicy: r.WaitPolicy, Precision: r.Precision}
			ratios.Rows = append(ratios.Rows, []string{name, px, strconv.Itoa(r.Threads), t.Label(), times(r), span(r.Min, r.Max, "×"), what})
			ratios.Values = append(ratios.Values, []*tables.Number{nil, num(float64(bm.ImageSize)), num(float64(r.Threads)), nil, num(r.Ratio), nil, nil})
		}
	}
	return []tables.Named{{Key: "headlines", Table: head}, {Key: "sides", Table: sides}, {Key: "ratios", Table: ratios}}
}
