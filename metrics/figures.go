package metrics

import (
	"fmt"
	"math"
)

// StageFigures are a probed run's dataset-level per-stage results, the
// input of every Figure: what LayerEvaluator and AttentionEvaluator report.
type StageFigures struct {
	Layer     *LayerReport
	Attention *AttentionReport
}

// Figure is one per-stage figure of a probed run: its names, its meaning
// and how to read it. Figures is the registry that every consumer reads —
// the analyze, compare and report tables, the plots, the manifest's metric
// definitions, metrics.jsonl and the verdict — so that a figure is added
// by adding one entry, and no code finds a number by its display label.
type Figure struct {
	// Key names the figure in JSON, CSV and metrics.jsonl, e.g.
	// "consecutive_iou". With a query set other than FinalMatched it is
	// followed by "_" and the set's name ("consecutive_iou_non_empty").
	Key string
	// Header is the table column, e.g. "cons. IoU".
	Header string
	// Title is the caption of the figure's plot.
	Title string
	// Axis is the y-axis label of its plot.
	Axis string
	// Doc says what the figure is, in one sentence without a final period.
	Doc string
	// Reading says how to read the figure's plot, for captions.
	Reading string
	// Pair marks a figure per stage pair (S−1 entries, entry s comparing
	// stages s and s+1); the others have one entry per stage (S).
	Pair bool
	// QuerySets marks a figure taken over a query set (the set argument of
	// Series selects it); the others ignore the set.
	QuerySets bool
	// Plotted marks the figures drawn as per-stage curves by default.
	Plotted bool
	// PerImage, when set, is the figure's per-image function (one Mean
	// per stage, or per stage pair): LayerEvaluator pools it into
	// LayerReport.More[Key], and Series reads it from there.
	PerImage func(img *ImageStages) []Mean

	series func(f *StageFigures, set QuerySet) Series
	// image gives one image's sums and counts of a figure without
	// PerImage (Figure.Image); pooled over images they are series.
	image func(li *LayerImage, ai *AttnImage, set QuerySet) []Mean
}

// Series returns the figure of a run: len S (or S−1 for Pair), NaN where
// undefined. It returns nil when the run lacks the figure (a report
// written before the figure existed).
func (fg *Figure) Series(f *StageFigures, set QuerySet) Series {
	if fg.PerImage != nil {
		if f.Layer == nil || f.Layer.More == nil {
			return nil
		}
		c, ok := f.Layer.More[fg.Key]
		if !ok {
			return nil
		}
		return c.Mean
	}
	return fg.series(f, set)
}

// KeyFor is the figure's key for a query set: Key for FinalMatched and for
// figures without query sets, Key + "_" + set otherwise.
func (fg *Figure) KeyFor(set QuerySet) string {
	if !fg.QuerySets || set == FinalMatched {
		return fg.Key
	}
	return fg.Key + "_" + set.String()
}

func curveOf(c func(*LayerReport) *Curve) func(*StageFigures, QuerySet) Series {
	return func(f *StageFigures, _ QuerySet) Series {
		if f.Layer == nil {
			return nil
		}
		return c(f.Layer).Mean
	}
}

func setCurve(c func(*LayerReport) *QuerySetCurves) func(*StageFigures, QuerySet) Series {
	return func(f *StageFigures, set QuerySet) Series {
		if f.Layer == nil {
			return nil
		}
		q := c(f.Layer)
		switch set {
		case NonEmpty:
			return q.NonEmpty.Mean
		case StageMatched:
			return q.StageMatched.Mean
		}
		return q.FinalMatched.Mean
	}
}

func attnOf(c func(*AttnCurve) Series) func(*StageFigures, QuerySet) Series {
	return func(f *StageFigures, _ QuerySet) Series {
		if f.Attention == nil || f.Attention.NumStages == 0 {
			return nil
		}
		return c(&f.Attention.Matching)
	}
}

