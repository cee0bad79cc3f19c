package data

import (
	"fmt"
	"hash/fnv"
	"math"

	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/mask"
)

// This file holds what the generated kinds (synthetic, mnist, photos) share:
// the split index ranges, the per-sample RNG, the stuff layouts and the
// compositor that turns a background plus pasted sprites into a Sample with
// exact, non-overlapping ground truth.

// valBase is the first global index of the validation split of a generated
// kind. Train sample i is global index i, val sample i is valBase+i, so the
// two splits are disjoint index ranges of one infinite stream of scenes.
const valBase = 1 << 32

// globalIndex maps (split, i) to the global scene index.
func globalIndex(split string, i int) uint64 {
	if split == "val" {
		return valBase + uint64(i)
	}
	return uint64(i)
}

// checkSplit validates a split name.
func checkSplit(kind, split string) error {
	if split != "train" && split != "val" {
		return fmt.Errorf("data: %s: unknown split %q (want train or val)", kind, split)
	}
	return nil
}

// strKey hashes a stream name into an RNG key (FNV-1a, 64 bits).
func strKey(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// sampleRNG is the generator of scene g of a kind: a pure function of
// (seed, kind, g).
func sampleRNG(seed uint64, kind string, g uint64) *rng.RNG {
	return rng.New(rng.Derive(seed, strKey(kind), g))
}

// sprite is one pasted thing: an RGB patch with alpha placed with its top
// left corner at (x0, y0). The patch always lies inside the image (callers
// clip). The thing's mask is alpha ≥ 128; smaller non-zero alpha only
// blends colour (anti-aliased edges of photo stamps and digits).
type sprite struct {
	class  int
	x0, y0 int
	w, h   int
	alpha  []uint8 // w·h
	rgb    []uint8 // w·h·3
}

// background is the stuff layer of a scene: its RGB and the stuff segment
// of every pixel.
type background struct {
	rgb   []uint8 // H·W·3
	seg   []int8  // H·W, index into classes
	class []int   // the stuff class of each segment; distinct
}

// composeRules sets when a thing survives occlusion.
type composeRules struct {
	// MinArea is the minimum visible area in pixels of a thing or a stuff
	// segment. Smaller stuff remnants become void.
	MinArea int
	// MinFrac is the minimum visible fraction of a thing's own (in-image)
	// area.
	MinFrac float64
}

// compose builds a sample from a background and sprites in painter's order
// (sprites[0] is drawn first). Occlusion is resolved from the top down: the
// top sprite keeps all its mask pixels, each lower sprite keeps those not
// yet taken, and a sprite whose kept area is below the rules is dropped
// entirely (it is not drawn, so it leaves no trace in the image). Stuff
// takes the remaining pixels; stuff segments below MinArea become void.
//
// Instances are listed stuff first, then kept things bottom-up, so the
// list is in painter's order; segment k has panoptic id k+1.
func compose(index, h, w int, bg *background, things []sprite, cats []Category, rules composeRules) *Sample {
	owner, kept := resolveOcclusion(h, w, things, rules)
	inst, segOfStuff, segOfThing := numberSegments(h, w, bg, owner, things, kept, cats, rules)
	sem, pan := labelPixels(owner, bg, inst, segOfStuff, segOfThing)
	rgb := bg.rgb
	blendSprites(rgb, w, things, kept)
	return &Sample{Index: index, H: h, W: w, RGB: rgb, Instances: inst, Semantic: sem, Panoptic: pan}
}

// resolveOcclusion gives every pixel of an h×w image to the topmost kept
// sprite whose mask (alpha ≥ 128) covers it: owner[i] is the sprite's
// index, −1 for none. Sprites are visited from the top down; one whose
// still-free mask pixels are below the rules is not kept.
func resolveOcclusion(h, w int, things []sprite, rules composeRules) (owner []int16, kept []bool) {
	owner = make([]int16, h*w)
	for i := range owner {
		owner[i] = -1
	}
	kept = make([]bool, len(things))
	for t := len(things) - 1; t >= 0; t-- {
		sp := &things[t]
		full, vis := 0, 0
		for y := 0; y < sp.h; y++ {
			row := (sp.y0+y)*w + sp.x0
			for x := 0; x < sp.w; x++ {
				if sp.alpha[y*sp.w+x] >= 128 {
					full++
					if owner[row+x] < 0 {
						vis++
					}
				}
			}
		}
		if vis < rules.MinArea || float64(vis) < rules.MinFrac*float64(full) {
			continue
		}
		kept[t] = true
		for y := 0; y < sp.h; y++ {
			row := (sp.y0+y)*w + sp.x0
			for x := 0; x < sp.w; x++ {
				if sp.alpha[y*sp.w+x] >= 128 && owner[row+x] < 0 {
					owner[row+x] = int16(t)
				}
			}
		}
	}
	return owner, kept
}

// numberSegments lists the segments, with empty masks: the stuff segments
// whose area among the pixels no thing took reaches MinArea, then the kept
// things. segOfStuff and segOfThing give each stuff segment's and sprite's
// position in the list, −1 for none.
func numberSegments(h, w int, bg *background, owner []int16, things []sprite, kept []bool, cats []Category, rules composeRules) (inst []Instance, segOfStuff, segOfThing []int32) {
	nStuff := len(bg.class)
	stuffArea := make([]int, nStuff)
	for i, o := range owner {
		if o < 0 {
			stuffArea[bg.seg[i]]++
		}
	}
	segOfStuff = make([]int32, nStuff)
	segOfThing = make([]int32, len(things))
	for s := 0; s < nStuff; s++ {
		segOfStuff[s] = -1
		if stuffArea[s] >= rules.MinArea {
			segOfStuff[s] = int32(len(inst))
			c := bg.class[s]
			inst = append(inst, Instance{Class: c, IsThing: cats[c].IsThing, ID: len(inst) + 1, Mask: mask.New(h, w)})
		}
	}
	for t := range things {
		segOfThing[t] = -1
		if kept[t] {
			segOfThing[t] = int32(len(inst))
			c := things[t].class
			inst = append(inst, Instance{Class: c, IsThing: cats[c].IsThing, ID: len(inst) + 1, Mask: mask.New(h, w)})
		}
	}
	return inst, segOfStuff, segOfThing
}

// labelPixels writes every pixel's segment into the semantic map (class,
// Void without a segment), the panoptic map (segment k has id k+1) and the
// segment's mask.
func labelPixels(owner []int16, bg *background, inst []Instance, segOfStuff, segOfThing []int32) (sem, pan []int32) {
	sem = make([]int32, len(owner))
	pan = make([]int32, len(owner))
	for i, o := range owner {
		var k int32
		if o >= 0 {
			k = segOfThing[o]
		} else {
			k = segOfStuff[bg.seg[i]]
		}
		if k < 0 {
			sem[i] = Void
			continue
		}
		pan[i] = k + 1
		sem[i] = int32(inst[k].Class)
		inst[k].Mask.Words[i>>6] |= 1 << uint(i&63)
	}
	return sem, pan
}

// blendSprites paints the kept sprites bottom-up onto rgb (the
// background, w pixels wide), alpha-blended with rounding.
func blendSprites(rgb []uint8, w int, things []sprite, kept []bool) {
	for t := range things {
		if !kept[t] {
			continue
		}
		sp := &things[t]
		for y := 0; y < sp.h; y++ {
			for x := 0; x < sp.w; x++ {
				a := uint32(sp.alpha[y*sp.w+x])
				if a == 0 {
					continue
				}
				d := ((sp.y0+y)*w + sp.x0 + x) * 3
				s := (y*sp.w + x) * 3
				if a == 255 {
					rgb[d], rgb[d+1], rgb[d+2] = sp.rgb[s], sp.rgb[s+1], sp.rgb[s+2]
					continue
				}
				for c := 0; c < 3; c++ {
					rgb[d+c] = uint8((a*uint32(sp.rgb[s+c]) + (255-a)*uint32(rgb[d+c]) + 127) / 255)
				}
			}
		}
	}
}

// stuffLayout partitions an h×w image into 1–3 stuff segments with
// distinct classes drawn from stuffClasses: one class everywhere (25 %), a
// wavy, tilted horizon between two classes (35 %), or a Voronoi partition
// of 2–3 sites whose boundaries are bent by smooth noise (40 %).
func stuffLayout(r *rng.RNG, h, w int, stuffClasses []int) (seg []int8, classes []int) {
	seg = make([]int8, h*w)
	perm := r.Perm(len(stuffClasses))
	u := r.Float64()
	side := float64(max(h, w))
	switch {
	case u < 0.25 || len(stuffClasses) == 1:
		classes = []int{stuffClasses[perm[0]]}
	case u < 0.60:
		classes = []int{stuffClasses[perm[0]], stuffClasses[perm[1]]}
		y0 := r.Uniform(0.3, 0.7) * float64(h)
		tilt := r.Uniform(-0.35, 0.35)
		amp := r.Uniform(0, 0.06) * side
		lambda := r.Uniform(0.3, 1.0) * side
		phase := r.Uniform(0, 2*math.Pi)
		for x := 0; x < w; x++ {
			fx := float64(x) + 0.5
			yb := y0 + tilt*(fx-float64(w)/2) + amp*math.Sin(2*math.Pi*fx/lambda+phase)
			for y := 0; y < h; y++ {
				if float64(y)+0.5 >= yb {
					seg[y*w+x] = 1
				}
			}
		}
	default:
		k := 2 + r.IntN(2)
		if k > len(stuffClasses) {
			k = len(stuffClasses)
		}
		classes = make([]int, k)
		sx := make([]float64, k)
		sy := make([]float64, k)
		for j := range classes {
			classes[j] = stuffClasses[perm[j]]
			sx[j] = r.Uniform(0.1, 0.9) * float64(w)
			sy[j] = r.Uniform(0.1, 0.9) * float64(h)
		}
		nz := newValueNoise(r, h, w, r.Uniform(0.2, 0.4)*side)
		amp := r.Uniform(0.05, 0.15) * side
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				fx, fy := float64(x)+0.5, float64(y)+0.5
				best, bj := math.Inf(1), 0
				bend := amp * (nz.at(fx, fy) - 0.5)
				for j := range classes {
					d := math.Hypot(fx-sx[j], fy-sy[j])
					// Bend the boundary: site j's distance is shifted by a
					// smooth field with an alternating sign per site.
					if j&1 == 1 {
						d += bend
					} else {
						d -= bend
					}
					if d < best {
						best, bj = d, j
					}
				}
				seg[y*w+x] = int8(bj)
			}
		}
	}
	return seg, classes
}

