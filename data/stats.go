package data

import (
	"fmt"
	"math"
	"runtime"
	"sort"

	"github.com/mpanalyze/mpanalyze/internal/parallel"
)

// Stats summarises the ground truth of the first images of a dataset.
type Stats struct {
	Images int `json:"images"`
	// MinSide and MaxSide bound the image sides seen.
	MinSide int `json:"min_side"`
	MaxSide int `json:"max_side"`
	// Segments counts all segments (things and stuff) per image, Things
	// the thing instances only.
	Segments PerImage `json:"segments_per_image"`
	Things   PerImage `json:"things_per_image"`
	// Classes has one entry per category, in category order.
	Classes []ClassStats `json:"classes"`
	// ThingAreas and StuffAreas describe the visible mask areas.
	ThingAreas AreaStats `json:"thing_areas"`
	StuffAreas AreaStats `json:"stuff_areas"`
	// VoidFraction is the fraction of all pixels with no ground truth.
	VoidFraction float64 `json:"void_fraction"`
}

// PerImage is the distribution of a count per image.
type PerImage struct {
	Mean float64 `json:"mean"`
	Min  int     `json:"min"`
	Max  int     `json:"max"`
	// Histogram[c] is the number of images with count c (0..Max).
	Histogram []int `json:"histogram"`
}

// ClassStats counts one category.
type ClassStats struct {
	Name      string `json:"name"`
	IsThing   bool   `json:"isthing"`
	Instances int    `json:"instances"` // segments of the class
	Images    int    `json:"images"`    // images with at least one
	// PixelFraction is the class's share of all pixels.
	PixelFraction float64 `json:"pixel_fraction"`
}

// AreaStats is the distribution of mask areas.
type AreaStats struct {
	Count int `json:"count"`
	// Quantiles of the area in pixels at QuantileLevels (linear
	// interpolation between order statistics, numpy's default).
	Quantiles []float64 `json:"quantiles_px"`
	// RelQuantiles are the quantiles of the area as a fraction of the
	// image area.
	RelQuantiles []float64 `json:"quantiles_rel"`
	// COCO size buckets: area < 32², < 96², and the rest.
	Small  int `json:"small"`
	Medium int `json:"medium"`
	Large  int `json:"large"`
}

// QuantileLevels are the levels of AreaStats.Quantiles.
var QuantileLevels = []float64{0, 0.1, 0.25, 0.5, 0.75, 0.9, 1}

