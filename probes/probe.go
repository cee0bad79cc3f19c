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
// A trace is a .npz of per-image arrays (np.load opens it) and a JSON
// sidecar that describes the run and every array; TRACE.md in this
// directory specifies it, with a numpy snippet. OpenTrace validates a trace
// and yields its images one at a time (TraceReader.Next, Replay); errors
// are *TraceError values wrapping the ErrTrace sentinels. Traces recorded
// from PyTorch with python/record_trace.py read the same way; matchings they
// lack are computed at read time with matcher.
//
// # Errors
//
// Every error starts with "probes:". A stage that disagrees with the run
// info or arrives out of order is an error wrapping ErrStage, not a panic,
// so that a probe never crashes the model.
package probes

import (
	"encoding/json"
	"fmt"

	"github.com/mpanalyze/mpanalyze/mask"
)

// RunInfo describes the recorded run. Probes receive it once, in Init, and
// trace files store it in their sidecar.
type RunInfo struct {
	Model       string          `json:"model"`       // "maskformer", "mask2former" or "mpformer"
	NumStages   int             `json:"num_stages"`  // prediction stages, layers + 1
	NumQueries  int             `json:"num_queries"` // matching queries
	NumClasses  int             `json:"num_classes"` // K; class logits have K+1 entries, the last is "no object"
	MaskStride  int             `json:"mask_stride"` // stride of the mask logits w.r.t. the input (4)
	MaskH       int             `json:"mask_h"`
	MaskW       int             `json:"mask_w"`
	Config      json.RawMessage `json:"config,omitempty"`  // the model config as saved in its checkpoint
	Dataset     map[string]any  `json:"dataset,omitempty"` // data.Dataset.Describe()
	Checkpoint  string          `json:"checkpoint,omitempty"`
	Seed        uint64          `json:"seed"`
	ToolVersion string          `json:"tool_version"`

	// StageLayers[s] is the number of decoder layers applied before stage
	// s: 0..9 for a 9-layer Mask2Former (stage 0 is the heads on the
	// learnable queries), 1..6 for MaskFormer, which has no stage 0. Nil
	// means the Mask2Former convention, StageLayers[s] = s (see Layers).
	StageLayers []int `json:"stage_layers,omitempty"`
	// CheckpointSHA256 is the hex SHA-256 of the checkpoint file; empty
	// when unknown. Trace writers fill it from Checkpoint when they can.
	CheckpointSHA256 string `json:"checkpoint_sha256,omitempty"`
	// Matching tells where Stage.Match comes from: MatchingRecorded (the
	// model's own per-stage Hungarian matching), MatchingComputed (computed
	// by the trace reader, see ReadSettings) or MatchingNone. Empty means
	// unknown; probes treat it as MatchingRecorded.
	Matching string `json:"matching,omitempty"`
}

// Values of RunInfo.Matching.
const (
	// MatchingRecorded: the matchings were computed by the model that
	// produced the stages, with its training cost.
	MatchingRecorded = "recorded"
	// MatchingComputed: the trace had none; the reader computed them with
	// matcher (cost 2·class + 5·BCE + 5·dice on every stride-4 pixel,
	// the binary GT masks of the trace as targets).
	MatchingComputed = "computed"
	// MatchingNone: no matching is available; the metrics that need one
	// count nothing.
	MatchingNone = "none"
)

// Sanity limits of RunInfo.Check, far above any model this project runs,
// so that a corrupt sidecar cannot make a probe allocate without bound.
const (
	maxStages     = 1 << 10
	maxQueries    = 1 << 20
	maxClasses    = 1 << 20
	maxMaskPixels = 1 << 26
)

// Layers returns the number of decoder layers applied before stage s:
// StageLayers[s], or s when StageLayers is nil.
func (ri *RunInfo) Layers(s int) int {
	if ri.StageLayers == nil {
		return s
	}
	return ri.StageLayers[s]
}

