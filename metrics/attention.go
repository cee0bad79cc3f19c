package metrics

import (
	"fmt"

	"github.com/mpanalyze/mpanalyze/mask"
)

// AttnStage is one image's cross-attention mask at one stage, as
// probes.Stage records it: the mask that layer s+1 uses.
type AttnStage struct {
	NumMP      int // MP rows first (0 at inference)
	NumQueries int // matching-query rows after them
	// Cells is AttnH·AttnW, the cells of the feature level the next layer
	// attends to; 0 at the last stage and for models without masked
	// attention, in which case the stage counts no row.
	Cells int
	// Blocked holds (NumMP+NumQueries)·Cells entries, row-major by row,
	// true = blocked, after entirely blocked rows were unblocked.
	Blocked []bool
	// BlockedBits, when not nil, replaces Blocked: one bit-packed mask
	// of Cells pixels per row, set = blocked (attended shares are then
	// popcounts; the figures are the same).
	BlockedBits []*mask.Bits
	// Unblocked marks the rows (NumMP+NumQueries) that were entirely blocked
	// and so made to attend everywhere; nil means none.
	Unblocked []bool
}

// AttnRows sums attention figures over a set of rows.
type AttnRows struct {
	Rows int `json:"rows"`
	// Attended is Σ over the rows of the attendable share of the row,
	// |{c : ¬Blocked[r][c]}| / Cells, as the layer uses it (unblocked
	// rows count 1).
	Attended float64 `json:"attended"`
	// Kept counts the rows that were not unblocked and AttendedKept sums
	// their attendable shares: the area the query's own mask opens.
	Kept         int     `json:"kept"`
	AttendedKept float64 `json:"attended_kept"`
	// Unblocked counts the rows that were entirely blocked and unblocked.
	Unblocked int `json:"unblocked"`
}

func (a *AttnRows) addRows(b AttnRows) {
	a.Rows += b.Rows
	a.Attended += b.Attended
	a.Kept += b.Kept
	a.AttendedKept += b.AttendedKept
	a.Unblocked += b.Unblocked
}

// AttentionStats sums the attention figures of one stage's rows, separately
// for the matching-query rows and the MP rows:
//
//	attended share of row r = |{c : ¬Blocked[r·Cells + c]}| / Cells.
//
// The means are Attended/Rows, AttendedKept/Kept and Unblocked/Rows. It
// panics if the slice lengths do not match the row and cell counts.
func AttentionStats(a *AttnStage) (matching, mp AttnRows) {
	rows := a.NumMP + a.NumQueries
	if a.NumMP < 0 || a.NumQueries < 0 || a.Cells < 0 {
		panic(fmt.Sprintf("metrics: bad attention sizes %d MP, %d queries, %d cells", a.NumMP, a.NumQueries, a.Cells))
	}
	if a.Cells == 0 {
		return AttnRows{}, AttnRows{}
	}
	if a.BlockedBits != nil {
		if len(a.BlockedBits) != rows {
			panic(fmt.Sprintf("metrics: %d packed attention rows, want %d", len(a.BlockedBits), rows))
		}
		for r, m := range a.BlockedBits {
			if m == nil || m.Len() != a.Cells {
				panic(fmt.Sprintf("metrics: packed attention row %d is nil or not %d cells", r, a.Cells))
			}
		}
	} else if len(a.Blocked) != rows*a.Cells {
		panic(fmt.Sprintf("metrics: attention mask has %d entries, want %d×%d", len(a.Blocked), rows, a.Cells))
	}
	if a.Unblocked != nil && len(a.Unblocked) != rows {
		panic(fmt.Sprintf("metrics: %d unblocked flags for %d rows", len(a.Unblocked), rows))
	}
	for r := 0; r < rows; r++ {
		open := 0
		if a.BlockedBits != nil {
			open = a.Cells - a.BlockedBits[r].Area()
		} else {
			for _, b := range a.Blocked[r*a.Cells : (r+1)*a.Cells] {
				if !b {
					open++
				}
			}
		}
		share := float64(open) / float64(a.Cells)
		dst := &matching
		if r < a.NumMP {
			dst = &mp
		}
		dst.Rows++
		dst.Attended += share
		if a.Unblocked != nil && a.Unblocked[r] {
			dst.Unblocked++
		} else {
			dst.Kept++
			dst.AttendedKept += share
		}
	}
	return matching, mp
}

