package experiments

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/plots"
	"github.com/mpanalyze/mpanalyze/run"
)

// TrainRun is a plain training run: a directory that `mpanalyze train`
// wrote (run.json and train.jsonl, no manifest.json). It has no probe
// reports, so it has no per-stage figures (probe a checkpoint and analyze
// the trace for those); it has its losses and validations.
type TrainRun struct {
	Dir    string
	Label  string // the directory as given, for tables and legends
	Config *run.Config
	Log    *run.TrainLog
}

// IsExperimentPath reports whether path holds an experiment (its
// experiment.json, written before any run starts, or a run's
// manifest.json at or below it), which Load reads.
func IsExperimentPath(path string) bool {
	found := false
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipAll
		}
		if d.IsDir() && (d.Name() == "checkpoints" || d.Name() == ReportsDir || d.Name() == TracesDir) {
			return filepath.SkipDir
		}
		if !d.IsDir() && (d.Name() == ManifestFile || d.Name() == ExperimentFile) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// LoadTrainRuns reads the plain training runs at or below each path (a
// directory with run.json and train.jsonl). A path without one is an error
// naming what it lacks.
func LoadTrainRuns(paths ...string) ([]TrainRun, error) {
	var out []TrainRun
	for _, p := range paths {
		var dirs []string
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "checkpoints" {
				return filepath.SkipDir
			}
			if !d.IsDir() && d.Name() == run.ConfigFile {
				dirs = append(dirs, filepath.Dir(path))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("experiments: %w", err)
		}
		if len(dirs) == 0 {
			return nil, fmt.Errorf("experiments: %s holds no run (no %s or %s below it)", p, ManifestFile, run.ConfigFile)
		}
		for _, d := range dirs {
			rc, err := run.ReadConfig(d)
			if err != nil {
				return nil, err
			}
			log, err := run.ReadTrainLog(filepath.Join(d, run.LogFile))
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("experiments: %s has %s but no %s: nothing trained yet", d, run.ConfigFile, run.LogFile)
			}
			if err != nil {
				return nil, err
			}
			out = append(out, TrainRun{Dir: d, Label: filepath.Clean(d), Config: rc, Log: log})
		}
	}
	return out, nil
}

// TrainingTable has one row per plain run: its model, steps done of its
// steps, the mean loss over its last (up to) 50 steps, and its last
// validation (step, PQ, mask AP, mIoU in percent).
func TrainingTable(runs []TrainRun) tables.Table {
	t := tables.Table{
		Title:  "Training runs (train.jsonl; plain runs have no per-stage figures: probe a checkpoint and analyze the trace)",
		Header: []string{"run", "model", "steps", "loss (last 50)", "validated at", "PQ", "mask AP", "mIoU"},
		Keys:   []string{"run", "model", "steps", "loss", "eval_step", "pq", "ap", "miou"},
	}
	for _, r := range runs {
		done := 0
		if n := len(r.Log.Steps); n > 0 {
			done = r.Log.Steps[n-1].Step + 1
		}
		var sum float64
		k := 0
		for i := max(0, len(r.Log.Steps)-50); i < len(r.Log.Steps); i++ {
			sum += float64(r.Log.Steps[i].Loss)
			k++
		}
		loss := math.NaN()
		if k > 0 {
			loss = sum / float64(k)
		}
		row := []string{r.Label, r.Config.Model.Arch, fmt.Sprintf("%d of %d", done, r.Config.Train.Steps), num(loss, 3)}
		vals := []*tables.Number{nil, nil, tables.Plain(float64(done)), tables.Plain(loss)}
		if n := len(r.Log.Evals); n > 0 {
			e := r.Log.Evals[n-1]
			ap := float64(e.AP)
			if ap < 0 {
				ap = math.NaN() // pycocotools' −1: no GT instance
			}
			row = append(row, strconv.Itoa(e.Step), pctCell(float64(e.PQ)), pctCell(ap), pctCell(float64(e.MIoU)))
			vals = append(vals, tables.Plain(float64(e.Step)), tables.Plain(float64(e.PQ)), tables.Plain(ap), tables.Plain(float64(e.MIoU)))
		} else {
			row = append(row, "–", "–", "–", "–")
			vals = append(vals, nil, nil, nil, nil)
		}
		t.Rows = append(t.Rows, row)
		t.Values = append(t.Values, vals)
	}
	t.Notes = append(t.Notes, "PQ, mask AP and mIoU in percent, from the last validation in train.jsonl.")
	return t
}

func num(v float64, digits int) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}

func pctCell(v float64) string { return num(100*v, 1) }

// WriteTrainingPlot writes the training figure (losses and validation
// scores against the step, as WritePlots draws it for experiments) of
// plain runs into dir, in each format.
func WriteTrainingPlot(runs []TrainRun, dir string, formats []string) ([]Figure, error) {
	if len(formats) == 0 {
		formats = plots.Formats
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	var train []plots.TrainRun
	for _, r := range runs {
		tr, err := (&Result{Dir: r.Dir}).trainRun(r.Label)
		if err != nil {
			return nil, err
		}
		train = append(train, tr)
	}
	f := plots.TrainingCurves(train, &plots.TrainingSettings{Title: "Training"})
	fig := Figure{Name: "training", Title: "Training loss and validation scores", Help: trainingHelp}
	for _, ext := range formats {
		p := filepath.Join(dir, "training."+ext)
		if err := f.Save(p); err != nil {
			return nil, err
		}
		fig.Files = append(fig.Files, p)
	}
	return []Figure{fig}, nil
}