// Figures is the registry of per-stage figures, in the order tables show
// them. See metrics/doc.go for the definitions.
var Figures = []Figure{
	{Key: "consecutive_iou", Header: "cons. IoU", Pair: true, QuerySets: true, Plotted: true,
		Reading: "Each point is the mean IoU between a query's mask at one stage and at the next (queries matched to a GT segment at the last stage), over the validation images. Higher means the decoder refines a mask instead of redrawing it; a dip marks the layer pair where masks change most. Bands are ± one sd over seeds.",
		Title:   "Consecutive-stage IoU (queries matched at the last stage)", Axis: "IoU of stage s and s+1 masks",
		Doc:    "IoU of a query's binary masks at this stage and the next",
		series: setCurve(func(r *LayerReport) *QuerySetCurves { return &r.Consecutive }),
		image:  setImage(func(li *LayerImage) *[3][]Mean { return &li.cons })},
	{Key: "iou_to_final", Header: "IoU→final", QuerySets: true, Plotted: true,
		Reading: "Mean IoU of a query's mask at each stage with its last-stage mask (100 % at the last stage).",
		Title:   "IoU with the last stage's mask (queries matched at the last stage)", Axis: "IoU with last stage",
		Doc:    "IoU of a query's mask at this stage with its mask at the last stage",
		series: setCurve(func(r *LayerReport) *QuerySetCurves { return &r.ToFinal }),
		image:  setImage(func(li *LayerImage) *[3][]Mean { return &li.toFinal })},
	{Key: "util_a", Header: "Util-A", Plotted: true,
		Reading: "Share of the GT segments matched at the last stage that are already matched to the same query at this stage. It reaches 100 % at the last stage by definition; the earlier it climbs, the sooner each query settles on its object.",
		Title:   "Util-A: GT segments already matched to their final query", Axis: "Util-A",
		Doc:    "share of the GT segments matched at the last stage that are matched to the same query at this stage",
		series: curveOf(func(r *LayerReport) *Curve { return &r.UtilA }),
		image:  imageOf(func(li *LayerImage) []Mean { return li.utilA })},
	{Key: "util_b", Header: "Util-B", Plotted: true,
		Reading: "Share of the final-matched queries whose mask at this stage already has IoU ≥ 0.5 with their final mask.",
		Title:   "Util-B: final queries whose mask already has IoU ≥ 0.5 with their final mask", Axis: "Util-B",
		Doc:    "share of the queries matched at the last stage whose mask at this stage has IoU ≥ 0.5 with their last mask",
		series: curveOf(func(r *LayerReport) *Curve { return &r.UtilB }),
		image:  imageOf(func(li *LayerImage) []Mean { return li.utilB })},
	{Key: "util_c", Header: "Util-C", Plotted: true,
		Reading: "Share of the final-matched queries whose mask at this stage already has IoU ≥ 0.5 with their GT segment: how early a query's mask is good, not just stable.",
		Title:   "Util-C: final queries whose mask already has IoU ≥ 0.5 with their GT segment", Axis: "Util-C",
		Doc:    "share of the GT segments matched at the last stage whose query's mask at this stage has IoU ≥ 0.5 with the segment",
		series: curveOf(func(r *LayerReport) *Curve { return &r.UtilC }),
		image:  imageOf(func(li *LayerImage) []Mean { return li.utilC })},
	{Key: "match_change", Header: "match chg", Pair: true,
		Reading: "Share of the GT segments whose matched query changes between one stage and the next; one minus it is the matching stability.",
		Title:   "Matching change between consecutive stages", Axis: "share of GT segments",
		Doc:    "share of GT segments whose matched query changes from this stage to the next",
		series: curveOf(func(r *LayerReport) *Curve { return &r.MatchChange }),
		image:  imageOf(func(li *LayerImage) []Mean { return li.chang })},
	{Key: "attended", Header: "attended",
		Reading: "How much of the feature map the masked attention of the next layer lets a matching query see; a query whose mask is empty attends everywhere.",
		Title:   "Attended share of the feature map (matching queries)", Axis: "attended share",
		Doc:    "mean share of the feature map a matching query may attend to in the next layer (entirely blocked rows, unblocked, count 1)",
		series: attnOf(func(c *AttnCurve) Series { return c.Attended }),
		image:  attnImage(func(r AttnRows) Mean { return Mean{Sum: r.Attended, N: r.Rows} })},
	{Key: "unblocked", Header: "all blocked",
		Reading: "Share of matching-query rows whose attention mask blocked every cell, which the decoder then unblocks (Mask2Former's rule).",
		Title:   "Entirely blocked attention rows (matching queries)", Axis: "share of rows",
		Doc:    "share of matching-query rows whose attention mask blocked everything, so that the layer unblocked them",
		series: attnOf(func(c *AttnCurve) Series { return c.Unblocked }),
		image:  attnImage(func(r AttnRows) Mean { return Mean{Sum: float64(r.Unblocked), N: r.Rows} })},
	{Key: "consecutive_iou_matched_nonempty", Header: "cons. IoU (ne)", Pair: true,
		Reading: "The consecutive IoU of the queries matched at the last stage, leaving out the pairs where the query's mask is empty at both stages (which count as IoU 1 in the primary figure).",
		Title:   "Consecutive-stage IoU, final-matched queries with a non-empty mask", Axis: "IoU of stage s and s+1 masks",
		Doc:      "consecutive IoU over the queries matched at the last stage whose mask is non-empty at this stage or the next",
		PerImage: ConsecutiveIoUMatchedNonEmpty},
	{Key: "consecutive_iou_gt", Header: "cons. IoU (GT)", Pair: true,
		Reading: "GT-anchored consistency: for each GT segment, the IoU between the mask of the query matched to it at this stage and the mask of the query matched to it at the next. It drops when the matching moves the segment to a query whose mask differs, even if every query refines its own mask steadily.",
		Title:   "GT-anchored consecutive IoU (the segment's matched query at s and s+1)", Axis: "IoU of σ_s(g) at s and σ_{s+1}(g) at s+1",
		Doc:      "IoU between the mask of the query matched to a GT segment at this stage and the mask of the query matched to it at the next, over the segments matched at both",
		PerImage: ConsecutiveIoUGT},
	{Key: "empty", Header: "empty", Plotted: true,
		Reading: "Share of the final-matched queries whose mask at this stage is empty. Consecutive IoU counts two empty masks as identical (IoU 1), so a high share here props up the consistency figures.",
		Title:   "Empty masks among the queries matched at the last stage", Axis: "share of queries",
		Doc:      "share of the queries matched at the last stage whose mask at this stage is empty",
		PerImage: EmptyFinalMatched},
}

