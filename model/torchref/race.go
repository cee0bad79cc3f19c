package torchref

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/host"
	"github.com/mpanalyze/mpanalyze/model"
	"github.com/mpanalyze/mpanalyze/model/gemm"
)

// RaceOptions describe a speed race of our trainer against the PyTorch
// reference (bench.py) on the same weights and batches.
type RaceOptions struct {
	// Models are the architectures to race, each at each of ImageSizes.
	Models []string
	// ImageSizes are the input sides (0 = the architecture's default
	// config for the synthetic data set); each is a separate race.
	ImageSizes []int
	// Threads are our thread counts (GOMAXPROCS and trainer workers), each
	// timed; 1 is always timed (the per-core headline).
	Threads []int
	// TorchThreads are PyTorch's (torch.set_num_threads); nil = Threads;
	// 1 is always timed.
	TorchThreads []int
	// WaitPolicies are the OMP_WAIT_POLICY values each multi-threaded
	// PyTorch count is timed with: "passive", "active" or "default"
	// (unset).
	WaitPolicies []string
	Steps        int // timed training steps
	Warmup       int // untimed steps before them
	Batch        int // images per step
	PixelDecoder string
	Repeat       int // races; medians and ranges are over them
	Seed         uint64
	// Augment is the training augmentation of the batches (a training
	// run's default is run.DefaultConfig's).
	Augment data.Augment
	// Precision is our side's TrainConfig.Precision: "" or "fp32", or
	// "bf16" (matrix products in BF16 on AMX).
	Precision string
	// TorchPrecisions are the precisions PyTorch is timed in, each a
	// variant of every thread count: "fp32", and "bf16" (the forward under
	// CPU autocast to bfloat16, matching and criterion in FP32, as the
	// official code trains with AMP). nil = fp32 only.
	TorchPrecisions []string
	// Python runs bench.py; it needs torch, numpy and scipy.
	Python string
	// Dir receives the scripts and the batch files; it must exist.
	Dir string
	// Progress, when non-nil, gets one line per timed side.
	Progress io.Writer
}

// Side is one side's measurements over the races.
type Side struct {
	Side         string    `json:"side"` // "mpanalyze" or "pytorch"
	Threads      int       `json:"threads"`
	WaitPolicy   string    `json:"omp_wait_policy,omitempty"` // PyTorch with > 1 thread: passive, active or default
	Precision    string    `json:"precision"`                 // fp32 or bf16 (see RaceOptions)
	ImagesPerSec []float64 `json:"images_per_s"`              // one per race
	Median       float64   `json:"median_images_per_s"`
	Min          float64   `json:"min_images_per_s"`
	Max          float64   `json:"max_images_per_s"`
	// ImagesPerCPUSec are the images per second of the process's CPU time
	// (user + system, all threads), one per race: with one thread, the
	// per-core cost, which other load on a shared machine disturbs far less
	// than wall time. 0 where the platform has no CPU clock.
	ImagesPerCPUSec []float64 `json:"images_per_cpu_s"`
	MedianCPU       float64   `json:"median_images_per_cpu_s"`
	// TileNs is gemm.TileSpeed measured just before each of our races
	// with a tile unit (BF16 on AMX): ns per tile multiply on hot
	// operands. A shared host's tile unit changes speed from minute to
	// minute and our BF16 side's images/s follow it.
	TileNs []float64 `json:"tile_ns,omitempty"`
	// Losses are the batch losses of every step of the last race. Step 0
	// has the same weights and batch on both sides, so its loss agrees
	// (for MP-Former only roughly: the label-noise draws differ).
	Losses []float64 `json:"losses"`
}

// Label names the side: "mpanalyze, 2 threads", "PyTorch, 1 thread",
// "PyTorch, 2 threads, OMP passive", "PyTorch, 1 thread, bf16" (the
// precision is named when it is not FP32).
func (s *Side) Label() string {
	name := "PyTorch"
	if s.Side == "mpanalyze" {
		name = "mpanalyze"
	}
	l := fmt.Sprintf("%s, %d thread%s", name, s.Threads, plural(s.Threads))
	if s.WaitPolicy != "" {
		l += ", OMP " + s.WaitPolicy
	}
	if s.Precision != "" && s.Precision != gemm.FP32 {
		l += ", " + s.Precision
	}
	return l
}

