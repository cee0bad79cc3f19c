package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	stdfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
)

// DefaultDPI is the PNG resolution used when Size.DPI is 0.
const DefaultDPI = 120

// Size is a figure's size and PNG resolution. Zero fields take the
// builder's defaults (each builder documents its default size).
type Size struct {
	Width, Height vg.Length
	// DPI is the PNG resolution in dots per inch; 0 means DefaultDPI.
	// SVG output ignores it.
	DPI int
}

func (s Size) or(w, h vg.Length) Size {
	if s.Width == 0 {
		s.Width = w
	}
	if s.Height == 0 {
		s.Height = h
	}
	if s.DPI == 0 {
		s.DPI = DefaultDPI
	}
	if s.Width < 0 || s.Height < 0 || s.DPI < 0 {
		panic(fmt.Sprintf("plots: negative figure size %v×%v at %d dpi", s.Width, s.Height, s.DPI))
	}
	return s
}

// Figure is a finished figure: Save or Write render it.
type Figure struct {
	size Size
	// draw draws the figure on c for the output format ("png" or "svg").
	draw func(c draw.Canvas, format string)
}

// Formats lists the output formats, as file extensions without the dot.
var Formats = []string{"png", "svg"}

// FormatOf returns the output format of a path, "png" or "svg", from its
// extension (case-insensitive), or an error naming the path.
func FormatOf(path string) (string, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	for _, f := range Formats {
		if ext == f {
			return ext, nil
		}
	}
	return "", fmt.Errorf("plots: %s: unsupported figure format %q (want .png or .svg)", path, filepath.Ext(path))
}

// Save writes the figure to path in the format of its extension (.png or
// .svg). The file is replaced atomically: on error the old file, if any, is
// left as it was.
func (f *Figure) Save(path string) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return f.Write(w, format) }); err != nil {
		return fmt.Errorf("plots: write %s: %w", path, err)
	}
	return nil
}

// Write renders the figure to w as "png" or "svg".
func (f *Figure) Write(w io.Writer, format string) error {
	switch format {
	case "png":
		c := vgimg.NewWith(vgimg.UseWH(f.size.Width, f.size.Height), vgimg.UseDPI(f.size.DPI),
			vgimg.UseBackgroundColor(color.White))
		f.draw(draw.New(c), format)
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
		return err
	case "svg":
		c := vgsvg.New(f.size.Width, f.size.Height)
		dc := draw.New(c)
		dc.SetColor(color.White)
		dc.Fill(dc.Rectangle.Path())
		f.draw(dc, format)
		var buf bytes.Buffer
		if _, err := c.WriteTo(&buf); err != nil {
			return err
		}
		_, err := w.Write(fixSVG(buf.Bytes()))
		return err
	}
	return fmt.Errorf("plots: unsupported figure format %q (want png or svg)", format)
}

// fixSVG adjusts vgsvg's output: the font family gets fallbacks with the
// same metrics as Liberation Sans (Arimo, Arial, Helvetica), since the
// fonts are not embedded, and embedded images, which vgsvg encodes as PNG
// but labels "image/jpg", are labelled "image/png" so that strict
// renderers (librsvg) draw them, and stretched to their rectangle as in
// PNG output (SVG's default keeps the image's aspect ratio, which turns a
// 1 × 256 colour bar into a hairline).
func fixSVG(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arimo,Arial,Helvetica,sans-serif;"))
	b = bytes.ReplaceAll(b, []byte("data:image/jpg;base64,iVBOR"), []byte("data:image/png;base64,iVBOR"))
	return bytes.ReplaceAll(b, []byte("<image "), []byte(`<image preserveAspectRatio="none" `))
}

// Okabe–Ito colours (Okabe & Ito 2008, "Color Universal Design"), ordered
// for lines on white: the yellow comes last because it is hard to see.
var (
	blue          = color.RGBA{0x00, 0x72, 0xB2, 0xFF}
	vermillion    = color.RGBA{0xD5, 0x5E, 0x00, 0xFF}
	bluishGreen   = color.RGBA{0x00, 0x9E, 0x73, 0xFF}
	reddishPurple = color.RGBA{0xCC, 0x79, 0xA7, 0xFF}
	orange        = color.RGBA{0xE6, 0x9F, 0x00, 0xFF}
	skyBlue       = color.RGBA{0x56, 0xB4, 0xE9, 0xFF}
	black         = color.RGBA{0x00, 0x00, 0x00, 0xFF}
	yellow        = color.RGBA{0xF0, 0xE4, 0x42, 0xFF}
)

// Palette is the series palette (Okabe–Ito), in the order series use it;
// series i takes Palette[i % len(Palette)].
var Palette = []color.Color{blue, vermillion, bluishGreen, reddishPurple, orange, skyBlue, black, yellow}

// glyphs are the markers of successive series, so that series differ in
// shape as well as colour.
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}, draw.RingGlyph{},
	draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{},
}

// dashes are the dash patterns of series beyond the palette's length.
var dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}}

func seriesColor(i int) color.Color { return Palette[i%len(Palette)] }

func seriesGlyph(i int) draw.GlyphDrawer { return glyphs[i%len(glyphs)] }

func seriesDashes(i int) []vg.Length { return dashes[(i/len(Palette))%len(dashes)] }

// withAlpha returns c at opacity a in [0, 1] (non-premultiplied).
func withAlpha(c color.Color, a float64) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a*255 + 0.5)}
}

// sans is Liberation Sans at the given size.
func sans(size float64) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size)}
}

func sansBold(size float64) font.Font {
	f := sans(size)
	f.Weight = stdfont.WeightBold
	return f
}

var (
	gridColor = color.Gray{0xDD}
	textColor = color.Gray{0x20}
)

// newPlot returns a plot with the package's look: sans-serif text, ticks
// and labels in dark grey, shortest-form tick labels. Legends are drawn by
// legendBox, not by the plot.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sansBold(12)
	p.Title.TextStyle.Color = textColor
	p.Title.Padding = vg.Points(6)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = sans(10.5)
		ax.Label.TextStyle.Color = textColor
		ax.Tick.Label.Font = sans(9)
		ax.Tick.Label.Color = textColor
		ax.LineStyle.Color = color.Gray{0x70}
		ax.Tick.LineStyle.Color = color.Gray{0x70}
	}
	p.Y.Tick.Marker = tidyTicks{}
	p.X.Tick.Marker = tidyTicks{}
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	return p
}

// tidyTicks is plot.DefaultTicks with labels in the shortest form
// ("25", "0.5") instead of a fixed number of decimals.
type tidyTicks struct{}

func (tidyTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label == "" {
			continue
		}
		v, _ := strconv.ParseFloat(strconv.FormatFloat(ts[i].Value, 'g', 10, 64), 64)
		ts[i].Label = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ts
}
