package experiments

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/plots"
)

// Text alternatives of the figures (Figure.Alt): what a figure shows, in
// words and numbers, for readers who cannot see it (screen readers, the
// report's figure captions).

// pctText writes a fraction as a percentage with one decimal, "–" for NaN.
func pctText(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + " %"
}

// stageName names stage s (pairs: the pair s, s+1) by decoder layers.
func stageName(layers []int, s int, pairs bool) string {
	l := func(i int) string {
		if i < len(layers) {
			return strconv.Itoa(layers[i])
		}
		return strconv.Itoa(i)
	}
	if pairs {
		return l(s) + "→" + l(s+1)
	}
	return l(s)
}

// stageAlt lists each series' mean over seeds at every stage (or pair).
func stageAlt(title string, series []plots.StageSeries, pairs bool) string {
	var parts []string
	seeds := 0
	for _, ser := range series {
		seeds = max(seeds, len(ser.Seeds))
		var vals []string
		for s := range ser.Seeds[0] {
			col := make([]float64, len(ser.Seeds))
			for k, v := range ser.Seeds {
				col[k] = v[s]
			}
			m, _, _ := metrics.MeanSD(col)
			vals = append(vals, stageName(ser.StageLayers, s, pairs)+" "+pctText(m))
		}
		parts = append(parts, ser.Label+": "+strings.Join(vals, ", "))
	}
	what := "stage (decoder layers applied)"
	if pairs {
		what = "stage pair (decoder layers applied)"
	}
	note := ""
	if seeds > 1 {
		note = fmt.Sprintf(", mean over %d seeds", seeds)
	}
	return fmt.Sprintf("%s. One line per configuration over the %s%s. %s.", title, what, note, strings.Join(parts, "; "))
}

// heatmapAlt gives, for each panel, the value of each stage with the
// next and with the last: mean IoUs, or differences in percentage points
// with diff.
func heatmapAlt(title string, panels []plots.HeatmapPanel, diff bool) string {
	val := pctText
	what := "Cell (i, j) is the mean IoU of a query's masks at stages i and j."
	if diff {
		val = ppText
		what = "Cell (i, j) is the difference of the mean IoU of a query's masks at stages i and j, in percentage points."
	}
	var parts []string
	for _, p := range panels {
		m, layers := p.M, p.StageLayers
		n := len(m)
		var next, last []string
		for s := 0; s+1 < n; s++ {
			next = append(next, stageName(layers, s, true)+" "+val(m[s][s+1]))
			last = append(last, stageName(layers, s, false)+" "+val(m[s][n-1]))
		}
		text := fmt.Sprintf("With the next stage: %s. With the last stage: %s.", strings.Join(next, ", "), strings.Join(last, ", "))
		if p.Title != "" {
			text = p.Title + ": " + text
		}
		parts = append(parts, text)
	}
	return fmt.Sprintf("%s. %s %s", title, what, strings.Join(parts, " "))
}

// ppText writes a difference of fractions in percentage points with a
// sign and one decimal, "–" for NaN.
func ppText(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	s := strconv.FormatFloat(100*v, 'f', 1, 64)
	if v >= 0 {
		s = "+" + s
	}
	return s + " pp"
}

// trainingAlt gives each run's loss at the start and end of training and
// its last validation scores.
func trainingAlt(runs []plots.TrainRun) string {
	var parts []string
	for _, r := range runs {
		var p []string
		if st := r.Series["loss"]; len(st.X) > 0 {
			k := max(1, min(20, len(st.X)/10))
			mean := func(y []float64) float64 { m, _, _ := metrics.MeanSD(y); return m }
			n := len(st.X)
			p = append(p, fmt.Sprintf("loss of the matching queries %.3g (mean of steps %.0f–%.0f) to %.3g (steps %.0f–%.0f)",
				mean(st.Y[:k]), st.X[0], st.X[k-1], mean(st.Y[n-k:]), st.X[n-k], st.X[n-1]))
		}
		if pq := r.Series["pq"]; len(pq.X) > 0 {
			last := len(pq.X) - 1
			score := func(name string) string {
				s := r.Series[name]
				if len(s.Y) <= last || s.Y[last] < 0 {
					return pctText(math.NaN())
				}
				return pctText(s.Y[last])
			}
			p = append(p, fmt.Sprintf("validation at step %.0f: PQ %s, mask AP %s, mIoU %s", pq.X[last], pctText(pq.Y[last]), score("ap"), score("miou")))
		}
		if len(p) == 0 {
			p = append(p, "nothing logged")
		}
		parts = append(parts, r.Label+": "+strings.Join(p, "; "))
	}
	return "Training loss against the step (per step and a moving average) and the validation scores. " + strings.Join(parts, ". ") + "."
}
