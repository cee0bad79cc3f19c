package experiments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
	"github.com/mpanalyze/mpanalyze/run"
)

// Files of a run directory (besides model.Train's run.json, train.jsonl
// and checkpoints/).
const (
	ManifestFile = "manifest.json"
	MetricsFile  = "metrics.jsonl"
	DoneFile     = "DONE"
	ReportsDir   = "reports"
	TracesDir    = "traces"
	// ExperimentFile in the output directory describes the experiment and
	// lists its runs.
	ExperimentFile = "experiment.json"
)

// ReportPath is the report of the snapshot at step in a run directory.
func ReportPath(dir string, step int) string {
	return filepath.Join(dir, ReportsDir, fmt.Sprintf("step-%06d.json", step))
}

// TracePath is the trace (without extension) of the snapshot at step.
func TracePath(dir string, step int) string {
	return filepath.Join(dir, TracesDir, fmt.Sprintf("step-%06d", step))
}

// Runner trains, probes and evaluates the runs of a spec into an output
// directory, one directory per run (Run.Dir). Rerunning skips finished
// runs and resumes unfinished ones; the results never depend on Parallel
// or Workers.
type Runner struct {
	Spec *Spec
	// Out is the output directory.
	Out string
	// Parallel is the number of runs trained side by side, each with
	// Workers/Parallel cores. 0 means 1: one run at a time on all cores,
	// which measured faster on the 2-core machine than two runs side by
	// side with one core each (see the package documentation).
	Parallel int
	// Workers is the number of cores to use in all; 0 means GOMAXPROCS.
	// Each of the Parallel runs gets Workers/Parallel of them (at least 1).
	Workers int
	// TraceAll writes a trace at every snapshot; by default only the
	// final snapshot (the largest step) is traced.
	TraceAll bool
	// Compact writes the traces in the compact layout (binary masks as run
	// lengths, no mask logits unless Float16; probes.TraceSettings).
	Compact bool
	// Float16 stores the traces' mask logits as float16 (half the size,
	// the same binary masks).
	Float16 bool
	// Progress receives one line per run event and the training bars;
	// nil means none.
	Progress io.Writer

	mu        sync.Mutex
	described map[string]map[string]any // data.Spec JSON → Describe()
	active    map[string]*runLock       // run directory → its held lock
}

// describe returns the dataset description of a spec, once per spec (file
// datasets hash their files).
func (r *Runner) describe(s data.Spec) (map[string]any, error) {
	key, _ := json.Marshal(s)
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.described[string(key)]; ok {
		return d, nil
	}
	ds, err := data.Open(s)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	if r.described == nil {
		r.described = map[string]map[string]any{}
	}
	d := ds.Describe()
	r.described[string(key)] = d
	return d, nil
}

