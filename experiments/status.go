package experiments

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mpanalyze/mpanalyze/run"
)

// The states of a run in a sweep's status.
const (
	StateDone    = "done"
	StateRunning = "running"
	StateFailed  = "failed"
	StatePending = "pending"
)

// RunState is one run of a sweep as Status sees it.
type RunState struct {
	Index int    `json:"index"`
	Point string `json:"point"`
	Seed  uint64 `json:"seed"`
	Dir   string `json:"dir"`
	// State is done, running, failed or pending (not started, or queued).
	State string `json:"state"`
	// Detail says more in one line: where it runs, why it failed.
	Detail string `json:"detail,omitempty"`
	// Trained is the number of training steps logged, of Steps.
	Trained int `json:"trained"`
	Steps   int `json:"steps"`
	// Probed is the number of snapshot reports written, of Snapshots.
	Probed    int `json:"probed"`
	Snapshots int `json:"snapshots"`
	// Job is the latest Slurm array task of the run ("<job>_<index>") and
	// JobState what Slurm says of it; Queued is set while a task for it
	// waits in the queue.
	Job      string `json:"job,omitempty"`
	JobState string `json:"job_state,omitempty"`
	Queued   bool   `json:"queued"`
	// Error is the failure record's error (FAILED).
	Error string `json:"error,omitempty"`
	// Log is the latest task's log and LogTail its last lines (failed
	// runs only).
	Log     string   `json:"log,omitempty"`
	LogTail []string `json:"log_tail,omitempty"`
}

// SweepStatus is the state of every run of an experiment's output
// directory.
type SweepStatus struct {
	Experiment string `json:"experiment"`
	Out        string `json:"out"`
	Total      int    `json:"total"`
	Done       int    `json:"done"`
	Running    int    `json:"running"`
	Failed     int    `json:"failed"`
	Pending    int    `json:"pending"`
	// Scheduler says what Slurm was asked ("squeue, sacct"), or why not.
	Scheduler string `json:"scheduler"`
	// Queue is set when squeue answered: Queued and running tasks are
	// then known, not guessed.
	Queue bool `json:"queue"`
	// Jobs are the Slurm jobs of the sweep: submitted (slurm-jobs.json)
	// or seen in logs/.
	Jobs []string   `json:"jobs"`
	Runs []RunState `json:"runs"`
}

// slurmTask is what Slurm says of one array task.
type slurmTask struct {
	job   int
	task  int
	state string // RUNNING, PENDING, COMPLETED, CANCELLED, FAILED, ...
	why   string // squeue's node or pending reason; the exit code
	live  bool   // listed by squeue
}

func (t slurmTask) id() string { return fmt.Sprintf("%d_%d", t.job, t.task) }

// runningStates are squeue states of a task that has a process.
var runningStates = map[string]bool{"RUNNING": true, "COMPLETING": true, "CONFIGURING": true, "SUSPENDED": true, "STOPPED": true, "SIGNALING": true, "STAGE_OUT": true, "RESIZING": true}

var logName = regexp.MustCompile(`^(\d+)_(\d+)\.out$`)

