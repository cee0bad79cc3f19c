package plots

import (
	"image"
	"math"

	"github.com/mpanalyze/mpanalyze/mask"
)

// evoFixture is a synthetic 96×128 scene (sky, grass, a disc and a box)
// and three queries whose stride-4 masks (24×32) wander over 6 stages.
func evoFixture() (image.Image, []MaskRow) {
	const h, w = 96, 128
	pix := make([]uint8, h*w*3)
	for y := range h {
		for x := range w {
			r, g, b := 120+y, 170+y/2, 235
			if y > 60 {
				r, g, b = 70, 140-(y-60), 60
			}
			if dx, dy := float64(x-40), float64(y-55); dx*dx/400+dy*dy/256 < 1 {
				r, g, b = 150, 90, 40 // the "dog"
			}
			if x >= 80 && x < 112 && y >= 30 && y < 70 {
				r, g, b = 200, 200, 210 // the "box"
			}
			i := 3 * (y*w + x)
			pix[i], pix[i+1], pix[i+2] = uint8(r), uint8(g), uint8(b)
		}
	}
	img := ImageFromRGB(h, w, pix)
	const mh, mw = h / 4, w / 4
	disc := func(cx, cy, rx, ry float64) *mask.Bits {
		return mask.FromFunc(mh, mw, func(i int) bool {
			x, y := float64(i%mw)+0.5, float64(i/mw)+0.5
			return (x-cx)*(x-cx)/(rx*rx)+(y-cy)*(y-cy)/(ry*ry) < 1
		})
	}
	rect := func(x0, y0, x1, y1 int) *mask.Bits {
		return mask.FromFunc(mh, mw, func(i int) bool {
			x, y := i%mw, i/mw
			return x >= x0 && x < x1 && y >= y0 && y < y1
		})
	}
	// Query 17 converges on the dog; query 4 jumps from the box to the
	// grass and back; query 42 is empty until stage 3.
	var q17, q4, q42 []*mask.Bits
	for s := range 6 {
		f := float64(s) / 5
		q17 = append(q17, disc(6+4*f, 10+3.75*f, 9-4*f+0.5*math.Sin(float64(s)), 4+f))
		switch s {
		case 0, 1:
			q4 = append(q4, rect(19, 7, 28, 17))
		case 2, 3:
			q4 = append(q4, rect(0, 16, 32, 24))
		default:
			q4 = append(q4, rect(20, 7, 28, 18))
		}
		if s < 3 {
			q42 = append(q42, mask.New(mh, mw))
		} else {
			q42 = append(q42, rect(0, 0, 32, 4+2*(s-3)))
		}
	}
	return img, []MaskRow{
		{Label: "query 17 → dog\nscore 0.91", Masks: q17, GT: disc(10, 13.75, 5, 4)},
		{Label: "query 4 → box\nscore 0.64", Masks: q4, GT: rect(20, 7, 28, 18)},
		{Label: "query 42 → sky\nscore 0.38", Masks: q42, GT: rect(0, 0, 32, 15)},
	}
}