// ComputeStats reads images 0..n-1 of ds (all of them if n ≤ 0 or n >
// Len) on up to workers goroutines and summarises them. The result does
// not depend on workers.
func ComputeStats(ds Dataset, n, workers int) (*Stats, error) {
	if n <= 0 || n > ds.Len() {
		n = ds.Len()
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	cats := ds.Categories()
	recs := make([]imageStats, n)
	errs := make([]error, n)
	parallel.For(n, workers, func(i int) {
		recs[i], errs[i] = readImageStats(ds, i, len(cats))
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return summarizeStats(recs, cats), nil
}

// imageStats is what ComputeStats keeps of one image.
type imageStats struct {
	h, w      int
	segs      []Instance // class and kind only: masks dropped after use
	areas     []int      // per segment
	classPix  []int      // per class
	void      int        // void pixels
	thingSegs int
}

// readImageStats reads sample i of ds and counts its segments' areas and
// its pixels per class (of k classes) and void.
func readImageStats(ds Dataset, i, k int) (imageStats, error) {
	s, err := ds.Sample(i)
	if err != nil {
		return imageStats{}, err
	}
	r := imageStats{h: s.H, w: s.W, classPix: make([]int, k)}
	for _, in := range s.Instances {
		if in.Class < 0 || in.Class >= k {
			return imageStats{}, fmt.Errorf("data: %s sample %d: class %d out of range [0, %d)", ds.Name(), i, in.Class, k)
		}
		a := in.Mask.Area()
		r.areas = append(r.areas, a)
		r.segs = append(r.segs, Instance{Class: in.Class, IsThing: in.IsThing})
		r.classPix[in.Class] += a
		if in.IsThing {
			r.thingSegs++
		}
	}
	for _, v := range s.Semantic {
		if v == Void {
			r.void++
		}
	}
	return r, nil
}

// summarizeStats sums the images' counts, in image order, into Stats.
func summarizeStats(recs []imageStats, cats []Category) *Stats {
	st := &Stats{Images: len(recs), MinSide: math.MaxInt, Classes: make([]ClassStats, len(cats))}
	for c, cat := range cats {
		st.Classes[c] = ClassStats{Name: cat.Name, IsThing: cat.IsThing}
	}
	var segCounts, thingCounts []int
	var thingA, stuffA []int
	var thingRel, stuffRel []float64
	totalPix, voidPix := 0, 0
	classPix := make([]int, len(cats))
	for _, r := range recs {
		st.MinSide = min(st.MinSide, r.h, r.w)
		st.MaxSide = max(st.MaxSide, r.h, r.w)
		segCounts = append(segCounts, len(r.segs))
		thingCounts = append(thingCounts, r.thingSegs)
		seen := make([]bool, len(cats))
		for k, in := range r.segs {
			st.Classes[in.Class].Instances++
			if !seen[in.Class] {
				seen[in.Class] = true
				st.Classes[in.Class].Images++
			}
			rel := float64(r.areas[k]) / float64(r.h*r.w)
			if in.IsThing {
				thingA, thingRel = append(thingA, r.areas[k]), append(thingRel, rel)
			} else {
				stuffA, stuffRel = append(stuffA, r.areas[k]), append(stuffRel, rel)
			}
		}
		for c, p := range r.classPix {
			classPix[c] += p
		}
		totalPix += r.h * r.w
		voidPix += r.void
	}
	if len(recs) == 0 {
		st.MinSide = 0
	}
	for c := range st.Classes {
		if totalPix > 0 {
			st.Classes[c].PixelFraction = float64(classPix[c]) / float64(totalPix)
		}
	}
	if totalPix > 0 {
		st.VoidFraction = float64(voidPix) / float64(totalPix)
	}
	st.Segments = perImage(segCounts)
	st.Things = perImage(thingCounts)
	st.ThingAreas = areaStats(thingA, thingRel)
	st.StuffAreas = areaStats(stuffA, stuffRel)
	return st
}

func perImage(c []int) PerImage {
	if len(c) == 0 {
		return PerImage{Histogram: []int{}}
	}
	p := PerImage{Min: c[0], Max: c[0]}
	sum := 0
	for _, v := range c {
		p.Min, p.Max = min(p.Min, v), max(p.Max, v)
		sum += v
	}
	p.Mean = float64(sum) / float64(len(c))
	p.Histogram = make([]int, p.Max+1)
	for _, v := range c {
		p.Histogram[v]++
	}
	return p
}

func areaStats(px []int, rel []float64) AreaStats {
	a := AreaStats{Count: len(px), Quantiles: []float64{}, RelQuantiles: []float64{}}
	if len(px) == 0 {
		return a
	}
	f := make([]float64, len(px))
	for i, v := range px {
		f[i] = float64(v)
		switch {
		case v < 32*32:
			a.Small++
		case v < 96*96:
			a.Medium++
		default:
			a.Large++
		}
	}
	a.Quantiles = Quantiles(f, QuantileLevels)
	a.RelQuantiles = Quantiles(append([]float64(nil), rel...), QuantileLevels)
	return a
}

// Quantiles returns the quantiles of x at levels in [0, 1] by linear
// interpolation between order statistics (numpy's default, "type 7"):
// level q falls at position q·(n−1) of the sorted values. x is sorted in
// place. It panics on empty x.
func Quantiles(x []float64, levels []float64) []float64 {
	if len(x) == 0 {
		panic("data: Quantiles of no values")
	}
	sort.Float64s(x)
	out := make([]float64, len(levels))
	for i, q := range levels {
		pos := q * float64(len(x)-1)
		lo := int(math.Floor(pos))
		hi := min(lo+1, len(x)-1)
		out[i] = x[lo] + (x[hi]-x[lo])*(pos-float64(lo))
	}
	return out
}