// Check reports whether the run info is usable by a probe: positive sizes,
// and StageLayers, when set, one non-decreasing, non-negative entry per
// stage. The error wraps ErrRunInfo.
func (ri *RunInfo) Check() error {
	switch {
	case ri.NumStages <= 0:
		return fmt.Errorf("probes: %w: num_stages %d", ErrRunInfo, ri.NumStages)
	case ri.NumQueries <= 0:
		return fmt.Errorf("probes: %w: num_queries %d", ErrRunInfo, ri.NumQueries)
	case ri.NumClasses <= 0:
		return fmt.Errorf("probes: %w: num_classes %d", ErrRunInfo, ri.NumClasses)
	case ri.MaskH <= 0 || ri.MaskW <= 0:
		return fmt.Errorf("probes: %w: mask size %d×%d", ErrRunInfo, ri.MaskH, ri.MaskW)
	case ri.NumStages > maxStages || ri.NumQueries > maxQueries || ri.NumClasses > maxClasses || ri.MaskH*ri.MaskW > maxMaskPixels || ri.MaskH > maxMaskPixels || ri.MaskW > maxMaskPixels:
		return fmt.Errorf("probes: %w: implausible sizes: %d stages, %d queries, %d classes, %d×%d masks", ErrRunInfo, ri.NumStages, ri.NumQueries, ri.NumClasses, ri.MaskH, ri.MaskW)
	case ri.StageLayers != nil && len(ri.StageLayers) != ri.NumStages:
		return fmt.Errorf("probes: %w: %d stage_layers for %d stages", ErrRunInfo, len(ri.StageLayers), ri.NumStages)
	}
	for s, l := range ri.StageLayers {
		if l < 0 || (s > 0 && l < ri.StageLayers[s-1]) {
			return fmt.Errorf("probes: %w: stage_layers %v is not non-decreasing and non-negative", ErrRunInfo, ri.StageLayers)
		}
	}
	return nil
}

// GroundTruth is an image's ground truth at the mask resolution, for
// probes that score stages against it (utilisation, matching).
type GroundTruth struct {
	Classes []int        // class index per GT segment
	Masks   []*mask.Bits // MaskH×MaskW per GT segment: pixels whose area coverage ≥ 0.5
}

// Stage is one prediction stage of one image.
type Stage struct {
	Image      int // dataset index of the image
	Stage      int // 0..NumStages-1
	NumMP      int // MP query rows first (0 at inference)
	NumQueries int // matching query rows after them
	NumClasses int // K

	H, W int // mask logits size (stride 4)
	// MaskLogits are (NumMP+NumQueries)·H·W mask logits; a query's binary
	// mask is logit > 0 (sigmoid > 0.5).
	MaskLogits []float32
	// ClassLogits are (NumMP+NumQueries)·(NumClasses+1) class logits.
	ClassLogits []float32

	// AttnH×AttnW is the feature level the next layer attends to; both are
	// 0 at the last stage (no next layer) and for models without masked
	// attention (MaskFormer).
	AttnH, AttnW int
	// AttnMask is the cross-attention mask the next layer uses,
	// (NumMP+NumQueries)·AttnH·AttnW, true = blocked, after fully blocked
	// rows have been unblocked. MP rows hold the pilot (GT) masks.
	AttnMask []bool
	// Unblocked marks the rows (NumMP+NumQueries) that were entirely
	// blocked and so were made to attend everywhere.
	Unblocked []bool

	// Match is the Hungarian matching of this stage (training cost), one
	// entry per GT segment: the matching query index, or -1. Nil when the
	// model was run without ground truth.
	Match []int
	// GT is the image's ground truth, the same pointer for all stages of
	// an image; nil when unknown.
	GT *GroundTruth
}

// Probe receives every stage of every image. See the package doc for the
// call order and the rules.
type Probe interface {
	Init(info RunInfo) error
	Record(s *Stage) error
	Close() error
}
