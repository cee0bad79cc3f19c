package data

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// fixedDS is a dataset of hand-made samples.
type fixedDS struct {
	cats    []Category
	samples []*Sample
}

func (d *fixedDS) Name() string                  { return "fixed" }
func (d *fixedDS) Len() int                      { return len(d.samples) }
func (d *fixedDS) Categories() []Category        { return d.cats }
func (d *fixedDS) Sample(i int) (*Sample, error) { return d.samples[i], nil }
func (d *fixedDS) Describe() map[string]any      { return map[string]any{"kind": "fixed"} }

// sampleFromPanoptic builds a sample from a panoptic id map and the class
// of each id (ids 1..len(classes), 0 = void).
func sampleFromPanoptic(index, h, w int, pan []int32, classes []int, cats []Category) *Sample {
	s := &Sample{Index: index, H: h, W: w, RGB: make([]uint8, 3*h*w), Panoptic: pan, Semantic: make([]int32, h*w)}
	for k, c := range classes {
		s.Instances = append(s.Instances, Instance{Class: c, IsThing: cats[c].IsThing, ID: k + 1, Mask: mask.New(h, w)})
	}
	for i, id := range pan {
		if id == 0 {
			s.Semantic[i] = Void
			continue
		}
		s.Semantic[i] = int32(classes[id-1])
		s.Instances[id-1].Mask.Set(i, true)
	}
	return s
}

func TestComputeStatsByHand(t *testing.T) {
	cats := makeCategories([]string{"a", "b"}, []string{"s"})
	ds := &fixedDS{cats: cats, samples: []*Sample{
		// stuff s (12 px) and thing a (4 px)
		sampleFromPanoptic(0, 4, 4, []int32{
			1, 1, 1, 1,
			1, 2, 2, 1,
			1, 2, 2, 1,
			1, 1, 1, 1}, []int{2, 0}, cats),
		// stuff s (6 px), thing a (3 px), thing b (5 px), 2 void
		sampleFromPanoptic(1, 4, 4, []int32{
			1, 1, 1, 0,
			1, 1, 1, 0,
			2, 2, 2, 3,
			3, 3, 3, 3}, []int{2, 0, 1}, cats),
	}}
	for _, w := range []int{1, 3} {
		st, err := ComputeStats(ds, 0, w)
		if err != nil {
			t.Fatal(err)
		}
		// All expected values are hand-computed from the two maps above.
		want := &Stats{
			Images: 2, MinSide: 4, MaxSide: 4,
			Segments: PerImage{Mean: 2.5, Min: 2, Max: 3, Histogram: []int{0, 0, 1, 1}},
			Things:   PerImage{Mean: 1.5, Min: 1, Max: 2, Histogram: []int{0, 1, 1}},
			Classes: []ClassStats{
				{Name: "a", IsThing: true, Instances: 2, Images: 2, PixelFraction: 7.0 / 32},
				{Name: "b", IsThing: true, Instances: 1, Images: 1, PixelFraction: 5.0 / 32},
				{Name: "s", Instances: 2, Images: 2, PixelFraction: 18.0 / 32},
			},
			// thing areas 4, 3, 5 → sorted 3 4 5; type-7 quantiles at
			// positions q·2.
			ThingAreas: AreaStats{Count: 3, Quantiles: []float64{3, 3.2, 3.5, 4, 4.5, 4.8, 5},
				RelQuantiles: []float64{3.0 / 16, 3.2 / 16, 3.5 / 16, 4.0 / 16, 4.5 / 16, 4.8 / 16, 5.0 / 16}, Small: 3},
			// stuff areas 12, 6 → positions q·1.
			StuffAreas: AreaStats{Count: 2, Quantiles: []float64{6, 6.6, 7.5, 9, 10.5, 11.4, 12},
				RelQuantiles: []float64{6.0 / 16, 6.6 / 16, 7.5 / 16, 9.0 / 16, 10.5 / 16, 11.4 / 16, 12.0 / 16}, Small: 2},
			VoidFraction: 2.0 / 32,
		}
		if !statsClose(st, want) {
			t.Fatalf("workers %d:\n got %+v\nwant %+v", w, st, want)
		}
	}
}

// statsClose compares two Stats with a 1e-12 tolerance on floats.
func statsClose(a, b *Stats) bool {
	round := func(s *Stats) string {
		c := *s
		r := func(v []float64) []string {
			out := make([]string, len(v))
			for i, x := range v {
				out[i] = fmt.Sprintf("%.9f", x)
			}
			return out
		}
		return fmt.Sprintf("%d %d %d %+v %+v %v %v %v %v %v %v %.9f %.9f",
			c.Images, c.MinSide, c.MaxSide, c.Segments.Histogram, c.Things.Histogram,
			r(c.ThingAreas.Quantiles), r(c.ThingAreas.RelQuantiles), r(c.StuffAreas.Quantiles), r(c.StuffAreas.RelQuantiles),
			[3]int{c.ThingAreas.Small, c.ThingAreas.Medium, c.ThingAreas.Large},
			[3]int{c.StuffAreas.Small, c.StuffAreas.Medium, c.StuffAreas.Large},
			c.VoidFraction, c.Segments.Mean+10*c.Things.Mean)
	}
	if round(a) != round(b) || len(a.Classes) != len(b.Classes) {
		return false
	}
	for i := range a.Classes {
		x, y := a.Classes[i], b.Classes[i]
		if x.Name != y.Name || x.IsThing != y.IsThing || x.Instances != y.Instances || x.Images != y.Images || math.Abs(x.PixelFraction-y.PixelFraction) > 1e-12 {
			return false
		}
	}
	return a.Segments.Min == b.Segments.Min && a.Segments.Max == b.Segments.Max && a.Things.Min == b.Things.Min && a.Things.Max == b.Things.Max
}

func TestQuantilesMatchNumpy(t *testing.T) {
	// numpy.quantile([1, 2, 3, 4, 10], [0, .1, .25, .5, .75, .9, 1])
	// (default method "linear") = [1, 1.4, 2, 3, 4, 7.6, 10].
	got := Quantiles([]float64{10, 3, 1, 4, 2}, QuantileLevels)
	want := []float64{1, 1.4, 2, 3, 4, 7.6, 10}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("quantiles %v, want %v", got, want)
		}
	}
}

func TestStatsOfSyntheticIndependentOfWorkers(t *testing.T) {
	ds := synth(t, 40, 128)
	a, err := ComputeStats(ds, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ComputeStats(ds, 0, 4)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("stats depend on the worker count")
	}
	if a.Images != 40 || a.Things.Min < 1 || a.Things.Max > 6 || a.ThingAreas.Count != int(a.Things.Mean*40+0.5) {
		t.Fatalf("stats %+v", a)
	}
}
