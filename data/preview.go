package data

import (
	"image"
	"image/color"
	"image/draw"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// PreviewOptions configures Preview. Zero fields take the defaults in
// their comments.
type PreviewOptions struct {
	Cols int // samples per row; default 4
	Cell int // side of each panel in pixels; default 256 (samples are scaled to fit)
}

// Preview draws a contact sheet of samples: for each sample the image and,
// beside it, the image with every segment filled in its category colour
// (45 % opacity) and outlined in a darker shade, so touching instances of
// one class stay apart. A legend of category names and colours follows
// the grid. Samples may have different sizes.
func Preview(samples []*Sample, cats []Category, opt PreviewOptions) *image.RGBA {
	if opt.Cols <= 0 {
		opt.Cols = 4
	}
	if opt.Cell <= 0 {
		opt.Cell = 256
	}
	const gap, pad = 4, 8
	face := basicfont.Face7x13
	cell := opt.Cell
	cols := min(opt.Cols, max(len(samples), 1))
	rows := (len(samples) + cols - 1) / cols
	gridW := cols*(2*cell+gap) + (cols-1)*pad + 2*pad
	gridH := rows*(cell+pad) + pad

	// Legend: swatch + name per entry, wrapped to the grid width.
	const lineH, swatch = 18, 12
	colW := 0
	for _, c := range cats {
		colW = max(colW, swatch+6+font.MeasureString(face, legendName(c)).Ceil()+16)
	}
	perLine := max(1, (gridW-2*pad)/max(colW, 1))
	legendH := ((len(cats)+perLine-1)/perLine)*lineH + 2*pad

	img := image.NewRGBA(image.Rect(0, 0, gridW, gridH+legendH))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{24, 24, 24, 255}}, image.Point{}, draw.Src)

	for k, s := range samples {
		ox := pad + (k%cols)*(2*cell+gap+pad)
		oy := pad + (k/cols)*(cell+pad)
		drawSample(img, s, cats, ox, oy, cell, false)
		drawSample(img, s, cats, ox+cell+gap, oy, cell, true)
	}

	d := &font.Drawer{Dst: img, Src: image.NewUniform(color.RGBA{230, 230, 230, 255}), Face: face}
	for i, c := range cats {
		x := pad + (i%perLine)*colW
		y := gridH + pad + (i/perLine)*lineH
		draw.Draw(img, image.Rect(x, y+2, x+swatch, y+2+swatch), &image.Uniform{color.RGBA{c.Color[0], c.Color[1], c.Color[2], 255}}, image.Point{}, draw.Src)
		d.Dot = fixed.P(x+swatch+6, y+13)
		d.DrawString(legendName(c))
	}
	return img
}

func legendName(c Category) string {
	if c.IsThing {
		return c.Name
	}
	return c.Name + " (stuff)"
}

// drawSample draws s scaled (nearest neighbour) into the cell×cell square
// at (ox, oy), with the segment overlay if overlay is set.
func drawSample(img *image.RGBA, s *Sample, cats []Category, ox, oy, cell int, overlay bool) {
	scale := float64(cell) / float64(max(s.H, s.W))
	dh, dw := int(float64(s.H)*scale), int(float64(s.W)*scale)
	for y := 0; y < dh; y++ {
		sy := min(int(float64(y)/scale), s.H-1)
		for x := 0; x < dw; x++ {
			sx := min(int(float64(x)/scale), s.W-1)
			i := sy*s.W + sx
			r, g, b := float64(s.RGB[3*i]), float64(s.RGB[3*i+1]), float64(s.RGB[3*i+2])
			if overlay {
				id := s.Panoptic[i]
				if id > 0 {
					c := cats[s.Instances[id-1].Class].Color
					if previewEdge(s, sx, sy, id) {
						r, g, b = float64(c[0])*0.45, float64(c[1])*0.45, float64(c[2])*0.45
					} else {
						r = 0.55*r + 0.45*float64(c[0])
						g = 0.55*g + 0.45*float64(c[1])
						b = 0.55*b + 0.45*float64(c[2])
					}
				} else {
					// void: darken and hatch
					r, g, b = r*0.3, g*0.3, b*0.3
					if (x+y)%8 == 0 {
						r, g, b = 200, 200, 200
					}
				}
			}
			img.SetRGBA(ox+x, oy+y, color.RGBA{uint8(r), uint8(g), uint8(b), 255})
		}
	}
}

// previewEdge reports whether pixel (x, y) of segment id touches another
// segment or the border (4-neighbourhood).
func previewEdge(s *Sample, x, y int, id int32) bool {
	for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
		nx, ny := x+d[0], y+d[1]
		if nx < 0 || ny < 0 || nx >= s.W || ny >= s.H {
			continue
		}
		if s.Panoptic[ny*s.W+nx] != id {
			return true
		}
	}
	return false
}
