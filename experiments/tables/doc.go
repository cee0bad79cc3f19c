// Package tables builds the comparison tables of mpanalyze experiments and
// renders them as text (box drawing), GitHub Markdown, CSV or JSON.
//
// # Builders
//
// Diagnosis puts the per-stage figures of several models side by side
// (consecutive-stage IoU, Util-A, and optionally Util-B/C, IoU to the last
// stage, matching change, attention); Accuracy compares task metrics (PQ,
// mask AP, mIoU); Ablation has one row per point of a parameter grid. Their
// inputs (RunStages, RunScores, AblationRun) are plain structs;
// FromProbeReport, FromStageRows and FromEvalReport fill them from a
// probes.Report and a metrics.EvalReport.
//
// # Seeds
//
// Runs with the same model label (or grid point) are seeds of one
// configuration. A cell over seeds is their mean ± the sample standard
// deviation
//
//	sd = sqrt(Σ (x_i − mean)² / (n − 1)),
//
// undefined for n < 2. NaN values (nothing measured) are left out, and n
// counts the rest. When every configuration of a table has one seed, cells
// show the value alone; otherwise every mean cell reads "m ± sd", with "—"
// for an undefined sd, and a cell with no value at all reads "—".
//
// # Units
//
// Inputs are fractions, as in package metrics. Text and Markdown show them
// in percent with one decimal (the notes say so); CSV and JSON carry the
// raw fractions, with the sd in an extra "<column> sd" column wherever the
// column holds a mean over several seeds. JSON writes NaN as null, CSV as
// an empty field.
//
// # Errors
//
// Inconsistent inputs (length mismatches, duplicate runs, ragged tables)
// are programmer errors and panic with a "tables:" prefix; Render returns
// an error for an unknown format or a failed write.
package tables // import "github.com/mpanalyze/mpanalyze/experiments/tables"