// FigureByKey returns the registry entry with the given key (a query-set
// key such as "consecutive_iou_non_empty" returns its figure and the set).
func FigureByKey(key string) (*Figure, QuerySet, error) {
	for i := range Figures {
		fg := &Figures[i]
		for _, set := range []QuerySet{FinalMatched, NonEmpty, StageMatched} {
			if fg.KeyFor(set) == key {
				return fg, set, nil
			}
		}
	}
	return nil, 0, fmt.Errorf("metrics: no per-stage figure %q", key)
}

// MustFigure is FigureByKey for keys fixed in the code; it panics on an
// unknown key.
func MustFigure(key string) *Figure {
	fg, _, err := FigureByKey(key)
	if err != nil {
		panic(err)
	}
	return fg
}

// EmptyFinalMatched returns, for each stage s = 0..S−1, over the queries
// q = σ_{S−1}(g) matched at the last stage, the count of those whose
// stage-s mask is empty:
//
//	empty(s) = |{q : B_q^s = ∅}| / |{σ_{S−1}(g) ≠ −1}|.
//
// It shows how much of the consistency figures rests on IoU(∅, ∅) = 1.
func EmptyFinalMatched(img *ImageStages) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S)
	qs := img.queries(FinalMatched, S-1, S-1)
	for s := range out {
		for _, q := range qs {
			out[s].add(boolFloat(img.Masks[s][q].Empty()))
		}
	}
	return out
}

// ConsecutiveIoUMatchedNonEmpty returns, for each stage pair s, over the
// queries q = σ_{S−1}(g) matched at the last stage whose mask is
// non-empty at s or at s+1, the sum and count of IoU(B_q^s, B_q^{s+1}).
func ConsecutiveIoUMatchedNonEmpty(img *ImageStages) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S-1)
	qs := img.queries(FinalMatched, S-1, S-1)
	for s := range out {
		for _, q := range qs {
			a, b := img.Masks[s][q], img.Masks[s+1][q]
			if !a.Empty() || !b.Empty() {
				out[s].add(IoU(a, b))
			}
		}
	}
	return out
}

// ConsecutiveIoUGT returns, for each stage pair s, over the GT segments g
// matched at both s and s+1, the sum and count of
//
//	IoU(B_{σ_s(g)}^s, B_{σ_{s+1}(g)}^{s+1}),
//
// how much the mask the decoder assigns to a segment changes from one stage
// to the next, whichever query carries it.
func ConsecutiveIoUGT(img *ImageStages) []Mean {
	S, _, _ := img.dims()
	out := make([]Mean, S-1)
	if img.Match == nil {
		return out
	}
	for s := range out {
		for g, q := range img.Match[s] {
			if r := img.Match[s+1][g]; q >= 0 && r >= 0 {
				out[s].add(IoU(img.Masks[s][q], img.Masks[s+1][r]))
			}
		}
	}
	return out
}

// Summary is a run's per-stage figures reduced to the two numbers the
// verdict compares.
type Summary struct {
	// ConsecutiveIoU is the mean over the stage pairs of the consecutive
	// IoU of the queries matched at the last stage.
	ConsecutiveIoU float64 `json:"mean_consecutive_iou"`
	// UtilA is the mean Util-A over the stages before the last (whose
	// Util-A is 1 by definition).
	UtilA float64 `json:"mean_util_a"`
}

// Summarize reduces a run's figures to its Summary; NaN entries are left
// out of the means (a mean of nothing is NaN).
func Summarize(f *StageFigures) Summary {
	cons := MustFigure("consecutive_iou").Series(f, FinalMatched)
	util := MustFigure("util_a").Series(f, FinalMatched)
	if len(util) > 0 {
		util = util[:len(util)-1]
	}
	return Summary{ConsecutiveIoU: nanMean(cons), UtilA: nanMean(util)}
}

func nanMean(v []float64) float64 {
	var sum float64
	n := 0
	for _, x := range v {
		if !math.IsNaN(x) {
			sum += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}
