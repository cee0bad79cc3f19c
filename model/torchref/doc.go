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
