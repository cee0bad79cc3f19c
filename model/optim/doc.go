// Package optim trains engine parameters: the AdamW optimiser, global-norm
// gradient clipping, learning-rate schedules and weight initialisers, each
// following the PyTorch / detectron2 function it names, so that a Go run and
// the official Mask2Former / MP-Former recipe mean the same thing by the same
// numbers.
//
// # Training step
//
// The official recipe (AdamW lr 1e-4, weight decay 0.05, no decay for
// embeddings and norms, backbone lr ×0.1, full-model clipping at L2 norm
// 0.01, warm-up then step or poly decay) reads, per iteration it (0-based):
//
//	opt := optim.NewAdamW(params, optim.DefaultAdamWConfig())
//	sched := optim.DefaultScheduleConfig() // then set MaxIter, Steps, ...
//	for it := 0; it < sched.MaxIter; it++ {
//		// forward, backward: gradients accumulated into each Param.Grad
//		norm := optim.ClipGradNorm(params, 0.01)
//		if !optim.IsFinite(norm) {
//			// skip the update (a NaN/Inf gradient); zero the grads
//		} else {
//			opt.Step(sched.LR(it))
//		}
//		for _, p := range params { p.ZeroGrad() }
//	}
//
// # Determinism
//
// Every function here is bit-reproducible: the same inputs give the same
// bits in every run and for every GOMAXPROCS. AdamW may split its update
// over goroutines, but each element's arithmetic is a fixed sequence of
// float32 operations that does not depend on the split. Products are wrapped
// in explicit float32 conversions, which the Go specification says prevent
// fused multiply-add, so the results are also the same on architectures
// whose compilers fuse (arm64, ppc64le, s390x). Reductions (the gradient
// norm) run in a fixed order.
//
// # Initialisers
//
// The initialisers draw from an *rng.RNG in element order (row-major over
// Param.Data), one draw per element, so a seed fixes a model's weights.
package optim