// Status reads the state of every run of the experiment in out: from the
// run directories (DONE, the lock of a running run, FAILED, train.jsonl,
// reports) and, when the commands are there, from Slurm (squeue for
// queued and running tasks, sacct or else scontrol for finished ones).
// logLines is the number of log lines kept for failed runs.
func (s *Slurm) Status(out string, logLines int) (*SweepStatus, error) {
	b, err := os.ReadFile(filepath.Join(out, ExperimentFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("experiments: %s has no %s: not an experiment's output directory (ablate SPEC --out %s writes one)", out, ExperimentFile, out)
		}
		return nil, fmt.Errorf("experiments: %w", err)
	}
	var doc experimentDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.Spec == nil {
		return nil, fmt.Errorf("experiments: %s: not an experiment file (%v)", filepath.Join(out, ExperimentFile), err)
	}
	st := &SweepStatus{Experiment: doc.Spec.Name, Out: out, Total: len(doc.Runs)}

	// Jobs: submitted, and seen in the logs (tasks submitted by hand).
	known := map[int]bool{}
	jobs, err := ReadJobs(out)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if n, err := strconv.Atoi(j.Job); err == nil {
			known[n] = true
		}
	}
	logs := map[int]map[int]string{} // index → job → log file
	ents, _ := os.ReadDir(filepath.Join(out, LogsDir))
	for _, e := range ents {
		if m := logName.FindStringSubmatch(e.Name()); m != nil {
			job, _ := strconv.Atoi(m[1])
			idx, _ := strconv.Atoi(m[2])
			known[job] = true
			if logs[idx] == nil {
				logs[idx] = map[int]string{}
			}
			logs[idx][job] = filepath.Join(out, LogsDir, e.Name())
		}
	}
	for j := range known {
		st.Jobs = append(st.Jobs, strconv.Itoa(j))
	}
	sort.Slice(st.Jobs, func(a, b int) bool { x, _ := strconv.Atoi(st.Jobs[a]); y, _ := strconv.Atoi(st.Jobs[b]); return x < y })
	tasks, queue, sched := s.slurmTasks(filepath.Join(out, SweepScript), known)
	st.Scheduler, st.Queue = sched, queue

	for _, r := range doc.Runs {
		dir := filepath.Join(out, filepath.FromSlash(r.Dir))
		rs := RunState{Index: r.Index, Point: r.Point, Seed: r.Seed, Dir: dir}
		runState(&rs, tasks[r.Index], queue, logs[r.Index], logLines)
		switch rs.State {
		case StateDone:
			st.Done++
		case StateRunning:
			st.Running++
		case StateFailed:
			st.Failed++
		default:
			st.Pending++
		}
		st.Runs = append(st.Runs, rs)
	}
	return st, nil
}

// runState fills in one run's state.
func runState(rs *RunState, tasks []slurmTask, queue bool, logs map[int]string, logLines int) {
	dir := rs.Dir
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	started := exists(ManifestFile) || exists(LockFile) || exists(run.ConfigFile)
	progress := rs.readProgress(exists)
	live, last := latestTasks(tasks)
	latestJob := 0
	for j := range logs {
		latestJob = max(latestJob, j)
	}
	if last != nil {
		rs.Job, rs.JobState = last.id(), last.state
		latestJob = max(latestJob, last.job)
	}
	if live != nil {
		rs.Job, rs.JobState = live.id(), live.state
	}
	fail, ferr := ReadFailure(dir)
	if ferr != nil {
		rs.Error = ferr.Error()
	} else if fail != nil {
		rs.Error = fail.Error
	}
	held, lockUnknown, holder := LockState(dir)
	if rs.activeState(exists(DoneFile), live, held, holder, started, progress) {
		return
	}
	lastFailed := last != nil && last.job >= latestJob && last.state != "COMPLETED"
	if !started && rs.Error == "" && !lastFailed {
		rs.State = StatePending
		rs.Detail = "not started"
		if queue {
			rs.Detail += "; no task queued for it"
		}
		return
	}
	rs.setFailed(last, lockUnknown && !queue, progress)
	// The log of the latest attempt.
	if latestJob > 0 {
		if p, ok := logs[latestJob]; ok {
			rs.Log = p
			rs.LogTail = tailLines(p, logLines)
		}
	}
}

// readProgress reads the run's steps and snapshots (manifest), the
// snapshots probed (reports) and the steps trained (train log), and
// returns them as text ("" before the manifest is written). exists says
// whether a file of the run directory exists.
func (rs *RunState) readProgress(exists func(string) bool) string {
	if m, err := readManifest(filepath.Join(rs.Dir, ManifestFile)); err == nil {
		rs.Steps, rs.Snapshots = m.Config.Train.Steps, len(m.Config.Snapshots)
		for _, step := range m.Config.Snapshots {
			if exists(filepath.Join(ReportsDir, fmt.Sprintf("step-%06d.json", step))) {
				rs.Probed++
			}
		}
	}
	if tl, err := run.ReadTrainLog(filepath.Join(rs.Dir, run.LogFile)); err == nil && len(tl.Steps) > 0 {
		rs.Trained = tl.Steps[len(tl.Steps)-1].Step + 1
	}
	if rs.Steps > 0 {
		return fmt.Sprintf("step %d of %d, %d of %d snapshots probed", rs.Trained, rs.Steps, rs.Probed, rs.Snapshots)
	}
	return ""
}

