// Package layout holds the test that keeps the house's data flow one way:
// data → model → (run feeds) probes → metrics → plots/tables, driven by
// experiments and the command line. Its test parses every non-test Go file
// of the module and fails when a package imports a room it must not. A
// second test keeps the house's sources inside it: every citation of
// docs/ (docs/papers.md#mask-pilots) must name an existing page and
// section, and nothing may cite the briefs outside the repository that
// docs/ was written from.
package layout
