// Package atomicfile writes files so that a reader (or a crash) never sees a
// half-written file: the content goes to a temporary file in the same
// directory, is synced, and is renamed over the destination only when
// complete. On any error the destination is left exactly as it was.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mpanalyze/mpanalyze/internal/crashpoint"
)

// Write creates or replaces path with what fill writes. fill's writer is
// buffered; Write flushes, syncs and renames. If fill returns an error, the
// temporary file is removed and the error is returned wrapped with path.
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	base := filepath.Base(path)
	bw := bufio.NewWriterSize(&hitFirst{w: tmp, point: "partial:" + base}, 1<<20)
	if err = fill(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	crashpoint.Hit("before-rename:" + base)
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// hitFirst passes writes to w and reaches the crash point once the first
// bytes are in the file (crash-consistency tests kill the process there).
type hitFirst struct {
	w     io.Writer
	point string
	done  bool
}

func (h *hitFirst) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	if !h.done && n > 0 {
		h.done = true
		crashpoint.Hit(h.point)
	}
	return n, err
}

// WriteBytes is Write for a byte slice.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}
