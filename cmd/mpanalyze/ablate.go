package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/limits"
)

func init() { register(newAblateCmd) }

type ablateOptions struct {
	Spec     string
	Out      string
	Index    int
	Steps    int
	Seeds    int
	Parallel int
	Workers  int
	TraceAll bool
	Float16  bool
	List     bool
	JSON     bool
	indexSet bool
	// Slurm sweeps (--slurm, --submit).
	Slurm, Submit bool
	Sweep         experiments.SweepConfig
	changed       func(string) bool
}

func newAblateCmd(s *streams) *cobra.Command {
	opts := &ablateOptions{}
	cmd := &cobra.Command{
		Use:   "ablate SPEC",
		Short: "Run an experiment spec: train, probe and evaluate every grid point and seed",
		Long: `ablate runs an experiment: SPEC is a built-in spec (` + strings.Join(experiments.Builtins(), ", ") + `)
or a YAML/JSON file (see experiments/specs/README.md). Every grid point is
trained once per seed into OUT/<point>/seed-<n>/ (manifest.json, run.json,
train.jsonl, checkpoints/, reports/, traces/, metrics.jsonl, DONE), probed
and evaluated on the validation images at each snapshot.

Rerunning skips finished runs and resumes unfinished ones. Runs are numbered
point-major: index = point·(number of seeds) + seed position; --list prints
them, and --index i runs run i alone (for cluster array jobs writing into
one OUT, or into several that 'compare' and 'plot' then merge). Runs train
one at a time on all cores (--parallel n trains n side by side).

--slurm writes OUT/sweep.sbatch instead: a Slurm array job, task i running
'ablate OUT/spec.yaml --out OUT --index i' (absolute paths; the spec copied
into OUT so that later edits do not reach running tasks), logs in OUT/logs/.
--submit also submits it. 'mpanalyze status OUT' follows the sweep; compare
and plot work on OUT while it runs (finished runs only).`,
		Example: `  mpanalyze ablate diagnosis
  mpanalyze ablate noise_ratio --steps 400 --seeds 1 --out runs/noise_ratio
  mpanalyze ablate my_spec.yaml --list
  mpanalyze ablate my_spec.yaml --index $SLURM_ARRAY_TASK_ID --out runs/mine
  mpanalyze ablate noise_type --out /shared/runs/noise --slurm --submit --time 2:00:00 --cpus-per-task 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Spec = args[0]
			opts.indexSet = cmd.Flags().Changed("index")
			opts.changed = cmd.Flags().Changed
			if opts.Slurm || opts.Submit {
				return runSweep(s, opts)
			}
			return runAblate(s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "output directory (default runs/<spec name>)")
	f.IntVar(&opts.Index, "index", 0, "run only run i (see --list)")
	f.IntVar(&opts.Steps, "steps", 0, "training steps (0 = the spec's base.steps)")
	f.IntVar(&opts.Seeds, "seeds", 0, "use seeds 1..n (0 = the spec's seeds)")
	f.IntVar(&opts.Parallel, "parallel", 0, "runs trained side by side, sharing --workers (0 = 1: one at a time on all cores)")
	f.IntVar(&opts.Workers, "workers", runtime.GOMAXPROCS(0), "cores to use in all (does not change results)")
	f.BoolVar(&opts.TraceAll, "trace-all", false, "write a trace at every snapshot, not only the final one")
	f.BoolVar(&opts.Float16, "float16", false, "store trace mask logits as float16 (half the size, same binary masks)")
	f.BoolVar(&opts.List, "list", false, "list the runs with their indices and exit")
	f.BoolVar(&opts.JSON, "json", false, "print JSON")
	f.BoolVar(&opts.Slurm, "slurm", false, "write OUT/sweep.sbatch, a Slurm array job of one task per run (--index i), instead of running")
	f.BoolVar(&opts.Submit, "submit", false, "with --slurm: submit it with sbatch and print the job id")
	f.StringVar(&opts.Sweep.Partition, "partition", "", "--slurm: partition (default: the cluster's)")
	f.StringVar(&opts.Sweep.Time, "time", "", "--slurm: time limit per run, e.g. 2:00:00 or 1-00:00 (default: the partition's)")
	f.IntVar(&opts.Sweep.CPUsPerTask, "cpus-per-task", 1, "--slurm: cores per run (each task's --workers)")
	f.StringVar(&opts.Sweep.Mem, "mem", "", "--slurm: memory per run, e.g. 8G (default: the partition's)")
	f.IntVar(&opts.Sweep.MaxParallel, "max-parallel", 0, "--slurm: most runs at once (the array's %K; 0 = no bound)")
	f.StringVar(&opts.Sweep.Binary, "binary", "", "--slurm: the mpanalyze the tasks run (default: this one; it must stay in place)")
	f.StringArrayVar(&opts.Sweep.SbatchArgs, "sbatch-arg", nil, "--slurm: a further sbatch option, e.g. --account=lab (repeatable)")
	cmd.MarkFlagsMutuallyExclusive("slurm", "list")
	limit(f, "index", limits.AtLeast(0))
	limit(f, "steps", limits.AtLeast(1).Or(0, "the spec's base.steps"))
	limit(f, "seeds", limits.Ints(1, 1000).Or(0, "the spec's seeds"))
	limit(f, "parallel", limits.Ints(1, 256).Or(0, "one run at a time"))
	limit(f, "workers", limits.Ints(1, 1024))
	limit(f, "cpus-per-task", limits.Ints(1, 1024))
	limit(f, "max-parallel", limits.Ints(1, 100000).Or(0, "no bound"))
	return cmd
}

// loadSpec reads the spec and applies --steps and --seeds.
func loadSpec(name string, steps, seeds int) (*experiments.Spec, error) {
	sp, err := experiments.LoadSpec(name)
	if err != nil {
		return nil, err
	}
	if steps > 0 {
		if sp, err = sp.WithSteps(steps); err != nil {
			return nil, err
		}
	}
	if seeds > 0 {
		if sp, err = sp.WithSeeds(seeds); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

type ablateRun struct {
	Index     int                   `json:"index"`
	Point     string                `json:"point"`
	Seed      uint64                `json:"seed"`
	Dir       string                `json:"dir"`
	Steps     int                   `json:"steps"`
	Snapshots []int                 `json:"snapshots"`
	Overrides experiments.Overrides `json:"overrides"`
}

func runAblate(s *streams, o *ablateOptions) error {
	sp, err := loadSpec(o.Spec, o.Steps, o.Seeds)
	if err != nil {
		return err
	}
	if o.Out == "" {
		o.Out = filepath.Join("runs", sp.Name)
	}
	runs, err := sp.Runs()
	if err != nil {
		return err
	}
	if o.List {
		var list []ablateRun
		for _, r := range runs {
			ov := r.Point.Set
			if ov == nil {
				ov = experiments.Overrides{}
			}
			list = append(list, ablateRun{r.Index, r.Point.Name, r.Seed, r.Dir(o.Out), r.Config.Train.Steps, r.Config.Snapshots, ov})
		}
		if o.JSON {
			return writeJSON(s.Out, map[string]any{"experiment": sp.Name, "runs": list})
		}
		fmt.Fprintf(s.Out, "%s: %d runs, point-major (index = point number × %d + seed number, from 0)\n", sp.Name, len(list), len(sp.Seeds))
		for _, r := range list {
			ov, _ := json.Marshal(r.Overrides)
			fmt.Fprintf(s.Out, "%3d  %-28s seed %-3d %5d steps  %s  %s\n", r.Index, r.Point, r.Seed, r.Steps, r.Dir, ov)
		}
		return nil
	}
	if err := outDir("out", o.Out); err != nil {
		return err
	}
	var idx []int
	if o.indexSet {
		if o.Index < 0 || o.Index >= len(runs) {
			return usageErrorf("--index %d: %s has %d runs (0..%d); see --list", o.Index, sp.Name, len(runs), len(runs)-1)
		}
		idx = []int{o.Index}
	}
	rn := &experiments.Runner{Spec: sp, Out: o.Out, Parallel: o.Parallel, Workers: o.Workers,
		TraceAll: o.TraceAll, Float16: o.Float16, Progress: s.Err}
	stop := recordInterrupts(s, rn)
	statuses, runErr := rn.Run(idx)
	stop()
	if statuses == nil && runErr != nil {
		return runErr
	}
	out := map[string]any{"experiment": sp.Name, "out": o.Out, "runs": statuses}
	allDone := runErr == nil && len(idx) == 0
	var rs *experiments.Results
	if allDone {
		if rs, err = experiments.Load(o.Out); err != nil {
			return err
		}
	}
	if o.JSON {
		var set []tables.Named
		if rs != nil {
			t, err := rs.AblationTable("final")
			if err != nil {
				return err
			}
			set = append(set, tables.Named{Key: "ablation", Table: t})
		}
		if err := tables.WriteSet(s.Out, set, "json", out); err != nil {
			return err
		}
		return runErr
	}
	for _, st := range statuses {
		line := fmt.Sprintf("%3d  %-28s seed %-3d %-8s %s", st.Index, st.Point, st.Seed, st.Status, st.Dir)
		if st.Error != "" {
			line += "  " + st.Error
		}
		fmt.Fprintln(s.Out, line)
	}
	if rs != nil {
		t, err := rs.AblationTable("final")
		if err != nil {
			return err
		}
		fmt.Fprintln(s.Out)
		if err := t.Render(s.Out, "text"); err != nil {
			return err
		}
		fmt.Fprintf(s.Out, "\nper-stage tables: mpanalyze compare %s\nplots: mpanalyze plot %s --out %s\n", o.Out, o.Out, filepath.Join(o.Out, "plots"))
	}
	return runErr
}

// recordInterrupts makes SIGTERM (scancel, a Slurm time limit, preemption)
// and Ctrl-C record in each running run's directory why it stopped, for
// `mpanalyze status`, before the process ends with the signal's exit
// status. The runs stay resumable. The returned function stops it.
func recordInterrupts(s *streams, rn *experiments.Runner) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			for _, d := range rn.Interrupted(fmt.Sprintf("stopped by signal %q (scancel, a time limit, preemption or Ctrl-C)", sig)) {
				fmt.Fprintf(s.Err, "%s: stopped by signal %q; rerun to resume it\n", d, sig)
			}
			os.Exit(experiments.SignalExitCode(sig))
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// runSweep writes (and with --submit submits) a Slurm array job of the
// spec's runs.
func runSweep(s *streams, o *ablateOptions) error {
	for _, f := range []string{"index", "list", "parallel", "workers"} {
		if o.changed(f) {
			return usageErrorf("--%s does not go with --slurm: every run is one array task (--cpus-per-task sets its cores)", f)
		}
	}
	if o.Sweep.CPUsPerTask < 1 {
		return usageErrorf("--cpus-per-task %d: want at least 1", o.Sweep.CPUsPerTask)
	}
	if o.Sweep.MaxParallel < 0 {
		return usageErrorf("--max-parallel %d: want 0 (no bound) or more", o.Sweep.MaxParallel)
	}
	if o.Steps < 0 || o.Seeds < 0 {
		return usageErrorf("--steps and --seeds must not be negative")
	}
	c := o.Sweep
	c.Spec, c.Out, c.Steps, c.Seeds, c.TraceAll, c.Float16 = o.Spec, o.Out, o.Steps, o.Seeds, o.TraceAll, o.Float16
	if c.Out == "" {
		sp, err := loadSpec(o.Spec, o.Steps, o.Seeds)
		if err != nil {
			return err
		}
		c.Out = filepath.Join("runs", sp.Name)
	}
	sw, err := experiments.PrepareSweep(c)
	if err != nil {
		return err
	}
	out := map[string]any{"sweep": sw}
	job := ""
	if o.Submit {
		if job, err = (&experiments.Slurm{}).Submit(sw.Out, ""); err != nil {
			return err
		}
		out["job"] = job
	}
	if o.JSON {
		return writeJSON(s.Out, out)
	}
	fmt.Fprintf(s.Out, "%s: %d runs as a Slurm array job (%s)\nscript: %s\nlogs:   %s\n", sw.Experiment, sw.Runs, sw.Array, sw.Script, sw.Logs)
	if job != "" {
		fmt.Fprintf(s.Out, "submitted: job %s\nfollow: mpanalyze status %s\n", job, sw.Out)
	} else {
		fmt.Fprintf(s.Out, "submit: sbatch %s   (or rerun with --submit)\n", sw.Script)
	}
	return nil
}
