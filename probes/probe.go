package probes

import (
	"encoding/json"
	"fmt"

	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/matcher"
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
	// MatchCost holds the weights of the matching cost the recorded
	// matchings used (the trace reader computes missing matchings with
	// them); nil means unknown, which readers take as Mask2Former's 2, 5, 5.
	MatchCost *MatchCost `json:"match_cost,omitempty"`
}

// MatchCost are the weights of the Hungarian matching cost
// class·(−p_q(c_g)) + mask·BCE + dice·Dice (matcher).
type MatchCost struct {
	Class float64 `json:"class"`
	Mask  float64 `json:"mask"`
	Dice  float64 `json:"dice"`
}

// Weights returns the cost as matcher weights; a nil c gives
// matcher.DefaultWeights.
func (c *MatchCost) Weights() matcher.Weights {
	if c == nil {
		return matcher.DefaultWeights()
	}
	return matcher.Weights{Class: c.Class, Mask: c.Mask, Dice: c.Dice}
}

// Values of RunInfo.Matching.
const (
	// MatchingRecorded: the matchings were computed by the model that
	// produced the stages, with its training cost.
	MatchingRecorded = "recorded"
	// MatchingComputed: the trace had none; the reader computed them with
	// matcher (cost 2·class + 5·BCE + 5·dice, or the trace's
	// match_cost, on every stride-4 pixel) against the trace's GT coverage
	// (gt_cover), which reproduces the model's matchings exactly, or, in
	// traces without it, against the binary GT masks, which may not.
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
	// Cover is, per GT segment, the MaskH·MaskW area coverage of each
	// stride×stride cell by the segment, in [0, 1] and a multiple of
	// 1/stride²: the targets the model's Hungarian matching uses (Masks is
	// Cover ≥ 0.5). Nil when unknown; then a matching recomputed from a
	// trace uses the binary Masks and can differ from the model's.
	Cover [][]float32
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
	// mask is logit > 0 (sigmoid > 0.5). Nil when the stage comes from a
	// compact trace that kept no logits: then Masks holds the masks.
	MaskLogits []float32
	// Masks, when not nil, are the binary masks (logit > 0) of the
	// NumMP+NumQueries rows, H×W each, MP rows first. The reader of a
	// compact trace sets them; models and full traces leave them nil.
	// BinaryMasks gives the masks either way.
	Masks []*mask.Bits
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
	// AttnBits, when not nil, holds the same mask bit-packed, one
	// AttnH×AttnW mask per row (set = blocked), and AttnMask is nil: the
	// reader of a compact trace yields it so.
	AttnBits []*mask.Bits
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
