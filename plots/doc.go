// Package plots draws the figures of mpanalyze with gonum/plot: per-stage
// curves of layer-to-layer consistency and query utilisation, the
// stage × stage IoU heat map, the mask evolution of a few queries through
// the decoder stages, and training curves read from train.jsonl logs.
//
// # Figures
//
// Every builder (StageCurves, Heatmap, MaskEvolution, TrainingCurves)
// returns a *Figure, which Save writes to a file whose extension picks the
// format (.png or .svg), and Write writes to an io.Writer. Builders take a
// settings struct whose zero value (or nil) gives the defaults; each field
// documents its own. Sizes are in gonum's vg units (vg.Inch, vg.Points);
// PNG resolution is the DPI of Size.
//
// # Values
//
// Inputs are fractions in [0, 1], as in package metrics; figures show them
// in percent where a setting asks for it and label the axis accordingly.
// NaN marks an undefined value (nothing to average): lines break there and
// heat map cells are grey.
//
// # Stages
//
// Stage s of a decoder with L layers is the prediction after StageLayers[s]
// decoder layers (probes.RunInfo.Layers), 0..L for Mask2Former and
// MP-Former. Axes are labelled by that layer count; a per-pair value such
// as consecutive IoU sits between its two stages and is labelled "0→1".
//
// # Appearance
//
// Lines use the Okabe–Ito palette (colour-blind safe) with a different
// marker per series; the heat map uses viridis. Text is Liberation Sans,
// embedded in the binary, so the output does not depend on the host's fonts.
// The same input gives byte-identical PNG and SVG output on one platform.
//
// # Errors
//
// Inconsistent inputs (length mismatches, empty inputs, unknown names) are
// programmer errors and panic with a "plots:" prefix. Files that cannot be
// read or written give errors that name the file (and, for train logs, the
// line).
package plots // import "github.com/mpanalyze/mpanalyze/plots"
