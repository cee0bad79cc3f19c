package probes

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/mask"
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
		e.img.Index = st.Image
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

// Figures returns the report's figures, the input of the registry's
// metrics.Figure.Series.
func (r *Report) Figures() *metrics.StageFigures {
	return &metrics.StageFigures{Layer: &r.Layer, Attention: &r.Attention}
}
