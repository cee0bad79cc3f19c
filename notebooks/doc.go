// Package notebooks holds worked analyses written as Go: literate
// notebooks whose code cells are Go closures. Running a notebook executes
// every cell and renders Markdown in which each cell's source (read back
// from this package's own files, so the code shown is the code that ran)
// is followed by what it printed. The rendered notebooks are committed as
// notebooks/<name>.md; TestNotebooks runs them again on every `go test
// ./...` and fails when a notebook no longer runs or its code, prose or
// output shape no longer match the committed file, so they cannot rot
// (changed numbers alone are reported, not failed). `go test ./notebooks
// -update` rewrites them (and their figures).
//
// See README.md in this directory for why this format and how to add a
// notebook.
package notebooks
