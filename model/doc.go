// Package model is the network: MaskFormer, Mask2Former and MP-Former at a
// scale that trains on two CPU cores in minutes — config (Config), the
// backbone, the pixel decoders (FPN, MSDeformAttn), the masked-attention
// and plain decoders with their heads, MP-Former's mask pilots, the
// criterion with its per-stage Hungarian matching (StageMatches is the one
// matching the probes record too), post-processing into semantic, instance
// and panoptic predictions, and the training step (Trainer).
//
// What drives the network — run directories, the training loop, evaluation
// with probes and metrics, checkpoints of runs — is package run. The
// sub-packages hold the autodiff engine (model/engine), the GEMM kernels
// (model/gemm), the optimiser (model/optim), the checkpoint file format
// (model/ckpt) and the PyTorch reference used by the parity tests and the
// speed race (model/torchref).
//
// docs/model-card.md lists every departure from the official recipe and
// the flag that restores it; docs/papers.md the facts the code follows.
package model
