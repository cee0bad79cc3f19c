package run

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
	"github.com/mpanalyze/mpanalyze/internal/progress"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/model"
)

// Loop is the state of a training run that hooks see. Hooks must not
// change the model or the trainer.
type Loop struct {
	Dir     string
	Config  Config
	Model   *model.Model
	Trainer *model.Trainer
	Val     data.Dataset
	// First is the number of steps done when this invocation started.
	First int
	// Last is the result of the step just taken (in AfterStep).
	Last model.StepResult
	// StepSeconds is the wall time of that step.
	StepSeconds float64
	// Final is the last validation of this invocation, nil if none ran.
	Final *metrics.EvalReport

	log *logWriter
}

// Step is the number of steps done.
func (l *Loop) Step() int { return l.Trainer.StepCount() }

// Done reports whether the run has done all its steps.
func (l *Loop) Done() bool { return l.Step() >= l.Config.Train.Steps }

// Hook is called around the steps of a training run (see the package
// documentation for the order). BeforeTrain runs once the model and the
// trainer are set up (and resumed), AfterStep after every step, AfterTrain
// after the last step of the invocation (also when it stops early). An
// error stops the run.
type Hook interface {
	BeforeTrain(l *Loop) error
	AfterStep(l *Loop) error
	AfterTrain(l *Loop) error
}

// HookBase implements Hook with methods that do nothing; embed it and
// override what a hook needs.
type HookBase struct{}

func (HookBase) BeforeTrain(*Loop) error { return nil }
func (HookBase) AfterStep(*Loop) error   { return nil }
func (HookBase) AfterTrain(*Loop) error  { return nil }

// logHook appends each step's record to train.jsonl.
type logHook struct{ HookBase }

func (logHook) AfterStep(l *Loop) error {
	sr := &l.Last
	rec := StepRecord{Event: EventStep, Step: sr.Step, Loss: jsonnum.Float(sr.Loss), MP: jsonnum.NaN,
		LR: jsonnum.Float(sr.LR), GradNorm: jsonnum.Float(sr.GradNorm)}
	var mp float64
	for _, st := range sr.Images {
		rec.Class += jsonnum.Float(st.Class)
		rec.BCE += jsonnum.Float(st.Mask)
		rec.Dice += jsonnum.Float(st.Dice)
		mp += st.MPClass + st.MPMask + st.MPDice
	}
	if l.Config.Model.Arch == model.ArchMPFormer {
		rec.MP = jsonnum.Float(mp)
	}
	return l.log.step(rec)
}

// progressHook moves a progress bar with the smoothed loss and the speed.
type progressHook struct {
	HookBase
	bar  *progress.Bar
	loss float64 // exponential moving average
}

func (h *progressHook) BeforeTrain(l *Loop) error {
	h.bar.From(l.First)
	return nil
}

func (h *progressHook) AfterStep(l *Loop) error {
	if l.Step() == l.First+1 {
		h.loss = l.Last.Loss
	}
	h.loss = 0.95*h.loss + 0.05*l.Last.Loss
	ips := float64(len(l.Last.Images)) / l.StepSeconds
	h.bar.Update(l.Step(), fmt.Sprintf("loss %.2f  %.1f img/s", h.loss, ips))
	return nil
}

// snapshotHook keeps a permanent checkpoint at each snapshot step. It runs
// before checkpointHook: once latest.npz is past a snapshot step, the
// snapshot is on disk, so a resumed run never misses one.
type snapshotHook struct{ HookBase }

func (snapshotHook) AfterStep(l *Loop) error {
	if s := l.Step(); slices.Contains(l.Config.Snapshots, s) {
		return SaveCheckpoint(SnapshotPath(l.Dir, s), l.Model, nil, &l.Config, s)
	}
	return nil
}

// checkpointHook writes checkpoints/latest.npz every CkptEvery steps and
// after the last step.
type checkpointHook struct{ HookBase }

func (checkpointHook) AfterStep(l *Loop) error {
	if s := l.Step(); s%l.Config.CkptEvery == 0 || l.Done() {
		return SaveCheckpoint(filepath.Join(l.Dir, LatestCkpt), l.Model, l.Trainer, &l.Config, s)
	}
	return nil
}

// evalHook validates every EvalEvery steps and after the last step, and
// logs each validation. It runs after checkpointHook, so a run killed
// during a validation resumes from a checkpoint at that step; BeforeTrain
// then runs the validation the log lacks.
type evalHook struct{ HookBase }

// due reports whether a validation belongs after step steps.
func (evalHook) due(l *Loop, step int) bool {
	every := l.Config.EvalEvery
	return step > 0 && (step >= l.Config.Train.Steps || every > 0 && step%every == 0)
}

func (h evalHook) BeforeTrain(l *Loop) error {
	if s := l.First; h.due(l, s) && !l.log.log.HasEval(s) {
		return h.evaluate(l, s)
	}
	return nil
}

func (h evalHook) AfterStep(l *Loop) error {
	if s := l.Step(); h.due(l, s) {
		return h.evaluate(l, s)
	}
	return nil
}

func (evalHook) evaluate(l *Loop, step int) error {
	t0 := time.Now()
	rep, err := Evaluate(l.Model, l.Val, EvalOptions{Images: l.Config.EvalImages, Workers: l.Config.Workers})
	if err != nil {
		return err
	}
	rep.Seconds = time.Since(t0).Seconds()
	l.Final = rep
	return l.log.eval(NewEvalRecord(step, rep))
}
