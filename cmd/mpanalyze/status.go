package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/internal/limits"
)

func init() { register(newStatusCmd) }

type statusOptions struct {
	Out      string
	Lines    int
	Resubmit bool
	JSON     bool
}

func newStatusCmd(s *streams) *cobra.Command {
	opts := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status OUT",
		Short: "State of an experiment's runs: done, running, failed, pending (Slurm sweeps too)",
		Long: `status reads an experiment's output directory (written by ablate, locally or
as a Slurm sweep with --slurm) and says of every run whether it is done,
running, failed or pending, from the run directories (DONE, the lock a
running run holds, the FAILED record of a failed or interrupted run,
train.jsonl and the snapshot reports) and, where Slurm's commands are
installed, from squeue (queued and running tasks) and sacct (or scontrol,
without accounting) for finished tasks. Failed runs show the last lines of
their task's log.

--resubmit submits the failed runs (and, when squeue answers, the runs
neither started nor queued) again as one array job of OUT/sweep.sbatch:
they resume from their last checkpoint.`,
		Example: `  mpanalyze status runs/noise_type
  mpanalyze status runs/noise_type --json
  mpanalyze status runs/noise_type --resubmit`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Out = args[0]
			return runStatus(s, opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Lines, "log-lines", 10, "log lines shown per failed run")
	limit(f, "log-lines", limits.Ints(0, 100000))
	f.BoolVar(&opts.Resubmit, "resubmit", false, "submit the failed (and unqueued pending) runs again with sbatch")
	f.BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func runStatus(s *streams, o *statusOptions) error {
	if o.Lines < 0 {
		return usageErrorf("--log-lines %d: want 0 or more", o.Lines)
	}
	sl := &experiments.Slurm{}
	st, err := sl.Status(o.Out, o.Lines)
	if err != nil {
		return err
	}
	var job string
	var resubmitted []int
	if o.Resubmit {
		if job, resubmitted, err = sl.Resubmit(st); err != nil {
			return err
		}
	}
	if o.JSON {
		out := map[string]any{"status": st}
		if o.Resubmit {
			out["resubmitted"] = map[string]any{"job": job, "runs": resubmitted}
		}
		return writeJSON(s.Out, out)
	}
	fmt.Fprintf(s.Out, "%s (%s): %d runs: %d done, %d running, %d failed, %d pending\n", st.Experiment, st.Out, st.Total, st.Done, st.Running, st.Failed, st.Pending)
	fmt.Fprintf(s.Out, "Slurm: %s", st.Scheduler)
	if len(st.Jobs) > 0 {
		fmt.Fprintf(s.Out, "; jobs %s", strings.Join(st.Jobs, ", "))
	}
	fmt.Fprintln(s.Out)
	for _, r := range st.Runs {
		line := fmt.Sprintf("%3d  %-24s seed %-3d %-8s", r.Index, r.Point, r.Seed, r.State)
		if r.Detail != "" {
			line += " " + r.Detail
		}
		fmt.Fprintln(s.Out, line)
		if len(r.LogTail) > 0 {
			fmt.Fprintf(s.Out, "       last lines of %s:\n", r.Log)
			for _, l := range r.LogTail {
				fmt.Fprintf(s.Out, "       | %s\n", l)
			}
		}
	}
	if o.Resubmit {
		fmt.Fprintf(s.Out, "resubmitted runs %s as job %s\n", experiments.FormatIndices(resubmitted), job)
	} else if st.Failed > 0 {
		fmt.Fprintf(s.Out, "resubmit the failed runs: mpanalyze status %s --resubmit\n", st.Out)
	}
	return nil
}
