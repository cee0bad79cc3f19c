package experiments

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

// LabeledTrace is a trace with the label that names it in tables and
// figures. Traces with one label are seeds of one configuration.
type LabeledTrace struct {
	Label string
	// Path is the trace: <name>.npz, <name>.json, <name>, or a directory
	// holding trace.npz (probes.TracePaths).
	Path string
}

// ParseLabeledTrace reads a --trace argument: "LABEL=PATH", or a bare
// PATH (labelled by its file name without .npz, or by the directory's
// name for <dir>/trace.npz). A path that exists is taken whole, so that a
// bare path may contain "="; otherwise the text before the first "=" is
// the label (a label cannot contain "=").
func ParseLabeledTrace(arg string) (LabeledTrace, error) {
	if arg == "" {
		return LabeledTrace{}, fmt.Errorf("empty; want LABEL=TRACE or TRACE")
	}
	if npz, _ := probes.TracePaths(arg); fileExists(npz) || !strings.Contains(arg, "=") {
		return LabeledTrace{Label: traceName(npz), Path: arg}, nil
	}
	label, path, _ := strings.Cut(arg, "=")
	label = strings.TrimSpace(label)
	switch {
	case label == "":
		return LabeledTrace{}, fmt.Errorf("no label before '='; want LABEL=TRACE")
	case path == "":
		return LabeledTrace{}, fmt.Errorf("no trace after '='; want LABEL=TRACE")
	}
	return LabeledTrace{Label: label, Path: path}, nil
}

// traceName is the default label of a trace: its file name without .npz,
// or the directory's name for <dir>/trace.npz.
func traceName(npz string) string {
	name := strings.TrimSuffix(filepath.Base(npz), ".npz")
	if name == "trace" {
		if d := filepath.Base(filepath.Dir(npz)); d != "." && d != string(filepath.Separator) {
			return d
		}
	}
	return name
}

// LoadTraces analyses traces (probes.TraceReader.Analyze with workers) and
// returns them as Results, one run per trace with one snapshot (the
// trace's report, at fraction 1: "final"), labelled by their labels, in
// argument order. Each run's seed is the trace's recorded seed, unless two
// traces of one label record the same seed (recorders that record none
// write 0): then that label's traces are numbered 1, 2, … in argument
// order, and a note says so. The runs have no task metrics and no
// training log: Tables gives the per-stage table and a summary, Figures
// the per-stage figures, the IoU heat maps and the mask evolution (on a
// grey image: a trace does not hold the input image).
//
// It fails on a trace that cannot be read or holds no image, a trace
// given twice, traces of one label with different stages, and traces
// measured at different mask strides.
func LoadTraces(traces []LabeledTrace, workers int) (*Results, []string, error) {
	if len(traces) == 0 {
		return nil, nil, fmt.Errorf("experiments: no trace")
	}
	rs := &Results{}
	var notes []string
	given := map[string]string{}
	for _, lt := range traces {
		r, err := probes.OpenTrace(lt.Path, nil)
		if err != nil {
			return nil, nil, err
		}
		rep, err := r.Analyze(0, workers)
		info := r.Info()
		npz, _ := r.Paths()
		r.Close()
		if err != nil {
			return nil, nil, err
		}
		abs, _ := filepath.Abs(npz)
		if prev, ok := given[abs]; ok {
			return nil, nil, fmt.Errorf("experiments: trace %s is given twice (%s, then %s)", npz, prev, lt.Path)
		}
		given[abs] = lt.Path
		if rep.Images == 0 || rep.Layer.NumStages == 0 {
			return nil, nil, fmt.Errorf("experiments: trace %s holds no image; nothing to compare", npz)
		}
		if len(rs.Runs) > 0 {
			first := rs.Runs[0]
			if s := first.Reports[0].Probe.Run.MaskStride; s != info.MaskStride {
				return nil, nil, fmt.Errorf("experiments: traces %s (mask stride %d) and %s (mask stride %d) were measured at different resolutions; they cannot be compared",
					first.Trace, s, npz, info.MaskStride)
			}
		}
		rs.Runs = append(rs.Runs, &Result{
			Dir:      filepath.Dir(npz),
			Label:    lt.Label,
			Trace:    npz,
			Manifest: &Manifest{Experiment: "traces", Point: lt.Label, Seed: info.Seed},
			Reports: []*SnapshotReport{{Fraction: 1, Trace: strings.TrimSuffix(filepath.Base(npz), ".npz"),
				Probe: rep}},
		})
	}
	for _, label := range rs.Labels() {
		var runs []*Result
		seeds := map[uint64]bool{}
		dup := false
		for _, r := range rs.Runs {
			if r.Label != label {
				continue
			}
			if len(runs) > 0 && !slices.Equal(stageLayers(&runs[0].Reports[0].Probe), stageLayers(&r.Reports[0].Probe)) {
				return nil, nil, fmt.Errorf("experiments: traces labelled %s have different stages (%s: layers %v; %s: %v); give them different labels",
					label, runs[0].Trace, stageLayers(&runs[0].Reports[0].Probe), r.Trace, stageLayers(&r.Reports[0].Probe))
			}
			dup = dup || seeds[r.Manifest.Seed]
			seeds[r.Manifest.Seed] = true
			runs = append(runs, r)
		}
		if dup {
			for i, r := range runs {
				r.Manifest.Seed = uint64(i + 1)
			}
			notes = append(notes, fmt.Sprintf("the %d traces labelled %s record the same seed; they are numbered 1..%d in the order given", len(runs), label, len(runs)))
		}
	}
	return rs, notes, nil
}

// fromTraces reports whether the results were loaded from traces.
func (rs *Results) fromTraces() bool {
	return len(rs.Runs) > 0 && rs.Runs[0].Trace != ""
}

// traceTables are the tables of traces: the per-stage table and a summary
// (per label: images, GT segments, the means over stages of consecutive
// IoU and Util-A, mean ± sd over seeds).
func (rs *Results) traceTables(sel string, cols []string) ([]tables.Named, error) {
	diag, err := rs.DiagnosisTable(sel, cols)
	if err != nil {
		return nil, err
	}
	var runs []tables.AblationRun
	for _, r := range rs.Runs {
		rep := r.Reports[0]
		runs = append(runs, tables.AblationRun{
			Point: []tables.Param{{Key: "model", Value: r.Label}},
			Seed:  r.Manifest.Seed,
			Metrics: append(tables.StageMetrics(metrics.Summarize(rep.Probe.Figures())),
				tables.Metric{Name: "images", Value: float64(rep.Probe.Images), Kind: tables.Count},
				tables.Metric{Name: "GT segments", Value: float64(rep.Probe.Layer.GT), Kind: tables.Count}),
		})
	}
	sum := tables.Ablation(runs, &tables.AblationSettings{Title: "Traces (cons. IoU and Util-A are means over stages)"})
	var files []string
	for _, r := range rs.Runs {
		files = append(files, fmt.Sprintf("%s seed %s: %s", r.Label, strconv.FormatUint(r.Manifest.Seed, 10), r.Trace))
	}
	sum.Notes = append(sum.Notes, "Traces — "+strings.Join(files, "; ")+".")
	return []tables.Named{{Key: "diagnosis", Table: diag}, {Key: "summary", Table: sum}}, nil
}

// IsTracePath reports whether path names a trace (its .npz exists).
func IsTracePath(path string) bool {
	npz, _ := probes.TracePaths(path)
	st, err := os.Stat(npz)
	return err == nil && st.Mode().IsRegular()
}
