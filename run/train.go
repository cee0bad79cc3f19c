package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/progress"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model"
)

// Paths inside a run directory.
const (
	ConfigFile = "run.json"
	LatestCkpt = "checkpoints/latest.npz"
	LogFile    = "train.jsonl"
)

// SnapshotPath is the permanent checkpoint of a step.
func SnapshotPath(dir string, step int) string {
	return filepath.Join(dir, "checkpoints", fmt.Sprintf("step-%06d.npz", step))
}

// ErrRunExists is returned when a run directory already holds a run and
// resuming was not asked for.
var ErrRunExists = errors.New("run directory already holds a run")

// ErrNoRun is returned when a run to resume is not there.
var ErrNoRun = errors.New("no run to resume")

// Options are the side channels of a training run.
type Options struct {
	// Resume continues the run in the directory from its latest
	// checkpoint (or from the start when it was stopped before its first
	// one); the run config must be the one stored in run.json.
	Resume bool
	// Progress receives the progress bar (nil: none).
	Progress io.Writer
	// StopAfter stops the run after this many steps of this invocation
	// (0: run to the end), leaving a resumable checkpoint; for tests of
	// resuming and for splitting long runs.
	StopAfter int
	// Hooks run after the standard hooks.
	Hooks []Hook
}

// Result is what Train returns.
type Result struct {
	Model *model.Model
	Steps int // steps done (all invocations)
	// StepsRun is the number of steps this invocation ran.
	StepsRun int
	// Final is the last validation of this invocation, nil if none ran.
	Final    *metrics.EvalReport
	Seconds  float64 // wall time of this invocation
	ImagesPS float64 // training images per second in this invocation
}

// ReadConfig reads a run directory's run.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("run: %s: %w (no %s)", dir, ErrNoRun, ConfigFile)
	}
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	var rc Config
	if err := json.Unmarshal(b, &rc); err != nil {
		return nil, fmt.Errorf("run: %s: %w", path, err)
	}
	return &rc, nil
}

// Train runs (or resumes) a training run in dir: it writes run.json, a
// JSON-lines log of losses and validations (train.jsonl), checkpoints every
// CkptEvery steps and at the end (atomically; a failed run keeps its last
// good checkpoint), and returns the trained model. A resumed run that has
// done all its steps only runs the validation its log lacks.
func Train(dir string, rc Config, opt Options) (*Result, error) {
	rc = rc.withDefaults()
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	if err := prepareDir(dir, &rc, opt.Resume); err != nil {
		return nil, err
	}
	l, err := setUp(dir, rc, opt.Resume)
	if err != nil {
		return nil, err
	}
	defer l.log.Close()
	hooks := append([]Hook{
		logHook{}, &progressHook{bar: progress.New(opt.Progress, rc.Model.Arch, rc.Train.Steps)},
		snapshotHook{}, checkpointHook{}, evalHook{},
	}, opt.Hooks...)
	start := time.Now()
	if err := runHooks(hooks, l.Loop, Hook.BeforeTrain); err != nil {
		return nil, err
	}
	ld, err := data.NewLoader(l.train, rc.Train.Batch, data.BatchConfig{Size: rc.Model.ImageSize, Augment: rc.Augment, Seed: rc.Train.Seed, Workers: rc.Workers})
	if err != nil {
		return nil, err
	}
	for !l.Done() && (opt.StopAfter <= 0 || l.Step()-l.First < opt.StopAfter) {
		if err := l.trainStep(ld); err != nil {
			return nil, err
		}
		if err := runHooks(hooks, l.Loop, Hook.AfterStep); err != nil {
			return nil, err
		}
	}
	if err := runHooks(hooks, l.Loop, Hook.AfterTrain); err != nil {
		return nil, err
	}
	res := &Result{Model: l.Model, Steps: l.Step(), StepsRun: l.Step() - l.First, Final: l.Final, Seconds: time.Since(start).Seconds()}
	if res.StepsRun > 0 {
		res.ImagesPS = float64(res.StepsRun*rc.Train.Batch) / res.Seconds
	}
	return res, nil
}

func runHooks(hooks []Hook, l *Loop, call func(Hook, *Loop) error) error {
	for _, h := range hooks {
		if err := call(h, l); err != nil {
			return err
		}
	}
	return nil
}

