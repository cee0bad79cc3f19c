package main

import (
	"fmt"
	"runtime"

	"github.com/mpanalyze/mpanalyze/experiments"
)

// traceFlagHelp is the help of compare's and plot's --trace.
const traceFlagHelp = "a trace to compare, as LABEL=TRACE (or TRACE, labelled by its file name); repeatable: traces with one label are seeds of it"

// loadTraceResults parses --trace values (LABEL=TRACE) and analyses the
// traces on all cores, saying on stderr what it had to decide.
func loadTraceResults(s *streams, args []string) (*experiments.Results, error) {
	var ts []experiments.LabeledTrace
	for _, a := range args {
		lt, err := experiments.ParseLabeledTrace(a)
		if err != nil {
			return nil, usageErrorf("--trace %q: %v", a, err)
		}
		ts = append(ts, lt)
	}
	rs, notes, err := experiments.LoadTraces(ts, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		fmt.Fprintf(s.Err, "note: %s\n", n)
	}
	return rs, nil
}

// checkTraceArgs refuses run directories next to --trace, a trace given
// as a run directory, and a snapshot other than the final one for traces.
func checkTraceArgs(runs, traces []string, snapshot string) error {
	if len(traces) == 0 {
		for _, r := range runs {
			if experiments.IsTracePath(r) {
				return usageErrorf("%s is a trace: give it as --trace LABEL=%s", r, r)
			}
		}
		if len(runs) == 0 {
			return usageErrorf("requires at least 1 arg (RUN...), or --trace LABEL=TRACE")
		}
		return nil
	}
	if len(runs) > 0 {
		return usageErrorf("give run directories or --trace, not both (an experiment's traces are in its runs' traces/ directories: give them as --trace)")
	}
	if snapshot != "final" {
		return usageErrorf("--snapshot %s: a trace is one checkpoint; leave --snapshot at final", snapshot)
	}
	return nil
}
