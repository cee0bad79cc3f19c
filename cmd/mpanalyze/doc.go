// Command mpanalyze trains MaskFormer, Mask2Former and MP-Former, records
// every decoder stage, measures layer-to-layer consistency and query
// utilisation, scores predictions as the reference tools do, and draws the
// tables, figures and the HTML report. Run `mpanalyze --help` for the
// commands and `mpanalyze reproduce` for the whole diagnosis.
//
// Each command lives in its own file as an options struct, a constructor
// that defines its flags and an unexported run function: the command only
// parses and checks its flags (usage errors exit 2, failures 1), calls a
// package (run, experiments, report, probes, data/coco …) and prints, with
// --json on every command. Tables print through experiments/tables, the
// one table renderer.
package main