// prepareDir checks dir against the run: a new run needs a directory
// without a run; a resumed run needs run.json with the same settings. It
// removes temporary files a killed write left behind, then writes
// run.json.
func prepareDir(dir string, rc *Config, resume bool) error {
	cfgPath := filepath.Join(dir, ConfigFile)
	if resume {
		old, err := ReadConfig(dir)
		if err != nil {
			return err
		}
		if path, a, b := FirstDiff(old, rc); path != "" {
			return fmt.Errorf("run: resume %s: %s is %s in %s but %s for this run (resume with the run's settings, or start a new run)", dir, path, a, cfgPath, b)
		}
	} else {
		for _, f := range []string{ConfigFile, LogFile, LatestCkpt} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return fmt.Errorf("run: %s: %w (it has %s; use --resume to continue it, or another directory)", dir, ErrRunExists, f)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o755); err != nil {
		return fmt.Errorf("run: run directory: %w", err)
	}
	if err := removeTemp(dir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return atomicfile.WriteBytes(cfgPath, append(b, '\n'))
}

// removeTemp deletes the temporary files of atomic writes cut short by a
// kill (".NAME.tmp-*") in the run directory and its subdirectories
// (checkpoints/, and an experiment run's reports/ and traces/).
func removeTemp(dir string) error {
	dirs := []string{dir}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(dir, e.Name()))
		}
	}
	for _, d := range dirs {
		matches, err := filepath.Glob(filepath.Join(d, ".*.tmp-*"))
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		for _, m := range matches {
			if err := os.Remove(m); err != nil {
				return fmt.Errorf("run: remove leftover %s: %w", m, err)
			}
		}
	}
	return nil
}

// loopState is a Loop with what the loop itself needs.
type loopState struct {
	*Loop
	train data.Dataset
}

// setUp opens the datasets, builds the model and the trainer, resumes them
// from checkpoints/latest.npz when asked and it exists, and opens the log
// cut to the resumed step.
func setUp(dir string, rc Config, resume bool) (*loopState, error) {
	ds, err := data.Open(rc.Data)
	if err != nil {
		return nil, err
	}
	val, err := data.Open(rc.Val)
	if err != nil {
		return nil, err
	}
	if len(ds.Categories()) != rc.Model.NumClasses {
		return nil, fmt.Errorf("run: dataset %s has %d classes, the model config %d", ds.Name(), len(ds.Categories()), rc.Model.NumClasses)
	}
	m, err := model.New(rc.Model, rc.Train.Seed)
	if err != nil {
		return nil, err
	}
	tr, err := model.NewTrainer(m, rc.Train)
	if err != nil {
		return nil, err
	}
	tr.Workers = rc.Workers
	latest := filepath.Join(dir, LatestCkpt)
	if _, err := os.Stat(latest); resume && err == nil {
		if err := resumeTrainer(latest, m, tr); err != nil {
			return nil, err
		}
	}
	log, err := openLog(filepath.Join(dir, LogFile), tr.StepCount())
	if err != nil {
		return nil, err
	}
	l := &Loop{Dir: dir, Config: rc, Model: m, Trainer: tr, Val: val, First: tr.StepCount(), log: log}
	return &loopState{Loop: l, train: ds}, nil
}

// trainStep takes one optimisation step on the step's batch.
func (l *loopState) trainStep(ld *data.Loader) error {
	step := l.Step()
	b, err := ld.Batch(step)
	if err != nil {
		return err
	}
	ex := make([]*model.Example, len(b.Images))
	for i := range b.Images {
		ex[i] = model.ExampleFromBatch(&b.Images[i])
	}
	t0 := time.Now()
	sr, err := l.Trainer.TrainStep(ex)
	if err != nil {
		latest := filepath.Join(l.Dir, LatestCkpt)
		if _, serr := os.Stat(latest); serr != nil {
			return fmt.Errorf("%w; no checkpoint was written yet", err)
		}
		return fmt.Errorf("%w; the last good checkpoint is %s", err, latest)
	}
	l.Last, l.StepSeconds = sr, time.Since(t0).Seconds()
	return nil
}

// FirstDiff compares the JSON forms of a and b and returns the path of the
// first field that differs (e.g. "train.schedule.base_lr") with its two
// values, or "" when they are equal.
func FirstDiff(a, b any) (path, va, vb string) {
	var x, y any
	if err := json.Unmarshal(mustMarshal(a), &x); err != nil {
		panic(err)
	}
	if err := json.Unmarshal(mustMarshal(b), &y); err != nil {
		panic(err)
	}
	return firstDiff("", x, y)
}

func firstDiff(path string, x, y any) (string, string, string) {
	xm, okx := x.(map[string]any)
	ym, oky := y.(map[string]any)
	if okx && oky {
		keys := maps.Clone(xm)
		maps.Copy(keys, ym)
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if d, a, b := firstDiff(p, xm[k], ym[k]); d != "" {
				return d, a, b
			}
		}
		return "", "", ""
	}
	a, b := string(mustMarshal(x)), string(mustMarshal(y))
	if a == b {
		return "", "", ""
	}
	if path == "" {
		path = "(the whole config)"
	}
	return path, a, b
}
