package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// MeanSD returns the mean of the non-NaN values of v, their sample standard
// deviation
//
//	sd = sqrt(Σ (x_i − mean)² / (n − 1)),
//
// and their number n (gonum/stat's MeanStdDev on them). The mean is NaN
// when n = 0, the sd when n < 2. Tables and plots report seeds with it.
func MeanSD(v []float64) (mean, sd float64, n int) {
	x := make([]float64, 0, len(v))
	for _, f := range v {
		if !math.IsNaN(f) {
			x = append(x, f)
		}
	}
	switch n = len(x); n {
	case 0:
		return math.NaN(), math.NaN(), 0
	case 1:
		return x[0], math.NaN(), 1
	}
	mean, sd = stat.MeanStdDev(x, nil)
	return mean, sd, n
}

// Interval is an estimate with a 95 % confidence interval and how it was
// obtained.
type Interval struct {
	Mean   float64 `json:"mean"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	N      int     `json:"n"`      // seeds, or images for a bootstrap
	Method string  `json:"method"` // "t", "bootstrap" or "" (no interval: Lo and Hi are NaN)
}

// Excludes0 reports whether the interval lies strictly on one side of 0.
func (iv Interval) Excludes0() bool { return iv.Lo > 0 || iv.Hi < 0 }

// TInterval95 is the mean of the non-NaN values of v with the two-sided
// 95 % Student-t interval mean ± t(0.975, n−1)·sd/√n (hand check: for
// {1, 2, 3, 4}, sd = √(5/3), t(0.975, 3) = 3.182446, half-width 2.0541).
// With fewer than 2 values the bounds are NaN and Method is "".
func TInterval95(v []float64) Interval {
	m, sd, n := MeanSD(v)
	iv := Interval{Mean: m, Lo: math.NaN(), Hi: math.NaN(), N: n}
	if n < 2 {
		return iv
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
	h := t * sd / math.Sqrt(float64(n))
	iv.Lo, iv.Hi, iv.Method = m-h, m+h, "t"
	return iv
}

// ImageValues are one image's per-stage sums behind the run's Summary:
// the consecutive IoU of the final-matched queries per stage pair and
// Util-A per stage, as sums and counts, so that the summary of any
// multiset of images can be recomputed exactly (a bootstrap over images).
type ImageValues struct {
	Index       int    `json:"index"`
	Consecutive []Mean `json:"consecutive_iou"`
	UtilA       []Mean `json:"util_a"`
}

// SummarizeImages is Summarize over a multiset of images: the pooled
// per-stage means of the images at pick (indices into images, repeats
// allowed; nil means every image once), reduced as Summarize reduces
// them. With every image once it equals Summarize of the pooled report.
func SummarizeImages(images []ImageValues, pick []int) Summary {
	if pick == nil {
		pick = make([]int, len(images))
		for i := range pick {
			pick[i] = i
		}
	}
	if len(pick) == 0 {
		return Summary{ConsecutiveIoU: math.NaN(), UtilA: math.NaN()}
	}
	pool := func(get func(*ImageValues) []Mean) Series {
		n := len(get(&images[pick[0]]))
		sum, cnt := make([]float64, n), make([]int, n)
		for _, i := range pick {
			for s, m := range get(&images[i]) {
				sum[s] += m.Sum
				cnt[s] += m.N
			}
		}
		out := nanSeries(n)
		for s := range out {
			if cnt[s] > 0 {
				out[s] = sum[s] / float64(cnt[s])
			}
		}
		return out
	}
	cons := pool(func(v *ImageValues) []Mean { return v.Consecutive })
	util := pool(func(v *ImageValues) []Mean { return v.UtilA })
	if len(util) > 0 {
		util = util[:len(util)-1]
	}
	return Summary{ConsecutiveIoU: nanMean(cons), UtilA: nanMean(util)}
}

// PairedRuns are two runs evaluated on the same images (one seed of a
// baseline and of a candidate): their per-image values.
type PairedRuns struct{ Base, Cand []ImageValues }

// BootstrapDiff95 estimates the difference candidate − baseline of the
// Summary, averaged over the pairs (seeds), with a 95 % percentile
// bootstrap over images: each of resamples rounds draws, for every pair,
// as many images as the pair has (with replacement, the same draw for both
// runs, pairing images by Index), recomputes both summaries and averages
// the differences over the pairs. The generator is seeded, so the interval
// is reproducible. It returns the consecutive-IoU and the Util-A
// intervals; Method is "" when some pair shares no image.
func BootstrapDiff95(pairs []PairedRuns, resamples int, seed uint64) (cons, util Interval) {
	type paired struct{ base, cand []ImageValues }
	var ps []paired
	images := 0
	for _, p := range pairs {
		byIndex := map[int]int{}
		for i, v := range p.Base {
			byIndex[v.Index] = i
		}
		var q paired
		for _, v := range p.Cand {
			if i, ok := byIndex[v.Index]; ok {
				q.base, q.cand = append(q.base, p.Base[i]), append(q.cand, v)
			}
		}
		if len(q.base) == 0 {
			nan := Interval{Mean: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
			return nan, nan
		}
		images += len(q.base)
		ps = append(ps, q)
	}
	diff := func(pick [][]int) (float64, float64) {
		var dc, du float64
		for k, p := range ps {
			b, c := SummarizeImages(p.base, pick[k]), SummarizeImages(p.cand, pick[k])
			dc += c.ConsecutiveIoU - b.ConsecutiveIoU
			du += c.UtilA - b.UtilA
		}
		return dc / float64(len(ps)), du / float64(len(ps))
	}
	all := make([][]int, len(ps))
	mc, mu := diff(all)
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	dcs, dus := make([]float64, resamples), make([]float64, resamples)
	for b := range resamples {
		pick := make([][]int, len(ps))
		for k, p := range ps {
			pick[k] = make([]int, len(p.base))
			for i := range pick[k] {
				pick[k][i] = r.IntN(len(p.base))
			}
		}
		dcs[b], dus[b] = diff(pick)
	}
	iv := func(mean float64, d []float64) Interval {
		slices.Sort(d)
		return Interval{Mean: mean, Lo: stat.Quantile(0.025, stat.Empirical, d, nil), Hi: stat.Quantile(0.975, stat.Empirical, d, nil), N: images, Method: "bootstrap"}
	}
	return iv(mc, dcs), iv(mu, dus)
}

// MarshalJSON writes the interval with null for undefined (NaN) numbers.
func (iv Interval) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Mean   jsonnum.Float `json:"mean"`
		Lo     jsonnum.Float `json:"lo"`
		Hi     jsonnum.Float `json:"hi"`
		N      int           `json:"n"`
		Method string        `json:"method"`
	}{jsonnum.Float(iv.Mean), jsonnum.Float(iv.Lo), jsonnum.Float(iv.Hi), iv.N, iv.Method})
}
