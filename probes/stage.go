package probes

import (
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// Image is every stage of one image, as Memory keeps it and TraceReader
// yields it: Stages[s] is stage s, and all stages share GT.
type Image struct {
	Index  int // dataset index of the image
	Stages []Stage
	GT     *GroundTruth // nil when the image has no ground truth
}

// ImageStages builds the input of the stage metrics: every stage's matching
// queries binarised (logit > 0, metrics.StageMasks), the matchings (nil
// when the image has none) and the GT masks.
func (im *Image) ImageStages() *metrics.ImageStages {
	out := &metrics.ImageStages{Index: im.Index, Masks: make([][]*mask.Bits, len(im.Stages))}
	for s := range im.Stages {
		st := &im.Stages[s]
		out.Masks[s] = st.QueryMasks()
	}
	if len(im.Stages) > 0 && im.Stages[0].Match != nil {
		out.Match = make([][]int, len(im.Stages))
		for s := range im.Stages {
			out.Match[s] = im.Stages[s].Match
		}
	}
	if im.GT != nil {
		out.GT = im.GT.Masks
	}
	return out
}

// AttnStages returns the attention masks of every stage in the form
// metrics.AttentionEvaluator takes. The slices alias the stages'.
func (im *Image) AttnStages() []metrics.AttnStage {
	out := make([]metrics.AttnStage, len(im.Stages))
	for s := range im.Stages {
		out[s] = attnStage(&im.Stages[s])
	}
	return out
}

func attnStage(st *Stage) metrics.AttnStage {
	return metrics.AttnStage{
		NumMP: st.NumMP, NumQueries: st.NumQueries, Cells: st.AttnH * st.AttnW,
		Blocked: st.AttnMask, BlockedBits: st.AttnBits, Unblocked: st.Unblocked,
	}
}

// BinaryMasks returns the binary masks (logit > 0) of the stage's rows, MP
// rows first: Masks when set, else MaskLogits binarised (new masks).
func (s *Stage) BinaryMasks() []*mask.Bits {
	if s.Masks != nil {
		return s.Masks
	}
	return metrics.StageMasks(s.MaskLogits, 0, s.NumMP+s.NumQueries, s.H, s.W)
}

// QueryMasks returns the binary masks of the matching queries only, in
// query order (BinaryMasks without the MP rows).
func (s *Stage) QueryMasks() []*mask.Bits {
	if s.Masks != nil {
		return s.Masks[s.NumMP:]
	}
	return metrics.StageMasks(s.MaskLogits, s.NumMP, s.NumQueries, s.H, s.W)
}

// Clone returns a deep copy of the stage, its ground truth included.
func (s *Stage) Clone() Stage {
	return s.cloneWithGT(s.GT.Clone())
}

// cloneWithGT deep-copies the stage but points it at gt.
func (s *Stage) cloneWithGT(gt *GroundTruth) Stage {
	c := *s
	c.MaskLogits = cloneSlice(s.MaskLogits)
	c.Masks = cloneMasks(s.Masks)
	c.AttnBits = cloneMasks(s.AttnBits)
	c.ClassLogits = cloneSlice(s.ClassLogits)
	c.AttnMask = cloneSlice(s.AttnMask)
	c.Unblocked = cloneSlice(s.Unblocked)
	c.Match = cloneSlice(s.Match)
	c.GT = gt
	return c
}

// Clone returns a deep copy; nil stays nil.
func (g *GroundTruth) Clone() *GroundTruth {
	if g == nil {
		return nil
	}
	c := &GroundTruth{Classes: cloneSlice(g.Classes), Masks: make([]*mask.Bits, len(g.Masks))}
	if g.Classes == nil {
		c.Classes = nil
	}
	if g.Cover != nil {
		c.Cover = make([][]float32, len(g.Cover))
		for i, v := range g.Cover {
			c.Cover[i] = cloneSlice(v)
		}
	}
	for i, m := range g.Masks {
		if m != nil {
			c.Masks[i] = &mask.Bits{H: m.H, W: m.W, Words: cloneSlice(m.Words)}
		}
	}
	return c
}

// cloneMasks deep-copies masks, keeping nil as nil.
func cloneMasks(ms []*mask.Bits) []*mask.Bits {
	if ms == nil {
		return nil
	}
	out := make([]*mask.Bits, len(ms))
	for i, m := range ms {
		if m != nil {
			out[i] = m.Clone()
		}
	}
	return out
}

// cloneSlice copies s, keeping nil as nil.
func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// checkStage validates a stage against the run info and itself, so that
// recorders return an error rather than let the metrics panic.
func checkStage(info *RunInfo, st *Stage) error {
	if st.Stage < 0 || st.Stage >= info.NumStages {
		return stageErr(st, "stage index out of 0..%d", info.NumStages-1)
	}
	if st.NumQueries != info.NumQueries || st.NumClasses != info.NumClasses {
		return stageErr(st, "%d queries and %d classes, run has %d and %d", st.NumQueries, st.NumClasses, info.NumQueries, info.NumClasses)
	}
	if st.H != info.MaskH || st.W != info.MaskW {
		return stageErr(st, "mask size %d×%d, run has %d×%d", st.H, st.W, info.MaskH, info.MaskW)
	}
	if st.NumMP < 0 {
		return stageErr(st, "NumMP %d", st.NumMP)
	}
	if err := checkPredictions(st); err != nil {
		return err
	}
	if st.GT != nil {
		if err := checkTruth(st); err != nil {
			return err
		}
	}
	if st.Match != nil {
		return checkMatch(st)
	}
	return nil
}

// checkPredictions checks the sizes of a stage's per-row arrays: mask
// logits or binary masks, class logits, the attention mask and the
// unblocked flags.
func checkPredictions(st *Stage) error {
	rows := st.NumMP + st.NumQueries
	if st.Masks == nil || st.MaskLogits != nil {
		if len(st.MaskLogits) != rows*st.H*st.W {
			return stageErr(st, "%d mask logits, want %d rows × %d×%d", len(st.MaskLogits), rows, st.H, st.W)
		}
	}
	if st.Masks != nil {
		if err := checkMasks(st, st.Masks, rows, st.H, st.W, "binary mask"); err != nil {
			return err
		}
	}
	if len(st.ClassLogits) != rows*(st.NumClasses+1) {
		return stageErr(st, "%d class logits, want %d rows × %d", len(st.ClassLogits), rows, st.NumClasses+1)
	}
	if st.AttnH < 0 || st.AttnW < 0 || (st.AttnH == 0) != (st.AttnW == 0) {
		return stageErr(st, "attention size %d×%d", st.AttnH, st.AttnW)
	}
	if st.AttnBits != nil {
		if st.AttnMask != nil {
			return stageErr(st, "both AttnMask and AttnBits are set")
		}
		if err := checkMasks(st, st.AttnBits, rows, st.AttnH, st.AttnW, "attention mask"); err != nil {
			return err
		}
	} else if len(st.AttnMask) != rows*st.AttnH*st.AttnW {
		return stageErr(st, "%d attention mask entries, want %d rows × %d×%d", len(st.AttnMask), rows, st.AttnH, st.AttnW)
	}
	if st.Unblocked != nil && len(st.Unblocked) != rows {
		return stageErr(st, "%d unblocked flags for %d rows", len(st.Unblocked), rows)
	}
	return nil
}

// checkTruth checks a stage's (non-nil) ground truth: one mask of the
// stage's size and one class in range per segment, and the coverage
// planes. The coverage values are checked once per image, at stage 0 (GT
// is shared by its stages), the sizes at every stage.
func checkTruth(st *Stage) error {
	G := len(st.GT.Classes)
	if len(st.GT.Masks) != G {
		return stageErr(st, "GT has %d classes and %d masks", G, len(st.GT.Masks))
	}
	for g, m := range st.GT.Masks {
		if m == nil || m.H != st.H || m.W != st.W || len(m.Words) != (m.H*m.W+63)/64 {
			return stageErr(st, "GT mask %d is nil or not %d×%d", g, st.H, st.W)
		}
		if c := st.GT.Classes[g]; c < 0 || c >= st.NumClasses {
			return stageErr(st, "GT segment %d has class %d, want 0..%d", g, c, st.NumClasses-1)
		}
	}
	c := st.GT.Cover
	if c == nil {
		return nil
	}
	if len(c) != G {
		return stageErr(st, "GT has %d segments and %d coverage planes", G, len(c))
	}
	for g, v := range c {
		if len(v) != st.H*st.W {
			return stageErr(st, "GT coverage %d has %d values, want %d×%d", g, len(v), st.H, st.W)
		}
		if st.Stage > 0 {
			continue
		}
		for _, x := range v {
			if !(x >= 0 && x <= 1) {
				return stageErr(st, "GT coverage %d has value %v outside [0, 1]", g, x)
			}
		}
	}
	return nil
}

// checkMatch checks a stage's (non-nil) matching: one entry per GT
// segment, each a matching query or -1, no query twice.
func checkMatch(st *Stage) error {
	if st.GT == nil {
		return stageErr(st, "a matching without ground truth")
	}
	G := len(st.GT.Classes)
	if len(st.Match) != G {
		return stageErr(st, "matching has %d entries for %d GT segments", len(st.Match), G)
	}
	seen := make(map[int]bool, G)
	for g, q := range st.Match {
		if q < -1 || q >= st.NumQueries {
			return stageErr(st, "GT segment %d matched to query %d of %d", g, q, st.NumQueries)
		}
		if q >= 0 && seen[q] {
			return stageErr(st, "query %d matched twice", q)
		}
		seen[q] = true
	}
	return nil
}

// checkMasks checks that ms holds rows h×w masks.
func checkMasks(st *Stage, ms []*mask.Bits, rows, h, w int, what string) error {
	if len(ms) != rows {
		return stageErr(st, "%d %ss for %d rows", len(ms), what, rows)
	}
	for r, m := range ms {
		if m == nil || m.H != h || m.W != w || len(m.Words) != (h*w+63)/64 {
			return stageErr(st, "%s of row %d is nil or not %d×%d", what, r, h, w)
		}
	}
	return nil
}

// sequence checks the call order of the package documentation: stages
// 0..S−1 of one image, then of the next.
type sequence struct {
	stages int
	image  int
	next   int // next expected stage; 0 between images
	// what stage 0 of the current image had
	mp           int
	match, hasGT bool
	gt           int
}

// step accepts st; it reports whether st is the last stage of its image.
// Within an image, the MP row count, the presence of a matching and the
// ground truth (its segment count) must not change.
func (q *sequence) step(st *Stage) (last bool, err error) {
	if st.Stage != q.next {
		if q.next == 0 {
			return false, stageErr(st, "an image must start at stage 0")
		}
		return false, stageErr(st, "expected image %d stage %d", q.image, q.next)
	}
	gt := 0
	if st.GT != nil {
		gt = len(st.GT.Classes)
	}
	if q.next == 0 {
		q.image, q.mp, q.match, q.hasGT, q.gt = st.Image, st.NumMP, st.Match != nil, st.GT != nil, gt
	} else {
		switch {
		case st.Image != q.image:
			return false, stageErr(st, "image %d has only %d of %d stages", q.image, q.next, q.stages)
		case st.NumMP != q.mp:
			return false, stageErr(st, "%d MP rows, stage 0 had %d", st.NumMP, q.mp)
		case (st.Match != nil) != q.match:
			return false, stageErr(st, "matching present at some stages only")
		case (st.GT != nil) != q.hasGT || gt != q.gt:
			return false, stageErr(st, "ground truth differs from stage 0's")
		}
	}
	q.next++
	if q.next == q.stages {
		q.next = 0
		return true, nil
	}
	return false, nil
}

// incomplete returns an error if an image is half recorded.
func (q *sequence) incomplete() error {
	if q.next != 0 {
		return stageErr(&Stage{Image: q.image, Stage: q.next}, "closed after %d of %d stages", q.next, q.stages)
	}
	return nil
}
