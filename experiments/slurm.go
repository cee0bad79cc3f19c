package experiments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
)

// Files of a sweep's output directory (besides experiment.json and the
// run directories).
const (
	// SweepScript is the Slurm batch script of the array job.
	SweepScript = "sweep.sbatch"
	// PinnedSpec is the copy of the spec the array tasks read, so that
	// editing the original while the sweep runs changes nothing.
	PinnedSpec = "spec.yaml"
	// LogsDir holds one log per array task: <array job>_<task>.out.
	LogsDir = "logs"
	// JobsFile lists the jobs submitted for the sweep.
	JobsFile = "slurm-jobs.json"
)

// SweepConfig describes a sweep: the runs of an experiment as a Slurm
// array job, one task per run.
type SweepConfig struct {
	// Spec is the spec as ablate takes it: a file or a built-in name.
	Spec string
	// Out is the output directory; it must be on a file system that the
	// compute nodes share.
	Out string
	// Binary is the mpanalyze the tasks run; "" means this executable.
	// It must stay where it is until the sweep ends.
	Binary string
	// Steps and Seeds are ablate's --steps and --seeds (0: the spec's).
	Steps, Seeds int
	// TraceAll and Float16 are ablate's --trace-all and --float16.
	TraceAll, Float16 bool
	// Slurm resources; empty or 0 leaves Slurm's default, except
	// CPUsPerTask, which defaults to 1 and is also each task's --workers.
	Partition, Time, Mem string
	CPUsPerTask          int
	// MaxParallel bounds the tasks running at once (the array's %K); 0
	// means no bound.
	MaxParallel int
	// SbatchArgs are further sbatch options, one "#SBATCH" line each
	// (e.g. "--account=lab", "--qos=short").
	SbatchArgs []string
	// Workdir is the tasks' working directory, against which relative
	// paths in the spec (data files) resolve; "" means the current one.
	Workdir string
}

// Sweep is a prepared sweep.
type Sweep struct {
	Experiment string `json:"experiment"`
	Out        string `json:"out"`
	// Script is the batch script's path; Text its content.
	Script string `json:"script"`
	Text   string `json:"-"`
	// Spec is the pinned spec file the tasks read.
	Spec string `json:"spec"`
	// Runs is the number of runs, Array the script's --array.
	Runs  int    `json:"runs"`
	Array string `json:"array"`
	// Logs is the per-task log pattern (%A: array job, %a: task).
	Logs string `json:"logs"`
	// Command is the command line of task $SLURM_ARRAY_TASK_ID.
	Command []string `json:"command"`
}

