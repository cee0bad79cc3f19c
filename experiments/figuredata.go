package experiments

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
)

// DataRow is one value a figure draws: a row of the tidy table that
// `plot --csv` writes (WriteFigureData), from which every figure can be
// redrawn in another tool. Fields that do not apply to a figure are
// unset (-1 for the integers) and written as empty cells.
type DataRow struct {
	// Figure is the figure's name (Figure.Name), e.g. "consecutive_iou".
	Figure string
	// Configuration is the configuration's label; Name is how the figure
	// names it (PlotSettings.Name). Baseline is the label of the
	// configuration subtracted, for differences (iou_matrix_diff).
	Configuration, Name, Baseline string
	// Seed is the run's seed; -1 for values over seeds (differences of
	// means).
	Seed int
	// Step is the training step: of the snapshot for the stage figures,
	// of the value for the training figure.
	Step int
	// Stage and Layers are stage s and the decoder layers applied before
	// it; StageTo and LayersTo the second stage of a pair (consecutive
	// IoU: s+1; the heat maps: the column).
	Stage, Layers, StageTo, LayersTo int
	// Image and Query identify a mask-evolution row: the validation
	// image's index and the query.
	Image, Query int
	// Metric names the value: a metrics.Figures key for the stage
	// curves; "iou" (heat maps), "iou_difference"; "iou_with_previous",
	// "mask_pixels", "gt_pixels" (mask evolution); a panel name for the
	// training figure ("loss", "mp", "pq", "ap", "miou").
	Metric string
	// Value is a fraction for IoUs and scores (not percent), a count for
	// pixels, the logged value for losses; NaN (undefined: nothing to
	// average, AP of no GT) is written as an empty cell.
	Value float64
}

// DataColumns are the columns of the table, in order.
var DataColumns = []string{"figure", "configuration", "name", "baseline", "seed", "step",
	"stage", "layers", "stage_to", "layers_to", "image", "query", "metric", "value"}

// row returns a DataRow of figure with every integer unset.
func row(figure, metric string) DataRow {
	return DataRow{Figure: figure, Metric: metric, Seed: -1, Step: -1, Stage: -1, Layers: -1,
		StageTo: -1, LayersTo: -1, Image: -1, Query: -1}
}

func (r DataRow) cells() []string {
	n := func(v int) string {
		if v < 0 {
			return ""
		}
		return strconv.Itoa(v)
	}
	v := ""
	if !math.IsNaN(r.Value) && !math.IsInf(r.Value, 0) {
		v = strconv.FormatFloat(r.Value, 'g', -1, 64)
	}
	return []string{r.Figure, r.Configuration, r.Name, r.Baseline, n(r.Seed), n(r.Step),
		n(r.Stage), n(r.Layers), n(r.StageTo), n(r.LayersTo), n(r.Image), n(r.Query), r.Metric, v}
}

// WriteFigureData writes the data of the figures as one CSV table (a
// header of DataColumns, then the rows of each figure in order) to w.
func WriteFigureData(w io.Writer, figs []Plot) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(DataColumns); err != nil {
		return err
	}
	for _, f := range figs {
		for _, r := range f.Data {
			if err := cw.Write(r.cells()); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeFigureDataFile writes WriteFigureData to path, atomically.
func writeFigureDataFile(path string, figs []Plot) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return WriteFigureData(w, figs) }); err != nil {
		return fmt.Errorf("experiments: write %s: %w", path, err)
	}
	return nil
}
