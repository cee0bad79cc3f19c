package experiments

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeBinary is an executable that records its arguments, one per line,
// in the file $ARGS_OUT.
func fakeBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mpanalyze")
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ARGS_OUT\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrepareSweep checks the batch script line by line, that the task's
// command line reaches the binary intact through bash, that the spec is
// pinned, and that experiment.json is written once.
func TestPrepareSweep(t *testing.T) {
	dir := t.TempDir()
	specPath := filepath.Join(dir, "my spec.yaml") // a space: quoted in the script
	src := tinySpec("[1, 2]")
	if err := os.WriteFile(specPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := fakeBinary(t)
	out := filepath.Join(dir, "out")
	c := SweepConfig{Spec: specPath, Out: out, Binary: bin, Steps: 2, TraceAll: true, Partition: "cpu", Time: "1-02:00",
		CPUsPerTask: 3, Mem: "2G", MaxParallel: 2, SbatchArgs: []string{"--account=lab"}, Workdir: dir}
	sw, err := PrepareSweep(c)
	if err != nil {
		t.Fatal(err)
	}
	pinned := filepath.Join(out, PinnedSpec)
	want := `#!/bin/bash
# mpanalyze sweep "tiny": 4 runs; array task i runs run i
# (mpanalyze ablate OUT/spec.yaml --list names them).
# Spec: DIR/my spec.yaml, pinned as OUT/spec.yaml.
# Written by ` + "`mpanalyze ablate --slurm`" + `. Submit: sbatch OUT/sweep.sbatch
# Follow:   mpanalyze status OUT
# Resubmit: mpanalyze status OUT --resubmit (or sbatch --array=I,J this file);
# finished runs are skipped, unfinished ones resume from their last checkpoint.
#SBATCH --job-name=mpanalyze-tiny
#SBATCH --array=0-3%2
#SBATCH --cpus-per-task=3
#SBATCH --partition=cpu
#SBATCH --time=1-02:00
#SBATCH --mem=2G
#SBATCH --output=OUT/logs/%A_%a.out
#SBATCH --open-mode=append
#SBATCH --chdir=DIR
#SBATCH --account=lab
set -eu
echo "mpanalyze sweep tiny: run ${SLURM_ARRAY_TASK_ID} (job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}) on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
exec BIN ablate OUT/spec.yaml --out OUT --index "$SLURM_ARRAY_TASK_ID" --workers 3 --steps 2 --trace-all
`
	got := strings.NewReplacer(out, "OUT", bin, "BIN", dir, "DIR").Replace(string(readFile(t, sw.Script)))
	if got != want {
		t.Errorf("sweep.sbatch:\n%s\nwant:\n%s", got, want)
	}
	if sw.Runs != 4 || sw.Array != "0-3%2" || sw.Spec != pinned || sw.Experiment != "tiny" {
		t.Errorf("sweep %+v", sw)
	}
	if string(readFile(t, pinned)) != src {
		t.Errorf("pinned spec differs from the original")
	}
	if st, err := os.Stat(filepath.Join(out, LogsDir)); err != nil || !st.IsDir() {
		t.Errorf("logs directory: %v", err)
	}

	// The script runs: bash hands the binary exactly the task's command.
	argsOut := filepath.Join(dir, "args")
	cmd := exec.Command("bash", sw.Script)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_JOB_ID=77", "ARGS_OUT="+argsOut)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash %s: %v\n%s", sw.Script, err, b)
	} else if !strings.Contains(string(b), "run 2 (job 77_2)") {
		t.Errorf("script output %q", b)
	}
	wantArgs := []string{"ablate", pinned, "--out", out, "--index", "2", "--workers", "3", "--steps", "2", "--trace-all"}
	if got := strings.Split(strings.TrimSpace(string(readFile(t, argsOut))), "\n"); !slices.Equal(got, wantArgs) {
		t.Errorf("task arguments %q, want %q", got, wantArgs)
	}

	// experiment.json is the one a task writes: a task leaves it alone.
	expPath := filepath.Join(out, ExperimentFile)
	before, err := os.Stat(expPath)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := LoadSpec(pinned)
	if err != nil {
		t.Fatal(err)
	}
	if sp, err = sp.WithSteps(2); err != nil {
		t.Fatal(err)
	}
	runs, _ := sp.Runs()
	if err := (&Runner{Spec: sp, Out: out}).writeExperiment(runs); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Stat(expPath); err != nil || !os.SameFile(before, after) {
		t.Errorf("experiment.json was replaced by a task's write (%v)", err)
	}

	// Editing the original changes nothing pinned; preparing again with
	// it is refused, with the same spec accepted.
	if err := os.WriteFile(specPath, []byte(strings.Replace(src, "queries: 8", "queries: 6", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := PrepareSweep(c); err == nil || !strings.Contains(err.Error(), "holds another spec") {
		t.Errorf("prepare with an edited spec: %v", err)
	}
	if string(readFile(t, pinned)) != src {
		t.Errorf("the pinned spec changed with the original")
	}
	c.Spec = pinned
	if _, err := PrepareSweep(c); err != nil {
		t.Errorf("prepare again with the pinned spec: %v", err)
	}
	if after, _ := os.Stat(expPath); !os.SameFile(before, after) {
		t.Errorf("preparing again replaced experiment.json")
	}

	// A built-in spec is pinned as a copy too.
	bout := filepath.Join(dir, "builtin")
	if _, err := PrepareSweep(SweepConfig{Spec: "noise_ratio", Out: bout, Binary: bin, Seeds: 1}); err != nil {
		t.Fatal(err)
	}
	if b, _ := BuiltinSource("noise_ratio"); string(readFile(t, filepath.Join(bout, PinnedSpec))) != string(b) {
		t.Errorf("built-in spec not pinned")
	}
	if !strings.Contains(string(readFile(t, filepath.Join(bout, SweepScript))), "#SBATCH --array=0-3\n") {
		t.Errorf("noise_ratio with 1 seed: want --array=0-3")
	}
}

func TestPrepareSweepErrors(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte(tinySpec("[1]")), 0o644)
	bin := fakeBinary(t)
	notExec := filepath.Join(dir, "plain")
	os.WriteFile(notExec, []byte("x"), 0o644)
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		cfg  SweepConfig
		want string
	}{
		{SweepConfig{Spec: spec, Out: out, Binary: bin, Time: "2 hours"}, `--time "2 hours"`},
		{SweepConfig{Spec: spec, Out: out, Binary: bin, Mem: "lots"}, `--mem "lots"`},
		{SweepConfig{Spec: spec, Out: out, Binary: bin, Partition: "a b"}, `--partition "a b"`},
		{SweepConfig{Spec: spec, Out: out, Binary: bin, MaxParallel: -1}, "--max-parallel -1"},
		{SweepConfig{Spec: spec, Out: out, Binary: bin, SbatchArgs: []string{"account=lab"}}, `--sbatch-arg "account=lab"`},
		{SweepConfig{Spec: spec, Out: filepath.Join(dir, "a b"), Binary: bin}, "has a space, quote or backslash"},
		{SweepConfig{Spec: spec, Out: out, Binary: notExec}, "is not an executable file"},
		{SweepConfig{Spec: spec, Out: out, Binary: filepath.Join(dir, "missing")}, "no such file"},
		{SweepConfig{Spec: filepath.Join(dir, "nope.yaml"), Out: out, Binary: bin}, "no such file, and not a built-in spec"},
		{SweepConfig{Spec: spec, Binary: bin}, "needs an output directory"},
		// The test binary is a `go test` build in a temporary directory.
		{SweepConfig{Spec: spec, Out: out}, "temporary build of `go run` or `go test`"},
	} {
		if _, err := PrepareSweep(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused sweep wrote %s", out)
	}
}

func TestFormatIndices(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{{[]int{3}, "3"}, {[]int{4, 1, 2, 3, 7, 9, 10, 2}, "1-4,7,9-10"}, {nil, ""}} {
		if got := FormatIndices(c.in); got != c.want {
			t.Errorf("FormatIndices(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// fakeSlurm answers like Slurm's commands from canned outputs and logs
// the calls.
type fakeSlurm struct {
	out   map[string]string // "sbatch", "squeue", "scontrol 7", ...
	fail  map[string]string
	calls []string
}

func (f *fakeSlurm) slurm() *Slurm {
	return &Slurm{
		Run: func(name string, args ...string) ([]byte, error) {
			f.calls = append(f.calls, name+" "+strings.Join(args, " "))
			key := name
			if name == "scontrol" {
				key += " " + args[len(args)-1]
			}
			if msg, ok := f.fail[key]; ok {
				return nil, fmt.Errorf("%s: %s", name, msg)
			}
			if o, ok := f.out[key]; ok {
				return []byte(o), nil
			}
			return nil, fmt.Errorf("%s: Invalid job id specified", name)
		},
		LookPath: func(name string) bool {
			_, ok := f.out[name]
			_, bad := f.fail[name]
			return ok || bad || name == "scontrol"
		},
	}
}

// TestSweepStatus builds a sweep directory with a run in every state and
// checks Status against canned squeue / sacct / scontrol answers, then
// Resubmit.
func TestSweepStatus(t *testing.T) {
	ref := tinyRun(t, "[1, 2]")
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.yaml")
	os.WriteFile(spec, []byte(tinySpec("[1, 2]")), 0o644)
	out := filepath.Join(dir, "out")
	sw, err := PrepareSweep(SweepConfig{Spec: spec, Out: out, Binary: fakeBinary(t), MaxParallel: 3})
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := LoadSpec(spec)
	runs, _ := sp.Runs()
	d := func(i int) string { return runs[i].Dir(out) }
	// Run 0 is done; run 1 runs here (this process holds its lock); run
	// 2 failed with a record; run 3 is queued.
	copyDir(t, runs[0].Dir(ref), d(0))
	for _, i := range []int{1, 2} {
		os.MkdirAll(d(i), 0o755)
		os.WriteFile(filepath.Join(d(i), ManifestFile), readFile(t, filepath.Join(runs[i].Dir(ref), ManifestFile)), 0o644)
	}
	os.WriteFile(filepath.Join(d(1), "train.jsonl"), readFile(t, filepath.Join(runs[1].Dir(ref), "train.jsonl"))[:10], 0o644) // cut mid-line
	lk, err := lockRun(d(1))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.unlock()
	if err := writeFailure(d(2), currentHolder(), "run: loss is NaN at step 2"); err != nil {
		t.Fatal(err)
	}
	logLines := "mpanalyze sweep tiny: run 2\r\nbar 10%\rbar 50%\rbar 90%\nline 3\nline 4\n"
	os.WriteFile(filepath.Join(out, LogsDir, "7_2.out"), []byte(logLines), 0o644)
	os.WriteFile(filepath.Join(out, LogsDir, "7_1.out"), []byte("running\n"), 0o644)

	fk := &fakeSlurm{out: map[string]string{
		"sbatch": "7;cluster\n",
		"squeue": "7|1|RUNNING|node3|" + sw.Script + "\n8|3|PENDING|(Priority)|" + sw.Script + "\n" +
			"9|0|RUNNING|node4|/elsewhere/other.sbatch\n",
		"scontrol 7": "JobId=10 ArrayJobId=7 ArrayTaskId=2 JobState=FAILED ExitCode=1:0 Command=" + sw.Script + "\n" +
			"JobId=11 ArrayJobId=7 ArrayTaskId=0 JobState=COMPLETED ExitCode=0:0\n",
	}, fail: map[string]string{"sacct": "Slurm accounting storage is disabled"}}
	sl := fk.slurm()
	if job, err := sl.Submit(out, ""); err != nil || job != "7" {
		t.Fatalf("Submit: %q, %v", job, err)
	}
	if fk.calls[0] != "sbatch --parsable "+sw.Script {
		t.Errorf("sbatch call %q", fk.calls[0])
	}
	st, err := sl.Status(out, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 4 || st.Done != 1 || st.Running != 1 || st.Failed != 1 || st.Pending != 1 || !st.Queue ||
		st.Scheduler != "squeue, sacct unavailable (sacct: Slurm accounting storage is disabled), scontrol" || !slices.Equal(st.Jobs, []string{"7"}) {
		t.Errorf("status %+v", st)
	}
	r := st.Runs
	if r[0].State != StateDone || r[0].Detail != "3 steps, 2 snapshots" {
		t.Errorf("run 0: %+v", r[0])
	}
	if r[1].State != StateRunning || r[1].Job != "7_1" || r[1].Detail != "job 7_1 running on node3; step 0 of 3, 0 of 2 snapshots probed" {
		t.Errorf("run 1: %+v", r[1])
	}
	if r[2].State != StateFailed || r[2].Error != "run: loss is NaN at step 2" || r[2].JobState != "FAILED" ||
		r[2].Detail != "run: loss is NaN at step 2; job 7_2 FAILED (exit 1:0); step 0 of 3, 0 of 2 snapshots probed" ||
		r[2].Log != filepath.Join(out, LogsDir, "7_2.out") || !slices.Equal(r[2].LogTail, []string{"bar 90%", "line 3", "line 4"}) {
		t.Errorf("run 2: %+v", r[2])
	}
	if r[3].State != StatePending || !r[3].Queued || r[3].Detail != "queued as job 8_3 (Priority)" {
		t.Errorf("run 3: %+v", r[3])
	}
	// The JSON form names the states.
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"state":"failed"`) || !strings.Contains(string(b), `"log_tail":["bar 90%","line 3","line 4"]`) {
		t.Errorf("JSON %s", b)
	}

	// Resubmit takes the failed run, keeping the script's bound.
	fk.out["sbatch"] = "12\n"
	job, idx, err := sl.Resubmit(st)
	if err != nil || job != "12" || !slices.Equal(idx, []int{2}) || fk.calls[len(fk.calls)-1] != "sbatch --parsable --array=2%3 "+sw.Script {
		t.Errorf("Resubmit: %q %v %v; last call %q", job, idx, err, fk.calls[len(fk.calls)-1])
	}
	jobs, _ := ReadJobs(out)
	if len(jobs) != 2 || jobs[1].Job != "12" || jobs[1].Array != "2%3" || jobs[0].Array != "0-3%3" {
		t.Errorf("jobs %+v", jobs)
	}

	// Without Slurm: the lock says run 1 runs; run 3 has not started and
	// run 2's record still says why it failed. Once the lock is gone and
	// without a record, a started run is a failed one.
	none := (&fakeSlurm{}).slurm()
	none.LookPath = func(string) bool { return false }
	st, err = none.Status(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queue || !strings.HasPrefix(st.Scheduler, "none (squeue is not on PATH") || st.Runs[1].State != StateRunning ||
		!strings.HasPrefix(st.Runs[1].Detail, fmt.Sprintf("pid %d on ", os.Getpid())) || st.Runs[3].State != StatePending ||
		st.Runs[3].Detail != "not started" || st.Runs[2].State != StateFailed || st.Runs[2].LogTail != nil {
		t.Errorf("status without Slurm %+v", st.Runs)
	}
	lk.unlock()
	os.Remove(filepath.Join(d(2), FailedFile))
	st, _ = none.Status(out, 0)
	if st.Runs[1].State != StateFailed || !strings.HasPrefix(st.Runs[1].Detail, "stopped without finishing and without a failure record") {
		t.Errorf("run 1 after its process went: %+v", st.Runs[1])
	}
	// A run never started and not queued is resubmitted when squeue
	// answered.
	fk.out["squeue"] = ""
	fk.out["sbatch"] = "13"
	st, _ = sl.Status(out, 0)
	if st.Runs[3].State != StatePending || st.Runs[3].Detail != "not started; no task queued for it" {
		t.Errorf("run 3 unqueued: %+v", st.Runs[3])
	}
	if _, idx, err := sl.Resubmit(st); err != nil || !slices.Equal(idx, []int{1, 2, 3}) {
		t.Errorf("Resubmit: %v %v", idx, err)
	}

	// Errors name the directory.
	if _, err := sl.Status(dir, 0); err == nil || !strings.Contains(err.Error(), "has no experiment.json") {
		t.Errorf("status of a non-experiment: %v", err)
	}
	os.WriteFile(filepath.Join(out, JobsFile), []byte("{"), 0o644)
	if _, err := sl.Status(out, 0); err == nil || !strings.Contains(err.Error(), JobsFile) {
		t.Errorf("bad jobs file: %v", err)
	}
	fk.out["sbatch"] = "Submitted batch job 5"
	if _, err := sl.Submit(out, ""); err == nil || !strings.Contains(err.Error(), "not a job id") {
		t.Errorf("sbatch garbage: %v", err)
	}
	fk.fail["sbatch"] = "Invalid partition name specified"
	delete(fk.out, "sbatch")
	if _, err := sl.Submit(out, ""); err == nil || !strings.Contains(err.Error(), "Invalid partition name specified") {
		t.Errorf("sbatch failure: %v", err)
	}
	if _, err := (&Slurm{LookPath: func(string) bool { return false }}).Submit(out, ""); err == nil || !strings.Contains(err.Error(), "sbatch is not on PATH") {
		t.Errorf("no sbatch: %v", err)
	}
}

// TestSacctStates: sacct's answer, when accounting is on, gives the
// finished tasks' states ("CANCELLED by 0" reads CANCELLED).
func TestSacctStates(t *testing.T) {
	fk := &fakeSlurm{out: map[string]string{"squeue": "", "sacct": "40_0|COMPLETED|0:0\n40_1|CANCELLED by 0|0:15\n40_[2-3]|PENDING|0:0\n41|FAILED|1:0\n"}}
	tasks, queue, sched := fk.slurm().slurmTasks("/x/sweep.sbatch", map[int]bool{40: true})
	if !queue || sched != "squeue, sacct" || len(tasks[0]) != 1 || tasks[0][0].state != "COMPLETED" || len(tasks[1]) != 1 ||
		tasks[1][0].state != "CANCELLED" || tasks[1][0].why != "0:15" || len(tasks[2]) != 0 {
		t.Errorf("tasks %+v, queue %v, %q", tasks, queue, sched)
	}
	if !slices.ContainsFunc(fk.calls, func(c string) bool { return c == "sacct -n -P -X -j 40 -o JobID,State,ExitCode" }) {
		t.Errorf("calls %q", fk.calls)
	}
}
