// Package plots draws the figures of mpanalyze with gonum/plot: per-stage
// curves of layer-to-layer consistency and query utilisation, stage × stage
// IoU heat maps (side by side on one colour scale, or as differences), the
// mask evolution of a few queries through the decoder stages, and training
// curves.
//
// # Figures
//
// Every builder (StageCurves, Heatmap, MaskEvolution, TrainingCurves)
// returns a *Figure, which Save writes to a file whose extension picks the
// format (.png, .svg or .pdf), and Write writes to an io.Writer. Builders
// take a settings struct whose zero value (or nil) gives the defaults; each
// field documents its own. Every settings struct embeds a Style: the size
// (in gonum's vg units, vg.Inch, vg.Points; zero keeps the builder's
// default), the PNG resolution, a factor on every text size, and whether
// the title is drawn.
//
// # Size and text
//
// The figures are drawn to be read at their own size, as a manuscript
// prints them: the heat maps, the mask evolution and the training curves
// default to TextWidth (7 inches), the stage curves to 6.4 × 4 inches;
// titles are 10.5 pt bold, axis labels 9 pt, ticks and legends 8 pt,
// annotations 7.5 pt, times Style.FontScale. A title too long for its
// figure is broken at its " — " or shrunk; cell texts shrink to their cell.
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
// marker per series; the heat maps use viridis, differences ColorBrewer's
// RdBu centred on 0 (both colour-blind safe); the mask evolution draws
// every mask in one blue over the image in grey. Text is Liberation Sans
// (metric-compatible with Arial and Helvetica), embedded in the binary, so
// the output does not depend on the host's fonts; PDF embeds it, subset,
// with the text as Unicode (pdf.go says why gonum's vgpdf is not used);
// SVG names it with fallbacks of the same metrics. The same input gives
// byte-identical PNG, SVG and PDF output on one platform.
//
// # Errors
//
// Inconsistent inputs (length mismatches, empty inputs, unknown names) are
// programmer errors and panic with a "plots:" prefix. Files that cannot be
// read or written give errors that name the file (and, for train logs, the
// line).
package plots // import "github.com/mpanalyze/mpanalyze/plots"
