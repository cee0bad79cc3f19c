package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// WriteNew creates path with content b only if path does not exist, as
// atomically as Write: the content is written to a temporary file and
// hard-linked to path, which fails if path exists (the link, unlike a
// rename, never replaces; on NFS too). created is false when path existed.
// Meant for files that many processes may create with the same content.
func WriteNew(path string, b []byte) (created bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	lerr := os.Link(tmp.Name(), path)
	if lerr == nil {
		return true, nil
	}
	if errors.Is(lerr, fs.ErrExist) {
		return false, nil
	}
	// A file system without hard links: look, then rename. Two writers
	// can then both create; the last rename wins whole.
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("write %s: %w (link: %v)", path, err, lerr)
	}
	return true, nil
}
