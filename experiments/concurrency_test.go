package experiments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/run"
)

// helperEnv makes the test binary run one run of a spec (like `ablate
// --index`) instead of the tests: MPANALYZE_EXPERIMENTS_HELPER=spec,out,index.
const helperEnv = "MPANALYZE_EXPERIMENTS_HELPER"

// helperMain runs Runner.Run for one index and prints the statuses as
// JSON; the exit code is 1 when the run failed.
func helperMain(arg string) int {
	f := strings.Split(arg, ",")
	i, _ := strconv.Atoi(f[2])
	sp, err := LoadSpec(f[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sts, err := (&Runner{Spec: sp, Out: f[1], Workers: 1}).Run([]int{i})
	json.NewEncoder(os.Stdout).Encode(sts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestConcurrentRunsAndReaders runs the runs of a spec as separate
// processes writing into one directory at once, two of them twice (a task
// resubmitted while the first still runs), while Load reads the directory
// over and over: every Load sees whole runs or leaves them out, no two
// processes run one run, experiment.json is never rewritten, no temporary
// file is left, and the results equal the reference run's byte for byte.
func TestConcurrentRunsAndReaders(t *testing.T) {
	ref := tinyRun(t, "[1, 2]")
	dir := t.TempDir()
	specPath := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(specPath, []byte(tinySpec("[1, 2]")), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := LoadSpec(specPath)
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := sp.Runs()
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	if err := (&Runner{Spec: sp, Out: out}).writeExperiment(runs); err != nil {
		t.Fatal(err)
	}
	expBefore, _ := os.Stat(filepath.Join(out, ExperimentFile))

	indices := []int{0, 1, 2, 3, 1, 3}
	type result struct {
		index  int
		code   int
		status []RunStatus
		stderr string
	}
	results := make([]result, len(indices))
	var procs sync.WaitGroup
	var running atomic.Int32
	running.Store(int32(len(indices)))
	for k, i := range indices {
		procs.Add(1)
		go func() {
			defer procs.Done()
			defer running.Add(-1)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d", helperEnv, specPath, out, i))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			r := result{index: i, stderr: stderr.String()}
			if ee, ok := err.(*exec.ExitError); ok {
				r.code = ee.ExitCode()
			} else if err != nil {
				r.code = -1
				r.stderr += err.Error()
			}
			json.Unmarshal(stdout.Bytes(), &r.status)
			results[k] = r
		}()
	}
	// Read while they write.
	loads, partial := 0, 0
	for running.Load() > 0 {
		rs, err := Load(out)
		loads++
		if err != nil {
			if !strings.Contains(err.Error(), "no finished run") && !strings.Contains(err.Error(), "holds no run") {
				t.Errorf("Load during the runs: %v", err)
			}
			continue
		}
		for _, r := range rs.Runs {
			if len(r.Reports) != 2 {
				t.Errorf("Load during the runs: %s with %d reports", r.Dir, len(r.Reports))
			}
		}
		if n := len(rs.Runs) + len(rs.Unfinished) + len(rs.NotStarted); n != 4 || len(rs.Duplicates) != 0 {
			t.Errorf("Load during the runs: %d finished + %d unfinished + %d not started, %d duplicates", len(rs.Runs), len(rs.Unfinished), len(rs.NotStarted), len(rs.Duplicates))
		}
		if len(rs.Unfinished)+len(rs.NotStarted) > 0 {
			partial++
		}
		time.Sleep(5 * time.Millisecond)
	}
	procs.Wait()
	t.Logf("%d loads while the runs ran, %d of them with runs left out", loads, partial)

	// Per index, one process ran it; a second one was refused while the
	// first ran, or skipped it once done.
	done := map[int]int{}
	outcomes := map[string]int{}
	for _, r := range results {
		if len(r.status) == 1 {
			outcomes[r.status[0].Status]++
		}
		if len(r.status) != 1 {
			t.Fatalf("run %d: exit %d, statuses %+v\n%s", r.index, r.code, r.status, r.stderr)
		}
		switch st := r.status[0]; {
		case st.Status == "done" && r.code == 0:
			done[r.index]++
		case st.Status == "skipped" && r.code == 0:
		case st.Status == "failed" && r.code == 1 && strings.Contains(st.Error, "is being run by pid"):
		default:
			t.Errorf("run %d: exit %d, status %+v\n%s", r.index, r.code, st, r.stderr)
		}
	}
	t.Logf("process outcomes: %v", outcomes)
	for i := range 4 {
		if done[i] != 1 {
			t.Errorf("run %d was run %d times", i, done[i])
		}
	}
	for _, rn := range runs {
		if a, b := readFile(t, filepath.Join(rn.Dir(ref), MetricsFile)), readFile(t, filepath.Join(rn.Dir(out), MetricsFile)); !bytes.Equal(a, b) {
			t.Errorf("%s: metrics.jsonl differs from the reference run's", rn.Dir(out))
		}
		if exists(filepath.Join(rn.Dir(out), FailedFile)) {
			t.Errorf("%s: a refused second process left a failure record", rn.Dir(out))
		}
	}
	if after, err := os.Stat(filepath.Join(out, ExperimentFile)); err != nil || !os.SameFile(expBefore, after) {
		t.Errorf("experiment.json was rewritten by the tasks (%v)", err)
	}
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	rs, err := Load(out)
	if err != nil || len(rs.Runs) != 4 || len(rs.Unfinished)+len(rs.NotStarted) != 0 {
		t.Fatalf("Load after the runs: %v", err)
	}
}

// TestLoadLeavesOutUnfinishedRuns: a run stopped in training (a
// checkpoint, part of train.jsonl with a cut last line, a temporary file
// of a write cut short) and a run stopped while probing (one of two
// reports) are left out by Load and named as unfinished, a run not
// started is named as such; resumed, all equal the reference.
func TestLoadLeavesOutUnfinishedRuns(t *testing.T) {
	ref := tinyRun(t, "[1, 2]")
	sp := mustParse(t, tinySpec("[1, 2]"))
	runs, _ := sp.Runs()
	out := filepath.Join(t.TempDir(), "out")
	r := &Runner{Spec: sp, Out: out}
	if _, err := r.Run([]int{1, 2}); err != nil {
		t.Fatal(err)
	}
	// Run 0 stopped after 2 of 3 steps.
	d0 := runs[0].Dir(out)
	os.MkdirAll(d0, 0o755)
	want, _ := r.manifest(&runs[0])
	mb, _ := json.MarshalIndent(want, "", "  ")
	atomicfile.WriteBytes(filepath.Join(d0, ManifestFile), mb)
	rc := runs[0].Config
	rc.Workers = 1
	if _, err := run.Train(d0, rc, run.Options{StopAfter: 2}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(d0, run.LogFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"event":"step","step":2,"lo`)
	f.Close()
	os.WriteFile(filepath.Join(d0, "checkpoints", ".latest.npz.tmp-123"), []byte("half"), 0o644)
	// Run 1 stopped while probing its last snapshot.
	d1 := runs[1].Dir(out)
	os.Remove(filepath.Join(d1, DoneFile))
	os.Remove(ReportPath(d1, runs[1].Config.Snapshots[1]))
	os.WriteFile(filepath.Join(d1, ReportsDir, ".step-000003.json.tmp-9"), []byte("{"), 0o644)

	rs, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Runs) != 1 || rs.Runs[0].Dir != runs[2].Dir(out) || strings.Join(rs.Unfinished, " ") != d0+" "+d1 ||
		len(rs.NotStarted) != 1 || rs.NotStarted[0] != runs[3].Dir(out) {
		t.Errorf("Load: runs %d, unfinished %v, not started %v", len(rs.Runs), rs.Unfinished, rs.NotStarted)
	}
	st, err := (&Slurm{LookPath: func(string) bool { return false }}).Status(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Runs[0]; s.State != StateFailed || s.Trained != 2 || s.Probed != 0 {
		t.Errorf("status of the run stopped in training: %+v", s)
	}
	if s := st.Runs[1]; s.State != StateFailed || s.Trained != 3 || s.Probed != 1 {
		t.Errorf("status of the run stopped while probing: %+v", s)
	}
	if st.Done != 1 || st.Pending != 1 {
		t.Errorf("status %+v", st)
	}
	if _, err := r.Run(nil); err != nil {
		t.Fatal(err)
	}
	for _, rn := range runs {
		if a, b := readFile(t, filepath.Join(rn.Dir(ref), MetricsFile)), readFile(t, filepath.Join(rn.Dir(out), MetricsFile)); !bytes.Equal(a, b) {
			t.Errorf("%s: metrics.jsonl differs from the reference run's", rn.Dir(out))
		}
	}
	if rs, err := Load(out); err != nil || len(rs.Runs) != 4 || len(rs.Unfinished) != 0 {
		t.Errorf("Load after resuming: %v", err)
	}
}
