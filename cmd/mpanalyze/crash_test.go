package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/internal/crashpoint"
	"github.com/mpanalyze/mpanalyze/run"
)

var crashKills = flag.Int("crash-kills", 6, "kills at random moments in TestCrashConsistency (on top of its planned ones); raise it for a longer search")

// child is the outcome of one mpanalyze process.
type child struct {
	killed bool // ended by SIGKILL
	code   int
	stderr string
}

// runChild runs mpanalyze with args in dir as a process of its own (the
// test binary, see TestMain). crashAt arms a crash point
// (internal/crashpoint); killAfter > 0 sends SIGKILL after that long.
func runChild(t *testing.T, dir string, args []string, crashAt string, killAfter time.Duration) child {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw), crashpoint.Env+"="+crashAt)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Kill() })
		defer timer.Stop()
	}
	cmd.Wait()
	st := cmd.ProcessState
	return child{killed: !st.Exited(), code: st.ExitCode(), stderr: errOut.String()}
}

// crashTrain are the flags of the crash tests' run: 12 steps of a tiny
// model, a checkpoint every 3 steps, a validation at step 6 and at the end.
var crashTrain = append([]string{"train", "--out", "run", "--steps", "12", "--ckpt-every", "3", "--eval-every", "6",
	"--n", "16", "--val-n", "2", "--eval-images", "2"}, tinyModel...)

// TestCrashConsistency kills training runs with SIGKILL — at planned
// points (while run.json, a checkpoint or the train.jsonl rewrite is being
// written, before a finished checkpoint is renamed, during a periodic
// validation and during the final one) and at random moments — resumes
// each with `train --out run --resume` alone, and checks that every run
// ends with the run.json, train.jsonl and checkpoint of the uninterrupted
// run, byte for byte, and without leftover files. -crash-kills sets the
// number of random kills.
func TestCrashConsistency(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	ref := t.TempDir()
	t0 := time.Now()
	if c := runChild(t, ref, crashTrain, "", 0); c.code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", c.code, c.stderr)
	}
	refTime := time.Since(t0)
	resume := []string{"train", "--out", "run", "--resume"}
	kills := 0

	// Planned kills, each at a known state of the run.
	dir := t.TempDir()
	for i, p := range []struct {
		args    []string
		crashAt string
		state   string // what the kill interrupts
	}{
		{crashTrain, "partial:run.json@1", "the first write of run.json"},
		{crashTrain, "partial:latest.npz@1", "the first checkpoint write (step 3), part of the file on disk"},
		{resume, "before-rename:latest.npz@2", "the second checkpoint (step 6), complete but not renamed; resumed from step 0"},
		{resume, "eval@1", "the validation at step 6"},
		{resume, "eval@1", "the validation at step 6 run again on resume"},
		{resume, "partial:train.jsonl@1", "the rewrite of train.jsonl on resume"},
		{resume, "before-rename:latest.npz@2", "the checkpoint at step 12, not renamed (latest is step 9)"},
		{resume, "eval@1", "the final validation, after the checkpoint at step 12"},
		{resume, "eval@1", "the final validation run again on resume"},
	} {
		c := runChild(t, dir, append(slices.Clone(p.args), "--workers", []string{"1", "2"}[i%2]), p.crashAt, 0)
		if !c.killed {
			t.Fatalf("planned kill %d (%s at %s) did not happen: exit %d: %s", i, p.crashAt, p.state, c.code, c.stderr)
		}
		kills++
		if i == 8 {
			// The final validation was killed twice: the checkpoint is the
			// last one and the log lacks the final validation.
			ck, err := run.LoadCheckpoint(filepath.Join(dir, "run", run.LatestCkpt))
			if err != nil || ck.Step != 12 {
				t.Fatalf("after the final-validation kills: checkpoint step %v, %v; want 12", ck.Step, err)
			}
			if log, err := run.ReadTrainLog(filepath.Join(dir, "run", run.LogFile)); err != nil || log.HasEval(12) {
				t.Fatalf("after the final-validation kills the log has the final validation (%v)", err)
			}
		}
	}
	finish(t, dir, resume)
	sameRun(t, ref, dir)

	// Kills at random moments of a run from scratch.
	dir = t.TempDir()
	r := rand.New(rand.NewPCG(16, uint64(*crashKills)))
	random := 0
	for done := false; !done; {
		args := resume
		if _, err := os.Stat(filepath.Join(dir, "run", run.ConfigFile)); err != nil {
			args = crashTrain // killed before run.json existed
		}
		after := time.Duration(0)
		if random < *crashKills {
			after = time.Duration(r.Float64() * 0.7 * float64(refTime))
		}
		c := runChild(t, dir, args, "", after)
		switch {
		case c.killed:
			kills++
			random++
		case c.code == 0:
			done = true
		default:
			t.Fatalf("%v: exit %d: %s", args, c.code, c.stderr)
		}
	}
	sameRun(t, ref, dir)
	t.Logf("%d kills (9 planned, %d at random moments within %v); every run ended as the uninterrupted one", kills, random, (refTime * 7 / 10).Round(time.Millisecond))
}

// finish resumes the run in dir until it exits 0.
func finish(t *testing.T, dir string, args []string) {
	t.Helper()
	c := runChild(t, dir, args, "", 0)
	if c.code != 0 {
		t.Fatalf("%v: exit %d: %s", args, c.code, c.stderr)
	}
}

