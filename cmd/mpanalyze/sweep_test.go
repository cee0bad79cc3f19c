package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/experiments"
)

// sweepSpecYAML is tinySpecYAML trained long enough (40 steps, a
// checkpoint every 2) for a task to be stopped in the middle.
var sweepSpecYAML = strings.Replace(strings.Replace(tinySpecYAML, "steps: 3", "steps: 40", 1), "batch: 2}", "batch: 2, ckpt_every: 2}", 1)

// startTask runs task i of a sweep script as Slurm would (its output
// appended to logs/<job>_<i>.out), with this test binary as mpanalyze.
func startTask(t *testing.T, script, out string, job, i int) (*exec.Cmd, *os.File) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(out, "logs", itoa(job)+"_"+itoa(i)+".out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), asBinaryEnv+"=1", "SLURM_ARRAY_TASK_ID="+itoa(i), "SLURM_ARRAY_JOB_ID="+itoa(job))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, log
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestSweepTasksWithoutSlurm runs a sweep's batch script the way Slurm
// runs an array job — four tasks at once into one directory — stops one
// with SIGTERM in the middle of training (as scancel does), checks status,
// compare and plot on the half-finished sweep, runs the task again, and
// checks that the results equal a local ablate of the same spec byte for
// byte. .ci/slurm-test.sh does the same under a real Slurm.
func TestSweepTasksWithoutSlurm(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(spec, []byte(sweepSpecYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sweep")
	stdout, errOut, code := runCLI(t, "ablate", spec, "--out", out, "--slurm", "--binary", os.Args[0], "--max-parallel", "2", "--json")
	if code != 0 {
		t.Fatalf("ablate --slurm: exit %d\n%s", code, errOut)
	}
	var prep struct{ Sweep experiments.Sweep }
	if err := json.Unmarshal([]byte(stdout), &prep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	script := prep.Sweep.Script
	if prep.Sweep.Runs != 4 || script != filepath.Join(out, "sweep.sbatch") {
		t.Fatalf("sweep %+v", prep.Sweep)
	}

	// All four tasks at once; task 1 gets SIGTERM after its first
	// checkpoint.
	const job = 500
	cmds := make([]*exec.Cmd, 4)
	for i := range 4 {
		var log *os.File
		cmds[i], log = startTask(t, script, out, job, i)
		defer log.Close()
	}
	ckpt := filepath.Join(out, "mask2former", "seed-2", "checkpoints", "latest.npz")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("task 1 wrote no checkpoint in 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmds[1].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, c := range cmds {
		err := c.Wait()
		var ee *exec.ExitError
		if i == 1 {
			if !errors.As(err, &ee) || ee.ExitCode() != 143 {
				t.Fatalf("task 1 after SIGTERM: %v, want exit status 143", err)
			}
		} else if err != nil {
			t.Fatalf("task %d: %v\n%s", i, err, readLog(t, out, job, i))
		}
	}
	if _, err := os.Stat(filepath.Join(out, "mask2former", "seed-2", experiments.DoneFile)); err == nil {
		t.Fatal("task 1 finished before SIGTERM reached it; the test did not stop it mid-run")
	}

	// status, without any Slurm command on PATH: from the directories.
	oldPath := os.Getenv("PATH")
	os.Setenv("PATH", t.TempDir())
	stdout, errOut, code = runCLI(t, "status", out, "--json", "--log-lines", "3")
	os.Setenv("PATH", oldPath)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	var st struct{ Status experiments.SweepStatus }
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	r1 := st.Status.Runs[1]
	if st.Status.Done != 3 || st.Status.Failed != 1 || r1.State != "failed" || !strings.Contains(r1.Detail, `stopped by signal "terminated"`) ||
		r1.Trained < 2 || r1.Trained >= 40 || r1.Log != filepath.Join(out, "logs", "500_1.out") || len(r1.LogTail) != 3 ||
		!strings.Contains(r1.LogTail[2], `stopped by signal "terminated"; rerun to resume it`) {
		t.Errorf("status after SIGTERM: %+v\nrun 1: %+v", st.Status, r1)
	}
	stdout, _, _ = runCLI(t, "status", out)
	if !strings.Contains(stdout, "4 runs: 3 done, 0 running, 1 failed, 0 pending") || !strings.Contains(stdout, "last lines of "+r1.Log) {
		t.Errorf("status text:\n%s", stdout)
	}

	// compare and plot on the unfinished sweep: the finished runs, said so.
	stdout, errOut, code = runCLI(t, "compare", out, "--format", "json")
	if code != 0 || !json.Valid([]byte(stdout)) || !strings.Contains(errOut, "mask2former/seed-2 is not finished; left out") ||
		!strings.Contains(errOut, "note: finished runs only: 3 of 4 (1 unfinished, 0 not started)") {
		t.Errorf("compare mid-sweep: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCLI(t, "plot", out, "--out", filepath.Join(dir, "plots"), "--format", "svg")
	if code != 0 || !strings.Contains(errOut, "finished runs only: 3 of 4") {
		t.Errorf("plot mid-sweep: exit %d\n%s", code, errOut)
	}

	// The task again (a resubmission): it resumes.
	c, log := startTask(t, script, out, job+1, 1)
	defer log.Close()
	if err := c.Wait(); err != nil {
		t.Fatalf("task 1 again: %v\n%s", err, readLog(t, out, job+1, 1))
	}
	if l := readLog(t, out, job+1, 1); !strings.Contains(l, "resuming mask2former for 40 steps") {
		t.Errorf("task 1 did not resume:\n%s", l)
	}
	if _, err := os.Stat(filepath.Join(out, "mask2former", "seed-2", experiments.FailedFile)); err == nil {
		t.Errorf("the failure record outlived the successful attempt")
	}

	// A local ablate of the same spec gives the same bytes.
	local := filepath.Join(dir, "local")
	if _, errOut, code := runCLI(t, "ablate", spec, "--out", local); code != 0 {
		t.Fatalf("local ablate: exit %d\n%s", code, errOut)
	}
	want, _, _ := runCLI(t, "compare", local, "--format", "json")
	got, errOut, _ := runCLI(t, "compare", out, "--format", "json")
	if got != want || errOut != "" {
		t.Errorf("compare of the sweep differs from the local run's (stderr %q)", errOut)
	}
	for _, run := range []string{"mask2former/seed-1", "mask2former/seed-2", "mpformer/seed-1", "mpformer/seed-2"} {
		for _, f := range []string{"metrics.jsonl", "train.jsonl", "checkpoints/latest.npz", "checkpoints/step-000040.npz", "traces/step-000040.npz"} {
			a, err1 := os.ReadFile(filepath.Join(local, run, f))
			b, err2 := os.ReadFile(filepath.Join(out, run, f))
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Errorf("%s/%s differs between the sweep and the local run (%v, %v)", run, f, err1, err2)
			}
		}
	}
}

func readLog(t *testing.T, out string, job, i int) string {
	b, _ := os.ReadFile(filepath.Join(out, "logs", itoa(job)+"_"+itoa(i)+".out"))
	return string(b)
}

func TestSweepFlagErrors(t *testing.T) {
	spec := writeTiny(t)
	out := filepath.Join(t.TempDir(), "o")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ablate", spec, "--slurm", "--index", "1", "--out", out}, 2, "--index does not go with --slurm"},
		{[]string{"ablate", spec, "--slurm", "--workers", "2", "--out", out}, 2, "--workers does not go with --slurm"},
		{[]string{"ablate", spec, "--slurm", "--cpus-per-task", "0", "--out", out}, 2, "--cpus-per-task 0"},
		{[]string{"ablate", spec, "--slurm", "--out", out}, 1, "temporary build of `go run` or `go test`"},
		{[]string{"ablate", spec, "--slurm", "--time", "soon", "--binary", os.Args[0], "--out", out}, 1, `--time "soon"`},
		{[]string{"status", t.TempDir()}, 1, "has no experiment.json"},
		{[]string{"status", out, "--log-lines", "-1"}, 2, "--log-lines -1"},
	} {
		_, errOut, code := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