// Ratio is ours / PyTorch's median images/s for one pairing of sides.
type Ratio struct {
	Threads      int    `json:"threads"` // ours
	TorchThreads int    `json:"torch_threads"`
	WaitPolicy   string `json:"omp_wait_policy,omitempty"`
	// Precision is PyTorch's (ours is the report's).
	Precision string `json:"torch_precision"`
	// Headline marks the fastest PyTorch variant at our thread count.
	Headline    bool    `json:"headline"`
	SameThreads bool    `json:"same_threads"`
	Ratio       float64 `json:"ratio"`
	Min         float64 `json:"min_ratio"` // over the races, race by race
	Max         float64 `json:"max_ratio"`
}

// RaceModel is the race of one architecture at one image side.
type RaceModel struct {
	Arch         string  `json:"arch"`
	PixelDecoder string  `json:"pixel_decoder"`
	ImageSize    int     `json:"image_size"`
	Batch        int     `json:"batch"`
	Steps        int     `json:"steps"`
	Warmup       int     `json:"warmup"`
	Repeat       int     `json:"repeat"`
	Ours         []Side  `json:"mpanalyze"` // one per thread count, 1 first
	Torch        []Side  `json:"pytorch"`   // one per variant, 1 thread first
	Ratios       []Ratio `json:"ratios"`    // every (ours, PyTorch) pair
	// PerCore is the first headline: ours on 1 thread / PyTorch on 1
	// thread.
	PerCore Ratio `json:"per_core"`
	// Best is the second: ours at its fastest thread count / PyTorch's
	// fastest variant (by median).
	Best Ratio `json:"best"`
	// PerCoreCPU is PerCore on images per CPU-second (zero when a side has
	// no CPU figures).
	PerCoreCPU Ratio `json:"per_core_cpu"`
}

// RaceReport is the outcome of Race.
type RaceReport struct {
	TorchVersion string      `json:"torch_version"`
	Cores        int         `json:"cores"`
	CPU          string      `json:"cpu"`       // host.Describe: the ratios depend on the processor
	GEMM         string      `json:"gemm"`      // gemm.Describe: the kernel our side ran
	Precision    string      `json:"precision"` // our side's matrix products: fp32 or bf16 (PyTorch's are fp32)
	Models       []RaceModel `json:"models"`
}

// ConfigError is a model config the options make that does not validate
// (a usage error of the command that set them).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// variant is one PyTorch configuration to time.
type variant struct {
	threads   int
	policy    string // "" for one thread
	precision string // fp32 or bf16
}

func (v variant) side() Side {
	return Side{Side: "pytorch", Threads: v.threads, WaitPolicy: v.policy, Precision: v.precision}
}

