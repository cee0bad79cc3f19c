package tables

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mpanalyze/mpanalyze/metrics"
	"github.com/mpanalyze/mpanalyze/probes"
)

// Stages is the per-stage table of one probed run, as `mpanalyze analyze`
// prints it: one row per stage with its index, the decoder layers before
// it, and every registry figure (metrics.Figures; the query-set figures
// over set). Text and Markdown show percent; CSV and JSON are keyed by the
// figures' keys ("stage", "layers", "consecutive_iou", …) and carry
// fractions, null (JSON) or empty (CSV) where undefined.
func Stages(r *probes.Report, set metrics.QuerySet) Table {
	S := r.Layer.NumStages
	t := Table{Header: []string{"stage", "layers"}, Keys: []string{"stage", "layers"}}
	f := r.Figures()
	var cols []metrics.Series
	for i := range metrics.Figures {
		fg := &metrics.Figures[i]
		t.Header = append(t.Header, fg.Header)
		t.Keys = append(t.Keys, fg.Key)
		cols = append(cols, fg.Series(f, set))
	}
	for s := 0; s < S; s++ {
		layers := r.Run.Layers(s)
		row := []string{strconv.Itoa(s), strconv.Itoa(layers)}
		vals := []*Number{Plain(float64(s)), Plain(float64(layers))}
		for _, c := range cols {
			v := math.NaN()
			if s < len(c) {
				v = c[s]
			}
			row = append(row, formatValue(v, Fraction))
			vals = append(vals, Plain(v))
		}
		t.Rows = append(t.Rows, row)
		t.Values = append(t.Values, vals)
	}
	t.Notes = []string{fmt.Sprintf("Values in percent; %s = undefined. The IoU columns are over the %s queries. CSV and JSON give fractions.", Dash, set)}
	var expl string
	for i, fg := range metrics.Figures {
		if i > 0 {
			expl += "; "
		}
		expl += fg.Header + ": " + fg.Doc
	}
	t.Notes = append(t.Notes, expl+".")
	return t
}
