package experiments

import (
	"math"
	"testing"

	"github.com/mpanalyze/mpanalyze/plots"
)

// The text alternatives carry the plotted numbers: means over seeds,
// labelled by decoder layers.
func TestFigureAlt(t *testing.T) {
	ser := []plots.StageSeries{
		// seeds (0.5, 0.7) and (0.9, math.NaN): means 0.7 and 0.9 (NaN left out)
		{Label: "a", Seeds: [][]float64{{0.5, 0.9}, {0.7, math.NaN()}}, StageLayers: []int{0, 1, 2}},
	}
	got := stageAlt("T", ser, true)
	want := "T. One line per configuration over the stage pair (decoder layers applied), mean over 2 seeds. a: 0→1 60.0 %, 1→2 90.0 %."
	if got != want {
		t.Errorf("stageAlt:\n got %q\nwant %q", got, want)
	}
	m := [][]float64{{1, 0.25, 0.5}, {0.25, 1, 0.75}, {0.5, 0.75, 1}}
	got = heatmapAlt("H", []plots.HeatmapPanel{{Title: "A", M: m, StageLayers: []int{1, 2, 3}}}, false)
	want = "H. Cell (i, j) is the mean IoU of a query's masks at stages i and j. A: With the next stage: 1→2 25.0 %, 2→3 75.0 %. With the last stage: 1 50.0 %, 2 75.0 %."
	if got != want {
		t.Errorf("heatmapAlt:\n got %q\nwant %q", got, want)
	}
	d := [][]float64{{0, -0.05}, {-0.05, 0}}
	got = heatmapAlt("D", []plots.HeatmapPanel{{M: d}}, true)
	want = "D. Cell (i, j) is the difference of the mean IoU of a query's masks at stages i and j, in percentage points. With the next stage: 0→1 -5.0 pp. With the last stage: 0 -5.0 pp."
	if got != want {
		t.Errorf("heatmapAlt (diff):\n got %q\nwant %q", got, want)
	}
	run := plots.TrainRun{Label: "r", Series: map[string]plots.Points{
		"loss": {X: []float64{1, 2}, Y: []float64{4, 2}},
		"pq":   {X: []float64{2}, Y: []float64{0.5}},
		"ap":   {X: []float64{2}, Y: []float64{-1}},
		"miou": {X: []float64{2}, Y: []float64{0.25}},
	}}
	got = trainingAlt([]plots.TrainRun{run})
	// k = max(1, min(20, 2/10)) = 1 step at each end.
	want = "Training loss against the step (per step and a moving average) and the validation scores. " +
		"r: loss of the matching queries 4 (mean of steps 1–1) to 2 (steps 2–2); validation at step 2: PQ 50.0 %, mask AP –, mIoU 25.0 %."
	if got != want {
		t.Errorf("trainingAlt:\n got %q\nwant %q", got, want)
	}
}
