package data

import (
	"image/color"
	"testing"
)

func TestPreviewOverlayAndLegend(t *testing.T) {
	cats := makeCategories([]string{"a"}, []string{"s"})
	// 5×5: stuff s everywhere but a 3×3 thing a in the middle.
	s := sampleFromPanoptic(0, 5, 5, []int32{
		1, 1, 1, 1, 1,
		1, 2, 2, 2, 1,
		1, 2, 2, 2, 1,
		1, 2, 2, 2, 1,
		1, 1, 1, 1, 1}, []int{1, 0}, cats)
	for i := range s.RGB {
		s.RGB[i] = 100
	}
	img := Preview([]*Sample{s}, cats, PreviewOptions{Cell: 50})
	// Layout (preview.go): 8-px padding, image panel 50 px, 4-px gap,
	// overlay panel; 10 display pixels per sample pixel.
	const ox, oy = 8, 8
	if got := img.RGBAAt(ox+25, oy+25); got != (color.RGBA{100, 100, 100, 255}) {
		t.Fatalf("image panel pixel %v, want the sample's grey", got)
	}
	// Overlay: the centre pixel of thing a (not on its outline) is 55 %
	// grey + 45 % of a's colour.
	c := cats[0].Color
	want := color.RGBA{uint8(0.55*100 + 0.45*float64(c[0])), uint8(0.55*100 + 0.45*float64(c[1])), uint8(0.55*100 + 0.45*float64(c[2])), 255}
	got := img.RGBAAt(ox+50+4+25, oy+25)
	if d := int(got.R) - int(want.R) + int(got.G) - int(want.G) + int(got.B) - int(want.B); d < -3 || d > 3 {
		t.Fatalf("overlay pixel %v, want %v", got, want)
	}
	// The legend (below the grid) has text pixels.
	text := 0
	for y := oy + 50 + 8; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			if img.RGBAAt(x, y) == (color.RGBA{230, 230, 230, 255}) {
				text++
			}
		}
	}
	if text < 20 {
		t.Fatalf("legend has %d text pixels", text)
	}
}