// sameRun compares the run directories ref/run and dir/run: the same files
// (no leftovers), each byte-identical.
func sameRun(t *testing.T, ref, dir string) {
	t.Helper()
	a, b := listFiles(t, filepath.Join(ref, "run")), listFiles(t, filepath.Join(dir, "run"))
	if !slices.Equal(a, b) {
		t.Fatalf("files differ from the uninterrupted run's:\n%v\n%v", b, a)
	}
	for _, f := range a {
		x, _ := os.ReadFile(filepath.Join(ref, "run", f))
		y, _ := os.ReadFile(filepath.Join(dir, "run", f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs from the uninterrupted run's", f)
		}
	}
}

// listFiles lists the files under root, relative, sorted.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// crashSpec is a one-run experiment whose run checkpoints every step and
// is probed and evaluated at steps 1 and 3.
const crashSpec = `name: crash
base:
  steps: 3
  val_images: 2
  data: {size: 64}
  snapshots: [0.34, 1]
  set: {image_size: 64, queries: 8, hidden: 32, ffn: 64, heads: 4, backbone_widths: [16, 16, 32, 32], pixel_dim: 32, mask_dim: 32, batch: 2, ckpt_every: 1}
grid:
  - name: mpformer
    set: {arch: mpformer}
seeds: [1]
`

// TestCrashConsistencyAblate kills an ablate run (training, snapshot
// checkpoints, probing, traces, reports, metrics.jsonl) at planned points
// and random moments, reruns it each time, and checks that it ends with
// the files of the uninterrupted run: byte-identical, except the wall-time
// fields ("seconds") of the reports, the DONE marker and the run lock
// (experiments.LockFile, which names the process that held it).
func TestCrashConsistencyAblate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	setup := func() string {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "spec.yaml"), []byte(crashSpec), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	args := []string{"ablate", "spec.yaml", "--out", "exp", "--workers", "2"}
	ref := setup()
	t0 := time.Now()
	if c := runChild(t, ref, args, "", 0); c.code != 0 {
		t.Fatalf("uninterrupted ablate: exit %d: %s", c.code, c.stderr)
	}
	refTime := time.Since(t0)
	kills := 0
	r := rand.New(rand.NewPCG(17, 1))
	at := func(f float64) time.Duration { return time.Duration(f * float64(refTime)) }
	for _, plan := range [][]any{
		// Planned points: a snapshot checkpoint half written, the first
		// and the second evaluation of an invocation (validation and
		// probing), the writes of a report and of metrics.jsonl.
		{"partial:step-000001.npz@1", "eval@1", "partial:step-000001.json@1", "eval@2", "partial:metrics.jsonl@1", "before-rename:metrics.jsonl@1"},
		// Random moments.
		{at(0.1 + 0.8*r.Float64()), at(0.1 + 0.8*r.Float64()), at(0.1 + 0.8*r.Float64())},
	} {
		dir := setup()
		for _, p := range plan {
			crashAt, after := "", time.Duration(0)
			switch x := p.(type) {
			case string:
				crashAt = x
			case time.Duration:
				after = x
			}
			c := runChild(t, dir, args, crashAt, after)
			if c.code != 0 && !c.killed {
				t.Fatalf("ablate: exit %d: %s", c.code, c.stderr)
			}
			if !c.killed {
				t.Logf("ablate finished before the kill %q%v", crashAt, after)
				break
			}
			t.Logf("ablate killed at %q%v", crashAt, after)
			kills++
		}
		finish(t, dir, args)
		sameExperiment(t, ref, dir)
	}
	if kills < 6 {
		t.Errorf("only %d kills", kills)
	}
	t.Logf("%d kills; every experiment ended as the uninterrupted one", kills)
}

// sameExperiment compares the experiment directories ref/exp and dir/exp:
// the same files (no leftovers), byte-identical except the wall-time
// fields ("seconds") of the reports, the DONE marker and the run lock
// (experiments.LockFile, which names the process that held it).
func sameExperiment(t *testing.T, ref, dir string) {
	t.Helper()
	a, b := listFiles(t, filepath.Join(ref, "exp")), listFiles(t, filepath.Join(dir, "exp"))
	if !slices.Equal(a, b) {
		t.Fatalf("files differ from the uninterrupted run's:\n%v\n%v", b, a)
	}
	for _, f := range a {
		x, _ := os.ReadFile(filepath.Join(ref, "exp", f))
		y, _ := os.ReadFile(filepath.Join(dir, "exp", f))
		switch {
		case filepath.Base(f) == "DONE", filepath.Base(f) == experiments.LockFile:
		case strings.Contains(f, "reports"+string(filepath.Separator)):
			if !reflect.DeepEqual(withoutSeconds(t, x), withoutSeconds(t, y)) {
				t.Errorf("%s differs from the uninterrupted run's (wall times aside)", f)
			}
		case !bytes.Equal(x, y):
			t.Errorf("%s differs from the uninterrupted run's", f)
		}
	}
}

// withoutSeconds decodes a JSON document and drops every "seconds" field.
func withoutSeconds(t *testing.T, b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "seconds")
			for _, e := range x {
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	return v
}
