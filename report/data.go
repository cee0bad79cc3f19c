package report

import (
	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/mask"
)

// Data is everything a report page shows. FromResults and FromTraces
// build it; Write renders it. Every field is optional: an empty section is
// left out of the page.
type Data struct {
	// Title heads the page.
	Title string
	// Sources are the experiment directories or traces the report was made
	// from, as given.
	Sources []string
	// Tool names the mpanalyze build that made the report.
	Tool string
	// Verdicts are one-line comparisons (experiments.Comparison.Verdict),
	// the final checkpoint first.
	Verdicts []string
	// Tables are the tables of `mpanalyze compare` (diagnosis, accuracy,
	// ablation, through training), or the per-stage table of each trace.
	Tables []Table
	// Figures are the figures of `mpanalyze plot`, as SVG.
	Figures []Figure
	// Provenance describes each run or trace: configuration, tool,
	// data, conventions.
	Provenance []Provenance
	// Viewer is the stage × query mask viewer's data; nil when no trace
	// could be shown.
	Viewer *Viewer
	// Notes are stated under the title (runs left out, and the like).
	Notes []string
}

// Table is one table with the key `compare --format json` gives it.
type Table struct {
	Key string // "diagnosis", "accuracy", "ablation", "through_training"
	tables.Table
}

// Figure is one figure as SVG, with a text alternative.
type Figure struct {
	Name  string // file name of `plot` without extension, e.g. "util_a"
	Title string
	// Alt says what the figure shows, with its numbers.
	Alt string
	// Note says how the figure was made, when that needs saying.
	Note string
	// Help says how to read it (experiments.Figure.Help, the caption).
	Help string
	// SVG is the figure, a complete SVG document.
	SVG []byte
}

// Provenance describes one run or trace.
type Provenance struct {
	Title  string  // e.g. "mpformer, seed 1"
	Source string  // its directory or trace file
	Fields []Field // the facts worth reading at a glance
	// JSON is the full record (manifest.json, or the trace's run info),
	// indented.
	JSON string
}

// Field is one named fact.
type Field struct{ Name, Value string }

// Viewer is the data of the stage × query mask viewer: for each model,
// checkpoint and image that has a trace, every query's binary mask at
// every decoder stage, the attention masks of the next layer, the GT
// segments and each cell's numbers.
type Viewer struct {
	Models      []Model
	Checkpoints []Checkpoint
	Images      []Image
	// Classes names the classes (index = class); a class without a name is
	// shown as its number.
	Classes []string
	// NumClasses is K: class K is "no object".
	NumClasses int
	// Panels hold one model at one checkpoint on one image; a combination
	// without a trace has no panel.
	Panels []Panel
	// TotalImages is the number of images the traces have in common;
	// Images holds at most MaxImages of them.
	TotalImages int
	MaxImages   int
	// Choice says which images were embedded when not all were, e.g.
	// "the first 8".
	Choice string
	// ImageNote says where the images come from (or why masks are drawn
	// over a neutral background).
	ImageNote string
	// Notes are further facts the page states above the viewer (which
	// seed is shown, checkpoints without a trace).
	Notes []string
}

// Model is one model (configuration) of the viewer.
type Model struct {
	Label string // the configuration label of tables and plots
	Name  string // the display name, e.g. "MP-Former"
	Seed  uint64
}

// Checkpoint is one checkpoint of the viewer.
type Checkpoint struct {
	Label    string  // e.g. "step 800 (100 % of training)"
	Step     int     // 0 when unknown (traces)
	Fraction float64 // 0 when unknown
}

// Image is one input image of the viewer.
type Image struct {
	Index int // dataset index
	// JPEG is the image as the model saw it, or nil when it could not be
	// rendered (the masks are then drawn over a neutral background).
	JPEG []byte
	// W and H are the input size in pixels (mask size × stride).
	W, H int
}

// Panel is one model at one checkpoint on one image: S stages × Q
// queries, in the trace's query order. Per-cell slices are indexed
// [s·Q + q].
type Panel struct {
	Model, Checkpoint, Image int // indices into Viewer's lists
	// StageLayers[s] is the number of decoder layers before stage s.
	StageLayers []int
	NumQueries  int
	// Masks are the binary masks (logit > 0) at the mask resolution.
	Masks []*mask.Bits
	// Attn[s] are the attention masks of the layer after stage s (true =
	// blocked), one per query at that layer's feature size; nil when the
	// stage has no next masked-attention layer.
	Attn [][]*mask.Bits
	GT   []GTSegment
	// Cells are the numbers of each (stage, query) cell.
	Cells []Cell
	// FinalGT[q] is the GT segment query q is matched to at the last
	// stage, −1 if none.
	FinalGT []int
	// MeanCons[q] is the mean over the stage pairs of query q's
	// consecutive IoU.
	MeanCons []float64
}

// GTSegment is one ground-truth segment at the mask resolution.
type GTSegment struct {
	Class int
	Mask  *mask.Bits
}

// Cell holds the numbers of one query at one stage. IoUs are fractions,
// NaN where undefined.
type Cell struct {
	// Class is the arg-max of the class logits, NumClasses for "no
	// object"; Score its softmax probability.
	Class int
	Score float64
	// IoUPrev is the IoU with the query's mask at the previous stage (NaN
	// at stage 0), IoUFinal with its mask at the last stage, IoUGT with
	// the GT segment it is matched to at the last stage (NaN when it is
	// not matched there).
	IoUPrev, IoUFinal, IoUGT float64
	// Matched is the GT segment this stage's Hungarian matching gives the
	// query, −1 if none.
	Matched int
	// Blocked is the share of the next layer's feature map the query may
	// not attend to (NaN without a next masked-attention layer).
	Blocked float64
	// Unblocked marks a row that was entirely blocked and so was allowed
	// to attend everywhere.
	Unblocked bool
}