var (
	slurmTime = regexp.MustCompile(`^(\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2})$`)
	slurmMem  = regexp.MustCompile(`^\d+[KMGT]?$`)
	plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:=,+@%-]+$`)
)

// check validates the Slurm options, naming the flag at fault.
func (c *SweepConfig) check() error {
	switch {
	case c.Time != "" && !slurmTime.MatchString(c.Time):
		return fmt.Errorf("experiments: --time %q: want minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS", c.Time)
	case c.Mem != "" && !slurmMem.MatchString(c.Mem):
		return fmt.Errorf("experiments: --mem %q: want a size such as 4000, 8G or 512M", c.Mem)
	case c.Partition != "" && !plainWord.MatchString(c.Partition):
		return fmt.Errorf("experiments: --partition %q: want a partition name (or a comma-separated list)", c.Partition)
	case c.CPUsPerTask < 0:
		return fmt.Errorf("experiments: --cpus-per-task %d: want at least 1", c.CPUsPerTask)
	case c.MaxParallel < 0:
		return fmt.Errorf("experiments: --max-parallel %d: want 0 (no bound) or more", c.MaxParallel)
	case c.Steps < 0 || c.Seeds < 0:
		return errors.New("experiments: --steps and --seeds must not be negative")
	}
	for _, a := range c.SbatchArgs {
		if !strings.HasPrefix(a, "-") || strings.ContainsAny(a, "\n\r") {
			return fmt.Errorf("experiments: --sbatch-arg %q: want one sbatch option such as --account=lab", a)
		}
	}
	return nil
}

// PrepareSweep writes a sweep into c.Out: the pinned copy of the spec
// (spec.yaml), experiment.json, logs/ and sweep.sbatch, an array job with
// one task per run, task i running
//
//	mpanalyze ablate OUT/spec.yaml --out OUT --index i --workers CPUS
//
// with absolute paths. Preparing again with the same spec leaves the
// directory as it is (the script is rewritten); a different spec in the
// same directory is refused.
func PrepareSweep(c SweepConfig) (*Sweep, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.CPUsPerTask == 0 {
		c.CPUsPerTask = 1
	}
	bin, err := sweepBinary(c.Binary)
	if err != nil {
		return nil, err
	}
	out, wd, err := c.sweepDirs()
	if err != nil {
		return nil, err
	}
	// Read the spec as ablate would, and check it before writing anything.
	orig, err := LoadSpec(c.Spec)
	if err != nil {
		return nil, err
	}
	src, err := specBytes(c.Spec, orig)
	if err != nil {
		return nil, err
	}
	if c.Steps > 0 {
		if _, err := orig.WithSteps(c.Steps); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(out, LogsDir), 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	pinned := filepath.Join(out, PinnedSpec)
	sp, err := c.pinSpec(pinned, src, orig.Source, out)
	if err != nil {
		return nil, err
	}
	runs, err := sp.Runs()
	if err != nil {
		return nil, err
	}
	// The tasks find experiment.json as they would write it and leave it.
	if err := (&Runner{Spec: sp, Out: out}).writeExperiment(runs); err != nil {
		return nil, err
	}
	sw := &Sweep{Experiment: sp.Name, Out: out, Script: filepath.Join(out, SweepScript), Spec: pinned, Runs: len(runs),
		Array: fmt.Sprintf("0-%d", len(runs)-1), Logs: filepath.Join(out, LogsDir, "%A_%a.out")}
	if c.MaxParallel > 0 {
		sw.Array += "%" + strconv.Itoa(c.MaxParallel)
	}
	sw.Command = c.taskCommand(bin, pinned, out)
	sw.Text = sweepScript(sw, &c, orig.Source, wd)
	if err := atomicfile.WriteBytes(sw.Script, []byte(sw.Text)); err != nil {
		return nil, err
	}
	if err := os.Chmod(sw.Script, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	return sw, nil
}

// sweepDirs returns the absolute output directory and the working
// directory of the tasks (Workdir, or the current one); neither may hold
// a character an #SBATCH line cannot carry.
func (c *SweepConfig) sweepDirs() (out, wd string, err error) {
	if c.Out == "" {
		return "", "", errors.New("experiments: a sweep needs an output directory (--out)")
	}
	out, err = filepath.Abs(c.Out)
	if err != nil {
		return "", "", fmt.Errorf("experiments: --out: %w", err)
	}
	wd = c.Workdir
	if wd == "" {
		if wd, err = os.Getwd(); err != nil {
			return "", "", fmt.Errorf("experiments: %w", err)
		}
	}
	for _, p := range []struct{ what, path string }{{"--out", out}, {"the working directory", wd}} {
		if strings.ContainsAny(p.path, " \t\n\r'\"\\") {
			return "", "", fmt.Errorf("experiments: %s %q has a space, quote or backslash, which #SBATCH lines cannot carry; use another directory", p.what, p.path)
		}
	}
	return out, wd, nil
}

// pinSpec writes the spec's bytes src to pinned (the sweep's own copy)
// unless it is there already — another spec there is an error — and
// loads it back with the sweep's step and seed overrides.
func (c *SweepConfig) pinSpec(pinned string, src []byte, source, out string) (*Spec, error) {
	if have, err := os.ReadFile(pinned); err == nil {
		if !bytes.Equal(have, src) {
			return nil, fmt.Errorf("experiments: %s holds another spec than %s (the sweep already in %s); use another --out", pinned, source, out)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("experiments: %w", err)
	} else if _, err := atomicfile.WriteNew(pinned, src); err != nil {
		return nil, err
	}
	sp, err := LoadSpec(pinned)
	if err != nil {
		return nil, err
	}
	if c.Steps > 0 {
		if sp, err = sp.WithSteps(c.Steps); err != nil {
			return nil, err
		}
	}
	if c.Seeds > 0 {
		if sp, err = sp.WithSeeds(c.Seeds); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// taskCommand is the command each array task runs: bin ablate on the
// pinned spec, its task id as the run index, with the sweep's options.
func (c *SweepConfig) taskCommand(bin, pinned, out string) []string {
	cmd := []string{bin, "ablate", pinned, "--out", out, "--index", "$SLURM_ARRAY_TASK_ID", "--workers", strconv.Itoa(c.CPUsPerTask)}
	if c.Steps > 0 {
		cmd = append(cmd, "--steps", strconv.Itoa(c.Steps))
	}
	if c.Seeds > 0 {
		cmd = append(cmd, "--seeds", strconv.Itoa(c.Seeds))
	}
	if c.TraceAll {
		cmd = append(cmd, "--trace-all")
	}
	if c.Float16 {
		cmd = append(cmd, "--float16")
	}
	return cmd
}

// specBytes returns the bytes LoadSpec parsed, checked against its hash
// (the file may have changed in between).
func specBytes(arg string, sp *Spec) ([]byte, error) {
	var b []byte
	var err error
	if name, ok := strings.CutPrefix(sp.Source, "builtin:"); ok {
		b, err = BuiltinSource(name)
	} else {
		b, err = os.ReadFile(sp.Source)
	}
	if err != nil {
		return nil, fmt.Errorf("experiments: spec %s: %w", arg, err)
	}
	if sp2, err := ParseSpec(b, sp.Source); err != nil || sp2.SHA256 != sp.SHA256 {
		return nil, fmt.Errorf("experiments: spec %s changed while it was read; try again", arg)
	}
	return b, nil
}

// sweepBinary resolves the mpanalyze the tasks run to an absolute path of
// an executable file that outlives this process.
func sweepBinary(bin string) (string, error) {
	what := "--binary " + bin
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("experiments: cannot find this executable (%v); pass --binary", err)
		}
		bin, what = exe, "this mpanalyze ("+exe+")"
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			bin = resolved
		}
		tmp, _ := filepath.EvalSymlinks(os.TempDir())
		if strings.Contains(bin, string(filepath.Separator)+"go-build") && tmp != "" && strings.HasPrefix(bin, tmp) {
			return "", fmt.Errorf("experiments: %s is a temporary build of `go run` or `go test`, deleted when it exits; build one that stays (go build -o ~/bin/mpanalyze ./cmd/mpanalyze) and run that, or pass --binary", what)
		}
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", fmt.Errorf("experiments: %s: %w", what, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("experiments: %s: %w", what, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("experiments: %s is not an executable file", what)
	}
	if strings.ContainsAny(abs, "\n\r") {
		return "", fmt.Errorf("experiments: %s: the path has a line break", what)
	}
	return abs, nil
}

// shellQuote quotes s for bash when it needs it; "$VAR" words stay
// expandable.
func shellQuote(s string) string {
	if strings.HasPrefix(s, "$") && plainWord.MatchString(s[1:]) {
		return `"` + s + `"`
	}
	if s != "" && plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sweepScript is the text of sweep.sbatch.
func sweepScript(sw *Sweep, c *SweepConfig, source, wd string) string {
	var b strings.Builder
	q := func(s string) string { return strings.ReplaceAll(s, "%", "%%") } // Slurm file name patterns
	fmt.Fprintf(&b, "#!/bin/bash\n")
	fmt.Fprintf(&b, "# mpanalyze sweep %q: %d runs; array task i runs run i\n", sw.Experiment, sw.Runs)
	fmt.Fprintf(&b, "# (mpanalyze ablate %s --list names them).\n", sw.Spec)
	fmt.Fprintf(&b, "# Spec: %s, pinned as %s.\n", source, sw.Spec)
	fmt.Fprintf(&b, "# Written by `mpanalyze ablate --slurm`. Submit: sbatch %s\n", sw.Script)
	fmt.Fprintf(&b, "# Follow:   mpanalyze status %s\n", sw.Out)
	fmt.Fprintf(&b, "# Resubmit: mpanalyze status %s --resubmit (or sbatch --array=I,J this file);\n", sw.Out)
	fmt.Fprintf(&b, "# finished runs are skipped, unfinished ones resume from their last checkpoint.\n")
	fmt.Fprintf(&b, "#SBATCH --job-name=mpanalyze-%s\n", sw.Experiment)
	fmt.Fprintf(&b, "#SBATCH --array=%s\n", sw.Array)
	fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", c.CPUsPerTask)
	if c.Partition != "" {
		fmt.Fprintf(&b, "#SBATCH --partition=%s\n", c.Partition)
	}
	if c.Time != "" {
		fmt.Fprintf(&b, "#SBATCH --time=%s\n", c.Time)
	}
	if c.Mem != "" {
		fmt.Fprintf(&b, "#SBATCH --mem=%s\n", c.Mem)
	}
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", q(filepath.Join(sw.Out, LogsDir))+"/%A_%a.out")
	fmt.Fprintf(&b, "#SBATCH --open-mode=append\n")
	fmt.Fprintf(&b, "#SBATCH --chdir=%s\n", q(wd))
	for _, a := range c.SbatchArgs {
		fmt.Fprintf(&b, "#SBATCH %s\n", a)
	}
	fmt.Fprintf(&b, "set -eu\n")
	fmt.Fprintf(&b, "echo \"mpanalyze sweep %s: run ${SLURM_ARRAY_TASK_ID} (job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}) on $(hostname) at $(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)\"\n", sw.Experiment)
	var words []string
	for _, w := range sw.Command {
		words = append(words, shellQuote(w))
	}
	fmt.Fprintf(&b, "exec %s\n", strings.Join(words, " "))
	return b.String()
}

// Slurm runs Slurm's commands (sbatch, squeue, sacct, scontrol).
type Slurm struct {
	// Run runs a command and returns its standard output; nil runs it
	// with os/exec, with the command's standard error in the error.
	Run func(name string, args ...string) ([]byte, error)
	// LookPath reports whether a command is installed; nil uses
	// exec.LookPath.
	LookPath func(name string) bool
}

func (s *Slurm) run(name string, args ...string) ([]byte, error) {
	if s != nil && s.Run != nil {
		return s.Run(name, args...)
	}
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return out, fmt.Errorf("%s: %s", name, msg)
	}
	return out, nil
}

func (s *Slurm) has(name string) bool {
	if s != nil && s.LookPath != nil {
		return s.LookPath(name)
	}
	_, err := exec.LookPath(name)
	return err == nil
}

// SubmittedJob is one submission of a sweep, as slurm-jobs.json lists it.
type SubmittedJob struct {
	Job   string `json:"job"`
	Array string `json:"array"`
	Time  string `json:"time"`
}

var jobIDRe = regexp.MustCompile(`^(\d+)(;\S+)?$`)

// Submit submits the sweep's script with sbatch (array overrides the
// script's --array when not empty: "1,3", "2-5%2"), records the job in
// OUT/slurm-jobs.json and returns its id.
func (s *Slurm) Submit(out, array string) (string, error) {
	script := filepath.Join(out, SweepScript)
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("experiments: %s: no sweep script (%v); write it with `mpanalyze ablate SPEC --out %s --slurm`", out, err, out)
	}
	if !s.has("sbatch") {
		return "", errors.New("experiments: sbatch is not on PATH: submit from a machine with Slurm's client commands")
	}
	args := []string{"--parsable"}
	if array != "" {
		args = append(args, "--array="+array)
	}
	b, err := s.run("sbatch", append(args, script)...)
	if err != nil {
		return "", fmt.Errorf("experiments: submitting %s: %w", script, err)
	}
	id := strings.TrimSpace(string(b))
	m := jobIDRe.FindStringSubmatch(id)
	if m == nil {
		return "", fmt.Errorf("experiments: sbatch printed %q, not a job id", id)
	}
	id = m[1]
	if array == "" {
		array = scriptArray(script)
	}
	jobs, err := ReadJobs(out)
	if err != nil {
		return id, err
	}
	jobs = append(jobs, SubmittedJob{Job: id, Array: array, Time: time.Now().UTC().Format(time.RFC3339)})
	bj, _ := json.MarshalIndent(jobs, "", "  ")
	if err := atomicfile.WriteBytes(filepath.Join(out, JobsFile), append(bj, '\n')); err != nil {
		return id, fmt.Errorf("experiments: job %s submitted but not recorded: %w", id, err)
	}
	return id, nil
}

// scriptArray reads the --array of a sweep script.
func scriptArray(script string) string {
	b, _ := os.ReadFile(script)
	for _, l := range strings.Split(string(b), "\n") {
		if a, ok := strings.CutPrefix(l, "#SBATCH --array="); ok {
			return a
		}
	}
	return ""
}

// ReadJobs reads OUT/slurm-jobs.json; none when missing.
func ReadJobs(out string) ([]SubmittedJob, error) {
	b, err := os.ReadFile(filepath.Join(out, JobsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	var jobs []SubmittedJob
	if err := json.Unmarshal(b, &jobs); err != nil {
		return nil, fmt.Errorf("experiments: %s: %v", filepath.Join(out, JobsFile), err)
	}
	return jobs, nil
}

// FormatIndices writes run indices as an sbatch --array list ("1,3-5").
func FormatIndices(idx []int) string {
	s := append([]int(nil), idx...)
	sort.Ints(s)
	s = slices.Compact(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		} else {
			parts = append(parts, strconv.Itoa(s[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
