package model

import (
	"math"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/mask"
)

// buildMP prepares MP-Former's MP part of one image for one training step
// (docs/papers.md#mp-queries, docs/papers.md#mask-pilots,
// docs/papers.md#mask-noise, docs/papers.md#mp-self-attention):
//
//   - P = G·maxGT slots; slot g·maxGT + j holds GT j of the image in group
//     g, or is padding when the image has fewer than maxGT segments.
//   - each slot's input label is its GT class, replaced with probability
//     LabelNoise by a class drawn uniformly from [0, K) (it may draw the
//     same class); padding slots have label −1.
//   - pilots: before each of the first PilotLayers layers (all when 0) the
//     MP rows' cross-attention mask is the GT mask at that layer's level
//     resolution, with the configured noise.
//   - the self-attention mask isolates the matching queries.
//
// gt are the image's full-resolution GT masks (S×S) and classes their
// classes; levels[l] is the h×w of decoder level l, coarse to fine.
func buildMP(c *Config, classes []int, gt []*mask.Bits, maxGT int, levels [3][2]int, r *rng.RNG) *mpInput {
	P := c.MP.Groups * maxGT
	mp := &mpInput{labels: mpLabels(c, classes, P, maxGT, r)}
	mp.selfMask = mpSelfMask(P, maxGT, c.Queries)
	L := c.DecLayers
	piloted := c.MP.PilotLayers
	if piloted == 0 {
		piloted = L
	}
	mp.pilots = make([][]bool, L)
	var fixed [3][]bool // shift/scale: drawn once per step, at 1/8, shared by the layers
	if c.MP.Noise == "shift" || c.MP.Noise == "scale" {
		fixed = fixedPilots(c, gt, P, maxGT, levels, r)
	}
	for i := 0; i < piloted; i++ {
		l := i % 3
		if fixed[l] != nil {
			mp.pilots[i] = fixed[l]
			continue
		}
		mp.pilots[i] = layerPilots(c, gt, P, maxGT, levels[l][0], levels[l][1], r)
	}
	return mp
}

// mpLabels returns the input labels of the P MP slots: slot s holds GT
// s mod maxGT's class, replaced with probability LabelNoise by a class
// drawn uniformly from [0, K); −1 for padding.
func mpLabels(c *Config, classes []int, P, maxGT int, r *rng.RNG) []int {
	labels := make([]int, P)
	for s := 0; s < P; s++ {
		j := s % maxGT
		if j >= len(classes) {
			labels[s] = -1
			continue
		}
		labels[s] = classes[j]
		if c.MP.LabelNoise > 0 && r.Bernoulli(c.MP.LabelNoise) {
			labels[s] = r.IntN(c.NumClasses)
		}
	}
	return labels
}

// mpSelfMask is the (P+N)×(P+N) self-attention mask (true = blocked) that
// lets an MP slot see only its own group's slots and the N matching
// queries, and hides every MP slot from the matching queries.
func mpSelfMask(P, maxGT, N int) []bool {
	Q := P + N
	m := make([]bool, Q*Q)
	for row := 0; row < Q; row++ {
		for col := 0; col < P; col++ {
			if row >= P || row/maxGT != col/maxGT {
				m[row*Q+col] = true
			}
		}
	}
	return m
}

// fixedPilots draws the shift or scale noise once per step on each GT
// mask at level 2 (1/8) and returns, per level, the P slots' pilots
// (true = blocked; padding blocks everything) from the noisy masks.
func fixedPilots(c *Config, gt []*mask.Bits, P, maxGT int, levels [3][2]int, r *rng.RNG) [3][]bool {
	var fixed [3][]bool
	h8, w8 := levels[2][0], levels[2][1]
	at8 := make([]*mask.Bits, P)
	for s := 0; s < P; s++ {
		j := s % maxGT
		if j >= len(gt) {
			continue
		}
		m := nearestDown(gt[j], h8, w8)
		if c.MP.Noise == "shift" {
			m = shiftMask(m, gt[j], c.MP.NoiseRatio, r)
		} else if r.Bernoulli(c.MP.ScaleProb) {
			m = scaleMask(m, gt[j], 1+c.MP.NoiseRatio)
		}
		at8[s] = m
	}
	for l := 0; l < 3; l++ {
		h, w := levels[l][0], levels[l][1]
		fixed[l] = make([]bool, P*h*w)
		for s, m := range at8 {
			row := fixed[l][s*h*w : (s+1)*h*w]
			if m == nil {
				fillTrue(row)
				continue
			}
			d := nearestDown(m, h, w)
			for i := range row {
				row[i] = !d.Get(i)
			}
		}
	}
	return fixed
}

// layerPilots returns one layer's pilots at its h×w level (true =
// blocked; padding blocks everything): each GT mask area-downsampled
// (anyDown), with point noise when configured.
func layerPilots(c *Config, gt []*mask.Bits, P, maxGT, h, w int, r *rng.RNG) []bool {
	pl := make([]bool, P*h*w)
	for s := 0; s < P; s++ {
		row := pl[s*h*w : (s+1)*h*w]
		j := s % maxGT
		if j >= len(gt) {
			fillTrue(row)
			continue
		}
		d := anyDown(gt[j], h, w)
		for k := range row {
			row[k] = !d.Get(k)
		}
		if c.MP.Noise == "point" && c.MP.NoiseRatio > 0 {
			pointNoise(row, d.Area(), c.MP.NoiseRatio, r)
		}
	}
	return pl
}