// latestTasks returns the run's live Slurm task (a running one before a
// pending one, then the highest job id) and its latest finished one (the
// highest job id); nil when there is none.
func latestTasks(tasks []slurmTask) (live, last *slurmTask) {
	for i := range tasks {
		t := &tasks[i]
		if t.live {
			if live == nil || runningStates[t.state] && !runningStates[live.state] || t.job > live.job && runningStates[t.state] == runningStates[live.state] {
				live = t
			}
		} else if last == nil || t.job > last.job {
			last = t
		}
	}
	return live, last
}

// activeState sets the state of a run that is done, running (a running
// task, or a lock held by holder) or queued, and reports whether it was
// one of these.
func (rs *RunState) activeState(done bool, live *slurmTask, held bool, holder Holder, started bool, progress string) bool {
	switch {
	case done:
		rs.State, rs.Error = StateDone, ""
		if progress != "" {
			rs.Detail = fmt.Sprintf("%d steps, %d snapshots", rs.Steps, rs.Snapshots)
		}
	case live != nil && runningStates[live.state]:
		rs.State = StateRunning
		rs.Detail = fmt.Sprintf("job %s %s on %s", live.id(), strings.ToLower(live.state), live.why)
		if progress != "" {
			rs.Detail += "; " + progress
		}
		rs.Error = ""
	case held:
		rs.State = StateRunning
		rs.Detail = holder.String()
		if progress != "" {
			rs.Detail += "; " + progress
		}
		rs.Error = ""
	case live != nil:
		rs.State, rs.Queued = StatePending, true
		rs.Detail = fmt.Sprintf("queued as job %s (%s)", live.id(), strings.Trim(live.why, "()"))
		if started {
			rs.Detail += "; will resume at " + progress
		}
	default:
		return false
	}
	return true
}

// setFailed marks the run failed, saying why: its failure record, its
// latest task's end, or — with neither — that it stopped (or, when
// cannotTell, may be running where no lock or queue can say).
func (rs *RunState) setFailed(last *slurmTask, cannotTell bool, progress string) {
	rs.State = StateFailed
	var why []string
	if rs.Error != "" {
		why = append(why, rs.Error)
	}
	if last != nil {
		why = append(why, fmt.Sprintf("job %s %s (exit %s)", last.id(), last.state, last.why))
	}
	if len(why) == 0 {
		if cannotTell {
			why = append(why, "stopped, or running where this file system cannot say (no file locks, no squeue)")
		} else {
			why = append(why, "stopped without finishing and without a failure record (killed, or its node went down)")
		}
	}
	if progress != "" {
		why = append(why, progress)
	}
	rs.Detail = strings.Join(why, "; ")
}

// tailLines returns the last n lines of a file (carriage-return progress
// redraws reduced to their last state).
func tailLines(path string, n int) []string {
	if n <= 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const maxRead = 64 << 10
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(0, st.Size()-maxRead)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // a partial first line
	}
	for i, l := range lines {
		if k := strings.LastIndex(strings.TrimRight(l, "\r"), "\r"); k >= 0 {
			lines[i] = l[k+1:]
		}
		lines[i] = strings.TrimRight(lines[i], "\r")
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// slurmTasks asks Slurm about the sweep's array tasks: squeue for the
// live ones (its jobs are those running script, or known), sacct — or,
// without accounting, scontrol — for the finished ones of the known jobs.
func (s *Slurm) slurmTasks(script string, known map[int]bool) (map[int][]slurmTask, bool, string) {
	out := map[int][]slurmTask{}
	if !s.has("squeue") {
		return out, false, "none (squeue is not on PATH; the state comes from the run directories)"
	}
	var asked []string
	queue := false
	if live, err := s.liveTasks(script, known); err != nil {
		asked = append(asked, "squeue failed: "+firstLine(err.Error()))
	} else {
		queue = true
		asked = append(asked, "squeue")
		for _, t := range live {
			out[t.task] = append(out[t.task], t)
		}
	}
	if len(known) == 0 {
		return out, queue, strings.Join(asked, ", ")
	}
	var ids []string
	for j := range known {
		ids = append(ids, strconv.Itoa(j))
	}
	sort.Strings(ids)
	finished := func(t slurmTask) {
		for _, have := range out[t.task] {
			if have.job == t.job && have.live {
				return
			}
		}
		out[t.task] = append(out[t.task], t)
	}
	accounted := false
	if s.has("sacct") {
		tasks, err := s.accountedTasks(ids)
		if err != nil {
			asked = append(asked, "sacct unavailable ("+firstLine(err.Error())+")")
		} else {
			accounted = true
			asked = append(asked, "sacct")
			for _, t := range tasks {
				finished(t)
			}
		}
	}
	if !accounted && s.has("scontrol") {
		asked = append(asked, "scontrol")
		for _, t := range s.controllerTasks(ids) {
			finished(t)
		}
	}
	return out, queue, strings.Join(asked, ", ")
}

// liveTasks lists the user's queued and running array tasks (squeue) of
// the known jobs or of jobs running script.
func (s *Slurm) liveTasks(script string, known map[int]bool) ([]slurmTask, error) {
	args := []string{"-h", "-r", "-o", "%F|%K|%T|%R|%o"}
	if u, err := user.Current(); err == nil && u.Username != "" {
		args = append(args, "-u", u.Username)
	}
	b, err := s.run("squeue", args...)
	if err != nil {
		return nil, err
	}
	var tasks []slurmTask
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(strings.TrimSpace(l), "|")
		if len(f) < 5 {
			continue
		}
		job, err1 := strconv.Atoi(f[0])
		task, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		if !known[job] && filepath.Clean(f[4]) != filepath.Clean(script) {
			continue
		}
		tasks = append(tasks, slurmTask{job: job, task: task, state: f[2], why: f[3], live: true})
	}
	return tasks, nil
}

