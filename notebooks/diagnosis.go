package notebooks

import (
	"fmt"
	"io"
	"math"

	"github.com/mpanalyze/mpanalyze/experiments"
	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/plots"
)

// tiny are the overrides that shrink a built-in spec so that a notebook
// trains in seconds: 64 px scenes, a narrow model, batch 4.
var tiny = []experiments.Override{
	{Key: "image_size", Value: 64}, {Key: "queries", Value: 8}, {Key: "hidden", Value: 32}, {Key: "ffn", Value: 64},
	{Key: "heads", Value: 4}, {Key: "backbone_widths", Value: []any{16, 16, 32, 32}}, {Key: "pixel_dim", Value: 32},
	{Key: "mask_dim", Value: 32}, {Key: "batch", Value: 4},
}

// Diagnosis is the diagnosis notebook: the built-in diagnosis spec, shrunk,
// trained, probed and read.
func Diagnosis(nb *Notebook) {
	var (
		spec *experiments.Spec
		out  string
		rs   *experiments.Results
	)
	nb.Text(`
		This notebook runs the diagnosis of the MP-Former paper — are a
		Mask2Former decoder's masks consistent from one layer to the next, and
		how early does each query settle on its object? — on a model small
		enough to train in seconds, and shows how to read what comes out. The
		numbers of a model this small, trained this briefly, say little about
		the models themselves; ` + "`mpanalyze reproduce`" + ` runs the same
		pipeline at the real size (see the README for its figures). What this
		notebook shows is the method and the reading.

		## The experiment

		The built-in spec ` + "`diagnosis`" + ` trains Mask2Former and MP-Former
		(the release settings: one MP group, GT masks at all 9 layers, label
		flip 0.2, no mask noise) from the same seed, data and schedule, and
		probes each at 25 %, 50 % and 100 % of the steps. We shrink it: a
		narrow model, 64 px scenes, 120 steps, 16 validation images.`)
	nb.Cell(func(w io.Writer) error {
		var err error
		if spec, err = experiments.LoadSpec("diagnosis"); err != nil {
			return err
		}
		for _, o := range tiny {
			if spec, err = spec.WithSet(o.Key, o.Value); err != nil {
				return err
			}
		}
		if spec, err = spec.WithData("size", 64); err != nil {
			return err
		}
		if spec, err = spec.WithSteps(120); err != nil {
			return err
		}
		spec.Base.ValImages = 16
		runs, err := spec.Runs()
		if err != nil {
			return err
		}
		for _, r := range runs {
			m := r.Config.Model
			fmt.Fprintf(w, "run %d: %-11s seed %d  %d steps, snapshots at steps %v, %d stages, MP noise %q, label noise %g\n",
				r.Index, r.Point.Name, r.Seed, r.Config.Train.Steps, r.Config.Snapshots, m.NumStages(), m.MP.Noise, m.MP.LabelNoise)
		}
		return nil
	})
	nb.Text(`
		(Mask2Former ignores the MP settings; they are listed because both
		models are built from one config type.) The runner trains each run
		into ` + "`OUT/<point>/seed-<n>/`" + `, probes every snapshot checkpoint
		on the validation images and writes the run's ` + "`metrics.jsonl`" + `.
		It trains one run at a time on all cores (` + "`Parallel`" + ` trains
		several side by side); the results do not depend on either.`)
	nb.Cell(func(w io.Writer) error {
		out = nb.Dir + "/diagnosis"
		statuses, err := (&experiments.Runner{Spec: spec, Out: out}).Run(nil)
		if err != nil {
			return err
		}
		for _, st := range statuses {
			fmt.Fprintf(w, "%-11s seed %d: %s → %s\n", st.Point, st.Seed, st.Status, nb.Rel(st.Dir))
		}
		rs, err = experiments.Load(out)
		return err
	})
	nb.Text(`
		## Stage by stage

		The diagnosis table puts the two models side by side, one row per
		decoder stage (stage s is the prediction after s layers; stage 0 is the
		heads applied to the learnable queries). **cons. IoU** on row s is the
		mean IoU between a query's binary mask (logit > 0, at stride 4) at stage
		s and at stage s+1, over the queries matched to a GT segment at the last
		stage: 100 % means the next layer leaves the mask as it is. **Util-A**
		is the share of those GT segments that stage s already matches to the
		query that ends up with them; it is 100 % at the last stage by
		definition.`)
	nb.Cell(func(w io.Writer) error {
		t, err := rs.DiagnosisTable("final", nil)
		if err != nil {
			return err
		}
		return t.Render(w, "text")
	})
	nb.Text(`
		MP-Former's consistency advantage is expected to be largest early in
		training ([docs/papers.md](../docs/papers.md#small-scale)), so the same
		table at the first snapshot:`)
	nb.Cell(func(w io.Writer) error {
		t, err := rs.DiagnosisTable("0.25", nil)
		if err != nil {
			return err
		}
		return t.Render(w, "text")
	})
	nb.Text(`
		## What the tables show

		Counting, rather than eyeballing, where MP-Former is ahead — and the
		one-line verdict ` + "`mpanalyze reproduce`" + ` prints, at every snapshot:`)
	nb.Cell(func(w io.Writer) error {
		for _, f := range rs.Fractions() {
			sel := fmt.Sprint(f)
			m2f, mpf := stageRows(rs, "mask2former", sel), stageRows(rs, "mpformer", sel)
			m2fCons, mpfCons := m2f.Figures["consecutive_iou"], mpf.Figures["consecutive_iou"]
			m2fUtil, mpfUtil := m2f.Figures["util_a"], mpf.Figures["util_a"]
			consAhead, utilAhead := 0, 0
			for s := range len(m2fCons) {
				if mpfCons[s] > m2fCons[s] {
					consAhead++
				}
			}
			for s := range len(m2fUtil) - 1 { // the last stage is 100 % for both
				if mpfUtil[s] > m2fUtil[s] {
					utilAhead++
				}
			}
			c, err := rs.Compare("mask2former", "mpformer", sel)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "at %.0f %% of training: MP-Former ahead in consecutive IoU at %d of %d stage pairs, in Util-A at %d of %d stages\n  %s\n",
				100*f, consAhead, len(m2fCons), utilAhead, len(m2fUtil)-1, c.Verdict())
		}
		return nil
	})
	nb.Text(`
		Whatever the direction, a tiny model after 120 steps is far from
		converged: its task metrics are near zero, and the stage figures of a
		model that has not learned its objects mostly measure how its noise
		changes between layers. Read these numbers as a demonstration of the
		pipeline; the comparison that means something is the one at the real
		size.`)
	nb.Cell(func(w io.Writer) error {
		t, err := rs.AccuracyTable("final")
		if err != nil {
			return err
		}
		return t.Render(w, "text")
	})
	nb.Text(`
		## The curves

		The same per-stage figures as lines, one per model (with several seeds,
		a band of ± one standard deviation). A dip between two stages marks the
		layer that redraws the masks most.`)
	nb.Cell(func(w io.Writer) error {
		var series []plots.StageSeries
		for _, label := range rs.Labels() {
			r := stageRows(rs, label, "final")
			series = append(series, plots.StageSeries{Label: label, Seeds: [][]float64{r.Figures["consecutive_iou"]}, StageLayers: r.StageLayers})
		}
		fig := plots.StageCurves(series, &plots.StageSettings{Title: "Consecutive-stage IoU (tiny models, 120 steps)",
			YLabel: "IoU of stage s and s+1 masks", Pairs: true, Percent: true})
		return fig.Save(nb.FigurePath("consecutive_iou.png"))
	})
	nb.Figure("consecutive IoU per stage pair", "consecutive_iou.png")
	nb.Text(`
		` + "`mpanalyze plot`" + ` draws this figure and the others (Util-A/B/C,
		the stage × stage IoU heat map, the mask evolution of the least
		consistent queries, the training curves) for any experiment directory.

		## The raw figures

		Every run directory holds ` + "`metrics.jsonl`" + `: one JSON object per
		(snapshot, stage) and one per snapshot, each naming its experiment,
		point, seed, model, step and fraction, for jq or pandas. Reading the
		stage-0 Util-A of every snapshot of MP-Former:`)
	nb.Cell(func(w io.Writer) error {
		for _, r := range rs.Runs {
			if r.Label != "mpformer" {
				continue
			}
			lines, err := readJSONLines(r.Dir + "/metrics.jsonl")
			if err != nil {
				return err
			}
			for _, l := range lines {
				if l["kind"] == "stage" && l["stage"] == 0.0 {
					fmt.Fprintf(w, "step %v (fraction %v): util_a %v, consecutive_iou %v\n", l["step"], l["fraction"], l["util_a"], l["consecutive_iou"])
				}
			}
		}
		return nil
	})
}

// stageRows is the per-stage figures of one configuration's first seed.
func stageRows(rs *experiments.Results, label, sel string) tables.RunStages {
	for _, r := range rs.Runs {
		if r.Label == label {
			rep, err := r.Snapshot(sel)
			if err != nil {
				break
			}
			return tables.FromProbeReport(label, &rep.Probe, metrics.FinalMatched)
		}
	}
	nan := metrics.Series{math.NaN()}
	return tables.RunStages{Model: label, Figures: map[string]metrics.Series{"consecutive_iou": nan, "util_a": nan}}
}