// photometric applies a global colour jitter (contrast, brightness and a
// gain per channel) and per-pixel triangular noise of amplitude noiseAmp
// (in 0..255 units) to an RGB buffer in place.
func photometric(r *rng.RNG, rgb []uint8, contrast, brightness, gain, noiseAmp float64) {
	c := r.Uniform(1-contrast, 1+contrast)
	b := r.Uniform(-brightness, brightness)
	var g [3]float64
	for i := range g {
		g[i] = c * r.Uniform(1-gain, 1+gain)
	}
	// Lookup tables: the jitter is per channel affine, so 3×256 entries.
	var lut [3][256]float64
	for ch := 0; ch < 3; ch++ {
		for v := 0; v < 256; v++ {
			lut[ch][v] = (float64(v)-128)*g[ch] + 128 + b
		}
	}
	scale := noiseAmp / 255
	for p := 0; p+2 < len(rgb); p += 3 {
		bits := r.Uint64()
		for ch := 0; ch < 3; ch++ {
			// Triangular noise in [-noiseAmp, noiseAmp] from two bytes.
			n := float64(int(bits&0xff)+int(bits>>8&0xff)-255) * scale
			bits >>= 16
			v := lut[ch][rgb[p+ch]] + n
			rgb[p+ch] = clampByte(v)
		}
	}
}

