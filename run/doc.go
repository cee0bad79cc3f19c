// Package run drives the network of package model: it owns run
// directories, the training loop, evaluation with probes and metrics, and
// the checkpoint files that tie them together.
//
// # Run directory
//
//	run.json                  RunConfig (the resolved settings; fixes the run)
//	train.jsonl               one JSON object per line: a StepRecord per
//	                          step, an EvalRecord per validation (TrainLog)
//	checkpoints/latest.npz    parameters, optimiser state, step, run config
//	checkpoints/step-NNNNNN.npz   snapshots kept for probing (no optimiser)
//
// A run is deterministic: the same RunConfig gives the same checkpoints and
// train.jsonl byte for byte whatever GOMAXPROCS or the worker count, and a
// run killed at any point and resumed (Options.Resume) ends with the files
// of the uninterrupted run. Nothing in train.jsonl depends on wall time.
//
// # Training loop
//
// Train runs the steps of a model.Trainer and calls hooks around them, in
// detectron2's HookBase shape:
//
//	for _, h := range hooks { h.BeforeTrain(loop) }
//	for loop.Step() < steps {
//		trainer.TrainStep(batch)
//		for _, h := range hooks { h.AfterStep(loop) }
//	}
//	for _, h := range hooks { h.AfterTrain(loop) }
//
// The standard hooks, in this order, log the step (train.jsonl), move the
// progress bar, keep snapshots, write checkpoints/latest.npz and validate
// (periodically and at the end). Extra hooks run after them.
//
// # Evaluation
//
// Evaluate runs a model on a dataset at its input size, scores the
// panoptic, instance and semantic predictions with the metrics package, and
// feeds a probes.Probe with every decoder stage of every image together
// with the stage's Hungarian matching (model.StageMatches).
package run
