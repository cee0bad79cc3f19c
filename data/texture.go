package data

import (
	"math"

	"github.com/mpanalyze/mpanalyze/internal/rng"
)

// texKind is a procedural texture family.
type texKind uint8

const (
	texFlat     texKind = iota // one colour
	texGradient                // linear ramp between two colours
	texStripes                 // hard stripes of two colours
	texChecks                  // rotated checkerboard of two colours
	texNoise                   // two-octave smooth value noise between two colours
)

// texture maps image coordinates to a colour. Coordinates are in pixels of
// the whole image, so a texture is continuous across the sprite it fills.
type texture struct {
	kind   texKind
	c0, c1 [3]float64
	ux, uy float64 // unit direction of gradients, stripes and checks
	period float64 // stripe or check period in pixels
	off    float64 // gradient start (pixels) or phase (periods)
	off2   float64 // second phase (checks)
	length float64 // gradient length in pixels
	noise  *valueNoise
}

// at returns the colour at pixel centre (x, y).
func (t *texture) at(x, y float64) [3]float64 {
	var v float64
	switch t.kind {
	case texFlat:
		return t.c0
	case texGradient:
		v = (x*t.ux + y*t.uy - t.off) / t.length
		v = math.Min(math.Max(v, 0), 1)
	case texStripes:
		u := (x*t.ux+y*t.uy)/t.period + t.off
		if u-math.Floor(u) < 0.5 {
			v = 1
		}
	case texChecks:
		u := (x*t.ux+y*t.uy)/t.period + t.off
		w := (-x*t.uy+y*t.ux)/t.period + t.off2
		if (int(math.Floor(u))+int(math.Floor(w)))&1 == 0 {
			v = 1
		}
	case texNoise:
		v = t.noise.at(x, y)
		v = math.Min(math.Max((v-0.5)*2.2+0.5, 0), 1)
	}
	return [3]float64{
		t.c0[0] + (t.c1[0]-t.c0[0])*v,
		t.c0[1] + (t.c1[1]-t.c0[1])*v,
		t.c0[2] + (t.c1[2]-t.c0[2])*v,
	}
}

// mean is the average colour of the texture (for contrast checks).
func (t *texture) mean() [3]float64 {
	if t.kind == texFlat {
		return t.c0
	}
	return [3]float64{(t.c0[0] + t.c1[0]) / 2, (t.c0[1] + t.c1[1]) / 2, (t.c0[2] + t.c1[2]) / 2}
}

// newTexture draws the geometry of a texture of the given kind for an
// h×w image; scale is the image side in pixels and sizes are relative to it
// (period and noise cell from [pmin, pmax]·scale). Colours are set by the
// caller.
func newTexture(r *rng.RNG, kind texKind, h, w int, pmin, pmax float64) *texture {
	scale := float64(max(h, w))
	a := r.Uniform(0, 2*math.Pi)
	t := &texture{kind: kind, ux: math.Cos(a), uy: math.Sin(a)}
	switch kind {
	case texGradient:
		// The ramp spans the image along its direction, give or take.
		lo := -(math.Abs(t.ux)*float64(w) + math.Abs(t.uy)*float64(h)) / 2
		cx, cy := float64(w)/2, float64(h)/2
		centre := cx*t.ux + cy*t.uy
		t.length = r.Uniform(0.6, 1.2) * 2 * -lo
		t.off = centre - t.length/2 + r.Uniform(-0.2, 0.2)*scale
	case texStripes, texChecks:
		t.period = r.Uniform(pmin, pmax) * scale
		t.off = r.Float64()
		t.off2 = r.Float64()
	case texNoise:
		t.noise = newValueNoise(r, h, w, r.Uniform(pmin, pmax)*scale)
	}
	return t
}

// valueNoise is two octaves of smooth (smoothstep-interpolated) value
// noise on lattices of cell c and c/2, in [0, 1].
type valueNoise struct {
	oct [2]noiseGrid
}

type noiseGrid struct {
	cell   float64
	gw, gh int
	v      []float64
}

func newValueNoise(r *rng.RNG, h, w int, cell float64) *valueNoise {
	n := &valueNoise{}
	for o := range n.oct {
		c := math.Max(cell/float64(int(1)<<o), 1)
		g := noiseGrid{cell: c, gw: int(float64(w)/c) + 3, gh: int(float64(h)/c) + 3}
		g.v = make([]float64, g.gw*g.gh)
		for i := range g.v {
			g.v[i] = r.Float64()
		}
		n.oct[o] = g
	}
	return n
}