// WithOne returns the distinct counts of ts, in order, with 1 first.
func WithOne(ts []int) []int {
	out := []int{1}
	for _, t := range ts {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// TorchVersion returns the torch version python imports, or an error
// saying what to install.
func TorchVersion(python string) (string, error) {
	ver, err := exec.Command(python, "-c", "import torch, numpy, scipy; print(torch.__version__)").Output()
	if err != nil {
		return "", fmt.Errorf("torchref: %s cannot import torch, numpy and scipy (%v); apt-get install python3-torch python3-scipy", python, err)
	}
	return strings.TrimSpace(string(ver)), nil
}

// Race writes the scripts into o.Dir and, for each image side and
// architecture, the model's initial weights and the warm-up + timed
// batches (WriteTorchBench), then times full training steps on them
// o.Repeat times, the sides alternating: ours at each thread count, then
// PyTorch in each variant. It reports the median images/s with the range,
// and every ratio ours / PyTorch with its range race by race.
func Race(o *RaceOptions) (*RaceReport, error) {
	switch {
	case len(o.Models) == 0 || len(o.ImageSizes) == 0:
		return nil, errors.New("torchref: race: no model or no image size")
	case o.Steps < 1 || o.Warmup < 0 || o.Batch < 1 || o.Repeat < 1:
		return nil, fmt.Errorf("torchref: race: steps %d, batch %d and repeat %d must be positive, warm-up %d not negative", o.Steps, o.Batch, o.Repeat, o.Warmup)
	case len(o.Threads) > 0 && slices.Min(o.Threads) < 1, len(o.TorchThreads) > 0 && slices.Min(o.TorchThreads) < 1:
		return nil, errors.New("torchref: race: thread counts must be at least 1")
	}
	tts := o.TorchThreads
	if len(tts) == 0 {
		tts = o.Threads
	}
	precs := o.TorchPrecisions
	if len(precs) == 0 {
		precs = []string{gemm.FP32}
	}
	var variants []variant
	for _, prec := range precs {
		if prec != gemm.FP32 && prec != gemm.BF16 {
			return nil, fmt.Errorf("torchref: race: unknown PyTorch precision %q (want %s or %s)", prec, gemm.FP32, gemm.BF16)
		}
		for _, t := range WithOne(tts) {
			if t == 1 {
				variants = append(variants, variant{threads: 1, precision: prec})
				continue
			}
			if len(o.WaitPolicies) == 0 {
				return nil, errors.New("torchref: race: multi-threaded PyTorch needs at least one OMP wait policy")
			}
			for _, p := range o.WaitPolicies {
				if p != "passive" && p != "active" && p != "default" {
					return nil, fmt.Errorf("torchref: race: unknown OMP wait policy %q (want passive, active or default)", p)
				}
				variants = append(variants, variant{threads: t, policy: p, precision: prec})
			}
		}
	}
	ver, err := TorchVersion(o.Python)
	if err != nil {
		return nil, err
	}
	if err := WriteScripts(o.Dir); err != nil {
		return nil, err
	}
	// The trainers switch gemm to o.Precision; switch first, so that the
	// report names the kernel they run, and switch back afterwards.
	defer gemm.SetPrecision(gemm.Precision())
	if err := gemm.SetPrecision(o.Precision); err != nil {
		return nil, err
	}
	rep := &RaceReport{TorchVersion: ver, Cores: runtime.NumCPU(), CPU: host.Describe(), GEMM: gemm.Describe(), Precision: gemm.Precision()}
	for _, size := range o.ImageSizes {
		for _, arch := range o.Models {
			rm, err := o.race(arch, size, WithOne(o.Threads), variants)
			if err != nil {
				return nil, err
			}
			rep.Models = append(rep.Models, *rm)
		}
	}
	return rep, nil
}

func (o *RaceOptions) progress(format string, a ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format, a...)
	}
}

