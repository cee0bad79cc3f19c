// Package torchref holds the PyTorch reference implementation of
// mpanalyze's models (torchref.py), the parity script that redoes one Go
// training step in PyTorch (parity.py, driven by model's TestTorchParity),
// the one that runs the msdeform pixel decoder alone (pixel_parity.py,
// driven by TestMSDeformPixelDecoderTorchParity; test-only, not embedded)
// and the PyTorch side of the speed race (bench.py, driven by `mpanalyze
// bench torch`). The scripts are embedded so that the command runs them
// from anywhere; they need Debian's python3-torch, numpy and scipy. The
// reference is a test and benchmark tool only: nothing in mpanalyze
// imports torch.
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
