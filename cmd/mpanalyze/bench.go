package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/limits"
	"github.com/mpanalyze/mpanalyze/model"
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
	Models       []string
	Threads      int
	TorchThreads []int
	WaitPolicies []string
	Steps        int
	Warmup       int
	Batch        int
	ImageSize    int
	PixelDecoder string
	Repeat       int
	Seed         uint64
	Python       string
	Keep         string
	JSON         bool
}

func newBenchTorchCmd(s *streams) *cobra.Command {
	o := &benchTorchOptions{}
	cmd := &cobra.Command{
		Use:   "torch",
		Short: "Race our trainer against the PyTorch reference on the same batches",
		Long: `bench torch builds the default model (synthetic scenes), writes its initial
weights and the batches of warm-up + steps training steps to an .npz, and
times full training steps (forward over all stages, matching, criterion,
backward, clipping, AdamW) on those batches: ours with GOMAXPROCS and
trainer workers = --threads, then the PyTorch reference
(model/torchref/bench.py, Debian's python3-torch on CPU) with
torch.set_num_threads(t) for each --torch-threads t (and, for t > 1, each
--omp-wait-policy: PyTorch's OpenMP threads spin-wait by default, which
collapses when another process holds a core, so the passive policy is
timed by default and labelled). Warm-up steps are not timed. The race runs --repeat times, the sides alternating, and reports
the median images/s with the range, and the ratio ours / PyTorch at the
same thread count (the fastest PyTorch variant at that count), and against
every other PyTorch variant, labelled.`,
		Example: `  mpanalyze bench torch
  mpanalyze bench torch --threads 1 --models mask2former --repeat 5 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runBenchTorch(s, o) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Models, "models", []string{model.ArchMask2Former, model.ArchMPFormer}, "architectures to race")
	f.IntVar(&o.Threads, "threads", 2, "threads of both sides: our GOMAXPROCS and workers, PyTorch's set_num_threads")
	f.IntSliceVar(&o.TorchThreads, "torch-threads", nil, "PyTorch thread counts to time (default: --threads and 1)")
	f.StringSliceVar(&o.WaitPolicies, "omp-wait-policy", []string{"passive"},
		"OMP_WAIT_POLICY of multi-threaded PyTorch runs, each timed: passive, active, or default (unset: libgomp spins, which on a loaded machine can be many times slower)")
	f.IntVar(&o.Steps, "steps", 10, "timed training steps")
	f.IntVar(&o.Warmup, "warmup", 2, "untimed warm-up steps before them")
	f.IntVar(&o.Batch, "batch", model.DefaultTrainConfig(1).Batch, "images per step")
	f.IntVar(&o.ImageSize, "image-size", 0, "input side (0 = the default config's)")
	f.StringVar(&o.PixelDecoder, "pixel-decoder", model.PixelFPN, "pixel decoder of both sides: fpn or msdeform")
	oneOf(f, "pixel-decoder", model.PixelFPN, model.PixelMSDeform)
	f.IntVar(&o.Repeat, "repeat", 3, "races per model (median and range are reported)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the data, the weights and the training draws")
	f.StringVar(&o.Python, "python", "/usr/bin/python3", "Python with torch, numpy and scipy")
	f.StringVar(&o.Keep, "keep", "", "keep the scripts and the batch file in this directory")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	limit(f, "threads", limits.Ints(1, 1024))
	limit(f, "torch-threads", limits.Ints(1, 1024))
	limit(f, "steps", limits.AtLeast(1))
	limit(f, "warmup", limits.AtLeast(0))
	limit(f, "batch", limits.Ints(1, 4096))
	limit(f, "image-size", limits.Ints(32, 4096).Times(32).Or(0, "the default config's"))
	limit(f, "repeat", limits.Ints(1, 1000))
	limit(f, "seed", limits.Any())
	oneOf(f, "models", archs...)
	oneOf(f, "omp-wait-policy", "passive", "active", "default")
	return cmd
}

// benchSide is one side's measurements over the repeats.
type benchSide struct {
	Side         string    `json:"side"` // "mpanalyze" or "pytorch"
	Threads      int       `json:"threads"`
	WaitPolicy   string    `json:"omp_wait_policy,omitempty"` // PyTorch with > 1 thread: passive, active or default
	ImagesPerSec []float64 `json:"images_per_s"`              // one per repeat
	Median       float64   `json:"median_images_per_s"`
	Min          float64   `json:"min_images_per_s"`
	Max          float64   `json:"max_images_per_s"`
	// Losses are the batch losses of every step of the last race. Step 0
	// has the same weights and batch on both sides, so its loss agrees
	// (for MP-Former only roughly: the label-noise draws differ).
	Losses []float64 `json:"losses"`
}

// benchRatio is ours / PyTorch's median images/s.
type benchRatio struct {
	TorchThreads int     `json:"torch_threads"`
	WaitPolicy   string  `json:"omp_wait_policy,omitempty"`
	Headline     bool    `json:"headline"` // the fastest PyTorch variant at our thread count
	SameThreads  bool    `json:"same_threads"`
	Ratio        float64 `json:"ratio"`
	Min          float64 `json:"min_ratio"` // over the repeats, race by race
	Max          float64 `json:"max_ratio"`
}

type benchModel struct {
	Arch         string       `json:"arch"`
	PixelDecoder string       `json:"pixel_decoder"`
	ImageSize    int          `json:"image_size"`
	Batch        int          `json:"batch"`
	Steps        int          `json:"steps"`
	Warmup       int          `json:"warmup"`
	Repeat       int          `json:"repeat"`
	Ours         benchSide    `json:"mpanalyze"`
	Torch        []benchSide  `json:"pytorch"`
	Ratios       []benchRatio `json:"ratios"`
}

type benchReport struct {
	Command string       `json:"command"`
	Torch   string       `json:"torch_version"`
	Cores   int          `json:"cores"`
	Models  []benchModel `json:"models"`
}

// torchVariant is one PyTorch configuration to time.
type torchVariant struct {
	threads int
	policy  string // "" for one thread
}

func (v torchVariant) label() string {
	if v.policy == "" {
		return fmt.Sprintf("PyTorch, %d thread%s", v.threads, plural(v.threads))
	}
	return fmt.Sprintf("PyTorch, %d threads, OMP %s", v.threads, v.policy)
}

func runBenchTorch(s *streams, o *benchTorchOptions) error {
	// Ranges and choices are checked while parsing (limit, oneOf).
	if len(o.WaitPolicies) == 0 {
		return usageErrorf("--omp-wait-policy needs at least one policy")
	}
	tts := o.TorchThreads
	if len(tts) == 0 {
		tts = []int{o.Threads, 1}
	}
	var variants []torchVariant
	for _, t := range slices.Compact(tts) {
		if t == 1 {
			variants = append(variants, torchVariant{threads: 1})
			continue
		}
		for _, p := range o.WaitPolicies {
			variants = append(variants, torchVariant{threads: t, policy: p})
		}
	}
	ver, err := exec.Command(o.Python, "-c", "import torch, numpy, scipy; print(torch.__version__)").Output()
	if err != nil {
		return fmt.Errorf("bench: %s cannot import torch, numpy and scipy (%v); apt-get install python3-torch python3-scipy", o.Python, err)
	}
	dir := o.Keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "mpanalyze-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := torchref.WriteScripts(dir); err != nil {
		return err
	}
	rep := benchReport{
		Command: "mpanalyze bench torch " + strings.Join(o.flags(), " "),
		Torch:   strings.TrimSpace(string(ver)),
		Cores:   runtime.NumCPU(),
	}
	for _, arch := range o.Models {
		bm, err := o.race(s, dir, arch, variants)
		if err != nil {
			return err
		}
		rep.Models = append(rep.Models, *bm)
	}
	if o.JSON {
		return writeJSON(s.Out, rep)
	}
	fmt.Fprintf(s.Out, "%s\nPyTorch %s (CPU), %d cores; images/s are medians over %d races [min–max]\n", rep.Command, rep.Torch, rep.Cores, o.Repeat)
	for _, bm := range rep.Models {
		fmt.Fprintf(s.Out, "\n%s (%s pixel decoder), %d×%d, batch %d, %d timed steps after %d warm-up:\n", bm.Arch, bm.PixelDecoder, bm.ImageSize, bm.ImageSize, bm.Batch, bm.Steps, bm.Warmup)
		row := func(name string, sd benchSide) {
			fmt.Fprintf(s.Out, "  %-34s %7.2f images/s [%.2f–%.2f]   loss step 0 %.4f, step %d %.4f\n",
				name, sd.Median, sd.Min, sd.Max, sd.Losses[0], len(sd.Losses)-1, sd.Losses[len(sd.Losses)-1])
		}
		if bm.Arch == model.ArchMPFormer {
			fmt.Fprintln(s.Out, "  (same weights and batches; the MP label-noise draws differ between the sides, so the losses differ slightly)")
		}
		row(fmt.Sprintf("mpanalyze, %d thread%s", bm.Ours.Threads, plural(bm.Ours.Threads)), bm.Ours)
		for _, t := range bm.Torch {
			row(torchVariant{t.Threads, t.WaitPolicy}.label(), t)
		}
		for _, r := range bm.Ratios {
			what := "other thread count"
			if r.Headline {
				what = "HEADLINE: same threads, fastest PyTorch variant"
			} else if r.TorchThreads == bm.Ours.Threads {
				what = "same threads"
			}
			fmt.Fprintf(s.Out, "  ratio mpanalyze(%d) / %-28s %6.2f× [%.2f–%.2f]  (%s)\n",
				bm.Ours.Threads, torchVariant{r.TorchThreads, r.WaitPolicy}.label()+":", r.Ratio, r.Min, r.Max, what)
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// flags spells the options as a command line (for the report).
func (o *benchTorchOptions) flags() []string {
	f := []string{"--models", strings.Join(o.Models, ","), "--threads", strconv.Itoa(o.Threads)}
	if len(o.TorchThreads) > 0 {
		ts := make([]string, len(o.TorchThreads))
		for i, t := range o.TorchThreads {
			ts[i] = strconv.Itoa(t)
		}
		f = append(f, "--torch-threads", strings.Join(ts, ","))
	}
	f = append(f, "--omp-wait-policy", strings.Join(o.WaitPolicies, ","),
		"--steps", strconv.Itoa(o.Steps), "--warmup", strconv.Itoa(o.Warmup), "--batch", strconv.Itoa(o.Batch),
		"--repeat", strconv.Itoa(o.Repeat), "--seed", strconv.FormatUint(o.Seed, 10))
	if o.ImageSize > 0 {
		f = append(f, "--image-size", strconv.Itoa(o.ImageSize))
	}
	if o.PixelDecoder != model.PixelFPN {
		f = append(f, "--pixel-decoder", o.PixelDecoder)
	}
	return f
}

// race runs the repeats of one architecture.
func (o *benchTorchOptions) race(s *streams, dir, arch string, variants []torchVariant) (*benchModel, error) {
	ds, err := data.Open(data.Spec{Kind: "synthetic", Split: "train", Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	cfg := model.ConfigForDataset(arch, ds)
	if o.ImageSize > 0 {
		cfg.ImageSize = o.ImageSize
	}
	cfg.PixelDecoder = o.PixelDecoder
	if err := cfg.Validate(); err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	total := o.Warmup + o.Steps
	tc := model.DefaultTrainConfig(total)
	tc.Batch, tc.Seed = o.Batch, o.Seed
	// the training run's data: default augmentation, the run's loader
	rc, err := run.DefaultConfig(arch, total, o.Seed)
	if err != nil {
		return nil, err
	}
	ld, err := data.NewLoader(ds, o.Batch, data.BatchConfig{Size: cfg.ImageSize, Augment: rc.Augment, Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	batches := make([][]*model.Example, total)
	for k := range batches {
		b, err := ld.Batch(k)
		if err != nil {
			return nil, err
		}
		for i := range b.Images {
			batches[k] = append(batches[k], model.ExampleFromBatch(&b.Images[i]))
		}
	}
	m, err := model.New(cfg, o.Seed)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, arch+".bench.npz")
	if err := torchref.WriteTorchBench(file, m, &torchref.TorchBench{Train: tc, Batches: batches}); err != nil {
		return nil, err
	}
	bm := &benchModel{Arch: arch, PixelDecoder: cfg.PixelDecoder, ImageSize: cfg.ImageSize, Batch: o.Batch, Steps: o.Steps, Warmup: o.Warmup, Repeat: o.Repeat,
		Ours: benchSide{Side: "mpanalyze", Threads: o.Threads}}
	bm.Torch = make([]benchSide, len(variants))
	for i, v := range variants {
		bm.Torch[i] = benchSide{Side: "pytorch", Threads: v.threads, WaitPolicy: v.policy}
	}
	for r := 0; r < o.Repeat; r++ {
		fmt.Fprintf(s.Err, "bench %s: race %d/%d: mpanalyze, %d thread%s…\n", arch, r+1, o.Repeat, o.Threads, plural(o.Threads))
		ips, losses, err := o.goSide(cfg, tc, batches)
		if err != nil {
			return nil, err
		}
		bm.Ours.ImagesPerSec = append(bm.Ours.ImagesPerSec, ips)
		bm.Ours.Losses = losses
		for i, v := range variants {
			fmt.Fprintf(s.Err, "bench %s: race %d/%d: %s…\n", arch, r+1, o.Repeat, v.label())
			ips, losses, err := o.torchSide(dir, file, v)
			if err != nil {
				return nil, err
			}
			bm.Torch[i].ImagesPerSec = append(bm.Torch[i].ImagesPerSec, ips)
			bm.Torch[i].Losses = losses
		}
	}
	summarise(&bm.Ours)
	head := -1
	for i := range bm.Torch {
		summarise(&bm.Torch[i])
		if t := &bm.Torch[i]; t.Threads == o.Threads && (head < 0 || t.Median > bm.Torch[head].Median) {
			head = i
		}
	}
	for i := range bm.Torch {
		t := &bm.Torch[i]
		br := benchRatio{TorchThreads: t.Threads, WaitPolicy: t.WaitPolicy, Headline: i == head, Ratio: bm.Ours.Median / t.Median}
		for r := range t.ImagesPerSec {
			x := bm.Ours.ImagesPerSec[r] / t.ImagesPerSec[r]
			if r == 0 || x < br.Min {
				br.Min = x
			}
			if r == 0 || x > br.Max {
				br.Max = x
			}
		}
		bm.Ratios = append(bm.Ratios, br)
	}
	return bm, nil
}

func summarise(sd *benchSide) {
	v := slices.Clone(sd.ImagesPerSec)
	slices.Sort(v)
	sd.Min, sd.Max = v[0], v[len(v)-1]
	if n := len(v); n%2 == 1 {
		sd.Median = v[n/2]
	} else {
		sd.Median = (v[n/2-1] + v[n/2]) / 2
	}
}

// goSide trains a fresh model (the same initial weights as the file) on
// the batches with GOMAXPROCS and workers = Threads, and returns the
// images/s of the steps after the warm-up and the loss of every step.
func (o *benchTorchOptions) goSide(cfg model.Config, tc model.TrainConfig, batches [][]*model.Example) (float64, []float64, error) {
	old := runtime.GOMAXPROCS(o.Threads)
	defer runtime.GOMAXPROCS(old)
	m, err := model.New(cfg, o.Seed)
	if err != nil {
		return 0, nil, err
	}
	tr, err := model.NewTrainer(m, tc)
	if err != nil {
		return 0, nil, err
	}
	tr.Workers = o.Threads
	runtime.GC() // start from a clean heap, as the PyTorch process does
	var losses []float64
	var t0 time.Time
	for k, b := range batches {
		if k == o.Warmup {
			t0 = time.Now()
		}
		res, err := tr.TrainStep(b)
		if err != nil {
			return 0, nil, err
		}
		losses = append(losses, res.Loss)
	}
	return float64(o.Steps*o.Batch) / time.Since(t0).Seconds(), losses, nil
}

// torchSide runs bench.py in one PyTorch configuration.
func (o *benchTorchOptions) torchSide(dir, file string, v torchVariant) (float64, []float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.Python, filepath.Join(dir, "bench.py"), file,
		"--threads", strconv.Itoa(v.threads), "--warmup", strconv.Itoa(o.Warmup))
	n := strconv.Itoa(v.threads)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, k := range []string{"OMP_NUM_THREADS=", "MKL_NUM_THREADS=", "OPENBLAS_NUM_THREADS=", "OMP_WAIT_POLICY="} {
			if strings.HasPrefix(kv, k) {
				return true
			}
		}
		return false
	})
	env = append(env, "OMP_NUM_THREADS="+n, "MKL_NUM_THREADS="+n, "OPENBLAS_NUM_THREADS="+n)
	if v.policy == "passive" || v.policy == "active" {
		env = append(env, "OMP_WAIT_POLICY="+strings.ToUpper(v.policy))
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, nil, fmt.Errorf("bench: %s: %v\n%s", v.label(), err, stderr.String())
	}
	var res struct {
		Threads      int       `json:"threads"`
		ImagesPerSec float64   `json:"images_per_s"`
		Losses       []float64 `json:"losses"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Losses) == 0 {
		return 0, nil, fmt.Errorf("bench: %s printed %q: %v", v.label(), out, err)
	}
	if res.Threads != v.threads {
		return 0, nil, fmt.Errorf("bench: PyTorch ran with %d threads, asked for %d", res.Threads, v.threads)
	}
	return res.ImagesPerSec, res.Losses, nil
}