// race runs the races of one architecture at one image side.
func (o *RaceOptions) race(arch string, size int, ours []int, variants []variant) (*RaceModel, error) {
	ds, err := data.Open(data.Spec{Kind: "synthetic", Split: "train", Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	cfg := model.ConfigForDataset(arch, ds)
	if size > 0 {
		cfg.ImageSize = size
	}
	cfg.PixelDecoder = o.PixelDecoder
	if err := cfg.Validate(); err != nil {
		return nil, &ConfigError{Err: err}
	}
	total := o.Warmup + o.Steps
	tc := model.DefaultTrainConfig(total)
	tc.Batch, tc.Seed, tc.Precision = o.Batch, o.Seed, o.Precision
	ld, err := data.NewLoader(ds, o.Batch, data.BatchConfig{Size: cfg.ImageSize, Augment: o.Augment, Seed: o.Seed})
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
	file := filepath.Join(o.Dir, fmt.Sprintf("%s-%d.bench.npz", arch, cfg.ImageSize))
	if err := WriteTorchBench(file, m, &TorchBench{Train: tc, Batches: batches}); err != nil {
		return nil, err
	}
	rm := &RaceModel{Arch: arch, PixelDecoder: cfg.PixelDecoder, ImageSize: cfg.ImageSize, Batch: o.Batch, Steps: o.Steps, Warmup: o.Warmup, Repeat: o.Repeat}
	for _, t := range ours {
		rm.Ours = append(rm.Ours, Side{Side: "mpanalyze", Threads: t, Precision: gemm.Precision()})
	}
	for _, v := range variants {
		rm.Torch = append(rm.Torch, v.side())
	}
	for r := 0; r < o.Repeat; r++ {
		for i := range rm.Ours {
			sd := &rm.Ours[i]
			o.progress("bench %s %d px: race %d/%d: %s…\n", arch, cfg.ImageSize, r+1, o.Repeat, sd.Label())
			if ns, ok := gemm.TileSpeed(); ok {
				sd.TileNs = append(sd.TileNs, ns)
			}
			ips, ipc, losses, err := o.goSide(cfg, tc, batches, sd.Threads)
			if err != nil {
				return nil, err
			}
			sd.ImagesPerSec, sd.ImagesPerCPUSec, sd.Losses = append(sd.ImagesPerSec, ips), append(sd.ImagesPerCPUSec, ipc), losses
		}
		for i, v := range variants {
			sd := &rm.Torch[i]
			o.progress("bench %s %d px: race %d/%d: %s…\n", arch, cfg.ImageSize, r+1, o.Repeat, sd.Label())
			ips, ipc, losses, err := o.torchSide(file, v)
			if err != nil {
				return nil, err
			}
			sd.ImagesPerSec, sd.ImagesPerCPUSec, sd.Losses = append(sd.ImagesPerSec, ips), append(sd.ImagesPerCPUSec, ipc), losses
		}
	}
	rm.summarise()
	return rm, nil
}

// summarise sets the medians and ranges of the sides and every ratio
// with the two headlines from the sides' images/s of each race.
func (rm *RaceModel) summarise() {
	for i := range rm.Ours {
		summariseSide(&rm.Ours[i])
	}
	for i := range rm.Torch {
		summariseSide(&rm.Torch[i])
	}
	bestOurs, bestTorch := 0, 0
	for i := range rm.Ours {
		if rm.Ours[i].Median > rm.Ours[bestOurs].Median {
			bestOurs = i
		}
	}
	for i := range rm.Torch {
		if rm.Torch[i].Median > rm.Torch[bestTorch].Median {
			bestTorch = i
		}
	}
	rm.Ratios = nil
	for _, sd := range rm.Ours {
		head := -1 // the fastest PyTorch variant at this thread count
		for i, t := range rm.Torch {
			if t.Threads == sd.Threads && (head < 0 || t.Median > rm.Torch[head].Median) {
				head = i
			}
		}
		for i := range rm.Torch {
			br := ratio(sd, rm.Torch[i])
			br.Headline = i == head
			rm.Ratios = append(rm.Ratios, br)
			if sd.Threads == 1 && i == head {
				// per core: against PyTorch's fastest 1-thread variant
				rm.PerCore = br
				rm.PerCoreCPU = cpuRatio(sd, rm.Torch[i])
			}
		}
	}
	rm.Best = ratio(rm.Ours[bestOurs], rm.Torch[bestTorch])
}

// ratio is ours / PyTorch's median images/s, with the range race by race.
func ratio(ours, t Side) Ratio {
	br := Ratio{Threads: ours.Threads, TorchThreads: t.Threads, WaitPolicy: t.WaitPolicy, Precision: t.Precision,
		SameThreads: ours.Threads == t.Threads, Ratio: ours.Median / t.Median}
	for r := range t.ImagesPerSec {
		x := ours.ImagesPerSec[r] / t.ImagesPerSec[r]
		if r == 0 || x < br.Min {
			br.Min = x
		}
		if r == 0 || x > br.Max {
			br.Max = x
		}
	}
	return br
}

// cpuRatio is ratio on images per CPU-second, or a zero Ratio when a side
// has no CPU figures.
func cpuRatio(ours, t Side) Ratio {
	if !(ours.MedianCPU > 0 && t.MedianCPU > 0) || slices.Min(ours.ImagesPerCPUSec) <= 0 || slices.Min(t.ImagesPerCPUSec) <= 0 {
		return Ratio{}
	}
	ours.ImagesPerSec, ours.Median = ours.ImagesPerCPUSec, ours.MedianCPU
	t.ImagesPerSec, t.Median = t.ImagesPerCPUSec, t.MedianCPU
	return ratio(ours, t)
}

func summariseSide(sd *Side) {
	sd.Median, sd.Min, sd.Max = MedianRange(sd.ImagesPerSec)
	sd.MedianCPU, _, _ = MedianRange(sd.ImagesPerCPUSec)
}

// MedianRange returns the median, minimum and maximum of v (zeros for an
// empty v).
func MedianRange(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	lo, hi = v[0], v[len(v)-1]
	if n := len(v); n%2 == 1 {
		return v[n/2], lo, hi
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, lo, hi
}

// goSide trains a fresh model (the same initial weights as the file) on
// the batches with GOMAXPROCS and workers = threads, and returns the
// images per second of wall and of CPU time of the steps after the
// warm-up, and the loss of every step.
func (o *RaceOptions) goSide(cfg model.Config, tc model.TrainConfig, batches [][]*model.Example, threads int) (float64, float64, []float64, error) {
	old := runtime.GOMAXPROCS(threads)
	defer runtime.GOMAXPROCS(old)
	m, err := model.New(cfg, o.Seed)
	if err != nil {
		return 0, 0, nil, err
	}
	tr, err := model.NewTrainer(m, tc)
	if err != nil {
		return 0, 0, nil, err
	}
	tr.Workers = threads
	runtime.GC() // start from a clean heap, as the PyTorch process does
	var losses []float64
	var t0 time.Time
	var c0 time.Duration
	for k, b := range batches {
		if k == o.Warmup {
			t0, c0 = time.Now(), processCPU()
		}
		res, err := tr.TrainStep(b)
		if err != nil {
			return 0, 0, nil, err
		}
		losses = append(losses, res.Loss)
	}
	images := float64(o.Steps * o.Batch)
	wall, cpu := time.Since(t0).Seconds(), (processCPU() - c0).Seconds()
	ipc := 0.0
	if cpu > 0 {
		ipc = images / cpu
	}
	return images / wall, ipc, losses, nil
}

// torchSide runs bench.py in one PyTorch configuration and returns its
// images per second of wall and CPU time and its losses.
func (o *RaceOptions) torchSide(file string, v variant) (float64, float64, []float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	label := v.side()
	args := []string{filepath.Join(o.Dir, "bench.py"), file, "--threads", strconv.Itoa(v.threads), "--warmup", strconv.Itoa(o.Warmup)}
	if v.precision == gemm.BF16 {
		args = append(args, "--bf16")
	}
	cmd := exec.CommandContext(ctx, o.Python, args...)
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
		return 0, 0, nil, fmt.Errorf("torchref: race: %s: %v\n%s", label.Label(), err, stderr.String())
	}
	var res struct {
		Threads         int       `json:"threads"`
		ImagesPerSec    float64   `json:"images_per_s"`
		ImagesPerCPUSec float64   `json:"images_per_cpu_s"`
		Losses          []float64 `json:"losses"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Losses) == 0 {
		return 0, 0, nil, fmt.Errorf("torchref: race: %s printed %q: %v", label.Label(), out, err)
	}
	if res.Threads != v.threads {
		return 0, 0, nil, fmt.Errorf("torchref: race: PyTorch ran with %d threads, asked for %d", res.Threads, v.threads)
	}
	return res.ImagesPerSec, res.ImagesPerCPUSec, res.Losses, nil
}
