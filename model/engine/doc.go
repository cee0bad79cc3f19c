// Package engine is the autodiff core under package model: dense float32
// (training) and float64 (gradient checks) tensors, a reverse-mode tape and
// the ops a Mask2Former-style model needs, each op's backward written next
// to its forward.
//
// # Graph and tape
//
// A Graph records one forward pass. Every op is a Graph method that
// computes its output and, while the graph records (SetGrad), pushes the
// closure that computes its inputs' gradients; Backward runs the closures
// in reverse. Parameters (Param) are shared read-only between graphs: a
// graph binds them with its own gradient buffer, or accumulates into the
// buffer AccumulateInto gives, so that a training step can run one graph
// per gradient slot in parallel and sum the slots in a fixed order. Buffers
// come from a pool the graph owns: Reset returns them, so a training loop
// that reuses its graphs allocates nothing in steady state.
//
// # Ops
//
//	ops_linalg.go     matmul, batched matmul (with transposes), linear
//	ops_elem.go       broadcasting add/sub/mul/div, scale, ReLU, GELU, sigmoid, sums and means
//	ops_conv.go       2-D convolution (im2col + GEMM), stride and padding
//	ops_conv_implicit.go  3×3 "same" convolutions without im2col (float32, AVX-512)
//	ops_norm.go       GroupNorm, GroupNormReLU (the pair as one op), LayerNorm
//	ops_attention.go  masked softmax, multi-head attention with boolean masks per query or head
//	ops_msdeform.go   multi-scale deformable attention (sampling core, locations, the module)
//	ops_resize.go     nearest and bilinear (align_corners=False) resizing, point sampling
//	ops_shape.go      reshape, permute, slice, concat, gather, index-select, embedding
//	ops_loss.go       cross-entropy, BCE with logits, dice
//
// # Proofs
//
// Every op has a float64 central-difference gradient check
// (gradcheck_test.go and the op's own tests), and a parity test against
// PyTorch on the same inputs (parity_test.go with testdata/parity.py).
// Matrix products go through model/gemm, whose reduction order depends only
// on the shapes, so results are bit-identical whatever GOMAXPROCS is.
//
// # Errors
//
// Shape mismatches are programmer errors and panic with an "engine:"
// prefix.
package engine
