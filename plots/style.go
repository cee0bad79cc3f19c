package plots

import (
	"fmt"
	"strings"

	stdfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// TextWidth is the width of a single-column text block in most journals
// and of a two-column figure in conference templates (7 inches, 17.8 cm):
// the width the figures are designed to be read at.
const TextWidth = 7 * vg.Inch

// Style is how a figure is drawn, whatever it shows: its size and PNG
// resolution, the size of its text and whether it has a title. Every
// builder's settings embed one; the zero Style gives the builder's
// defaults.
type Style struct {
	// Size overrides the builder's default size, field by field: a zero
	// Width or Height keeps the default (MaskEvolution fits its height to
	// the width), DPI 0 means DefaultDPI.
	Size
	// FontScale multiplies the size of every text (titles, labels, ticks,
	// legends, annotations); 0 means 1. The defaults are sized for reading
	// the figure at its own size (8–10 pt at 7 inches); use a scale above
	// 1 for a figure that will be shrunk, e.g. 1.4 for a 7-inch figure set
	// at 5 inches.
	FontScale float64
	// NoTitle leaves the title out, for a figure whose caption says what
	// it shows.
	NoTitle bool
}

// Check returns an error naming the first field out of range: negative
// sizes or resolution, a font scale outside [0.25, 4].
func (s Style) Check() error {
	switch {
	case s.Width < 0 || s.Height < 0:
		return fmt.Errorf("plots: negative figure size %v × %v", s.Width, s.Height)
	case s.DPI < 0 || s.DPI > 2400:
		return fmt.Errorf("plots: resolution %d dpi out of range (1..2400)", s.DPI)
	case s.FontScale != 0 && (s.FontScale < 0.25 || s.FontScale > 4):
		return fmt.Errorf("plots: font scale %g out of range (0.25..4)", s.FontScale)
	}
	return nil
}

// title returns t, or "" with NoTitle.
func (s Style) title(t string) string {
	if s.NoTitle {
		return ""
	}
	return t
}

// text returns the fonts of the style.
func (s Style) text() textStyle {
	k := s.FontScale
	if k == 0 {
		k = 1
	}
	if k < 0 {
		panic(fmt.Sprintf("plots: negative font scale %g", k))
	}
	return textStyle{scale: k}
}

// textStyle makes the fonts of one figure: Liberation Sans (metric-
// compatible with Arial and Helvetica) at a nominal size in points times
// the figure's font scale.
type textStyle struct{ scale float64 }

// The nominal text sizes, in points.
const (
	titleSize = 10.5 // figure title
	labelSize = 9    // axis labels
	tickSize  = 8    // tick labels, legends
	noteSize  = 7.5  // annotations in cells, footnotes
)

func (t textStyle) sans(size float64) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size * t.scale)}
}

func (t textStyle) bold(size float64) font.Font {
	f := t.sans(size)
	f.Weight = stdfont.WeightBold
	return f
}

// pt is a length of size points scaled like the text (paddings that
// surround text).
func (t textStyle) pt(size float64) vg.Length { return vg.Points(size * t.scale) }

// fitTitle returns a title as drawn within width w, in bold: on one line
// at the title size when it fits; else broken into two lines at its first
// " — " (or ": ") when both fit; else on one line shrunk to fit, down to
// 7 pt (beyond that it overflows).
func (t textStyle) fitTitle(title string, w vg.Length) (string, font.Font) {
	f := t.bold(titleSize)
	fits := func(s string, f font.Font) bool {
		for _, line := range strings.Split(s, "\n") {
			if textWidth(f, line) > w {
				return false
			}
		}
		return true
	}
	if fits(title, f) {
		return title, f
	}
	for _, sep := range []string{" — ", ": "} {
		if a, b, ok := strings.Cut(title, sep); ok {
			two := a + strings.TrimRight(sep, " ") + "\n" + b
			if sep == " — " {
				two = a + "\n" + b
			}
			if fits(two, f) {
				return two, f
			}
		}
	}
	for f.Size > t.pt(7) && !fits(title, f) {
		f.Size -= vg.Points(0.25)
	}
	return title, f
}

// drawTitle draws a figure's title centred over the first w of c (fitted
// to w) and returns the canvas below it; an empty title leaves c as it is.
func drawTitle(c draw.Canvas, t textStyle, title string, w vg.Length) draw.Canvas {
	if title == "" {
		return c
	}
	txt, f := t.fitTitle(title, w-t.pt(6))
	st := text.Style{Font: f, Color: textColor, XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	c.FillText(st, vg.Point{X: c.Min.X + w/2, Y: c.Max.Y - t.pt(3)}, txt)
	return draw.Crop(c, 0, 0, 0, -st.Height(txt)-t.pt(8))
}

// titleHeight is the height drawTitle takes for a title fitted to w.
func titleHeight(t textStyle, title string, w vg.Length) vg.Length {
	if title == "" {
		return 0
	}
	txt, f := t.fitTitle(title, w-t.pt(6))
	return text.Style{Font: f, Handler: plot.DefaultTextHandler}.Height(txt) + t.pt(8)
}