// accountedTasks lists the finished array tasks of jobs ids from the
// accounting database (sacct), with their exit codes.
func (s *Slurm) accountedTasks(ids []string) ([]slurmTask, error) {
	b, err := s.run("sacct", "-n", "-P", "-X", "-j", strings.Join(ids, ","), "-o", "JobID,State,ExitCode")
	if err != nil {
		return nil, err
	}
	var tasks []slurmTask
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(strings.TrimSpace(l), "|")
		if len(f) < 3 {
			continue
		}
		jt := strings.SplitN(f[0], "_", 2)
		if len(jt) != 2 {
			continue
		}
		job, err1 := strconv.Atoi(jt[0])
		task, err2 := strconv.Atoi(jt[1])
		state := strings.Fields(f[1] + " ")[0] // "CANCELLED by 0"
		if err1 != nil || err2 != nil || state == "PENDING" || runningStates[state] {
			continue
		}
		tasks = append(tasks, slurmTask{job: job, task: task, state: state, why: f[2]})
	}
	return tasks, nil
}

// controllerTasks lists the finished array tasks of jobs ids the
// controller still remembers (scontrol, without accounting).
func (s *Slurm) controllerTasks(ids []string) []slurmTask {
	var tasks []slurmTask
	for _, id := range ids {
		b, err := s.run("scontrol", "show", "job", "-o", id)
		if err != nil {
			continue // purged from the controller's memory (MinJobAge)
		}
		for _, l := range strings.Split(string(b), "\n") {
			kv := map[string]string{}
			for _, w := range strings.Fields(l) {
				if k, v, ok := strings.Cut(w, "="); ok {
					kv[k] = v
				}
			}
			job, err1 := strconv.Atoi(kv["ArrayJobId"])
			task, err2 := strconv.Atoi(kv["ArrayTaskId"])
			state := kv["JobState"]
			if err1 != nil || err2 != nil || state == "PENDING" || runningStates[state] {
				continue
			}
			tasks = append(tasks, slurmTask{job: job, task: task, state: state, why: kv["ExitCode"]})
		}
	}
	return tasks
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// Resubmit submits again, as one array job of the sweep's script, the runs
// that failed and, when squeue answered, those not started and not queued.
// Finished runs are left alone and unfinished ones resume. It returns the
// job id and the indices; none to resubmit is an error.
func (s *Slurm) Resubmit(st *SweepStatus) (string, []int, error) {
	var idx []int
	for _, r := range st.Runs {
		if r.State == StateFailed || r.State == StatePending && !r.Queued && st.Queue {
			idx = append(idx, r.Index)
		}
	}
	if len(idx) == 0 {
		return "", nil, fmt.Errorf("experiments: %s: nothing to resubmit (%d done, %d running, %d failed, %d pending)", st.Out, st.Done, st.Running, st.Failed, st.Pending)
	}
	array := FormatIndices(idx)
	if a := scriptArray(filepath.Join(st.Out, SweepScript)); strings.Contains(a, "%") {
		array += a[strings.Index(a, "%"):]
	}
	job, err := s.Submit(st.Out, array)
	return job, idx, err
}
