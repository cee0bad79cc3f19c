package plots_test

import (
	"log"

	"github.com/mpanalyze/mpanalyze/plots"
	"github.com/mpanalyze/mpanalyze/probes"
)

// From the probe reports of several seeds of two models to the
// consecutive-IoU curves and one model's stage × stage heat map.
func ExampleStageCurves() {
	var m2f, mpf []probes.Report // one report per seed, e.g. from probes.Evaluator.Result

	series := func(label string, reps []probes.Report) plots.StageSeries {
		s := plots.StageSeries{Label: label}
		for _, r := range reps {
			s.Seeds = append(s.Seeds, r.Layer.Consecutive.FinalMatched.Mean)
			s.StageLayers = nil
			for st := range r.Layer.NumStages {
				s.StageLayers = append(s.StageLayers, r.Run.Layers(st))
			}
		}
		return s
	}
	if len(m2f) == 0 || len(mpf) == 0 {
		return // no data in this example
	}
	fig := plots.StageCurves([]plots.StageSeries{series("Mask2Former", m2f), series("MP-Former", mpf)},
		&plots.StageSettings{Title: "Consecutive-stage IoU", YLabel: "IoU with next stage", Pairs: true, Percent: true})
	if err := fig.Save("consecutive_iou.png"); err != nil {
		log.Fatal(err)
	}

	r := m2f[0]
	m := make([][]float64, len(r.Layer.Matrix))
	for i, row := range r.Layer.Matrix {
		m[i] = row
	}
	panel := plots.HeatmapPanel{Title: "Mask2Former, seed 1", M: m, StageLayers: series("", m2f).StageLayers}
	if err := plots.Heatmap([]plots.HeatmapPanel{panel}, nil).Save("iou_matrix.pdf"); err != nil {
		log.Fatal(err)
	}
}

// Training curves of a run from plain series: the step panels take one
// point per step, the validation panels one per evaluation (fractions).
func ExampleTrainingCurves() {
	run := plots.TrainRun{Label: "mask2former seed 1", Series: map[string]plots.Points{}}
	loss, pq := run.Series["loss"], run.Series["pq"]
	for step := 0; step < 100; step++ {
		loss.Add(float64(step), 10/float64(step+1))
	}
	pq.Add(50, 0.31)
	pq.Add(100, 0.42)
	run.Series["loss"], run.Series["pq"] = loss, pq
	fig := plots.TrainingCurves([]plots.TrainRun{run}, &plots.TrainingSettings{Panels: []string{"loss", "pq"}})
	_ = fig // fig.Save("training.png")
}