func clampByte(v float64) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v + 0.5)
}

// hsv converts hue [0,1), saturation and value [0,1] to RGB in 0..255.
// HSV converts a colour with hue, saturation and value in [0, 1] (the hue
// wraps) to RGB in [0, 255].
func HSV(hue, s, v float64) [3]float64 { return hsv(hue, s, v) }

func hsv(hue, s, v float64) [3]float64 {
	hue = hue - math.Floor(hue)
	h6 := hue * 6
	i := int(h6)
	f := h6 - float64(i)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var r, g, b float64
	switch i % 6 {
	case 0:
		r, g, b = v, t, p
	case 1:
		r, g, b = q, v, p
	case 2:
		r, g, b = p, v, t
	case 3:
		r, g, b = p, q, v
	case 4:
		r, g, b = t, p, v
	default:
		r, g, b = v, p, q
	}
	return [3]float64{r * 255, g * 255, b * 255}
}

// randomColor draws a colour with a random hue, saturation in [0.25, 1]
// and value in [0.3, 1]: every class draws from the same range, so colour
// alone never gives a class away.
func randomColor(r *rng.RNG) [3]float64 {
	return hsv(r.Float64(), r.Uniform(0.25, 1), r.Uniform(0.3, 1))
}

// colorDist is the L1 distance of two colours.
func colorDist(a, b [3]float64) float64 {
	return math.Abs(a[0]-b[0]) + math.Abs(a[1]-b[1]) + math.Abs(a[2]-b[2])
}

// contrastingColor draws a random colour at least minDist (L1) from every
// colour in avoid, giving up after 8 tries (and keeping the farthest).
func contrastingColor(r *rng.RNG, avoid [][3]float64, minDist float64) [3]float64 {
	var best [3]float64
	bestD := -1.0
	for try := 0; try < 8; try++ {
		c := randomColor(r)
		d := math.Inf(1)
		for _, a := range avoid {
			d = math.Min(d, colorDist(c, a))
		}
		if d >= minDist {
			return c
		}
		if d > bestD {
			best, bestD = c, d
		}
	}
	return best
}

// clipRect intersects [x0, x1) × [y0, y1) with the h×w image.
func clipRect(x0, y0, x1, y1, h, w int) (int, int, int, int) {
	return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
}

// categoryPalette is a fixed list of distinct display colours for
// categories (the tab20 palette order, then extra hues).
var categoryPalette = [][3]uint8{
	{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
	{148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {188, 189, 34},
	{23, 190, 207}, {127, 127, 127}, {174, 199, 232}, {255, 187, 120},
	{152, 223, 138}, {255, 152, 150}, {197, 176, 213}, {196, 156, 148},
	{247, 182, 210}, {219, 219, 141}, {158, 218, 229}, {199, 199, 199},
}

// makeCategories builds a category list: things first, then stuff, with
// ids 1..K and palette colours.
func makeCategories(things, stuff []string) []Category {
	var cats []Category
	for _, n := range things {
		cats = append(cats, Category{ID: len(cats) + 1, Name: n, IsThing: true})
	}
	for _, n := range stuff {
		cats = append(cats, Category{ID: len(cats) + 1, Name: n})
	}
	for i := range cats {
		cats[i].Color = categoryPalette[i%len(categoryPalette)]
	}
	return cats
}
