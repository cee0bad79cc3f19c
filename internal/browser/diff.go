package browser

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
)

// thumbWidth is the width ImageDiff shrinks screenshots to before
// comparing them: wide enough to see a missing grid or a broken layout,
// narrow enough to forgive anti-aliasing and sub-pixel text.
const thumbWidth = 96

// ImageDiff compares two PNG screenshots loosely: both are shrunk to
// thumbWidth pixels wide (box averages, the height in proportion), and
// the result is the mean absolute difference of their RGB values, as a
// fraction of full scale (0 = same, 1 = black against white). Images
// whose aspect ratios differ by more than 10 % are an error.
func ImageDiff(a, b []byte) (float64, error) {
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		return 0, fmt.Errorf("browser: first image: %w", err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return 0, fmt.Errorf("browser: second image: %w", err)
	}
	ra := float64(ia.Bounds().Dy()) / float64(ia.Bounds().Dx())
	rb := float64(ib.Bounds().Dy()) / float64(ib.Bounds().Dx())
	if math.Abs(ra-rb) > 0.1*math.Max(ra, rb) {
		return 0, fmt.Errorf("browser: images of %v and %v do not have the same shape", ia.Bounds().Size(), ib.Bounds().Size())
	}
	h := max(1, int(math.Round(thumbWidth*ra)))
	ta, tb := thumb(ia, thumbWidth, h), thumb(ib, thumbWidth, h)
	sum := 0.0
	for i := range ta {
		sum += math.Abs(ta[i] - tb[i])
	}
	return sum / float64(len(ta)), nil
}

// thumb area-averages img into w×h RGB values in [0, 1]: each source
// pixel counts towards the target pixels it overlaps, in proportion, so
// that shrinking in two steps gives what shrinking in one does.
func thumb(img image.Image, w, h int) []float64 {
	b := img.Bounds()
	xs, ys := spans(b.Dx(), w), spans(b.Dy(), h)
	out := make([]float64, 3*w*h)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		sy := ys[y-b.Min.Y]
		for x := b.Min.X; x < b.Max.X; x++ {
			sx := xs[x-b.Min.X]
			r, g, bl, _ := img.At(x, y).RGBA()
			v := [3]float64{float64(r) / 0xFFFF, float64(g) / 0xFFFF, float64(bl) / 0xFFFF}
			for i := range 2 {
				for j := range 2 {
					wt := sy.w[i] * sx.w[j]
					if wt == 0 {
						continue
					}
					k := sy.t[i]*w + sx.t[j]
					for c := range 3 {
						out[3*k+c] += wt * v[c]
					}
				}
			}
		}
	}
	// Each target pixel received the area (n/w)·(m/h) of source pixels.
	area := float64(b.Dx()) / float64(w) * float64(b.Dy()) / float64(h)
	for i := range out {
		out[i] /= area
	}
	return out
}

// span says which (at most two) of m target pixels a source pixel of n
// overlaps, and by how much (in source pixels).
type span struct {
	t [2]int
	w [2]float64
}

func spans(n, m int) []span {
	out := make([]span, n)
	scale := float64(m) / float64(n)
	for i := range out {
		a, b := float64(i)*scale, float64(i+1)*scale
		t0 := min(int(a), m-1)
		t1 := min(int(b), m-1)
		if t1 == t0 || float64(t1) >= b {
			out[i] = span{t: [2]int{t0, t0}, w: [2]float64{1, 0}}
			continue
		}
		f := (float64(t1) - a) / (b - a)
		out[i] = span{t: [2]int{t0, t1}, w: [2]float64{f, 1 - f}}
	}
	return out
}

// Shrink returns a PNG image scaled down (box averages) to width pixels
// wide, the height in proportion; an image no wider is returned as it is.
// Reference screenshots are kept small this way: ImageDiff compares
// thumbnails anyway.
func Shrink(pngData []byte, width int) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	b := img.Bounds()
	if b.Dx() <= width {
		return pngData, nil
	}
	h := max(1, int(math.Round(float64(width)*float64(b.Dy())/float64(b.Dx()))))
	t := thumb(img, width, h)
	out := image.NewRGBA(image.Rect(0, 0, width, h))
	for k := range width * h {
		for c := range 3 {
			out.Pix[4*k+c] = uint8(math.Round(255 * t[3*k+c]))
		}
		out.Pix[4*k+3] = 255
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	return buf.Bytes(), nil
}
