// Package progress shows the progress of long work: a bar redrawn in place
// on a terminal, or one line every few percent otherwise (logs, CI).
package progress
