// Package atomicfile writes files so that a reader (or a crash) never sees a
// half-written file: the content goes to a temporary file in the same
// directory, is synced, and is renamed over the destination only when
// complete. On any error the destination is left exactly as it was.
package atomicfile