func (g *noiseGrid) at(x, y float64) float64 {
	gx, gy := x/g.cell, y/g.cell
	ix, iy := int(gx), int(gy)
	fx, fy := gx-float64(ix), gy-float64(iy)
	ix = min(max(ix, 0), g.gw-2)
	iy = min(max(iy, 0), g.gh-2)
	fx = fx * fx * (3 - 2*fx)
	fy = fy * fy * (3 - 2*fy)
	i := iy*g.gw + ix
	a := g.v[i] + (g.v[i+1]-g.v[i])*fx
	b := g.v[i+g.gw] + (g.v[i+g.gw+1]-g.v[i+g.gw])*fx
	return a + (b-a)*fy
}

func (n *valueNoise) at(x, y float64) float64 {
	return 0.65*n.oct[0].at(x, y) + 0.35*n.oct[1].at(x, y)
}

// stuffTextureKinds is the texture family of each synthetic stuff class,
// in the order of syntheticStuff.
var stuffTextureKinds = []texKind{texGradient, texNoise, texStripes, texChecks}

// stuffTexture draws the texture of one stuff segment: its class's family
// with random geometry and two related colours (same hue region, different
// value), so the family, not the colour, identifies the class. contrast
// scales the difference between the two colours (1 = full).
// A hue in [0, 1) makes the texture a pale colour of that hue (synthetic
// colour hints); a negative hue draws any colour.
func stuffTexture(r *rng.RNG, kind texKind, h, w int, contrast float64, hue float64) *texture {
	var t *texture
	switch kind {
	case texNoise:
		t = newTexture(r, kind, h, w, 0.06, 0.16)
	case texStripes:
		t = newTexture(r, kind, h, w, 0.05, 0.11)
	case texChecks:
		t = newTexture(r, kind, h, w, 0.07, 0.14)
	default:
		t = newTexture(r, kind, h, w, 0, 0)
	}
	var sat, val float64
	if hue >= 0 {
		sat, val = r.Uniform(0.15, 0.45), r.Uniform(0.4, 0.95)
	} else {
		hue, sat, val = r.Float64(), r.Uniform(0.2, 0.9), r.Uniform(0.35, 0.95)
	}
	t.c0 = hsv(hue, sat, val)
	d := r.Uniform(0.25, 0.45) * contrast
	if val > 0.65 {
		d = -d
	}
	t.c1 = hsv(hue+r.Uniform(-0.08, 0.08), math.Min(math.Max(sat+r.Uniform(-0.2, 0.2), 0), 1), val+d)
	return t
}

// renderStuff paints every pixel with the texture of its segment.
func renderStuff(h, w int, seg []int8, tex []*texture) []uint8 {
	rgb := make([]uint8, h*w*3)
	for y := 0; y < h; y++ {
		fy := float64(y) + 0.5
		for x := 0; x < w; x++ {
			c := tex[seg[y*w+x]].at(float64(x)+0.5, fy)
			p := (y*w + x) * 3
			rgb[p], rgb[p+1], rgb[p+2] = clampByte(c[0]), clampByte(c[1]), clampByte(c[2])
		}
	}
	return rgb
}

// thingTexture draws the fill of a synthetic thing: flat (40 %), gradient,
// fine stripes or speckle noise (20 % each), around a base colour. The
// second colour is a lighter or darker shade of the base half of the time
// and an unrelated colour otherwise.
// The gradient is centred on the thing at (cx, cy) and spans about its
// size.
func thingTexture(r *rng.RNG, h, w int, base [3]float64, cx, cy, size float64) *texture {
	u := r.Float64()
	var t *texture
	switch {
	case u < 0.4:
		t = &texture{kind: texFlat}
	case u < 0.6:
		t = newTexture(r, texGradient, h, w, 0, 0)
		t.length = size * r.Uniform(0.8, 1.2)
		t.off = cx*t.ux + cy*t.uy - t.length/2
	case u < 0.8:
		t = newTexture(r, texStripes, h, w, 0.025, 0.05)
	default:
		t = newTexture(r, texNoise, h, w, 0.02, 0.05)
	}
	t.c0 = base
	if r.Bernoulli(0.5) {
		k := r.Uniform(0.45, 0.75)
		if r.Bernoulli(0.5) {
			t.c1 = [3]float64{base[0] * k, base[1] * k, base[2] * k}
		} else {
			t.c1 = [3]float64{255 - (255-base[0])*k, 255 - (255-base[1])*k, 255 - (255-base[2])*k}
		}
	} else {
		t.c1 = randomColor(r)
	}
	return t
}