// RunStatus is what happened to one run.
type RunStatus struct {
	Index int    `json:"index"`
	Point string `json:"point"`
	Seed  uint64 `json:"seed"`
	Dir   string `json:"dir"`
	// Status is "done" (finished in this call), "skipped" (finished
	// before) or "failed".
	Status string `json:"status"`
	// Resumed is set when training continued from a checkpoint or
	// finished snapshots were kept.
	Resumed bool    `json:"resumed"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// doneRecord is the content of the DONE marker.
type doneRecord struct {
	Steps        int     `json:"steps"`
	Snapshots    []int   `json:"snapshots"`
	TrainSeconds float64 `json:"train_seconds"`
	ProbeSeconds float64 `json:"probe_seconds"`
}

// Run runs the experiment's runs whose indices are given (all when
// indices is empty), Parallel at a time, and returns their statuses in
// index order. A failed run does not stop the others; the error joins the
// failures.
func (r *Runner) Run(indices []int) ([]RunStatus, error) {
	if r.Spec == nil || r.Out == "" {
		return nil, errors.New("experiments: Runner needs a Spec and an Out directory")
	}
	all, err := r.Spec.Runs()
	if err != nil {
		return nil, err
	}
	todo, err := r.selectRuns(all, indices)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	if err := r.writeExperiment(all); err != nil {
		return nil, err
	}
	// Runs already done are skipped before the slots are shared out.
	statuses := make([]RunStatus, len(todo))
	var pending []int
	for i, rn := range todo {
		st, done, err := r.checkRun(&rn)
		statuses[i] = st
		if err != nil {
			statuses[i].Status, statuses[i].Error = "failed", err.Error()
			continue
		}
		if done {
			statuses[i].Status = "skipped"
			r.logf("run %d/%d %s seed %d: already done (%s)", rn.Index+1, len(all), rn.Point.Name, rn.Seed, st.Dir)
			continue
		}
		pending = append(pending, i)
	}
	r.runPending(todo, pending, len(all), statuses)
	var errs []error
	for _, st := range statuses {
		if st.Status == "failed" {
			errs = append(errs, fmt.Errorf("run %d (%s seed %d): %s", st.Index, st.Point, st.Seed, st.Error))
		}
	}
	return statuses, errors.Join(errs...)
}

// selectRuns returns the runs of all at indices (each once, in the order
// given), or all of them when indices is empty.
func (r *Runner) selectRuns(all []Run, indices []int) ([]Run, error) {
	if len(indices) == 0 {
		return all, nil
	}
	var todo []Run
	seen := map[int]bool{}
	for _, i := range indices {
		if seen[i] {
			continue // a run must not run twice at once
		}
		seen[i] = true
		if i < 0 || i >= len(all) {
			return nil, fmt.Errorf("experiments: run index %d out of range: %s has %d runs (0..%d)", i, r.Spec.Name, len(all), len(all)-1)
		}
		todo = append(todo, all[i])
	}
	return todo, nil
}

// runPending runs todo[i] for every i of pending, Parallel at a time
// sharing the workers, and puts each status in statuses[i]. With several
// at a time, progress lines are prefixed with their run.
func (r *Runner) runPending(todo []Run, pending []int, total int, statuses []RunStatus) {
	workers := r.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	parallel := max(1, r.Parallel)
	parallel = max(1, min(parallel, len(pending)))
	per := max(1, workers/parallel)
	var prog io.Writer = r.Progress
	if parallel > 1 && prog != nil {
		prog = &lineWriter{w: prog}
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rn := todo[i]
				w := prog
				if parallel > 1 && w != nil {
					w = &prefixWriter{w: prog.(*lineWriter), prefix: fmt.Sprintf("[%s seed %d] ", rn.Point.Name, rn.Seed)}
				}
				statuses[i] = r.runOne(&rn, total, per, w)
			}
		}()
	}
	for _, i := range pending {
		next <- i
	}
	close(next)
	wg.Wait()
}

func (r *Runner) logf(format string, a ...any) {
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, format+"\n", a...)
	}
}

// experimentDoc is experiment.json.
type experimentDoc struct {
	Format string `json:"format"`
	Spec   *Spec  `json:"spec"`
	Runs   []struct {
		Index int    `json:"index"`
		Point string `json:"point"`
		Seed  uint64 `json:"seed"`
		Dir   string `json:"dir"`
	} `json:"runs"`
}

func (r *Runner) writeExperiment(all []Run) error {
	doc := experimentDoc{Format: "mpanalyze-experiment/1", Spec: r.Spec}
	for _, rn := range all {
		rel, _ := filepath.Rel(r.Out, rn.Dir(r.Out))
		doc.Runs = append(doc.Runs, struct {
			Index int    `json:"index"`
			Point string `json:"point"`
			Seed  uint64 `json:"seed"`
			Dir   string `json:"dir"`
		}{rn.Index, rn.Point.Name, rn.Seed, filepath.ToSlash(rel)})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("experiments: %w", err)
	}
	return writeIdempotent(filepath.Join(r.Out, ExperimentFile), append(b, '\n'))
}

// writeIdempotent writes a file that every task of a sweep writes with the
// same content: it is created once (atomically, by whichever task comes
// first) and left alone when it already holds b. Only different content
// (another spec in the same directory) replaces it, atomically.
func writeIdempotent(path string, b []byte) error {
	have, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		created, werr := atomicfile.WriteNew(path, b)
		if werr != nil || created {
			return werr
		}
		have, err = os.ReadFile(path) // another task created it meanwhile
	}
	if err == nil && bytes.Equal(have, b) {
		return nil
	}
	return atomicfile.WriteBytes(path, b)
}

// manifest builds the manifest of a run.
func (r *Runner) manifest(rn *Run) (*Manifest, error) {
	m := &Manifest{
		Format: ManifestFormat, Experiment: r.Spec.Name,
		Spec:  SpecRef{Source: r.Spec.Source, SHA256: r.Spec.SHA256, Adjusted: r.Spec.Adjusted},
		Index: rn.Index, Point: rn.Point.Name, Overrides: rn.Point.Set, Seed: rn.Seed,
		Config: rn.Config, SnapshotFractions: rn.Fractions,
		Tool: currentTool(), Conventions: CurrentConventions, Metrics: MetricDefinitions,
	}
	if m.Overrides == nil {
		m.Overrides = Overrides{}
	}
	var err error
	if m.Data, err = r.describe(rn.Config.Data); err != nil {
		return nil, err
	}
	if m.Val, err = r.describe(rn.Config.Val); err != nil {
		return nil, err
	}
	// Describe may hold values JSON turns into other types (ints into
	// float64); keep the manifest as it reads back.
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("experiments: manifest: %w", err)
	}
	var back Manifest
	if err := json.Unmarshal(b, &back); err != nil {
		return nil, fmt.Errorf("experiments: manifest: %w", err)
	}
	return &back, nil
}

// checkRun compares the run directory with the run: it reports whether the
// run is done, and fails when the directory holds another run.
func (r *Runner) checkRun(rn *Run) (RunStatus, bool, error) {
	dir := rn.Dir(r.Out)
	st := RunStatus{Index: rn.Index, Point: rn.Point.Name, Seed: rn.Seed, Dir: dir}
	want, err := r.manifest(rn)
	if err != nil {
		return st, false, err
	}
	mpath := filepath.Join(dir, ManifestFile)
	have, err := readManifest(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, run.ConfigFile)); err == nil {
			return st, false, fmt.Errorf("experiments: %s holds a training run but no %s: not a run of this experiment; use another --out or remove it", dir, ManifestFile)
		}
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if ok, diff := sameRun(have, want); !ok {
		return st, false, fmt.Errorf("experiments: %s holds another run (manifest field %s differs from this spec's run); use another --out, or remove the directory to start it again", dir, diff)
	}
	_, err = os.Stat(filepath.Join(dir, DoneFile))
	return st, err == nil, nil
}

// runOne trains, probes and evaluates one run.
func (r *Runner) runOne(rn *Run, total, workers int, prog io.Writer) RunStatus {
	start := time.Now()
	dir := rn.Dir(r.Out)
	st := RunStatus{Index: rn.Index, Point: rn.Point.Name, Seed: rn.Seed, Dir: dir}
	failed := func(err error) RunStatus {
		st.Status, st.Error, st.Seconds = "failed", err.Error(), time.Since(start).Seconds()
		if prog != nil {
			fmt.Fprintf(prog, "run %d/%d %s seed %d: FAILED: %v\n", rn.Index+1, total, rn.Point.Name, rn.Seed, err)
		}
		return st
	}
	fail := failed
	want, err := r.manifest(rn)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(fmt.Errorf("experiments: %w", err))
	}
	// One process per run: the lock keeps a resubmitted task off a run
	// that still runs, and tells `status` that it runs.
	lk, err := r.lock(dir)
	if err != nil {
		st.Status, st.Error = "failed", err.Error()
		if prog != nil {
			fmt.Fprintf(prog, "run %d/%d %s seed %d: %v\n", rn.Index+1, total, rn.Point.Name, rn.Seed, err)
		}
		return st
	}
	defer r.release(lk)
	if _, err := os.Stat(filepath.Join(dir, DoneFile)); err == nil {
		st.Status = "skipped" // finished by another process since checkRun
		return st
	}
	fail = func(err error) RunStatus {
		if werr := writeFailure(dir, lk.holder, err.Error()); werr != nil && prog != nil {
			fmt.Fprintf(prog, "run %d/%d: cannot record the failure: %v\n", rn.Index+1, total, werr)
		}
		return failed(err)
	}
	if err := os.Remove(filepath.Join(dir, FailedFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(fmt.Errorf("experiments: %w", err))
	}
	if err := ensureManifest(dir, want, prog); err != nil {
		return fail(err)
	}
	done, err := r.trainAndProbe(rn, want, total, workers, prog, &st)
	if err != nil {
		return fail(err)
	}
	b, _ := json.MarshalIndent(done, "", "  ")
	if err := atomicfile.WriteBytes(filepath.Join(dir, DoneFile), append(b, '\n')); err != nil {
		return fail(err)
	}
	st.Status, st.Seconds = "done", time.Since(start).Seconds()
	if prog != nil {
		fmt.Fprintf(prog, "run %d/%d %s seed %d: done in %s\n", rn.Index+1, total, rn.Point.Name, rn.Seed, time.Since(start).Round(time.Second))
	}
	return st
}

// ensureManifest writes the run's manifest want into dir unless it is
// there; a manifest written by another tool version is kept, with a note.
func ensureManifest(dir string, want *Manifest, prog io.Writer) error {
	mpath := filepath.Join(dir, ManifestFile)
	if have, err := readManifest(mpath); err == nil {
		if have.Tool != want.Tool && prog != nil {
			fmt.Fprintf(prog, "note: %s was started by mpanalyze %s; continuing with %s\n", dir, have.Tool, want.Tool)
		}
		return nil
	}
	b, _ := json.MarshalIndent(want, "", "  ")
	return atomicfile.WriteBytes(mpath, append(b, '\n'))
}

// trainAndProbe trains run rn (resuming a started one) and probes and
// evaluates each snapshot not reported yet, rewriting metrics.jsonl after
// each; it marks st resumed when it continues earlier work, and returns
// the record of the DONE file.
func (r *Runner) trainAndProbe(rn *Run, want *Manifest, total, workers int, prog io.Writer, st *RunStatus) (doneRecord, error) {
	dir := st.Dir
	rc := rn.Config
	rc.Workers = workers
	_, statErr := os.Stat(filepath.Join(dir, run.ConfigFile))
	resume := statErr == nil
	st.Resumed = resume
	verb := "training"
	if resume {
		verb = "resuming"
	}
	if prog != nil {
		fmt.Fprintf(prog, "run %d/%d %s seed %d: %s %s for %d steps (%d worker(s)) → %s\n", rn.Index+1, total, rn.Point.Name, rn.Seed, verb, rc.Model.Arch, rc.Train.Steps, workers, dir)
	}
	t0 := time.Now()
	if _, err := run.Train(dir, rc, run.Options{Resume: resume, Progress: prog}); err != nil {
		return doneRecord{}, err
	}
	trainSec := time.Since(t0).Seconds()
	t1 := time.Now()
	val, err := data.Open(rc.Val)
	if err != nil {
		return doneRecord{}, err
	}
	var reps []*SnapshotReport
	for k, step := range rc.Snapshots {
		path := ReportPath(dir, step)
		if rep, err := readReport(path); err == nil {
			reps = append(reps, rep)
			st.Resumed = true
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return doneRecord{}, err
		}
		final := k == len(rc.Snapshots)-1
		rep, err := r.probe(dir, rn, step, rn.Fractions[k], final || r.TraceAll, val, workers, prog)
		if err != nil {
			return doneRecord{}, err
		}
		reps = append(reps, rep)
		if err := writeMetrics(filepath.Join(dir, MetricsFile), want, reps); err != nil {
			return doneRecord{}, err
		}
	}
	if err := writeMetrics(filepath.Join(dir, MetricsFile), want, reps); err != nil {
		return doneRecord{}, err
	}
	return doneRecord{Steps: rc.Train.Steps, Snapshots: rc.Snapshots, TrainSeconds: trainSec, ProbeSeconds: time.Since(t1).Seconds()}, nil
}

// SnapshotReport is reports/step-NNNNNN.json: the probe and evaluation of
// one snapshot checkpoint on the validation images.
type SnapshotReport struct {
	Step     int     `json:"step"`
	Fraction float64 `json:"fraction"`
	// Checkpoint and Trace are relative to the run directory; Trace is
	// empty when the snapshot was not traced (it names the .npz without
	// extension; the .json sidecar sits next to it).
	Checkpoint string             `json:"checkpoint"`
	Trace      string             `json:"trace,omitempty"`
	Probe      probes.Report      `json:"probe"`
	Eval       metrics.EvalReport `json:"eval"`
	Seconds    float64            `json:"seconds"`
}

func readReport(path string) (*SnapshotReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep SnapshotReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("experiments: %s: %v", path, err)
	}
	return &rep, nil
}

// probe runs a snapshot checkpoint on the validation images with a
// probes.Evaluator (and a trace writer when traced) and run.Evaluate.
func (r *Runner) probe(dir string, rn *Run, step int, frac float64, trace bool, val data.Dataset, workers int, prog io.Writer) (*SnapshotReport, error) {
	t0 := time.Now()
	ckptPath := run.SnapshotPath(dir, step)
	if _, err := os.Stat(ckptPath); err != nil {
		return nil, fmt.Errorf("experiments: snapshot checkpoint of step %d is missing (%v) although training passed it; remove %s to train the run again", step, err, dir)
	}
	ck, err := run.LoadCheckpoint(ckptPath)
	if err != nil {
		return nil, err
	}
	m := ck.Model
	ev := &probes.Evaluator{}
	var p probes.Probe = ev
	var tw *probes.TraceWriter
	rep := &SnapshotReport{Step: step, Fraction: frac}
	rep.Checkpoint, _ = filepath.Rel(dir, ckptPath)
	if trace {
		tp := TracePath(dir, step)
		if err := os.MkdirAll(filepath.Dir(tp), 0o755); err != nil {
			return nil, fmt.Errorf("experiments: %w", err)
		}
		tw = probes.NewTraceWriter(tp, &probes.TraceSettings{Float16: r.Float16, Compact: r.Compact})
		p = probes.Multi{ev, tw}
		rep.Trace, _ = filepath.Rel(dir, tp)
	}
	n := min(rn.Config.EvalImages, val.Len())
	if prog != nil {
		fmt.Fprintf(prog, "probing %s seed %d at step %d (%g of training) on %d validation images\n", rn.Point.Name, rn.Seed, step, frac, n)
	}
	er, err := run.Evaluate(m, val, run.EvalOptions{Images: n, Workers: workers, Probe: p, Checkpoint: ckptPath, Seed: rn.Seed})
	if err != nil {
		if tw != nil {
			tw.Abort()
		}
		return nil, err
	}
	if err := p.Close(); err != nil {
		return nil, err
	}
	rep.Probe, rep.Eval = ev.Report(), *er
	if rep.Probe.Run.MaskStride != CurrentConventions.MaskStride {
		return nil, fmt.Errorf("experiments: %s: masks at stride %d, the conventions say %d", ckptPath, rep.Probe.Run.MaskStride, CurrentConventions.MaskStride)
	}
	rep.Seconds = time.Since(t0).Seconds()
	b, err := json.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("experiments: report: %w", err)
	}
	path := ReportPath(dir, step)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	if err := atomicfile.WriteBytes(path, append(b, '\n')); err != nil {
		return nil, err
	}
	return rep, nil
}

// lineWriter serialises whole lines of several writers onto one.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// prefixWriter prefixes every line it writes, through a shared lineWriter.
type prefixWriter struct {
	w      *lineWriter
	prefix string
	buf    bytes.Buffer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadBytes('\n')
		if err != nil {
			// Keep the partial line for the next write.
			rest := append([]byte(nil), line...)
			p.buf.Reset()
			p.buf.Write(rest)
			break
		}
		line = bytes.TrimLeft(line, "\r")
		p.w.mu.Lock()
		_, werr := io.WriteString(p.w.w, p.prefix+strings.TrimRight(string(line), "\r\n")+"\n")
		p.w.mu.Unlock()
		if werr != nil {
			return len(b), werr
		}
	}
	return len(b), nil
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
