// Package probes records what every decoder stage of a Mask2Former-style
// model predicts, for every query of every image.
//
// The decoder calls a Probe at every prediction stage: stage 0 is the
// prediction of the heads on the learnable queries before the first decoder
// layer, stage s ≥ 1 the prediction after layer s. A 9-layer Mask2Former has
// stages 0..9. The call order is
//
//	probe.Init(info)
//	for each image, in dataset order:
//		for s := 0; s < info.NumStages; s++ {
//			probe.Record(&stage) // stage.Image, stage.Stage == s
//		}
//	probe.Close()
//
// The model (run.Evaluate) calls Init and Record; whoever created the
// probe calls Close once the run succeeded (or Abort, for probes that
// implement Aborter, when it failed), since only it knows whether the
// results should be kept. Record is always called from one goroutine, in
// that order, whatever the model's internal parallelism. A probe must not modify the Stage it is
// given nor keep its slices after Record returns (copy what it needs): the
// model reuses the buffers. Probing never changes the model's results.
//
// Rows of every per-query array put the MP (mask-pilot) queries first and
// the matching queries after them: rows 0..NumMP-1 are MP queries (training
// only; NumMP is 0 at inference), rows NumMP..NumMP+NumQueries-1 are the
// matching queries. Matchings index matching queries only (0..NumQueries-1).
//
// # Recorders
//
// Memory keeps deep copies of every stage (tests, small runs). Evaluator
// scores a run as it streams, one image at a time, with the metrics
// package's LayerEvaluator and AttentionEvaluator; its Report holds the
// per-stage figures. TraceWriter writes a trace, and Multi fans one stream
// out to several probes:
//
//	ev := &probes.Evaluator{}
//	tw := probes.NewTraceWriter("runs/m2f/val_trace", nil)
//	p := probes.Multi{ev, tw} // pass p to the model's evaluation
//	…
//	report := ev.Report()
//
// StageLayers in RunInfo gives the decoder layers before each stage (0..9
// for Mask2Former, 1..6 for MaskFormer).
//
// # Traces
//
// A trace is a .npz of per-image arrays (np.load opens it, through the
// shared container internal/npz) and a JSON sidecar that describes the run
// and every array; TRACE.md in this directory specifies it, with a numpy
// reader. The full layout keeps every stage's mask logits; the compact
// layout (TraceSettings.Compact) keeps binary masks, run-length encoded,
// about 1/400 of the size at COCO scale, and stages read from it carry
// Stage.Masks and Stage.AttnBits instead of logits. OpenTrace validates a
// trace and yields its images one at a time (TraceReader.Next, Replay);
// TraceReader.Analyze scores it on all cores with the Evaluator's figures.
// Errors are *TraceError values wrapping the ErrTrace sentinels. Traces
// recorded from PyTorch with the mpanalyze_trace package (python/) read the same way;
// matchings they lack are computed at read time with matcher.MatchStages
// against the stored GT coverage, which reproduces the model's own.
//
// # Errors
//
// Every error starts with "probes:". A stage that disagrees with the run
// info or arrives out of order is an error wrapping ErrStage, not a panic,
// so that a probe never crashes the model.
package probes
