package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// outDir checks, before any work starts, that the directory given by flag
// can hold a command's output: it is a directory (created if missing) in
// which a file can be written. So a wrong --coco-out fails at once, not
// after an evaluation. An empty path is no output (nil).
func outDir(flag, dir string) error {
	if dir == "" {
		return nil
	}
	if err := writableDir(dir); err != nil {
		return fmt.Errorf("--%s %s: %w", flag, dir, err)
	}
	return nil
}

// outFile checks that the file given by flag can be written: it is not a
// directory, and its directory is writable (outDir).
func outFile(flag, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--%s %s: a directory is in the way (want a file)", flag, path)
	}
	if err := writableDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("--%s %s: %w", flag, path, err)
	}
	return nil
}

func writableDir(dir string) error {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return fmt.Errorf("%s is a file, not a directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create the directory (%w)", err)
	}
	f, err := os.CreateTemp(dir, ".mpanalyze-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s (%w)", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
