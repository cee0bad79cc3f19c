// Package layout holds the test that keeps the house's data flow one way:
// data → model → (run feeds) probes → metrics → plots/tables, driven by
// experiments and the command line. Its test parses every non-test Go file
// of the module and fails when a package imports a room it must not.
package layout
