package torchref

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed torchref.py parity.py bench.py
var scripts embed.FS

// Scripts are the names of the embedded scripts.
var Scripts = []string{"torchref.py", "parity.py", "bench.py"}

// WriteScripts writes the scripts into dir (which must exist), so that
// `python3 dir/bench.py` finds torchref.py next to it.
func WriteScripts(dir string) error {
	for _, name := range Scripts {
		b, err := scripts.ReadFile(name)
		if err != nil {
			return fmt.Errorf("torchref: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("torchref: %w", err)
		}
	}
	return nil
}