func fillTrue(b []bool) {
	for i := range b {
		b[i] = true
	}
}

// anyDown area-downsamples a mask to h×w and keeps every cell whose
// coverage is above 1e-8, i.e. every cell the object touches (the official
// points mode: F.interpolate(mode="area") then "> 1e-8").
func anyDown(m *mask.Bits, h, w int) *mask.Bits {
	out := mask.New(h, w)
	for cy := 0; cy < h; cy++ {
		ya, yb := cy*m.H/h, ((cy+1)*m.H+h-1)/h
		for cx := 0; cx < w; cx++ {
			xa, xb := cx*m.W/w, ((cx+1)*m.W+w-1)/w
		window:
			for y := ya; y < yb; y++ {
				for x := xa; x < xb; x++ {
					if m.At(y, x) {
						out.Set(cy*w+cx, true)
						break window
					}
				}
			}
		}
	}
	return out
}

// nearestDown resizes a mask with PyTorch's legacy nearest rule.
func nearestDown(m *mask.Bits, h, w int) *mask.Bits {
	out := mask.New(h, w)
	sy, sx := float32(m.H)/float32(h), float32(m.W)/float32(w)
	for y := 0; y < h; y++ {
		iy := min(int(float32(y)*sy), m.H-1)
		for x := 0; x < w; x++ {
			ix := min(int(float32(x)*sx), m.W-1)
			if m.At(iy, ix) {
				out.Set(y*w+x, true)
			}
		}
	}
	return out
}

// pointNoise flips every cell of a blocked-row independently with
// probability p = ratio·A/HW, where A is the number of attendable cells
// (the official points mode: ns·A expected flips spread over the map).
func pointNoise(row []bool, area int, ratio float64, r *rng.RNG) {
	p := ratio * float64(area) / float64(len(row))
	if p <= 0 {
		return
	}
	for k := range row {
		if r.Float64() < p {
			row[k] = !row[k]
		}
	}
}

// box returns the normalised box (cx, cy, bw, bh) of a mask, all in [0, 1].
func box(m *mask.Bits) (cx, cy, bw, bh float64, ok bool) {
	x0, y0, x1, y1, ok := m.BBox()
	if !ok {
		return 0, 0, 0, 0, false
	}
	W, H := float64(m.W), float64(m.H)
	return (float64(x0+x1) / 2) / W, (float64(y0+y1) / 2) / H, float64(x1-x0) / W, float64(y1-y0) / H, true
}

// shiftMask translates m (at its own resolution) by (dx, dy) cells with
// dx = U(−1,1)·(bw/2)·ratio·W and dy = U(−1,1)·(bh/2)·ratio·H, where bw, bh
// are the normalised box sides of the full-resolution mask full; pixels
// pushed past the border are clamped to it. The official prepare_for_dn_v6
// adds the width-derived offset to the row index (an x/y swap); this is
// the intended geometry.
func shiftMask(m, full *mask.Bits, ratio float64, r *rng.RNG) *mask.Bits {
	_, _, bw, bh, ok := box(full)
	if !ok {
		return m
	}
	dx := int(math.Round(r.Uniform(-1, 1) * bw / 2 * ratio * float64(m.W)))
	dy := int(math.Round(r.Uniform(-1, 1) * bh / 2 * ratio * float64(m.H)))
	out := mask.New(m.H, m.W)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			if m.At(y, x) {
				ny := min(max(y+dy, 0), m.H-1)
				nx := min(max(x+dx, 0), m.W-1)
				out.Set(ny*m.W+nx, true)
			}
		}
	}
	return out
}

// scaleMask enlarges m about the centre of full's box by factor s ≥ 1,
// sampling with the nearest rule: out(y, x) = m(cy + (y−cy)/s, cx +
// (x−cx)/s) in pixel-centre coordinates. The official prepare_for_dn_v7
// pairs the height with the x centre (an axis swap); this is the intended
// geometry.
func scaleMask(m, full *mask.Bits, s float64) *mask.Bits {
	cxn, cyn, _, _, ok := box(full)
	if !ok {
		return m
	}
	cx, cy := cxn*float64(m.W), cyn*float64(m.H)
	out := mask.New(m.H, m.W)
	for y := 0; y < m.H; y++ {
		sy := int(math.Floor(cy + (float64(y)+0.5-cy)/s))
		if sy < 0 || sy >= m.H {
			continue
		}
		for x := 0; x < m.W; x++ {
			sx := int(math.Floor(cx + (float64(x)+0.5-cx)/s))
			if sx >= 0 && sx < m.W && m.At(sy, sx) {
				out.Set(y*m.W+x, true)
			}
		}
	}
	return out
}
