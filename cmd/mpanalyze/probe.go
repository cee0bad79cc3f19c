package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/internal/progress"
	"github.com/mpanalyze/mpanalyze/probes"
	"github.com/mpanalyze/mpanalyze/run"
)

func init() { register(newProbeCmd) }

type probeOptions struct {
	ckptData
	Out        string
	Float16    bool
	Compact    bool
	Compress   bool
	NoMatching bool
	JSON       bool
}

func newProbeCmd(s *streams) *cobra.Command {
	opts := &probeOptions{}
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Record every decoder stage of a checkpoint on a dataset into a trace",
		Long: `probe runs a checkpoint in inference mode (no MP queries) on a dataset and
records, for every image and every decoder stage (stage 0 = the heads on the
learnable queries), each query's stride-4 mask logits, class logits, the
attention mask the next layer uses, and the stage's Hungarian matching to the
ground truth (training cost), with the GT coverage that matching used. The
trace is an .npz that numpy opens plus a JSON sidecar (probes/TRACE.md);
'mpanalyze analyze TRACE' turns it into the per-stage table. --compact keeps
binary masks instead of logits (under 1 MB per COCO-size image instead of
278 MB).`,
		Example: `  mpanalyze probe --checkpoint runs/m2f/checkpoints/latest.npz --out traces/m2f
  mpanalyze probe --checkpoint runs/m2f/checkpoints/latest.npz --out traces/m2f_compact --compact
  mpanalyze analyze traces/m2f`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runProbe(s, opts) },
	}
	f := cmd.Flags()
	addCkptDataFlags(f, &opts.ckptData, runtime.GOMAXPROCS(0))
	f.StringVar(&opts.Out, "out", "", "trace path (writes PATH.npz and PATH.json; required)")
	f.BoolVar(&opts.Float16, "float16", false, "store mask logits as float16 (half the size; same binary masks); with --compact, keep them so")
	f.BoolVar(&opts.Compact, "compact", false, "write the compact layout: run-length encoded binary masks, float16 class logits, no mask logits (unless --float16)")
	f.BoolVar(&opts.Compress, "compress", false, "deflate the trace's entries (smaller, slower to write and read)")
	f.BoolVar(&opts.NoMatching, "no-matching", false, "skip the per-stage Hungarian matchings (faster; Util and matching metrics undefined)")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	return cmd
}

func runProbe(s *streams, o *probeOptions) error {
	if o.Out == "" {
		return usageErrorf("--out is required")
	}
	ck, ds, err := o.open()
	if err != nil {
		return err
	}
	trace, _ := probes.TracePaths(o.Out)
	if err := outFile("out", trace); err != nil {
		return err
	}
	w := probes.NewTraceWriter(o.Out, &probes.TraceSettings{Float16: o.Float16, Compact: o.Compact, Compress: o.Compress})
	ev := &probes.Evaluator{}
	n := ds.Len()
	if o.Images > 0 {
		n = min(n, o.Images)
	}
	bar := progress.New(s.Err, "probe", n)
	rep, err := run.Evaluate(ck.Model, ds, run.EvalOptions{
		Images: o.Images, Workers: o.Workers, Checkpoint: o.Checkpoint, Seed: ck.Seed(),
		SkipMatching: o.NoMatching,
		Probe:        probes.Multi{w, ev},
		Progress:     func(done, total int) { bar.Update(done, "") },
	})
	if err != nil {
		w.Abort()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	npz, side := probes.TracePaths(o.Out)
	if o.JSON {
		return writeJSON(s.Out, map[string]any{"trace": npz, "sidecar": side, "eval": rep, "layers": ev.Report()})
	}
	fmt.Fprintf(s.Out, "trace: %s (+ %s), %d images × %d stages\n", npz, side, rep.Images, ck.Model.Cfg.NumStages())
	printEval(s, rep)
	fmt.Fprintf(s.Out, "per-stage table: mpanalyze analyze %s\n", o.Out)
	return nil
}