// AttnCurve is the per-stage attention figures of one kind of row.
type AttnCurve struct {
	Rows         []int  `json:"rows"`          // rows pooled per stage
	Attended     Series `json:"attended"`      // mean attended share, unblocked rows included
	Kept         []int  `json:"kept"`          // rows not unblocked per stage
	AttendedKept Series `json:"attended_kept"` // mean attended share of the kept rows
	Unblocked    Series `json:"unblocked"`     // share of rows unblocked
}

// AttentionReport is the result of AttentionEvaluator: per stage s
// (0..S−1, the mask layer s+1 uses; the last stage has no row), pooled over
// all rows of all images.
type AttentionReport struct {
	NumStages int        `json:"num_stages"`
	Images    int        `json:"images"`
	Matching  AttnCurve  `json:"matching"`
	MP        *AttnCurve `json:"mp,omitempty"` // nil when no MP row was seen
}

// AttentionEvaluator pools AttentionStats over images. The zero value is
// ready to use; all images must have the same number of stages.
type AttentionEvaluator struct {
	images   int
	matching []AttnRows
	mp       []AttnRows
}

// Reset discards everything added.
func (e *AttentionEvaluator) Reset() { *e = AttentionEvaluator{} }

// Add adds one image's stages, stages[s] for stage s.
func (e *AttentionEvaluator) Add(stages []AttnStage) {
	e.AddImage(NewAttnImage(stages))
}

// AttnImage is one image's contribution to an AttentionEvaluator: its
// AttentionStats per stage. Computing AttnImages concurrently and adding
// them in image order gives the figures of Add, bit for bit.
type AttnImage struct {
	matching, mp []AttnRows
}

// NewAttnImage computes AttentionStats for every stage of one image.
func NewAttnImage(stages []AttnStage) *AttnImage {
	a := &AttnImage{matching: make([]AttnRows, len(stages)), mp: make([]AttnRows, len(stages))}
	for s := range stages {
		a.matching[s], a.mp[s] = AttentionStats(&stages[s])
	}
	return a
}

// AddImage adds one image's statistics. It panics if the stage count
// differs from the images added before.
func (e *AttentionEvaluator) AddImage(a *AttnImage) {
	if e.images == 0 {
		e.matching = make([]AttnRows, len(a.matching))
		e.mp = make([]AttnRows, len(a.matching))
	} else if len(a.matching) != len(e.matching) {
		panic(fmt.Sprintf("metrics: image has %d stages, earlier images %d", len(a.matching), len(e.matching)))
	}
	e.images++
	for s := range a.matching {
		e.matching[s].addRows(a.matching[s])
		e.mp[s].addRows(a.mp[s])
	}
}

func attnCurve(rs []AttnRows) AttnCurve {
	c := AttnCurve{
		Rows:         make([]int, len(rs)),
		Kept:         make([]int, len(rs)),
		Attended:     nanSeries(len(rs)),
		AttendedKept: nanSeries(len(rs)),
		Unblocked:    nanSeries(len(rs)),
	}
	for s, r := range rs {
		c.Rows[s], c.Kept[s] = r.Rows, r.Kept
		if r.Rows > 0 {
			c.Attended[s] = r.Attended / float64(r.Rows)
			c.Unblocked[s] = float64(r.Unblocked) / float64(r.Rows)
		}
		if r.Kept > 0 {
			c.AttendedKept[s] = r.AttendedKept / float64(r.Kept)
		}
	}
	return c
}

// Result returns the pooled per-stage figures.
func (e *AttentionEvaluator) Result() AttentionReport {
	r := AttentionReport{NumStages: len(e.matching), Images: e.images, Matching: attnCurve(e.matching)}
	for _, p := range e.mp {
		if p.Rows > 0 {
			c := attnCurve(e.mp)
			r.MP = &c
			break
		}
	}
	return r
}
