package model

import (
	"slices"

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
// classes; levels[l] is the h×w of decoder level l, coarse to fine. rec,
// when not nil, receives the uniform draws of the mask noise (it changes
// no draw).
func buildMP(c *Config, classes []int, gt []*mask.Bits, maxGT int, levels [3][2]int, r *rng.RNG, rec *MPNoiseDraws) *mpInput {
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
		fixed = fixedPilots(c, gt, P, maxGT, levels, r, rec)
	}
	if rec != nil && c.MP.Noise == "point" && c.MP.NoiseRatio > 0 {
		rec.Point = make([][]float64, L)
	}
	var downs [3][]*mask.Bits // each GT any-downsampled to level l, for every layer at l
	for i := 0; i < piloted; i++ {
		l := i % 3
		if fixed[l] != nil {
			mp.pilots[i] = fixed[l]
			continue
		}
		if downs[l] == nil {
			downs[l] = make([]*mask.Bits, len(gt))
			for j, m := range gt {
				downs[l][j] = anyDown(m, levels[l][0], levels[l][1])
			}
		}
		var draws []float64
		if rec != nil && rec.Point != nil {
			draws = slices.Repeat([]float64{-1}, P*levels[l][0]*levels[l][1])
			rec.Point[i] = draws
		}
		mp.pilots[i] = layerPilots(c, downs[l], P, maxGT, levels[l][0], levels[l][1], r, draws)
	}
	return mp
}

// mpLabels returns the input labels of the P MP slots: slot s holds GT
// s mod maxGT's class, replaced with probability LabelNoise by a class
// drawn uniformly from all classes (one Bernoulli draw per filled slot,
// then one class draw when it flips), or −1 for a padding slot.
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

// mpSelfMask is the (P+N)×(P+N) self-attention mask, true = blocked: an MP
// row sees only its own group's MP columns, and no matching query sees an
// MP column.
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

// fixedPilots draws the shift or scale noise once for the step and returns
// the pilots of the three levels, shared by the layers: prepare_for_dn_v6
// (shift) and prepare_for_dn_v7 (scale) of the official MP decoder, where
// the GT is nearest-resized to the finest level (stride 8), moved or
// enlarged there, and nearest-resized from it to the coarser levels. rec,
// when not nil, receives the draws.
func fixedPilots(c *Config, gt []*mask.Bits, P, maxGT int, levels [3][2]int, r *rng.RNG, rec *MPNoiseDraws) [3][]bool {
	h8, w8 := levels[2][0], levels[2][1]
	at8 := make([]*mask.Bits, P)
	if rec != nil {
		if c.MP.Noise == "shift" {
			rec.Shift = slices.Repeat([]float64{-1}, 2*P)
		} else {
			rec.Scale = slices.Repeat([]float64{-1}, P)
		}
	}
	for s := 0; s < P; s++ {
		j := s % maxGT
		if j >= len(gt) {
			continue
		}
		m := nearestDown(gt[j], h8, w8)
		if c.MP.Noise == "shift" {
			ux, uy := r.Float64(), r.Float64()
			if rec != nil {
				rec.Shift[2*s], rec.Shift[2*s+1] = ux, uy
			}
			m = shiftMask(m, gt[j], c.MP.NoiseRatio, ux, uy)
		} else {
			u := r.Float64()
			if rec != nil {
				rec.Scale[s] = u
			}
			// official: is_scale = torch.rand(); enlarge if is_scale >
			// DN_RATIO, where ScaleProb = 1 − DN_RATIO
			if float32(u) > float32(1-c.MP.ScaleProb) {
				m = scaleMask(m, gt[j], c.MP.NoiseRatio)
			}
		}
		at8[s] = m
	}
	var fixed [3][]bool
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

// layerPilots returns one layer's pilots at an h×w level: each slot's GT
// any-downsampled (down holds the GT masks so downsampled; true = blocked;
// padding slots blocked everywhere), with point noise when configured.
// draws, when not nil (P·h·w), receives each cell's uniform draw.
func layerPilots(c *Config, down []*mask.Bits, P, maxGT, h, w int, r *rng.RNG, draws []float64) []bool {
	pl := make([]bool, P*h*w)
	for s := 0; s < P; s++ {
		row := pl[s*h*w : (s+1)*h*w]
		j := s % maxGT
		if j >= len(down) {
			fillTrue(row)
			continue
		}
		d := down[j]
		for k := range row {
			row[k] = !d.Get(k)
		}
		if c.MP.Noise == "point" && c.MP.NoiseRatio > 0 {
			var rowDraws []float64
			if draws != nil {
				rowDraws = draws[s*h*w : (s+1)*h*w]
			}
			pointNoise(row, d.Area(), c.MP.NoiseRatio, r, rowDraws)
		}
	}
	return pl
}

// MPNoiseDraws are the uniform draws in [0, 1) of one image's MP mask
// noise in a training step, recorded for the PyTorch parity export
// (model/torchref), which feeds them to a transcription of the official
// noise code in place of its torch.rand calls. −1 marks a slot without a
// draw (padding).
type MPNoiseDraws struct {
	// Point[i] are the per-cell draws of layer i's point noise, P × h·w
	// of the layer's level (nil for layers without pilots); a cell flips
	// when its draw is below ns·A/(h·w) (the official torch.rand_like(masks)
	// < noise_ratio).
	Point [][]float64
	// Shift holds two draws per slot, for the offsets along the box width
	// and height (the official torch.rand_like(boxes)[..., 0] and [..., 1]).
	Shift []float64
	// Scale holds one draw per slot: the mask is enlarged when it exceeds
	// 1 − ScaleProb (the official is_scale > DN_RATIO).
	Scale []float64
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
			for y := ya; y < yb; y++ {
				if m.AnyIn(y*m.W+xa, y*m.W+xb) {
					out.Set(cy*w+cx, true)
					break
				}
			}
		}
	}
	return out
}

