package probes

import (
	"fmt"
	"math"

	"github.com/mpanalyze/mpanalyze/data/mask"
	"github.com/mpanalyze/mpanalyze/metrics"
)

var _ Probe = (*Evaluator)(nil)

// Evaluator scores a run as it streams: it keeps one image's binary masks,
// matchings and attention masks at a time, and when the image's last stage
// arrives it adds the image to a metrics.LayerEvaluator (consecutive IoU,
// IoU to the last stage for the three query sets, the stage×stage IoU
// matrix, Util-A/B/C, matching change) and a metrics.AttentionEvaluator.
//
// Each stage's matching queries are binarised (logit > 0, StageMasks) when
// the stage is recorded, which gives the same masks as binarising them all
// at the last stage without keeping the logits.
//
// The zero value is ready for Init. Report may be called at any time.
type Evaluator struct {
	info   RunInfo
	seq    sequence
	layer  metrics.LayerEvaluator
	attn   metrics.AttentionEvaluator
	images int
	closed bool

	// the image being recorded
	img   metrics.ImageStages
	match [][]int
	atts  []metrics.AttnStage
}

// Report is the Evaluator's result: the run's description and the pooled
// per-stage figures, all fractions (NaN, written as JSON null, where
// nothing was pooled).
type Report struct {
	Run    RunInfo `json:"run"`
	Images int     `json:"images"`
	// Layer holds consecutive IoU and IoU-to-final for the three query
	// sets, the stage×stage IoU matrix, Util-A/B/C and the matching change.
	Layer metrics.LayerReport `json:"layer"`
	// Attention holds the attended share and unblocked-row share of the
	// cross-attention masks, matching and MP rows apart.
	Attention metrics.AttentionReport `json:"attention"`
}

// Init starts a new run, discarding what was added before.
func (e *Evaluator) Init(info RunInfo) error {
	if err := info.Check(); err != nil {
		return err
	}
	*e = Evaluator{info: info, seq: sequence{stages: info.NumStages}}
	e.info.StageLayers = cloneSlice(info.StageLayers)
	S := info.NumStages
	e.img.Masks = make([][]*mask.Bits, S)
	e.match = make([][]int, S)
	e.atts = make([]metrics.AttnStage, S)
	return nil
}

// Record binarises the stage's matching-query masks and copies its
// matching and attention mask; at the image's last stage it scores the
// image.
func (e *Evaluator) Record(st *Stage) error {
	if e.closed {
		return fmt.Errorf("probes: evaluator: %w", ErrClosed)
	}
	if e.seq.stages == 0 {
		return fmt.Errorf("probes: evaluator: Record before Init")
	}
	if err := checkStage(&e.info, st); err != nil {
		return err
	}
	last, err := e.seq.step(st)
	if err != nil {
		return err
	}
	s := st.Stage
	if st.Masks != nil {
		e.img.Masks[s] = cloneMasks(st.Masks[st.NumMP:])
	} else {
		e.img.Masks[s] = metrics.StageMasks(st.MaskLogits, st.NumMP, st.NumQueries, st.H, st.W)
	}
	e.match[s] = append(e.match[s][:0], st.Match...)
	a := &e.atts[s]
	a.NumMP, a.NumQueries, a.Cells = st.NumMP, st.NumQueries, st.AttnH*st.AttnW
	a.Blocked = append(a.Blocked[:0], st.AttnMask...)
	a.BlockedBits = cloneMasks(st.AttnBits)
	if st.Unblocked == nil {
		a.Unblocked = nil
	} else {
		a.Unblocked = append(a.Unblocked[:0:0], st.Unblocked...)
	}
	if s == 0 {
		e.img.GT = nil
		if st.GT != nil {
			e.img.GT = st.GT.Clone().Masks
		}
		e.img.Match = nil
		if st.Match != nil {
			e.img.Match = e.match
		}
	}
	if !last {
		return nil
	}
	e.addImage(metrics.NewLayerImage(&e.img), metrics.NewAttnImage(e.atts))
	return nil
}

// addImage pools one image's figures (Record, or TraceReader.Analyze with
// figures computed concurrently, in image order).
func (e *Evaluator) addImage(li *metrics.LayerImage, ai *metrics.AttnImage) {
	e.layer.AddImage(li)
	e.attn.AddImage(ai)
	e.images++
}

// Close ends the run. It fails if an image is incomplete.
func (e *Evaluator) Close() error {
	if e.closed {
		return fmt.Errorf("probes: evaluator: %w", ErrClosed)
	}
	e.closed = true
	return e.seq.incomplete()
}

// Report returns the figures pooled over the images recorded so far.
func (e *Evaluator) Report() Report {
	info := e.info
	info.StageLayers = cloneSlice(e.info.StageLayers)
	return Report{Run: info, Images: e.images, Layer: e.layer.Result(), Attention: e.attn.Result()}
}

// StageRow is one stage's line of the report, as `mpanalyze analyze`
// prints it: fractions, NaN where undefined.
type StageRow struct {
	Stage  int
	Layers int // decoder layers applied before the stage
	// ConsecutiveIoU compares this stage with the next (NaN at the last).
	ConsecutiveIoU float64
	IoUToFinal     float64
	UtilA          float64
	UtilB          float64
	UtilC          float64
	// MatchChange is the share of GT segments whose query changes from
	// this stage to the next (NaN at the last).
	MatchChange float64
	// Attended is the mean share of the feature map the matching queries
	// may attend to in the next layer, unblocked rows included; Unblocked
	// is the share of matching-query rows that were entirely blocked and
	// unblocked. NaN where the stage has no attention mask.
	Attended  float64
	Unblocked float64
}

// Rows returns one row per stage, with the consistency columns taken over
// the query set set. It returns nil when no image was recorded.
func (r *Report) Rows(set metrics.QuerySet) []StageRow {
	S := r.Layer.NumStages
	if S == 0 {
		return nil
	}
	var cons, toFinal metrics.Curve
	switch set {
	case metrics.NonEmpty:
		cons, toFinal = r.Layer.Consecutive.NonEmpty, r.Layer.ToFinal.NonEmpty
	case metrics.StageMatched:
		cons, toFinal = r.Layer.Consecutive.StageMatched, r.Layer.ToFinal.StageMatched
	default:
		cons, toFinal = r.Layer.Consecutive.FinalMatched, r.Layer.ToFinal.FinalMatched
	}
	at := func(v metrics.Series, i int) float64 {
		if i < len(v) {
			return v[i]
		}
		return math.NaN()
	}
	rows := make([]StageRow, S)
	for s := range rows {
		layers := s
		if len(r.Run.StageLayers) == S {
			layers = r.Run.StageLayers[s]
		}
		rows[s] = StageRow{
			Stage:          s,
			Layers:         layers,
			ConsecutiveIoU: at(cons.Mean, s),
			IoUToFinal:     at(toFinal.Mean, s),
			UtilA:          at(r.Layer.UtilA.Mean, s),
			UtilB:          at(r.Layer.UtilB.Mean, s),
			UtilC:          at(r.Layer.UtilC.Mean, s),
			MatchChange:    at(r.Layer.MatchChange.Mean, s),
			Attended:       at(r.Attention.Matching.Attended, s),
			Unblocked:      at(r.Attention.Matching.Unblocked, s),
		}
	}
	return rows
}
