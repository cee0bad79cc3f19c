package experiments

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
)

// Files a run directory holds while it runs and after a failure.
const (
	// LockFile is held (flock, exclusive) by the process running the run,
	// and names that process: a second process refuses the run instead of
	// writing the same files, and `mpanalyze status` tells a running run
	// from a stopped one by it. The lock, not the file, is what counts: a
	// killed process leaves the file but the kernel drops its lock.
	LockFile = ".lock"
	// FailedFile records why the last attempt stopped (an error, or the
	// signal that stopped it); a new attempt removes it and DONE
	// supersedes it.
	FailedFile = "FAILED"
)

// Holder says which process holds, or last held, a run's lock.
type Holder struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Job is the Slurm job: "<array job>_<task>" for an array task,
	// the job id otherwise; empty outside Slurm.
	Job     string `json:"job,omitempty"`
	Started string `json:"started"`
}

func (h Holder) String() string {
	s := fmt.Sprintf("pid %d on %s", h.PID, h.Host)
	if h.Job != "" {
		s += ", Slurm job " + h.Job
	}
	return s
}

// currentHolder describes this process.
func currentHolder() Holder {
	host, _ := os.Hostname()
	return Holder{Host: host, PID: os.Getpid(), Job: slurmJobFromEnv(), Started: time.Now().UTC().Format(time.RFC3339)}
}

// slurmJobFromEnv is this process's Slurm job as squeue names it.
func slurmJobFromEnv() string {
	if a, t := os.Getenv("SLURM_ARRAY_JOB_ID"), os.Getenv("SLURM_ARRAY_TASK_ID"); a != "" && t != "" {
		return a + "_" + t
	}
	return os.Getenv("SLURM_JOB_ID")
}

// FailureRecord is the content of FAILED.
type FailureRecord struct {
	Error  string `json:"error"`
	Time   string `json:"time"`
	Holder Holder `json:"by"`
}

// ReadFailure reads a run directory's failure record; nil when there is
// none.
func ReadFailure(dir string) (*FailureRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, FailedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	var f FailureRecord
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("experiments: %s: %v", filepath.Join(dir, FailedFile), err)
	}
	return &f, nil
}

func writeFailure(dir string, h Holder, msg string) error {
	b, _ := json.MarshalIndent(FailureRecord{Error: msg, Time: time.Now().UTC().Format(time.RFC3339), Holder: h}, "", "  ")
	return atomicfile.WriteBytes(filepath.Join(dir, FailedFile), append(b, '\n'))
}

// BusyError is returned when another process holds a run's lock.
type BusyError struct {
	Dir    string
	Holder Holder // as the lock file names it (zero if unreadable)
}

func (e *BusyError) Error() string {
	who := "another process"
	if e.Holder.PID != 0 {
		who = e.Holder.String()
	}
	return fmt.Sprintf("experiments: %s is being run by %s; not starting it twice", e.Dir, who)
}

// runLock is a held run lock.
type runLock struct {
	f      *os.File
	dir    string
	holder Holder
	// unlocked is set when the file system does not support locks; the
	// run goes ahead without one.
	unlocked bool
}

// lockWait is how long lockRun retries a lock held by someone else: a
// `status` probe holds it for microseconds, a running run for its whole
// length.
var lockWait = 2 * time.Second

// lockRun takes the run directory's lock, or fails with a BusyError when
// another process holds it.
func lockRun(dir string) (*runLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("experiments: lock %s: %w", dir, err)
	}
	l := &runLock{f: f, dir: dir, holder: currentHolder()}
	deadline := time.Now().Add(lockWait)
	for {
		err = flockExclusive(f)
		if err == nil || !errors.Is(err, errLockBusy) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case err == nil:
	case errors.Is(err, errLockBusy):
		f.Close()
		return nil, &BusyError{Dir: dir, Holder: readHolder(dir)}
	case errors.Is(err, errLockUnsupported):
		l.unlocked = true
	default:
		f.Close()
		return nil, fmt.Errorf("experiments: lock %s: %w", dir, err)
	}
	b, _ := json.Marshal(l.holder)
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(b, '\n'), 0)
	}
	return l, nil
}

// unlock releases the lock (closing the file releases the flock).
func (l *runLock) unlock() { l.f.Close() }

// readHolder reads the lock file's holder; zero when unreadable.
func readHolder(dir string) Holder {
	var h Holder
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err == nil {
		json.Unmarshal(b, &h)
	}
	return h
}

// LockState says whether a run directory's lock is held right now, and by
// whom (as its file says). held is false when there is no lock file, and
// when the file system cannot lock (then nothing can be said: unknown).
func LockState(dir string) (held, unknown bool, h Holder) {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return false, false, Holder{}
	}
	defer f.Close()
	busy, err := flockProbe(f)
	if err != nil {
		return false, true, Holder{}
	}
	if busy {
		return true, false, readHolder(dir)
	}
	return false, false, Holder{}
}

var (
	errLockBusy        = errors.New("lock held by another process")
	errLockUnsupported = errors.New("file locks not supported here")
)

// lock takes a run's lock and remembers it for Interrupted.
func (r *Runner) lock(dir string) (*runLock, error) {
	lk, err := lockRun(dir)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.active == nil {
		r.active = map[string]*runLock{}
	}
	r.active[dir] = lk
	r.mu.Unlock()
	return lk, nil
}

func (r *Runner) release(lk *runLock) {
	r.mu.Lock()
	delete(r.active, lk.dir)
	r.mu.Unlock()
	lk.unlock()
}

// Interrupted records reason (e.g. "stopped by signal terminated") as the
// failure of every run this Runner is running, so that `status` can say
// why they stopped. It is meant for a signal handler that then ends the
// process: the runs stay as they are, resumable (their locks go with the
// process).
func (r *Runner) Interrupted(reason string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var dirs []string
	for dir, lk := range r.active {
		if writeFailure(dir, lk.holder, reason) == nil {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}