// nearestDown resizes a mask (down or up) with PyTorch's legacy nearest rule.
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
// draws, when not nil, receives each cell's uniform draw.
func pointNoise(row []bool, area int, ratio float64, r *rng.RNG, draws []float64) {
	p := ratio * float64(area) / float64(len(row))
	if p <= 0 {
		return
	}
	for k := range row {
		u := r.Float64()
		if draws != nil {
			draws[k] = u
		}
		if u < p {
			row[k] = !row[k]
		}
	}
}

// box32 returns the normalised box (cx, cy, w, h) of a mask in float32, as
// the official code has it: detectron2's BitMasks.get_bounding_boxes
// (x0, y0, x1 + 1, y1 + 1), box_xyxy_to_cxcywh, divided by the image size.
func box32(m *mask.Bits) (cx, cy, bw, bh float32, ok bool) {
	x0, y0, x1, y1, ok := m.BBox()
	if !ok {
		return 0, 0, 0, 0, false
	}
	W, H := float32(m.W), float32(m.H)
	cx = float32(float32(x0+x1)/2) / W
	cy = float32(float32(y0+y1)/2) / H
	return cx, cy, float32(x1-x0) / W, float32(y1-y0) / H, true
}

// shiftMask is the official shift noise (prepare_for_dn_v6) with its x/y
// swap undone: every object cell (y, x) of m (the GT nearest-resized to
// the finest level) moves to (⌊clamp(y + dy)⌋, ⌊clamp(x + dx)⌋) with
//
//	dx = (2ux − 1)·(w/2)·ratio·W,   dy = (2uy − 1)·(h/2)·ratio·H
//
// where w, h are the normalised box sides of the full-resolution mask
// full, W, H the map's size, ux, uy the two uniform draws, in float32 as
// the official code computes them; clamping keeps cells pushed past the
// border on it. The official code adds the width-derived offset to the
// row and the height-derived one to the column (an x/y swap, harmless
// only for square boxes); this is the intended geometry
// (docs/papers.md#mask-noise).
func shiftMask(m, full *mask.Bits, ratio, ux, uy float64) *mask.Bits {
	_, _, bw, bh, ok := box32(full)
	if !ok {
		return m
	}
	ns := float32(ratio)
	dx := float32(float32(float32(float32(float32(ux)*2)-1)*float32(bw/2))*ns) * float32(m.W)
	dy := float32(float32(float32(float32(float32(uy)*2)-1)*float32(bh/2))*ns) * float32(m.H)
	out := mask.New(m.H, m.W)
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			if m.At(y, x) {
				ny := int(min(max(float32(float32(y)+dy), 0), float32(m.H-1)))
				nx := int(min(max(float32(float32(x)+dx), 0), float32(m.W-1)))
				out.Set(ny*m.W+nx, true)
			}
		}
	}
	return out
}

// scaleMask is the official scale noise (prepare_for_dn_v7) with its axis
// swap undone: m (the GT at the finest level, H×W) is nearest-resized to
// sH×sW with sH = ⌊H·(1 + ns)⌋ + 1 (likewise sW), and every object cell
// (y, x) of the enlarged map lands on (clamp(y + oy), clamp(x + ox)) with
// oy = trunc((H − sH)·cy), ox = trunc((W − sW)·cx) and (cx, cy) the
// normalised box centre of the full-resolution mask full: an enlargement
// by about 1 + ns about the box centre, never a shrink. The official code
// offsets the rows by (H − sH)·cx and the columns by (W − sW)·cy (an axis
// swap, harmless only for objects on the diagonal); this is the intended
// geometry (docs/papers.md#mask-noise).
func scaleMask(m, full *mask.Bits, ns float64) *mask.Bits {
	cx, cy, _, _, ok := box32(full)
	if !ok {
		return m
	}
	f := float32(1 + ns)
	sH, sW := int(float32(float32(m.H)*f))+1, int(float32(float32(m.W)*f))+1
	oy := int(float32(float32(m.H-sH) * cy)) // Go's int() truncates toward zero, as .long()
	ox := int(float32(float32(m.W-sW) * cx))
	big := nearestDown(m, sH, sW)
	out := mask.New(m.H, m.W)
	for y := 0; y < sH; y++ {
		for x := 0; x < sW; x++ {
			if big.At(y, x) {
				ny := min(max(y+oy, 0), m.H-1)
				nx := min(max(x+ox, 0), m.W-1)
				out.Set(ny*m.W+nx, true)
			}
		}
	}
	return out
}
