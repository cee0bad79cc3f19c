package metrics

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
)

// Image returns one image's contribution to the figure: per stage (or
// stage pair) the sum and count of the values the figure pools, for the
// query set set, from the image's LayerImage and AttnImage (ai may be nil:
// then the attention figures are nil). Pooled over images, Σ Sum / Σ N,
// they give the figure's Series of the report of those images, bit for
// bit when pooled in the order the images were added. It returns nil for
// a figure the image lacks.
func (fg *Figure) Image(li *LayerImage, ai *AttnImage, set QuerySet) []Mean {
	if fg.PerImage != nil {
		return slices.Clone(li.more[fg.Key])
	}
	if fg.image == nil {
		return nil
	}
	return fg.image(li, ai, set)
}

// setIndex is the position of a query set in LayerImage's per-set arrays.
func setIndex(set QuerySet) int {
	switch set {
	case NonEmpty:
		return 1
	case StageMatched:
		return 2
	}
	return 0
}

func setImage(c func(*LayerImage) *[3][]Mean) func(*LayerImage, *AttnImage, QuerySet) []Mean {
	return func(li *LayerImage, _ *AttnImage, set QuerySet) []Mean {
		return slices.Clone(c(li)[setIndex(set)])
	}
}

func imageOf(c func(*LayerImage) []Mean) func(*LayerImage, *AttnImage, QuerySet) []Mean {
	return func(li *LayerImage, _ *AttnImage, _ QuerySet) []Mean {
		return slices.Clone(c(li))
	}
}

// attnImage reads an attention figure of the matching-query rows.
func attnImage(c func(AttnRows) Mean) func(*LayerImage, *AttnImage, QuerySet) []Mean {
	return func(_ *LayerImage, ai *AttnImage, _ QuerySet) []Mean {
		if ai == nil || len(ai.matching) == 0 {
			return nil
		}
		out := make([]Mean, len(ai.matching))
		for s, r := range ai.matching {
			out[s] = c(r)
		}
		return out
	}
}

// ImageFigures are one image's sums and counts of every per-stage figure
// of the registry (Figure.Image), for one query set: what a bootstrap over
// images (or any subset of them) needs to recompute any figure exactly,
// Σ Sum / Σ N over the chosen images.
type ImageFigures struct {
	// Index is the image's dataset index.
	Index int
	// Set is the query set of the figures that have query sets.
	Set QuerySet
	// Figures holds each figure's per-stage Means by its key for Set
	// (Figure.KeyFor); figures the image lacks are missing.
	Figures map[string][]Mean
}

// NewImageFigures collects every registry figure of one image.
func NewImageFigures(li *LayerImage, ai *AttnImage, set QuerySet) ImageFigures {
	out := ImageFigures{Index: li.index, Set: set, Figures: map[string][]Mean{}}
	for i := range Figures {
		fg := &Figures[i]
		if v := fg.Image(li, ai, set); v != nil {
			out.Figures[fg.KeyFor(set)] = v
		}
	}
	return out
}

// MarshalJSON writes {"index": i, "<key>": [{"sum": s, "n": n}, ...], ...}
// with the figures in registry order.
func (f ImageFigures) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"index":`)
	b.WriteString(strconv.Itoa(f.Index))
	for i := range Figures {
		key := Figures[i].KeyFor(f.Set)
		v, ok := f.Figures[key]
		if !ok {
			continue
		}
		js, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.WriteString(",")
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteString(":")
		b.Write(js)
	}
	b.WriteString("}")
	return b.Bytes(), nil
}
