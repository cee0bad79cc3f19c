package plots

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
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

// Size returns the figure's size and PNG resolution.
func (f *Figure) Size() Size { return f.size }

// Formats lists the output formats, as file extensions without the dot.
var Formats = []string{"png", "svg", "pdf"}

// DefaultFormats are the formats written when none are asked for: PNG for
// screens and documents, SVG for the web and further editing.
var DefaultFormats = []string{"png", "svg"}

// FormatOf returns the output format of a path, "png", "svg" or "pdf",
// from its extension (case-insensitive), or an error naming the path.
func FormatOf(path string) (string, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	for _, f := range Formats {
		if ext == f {
			return ext, nil
		}
	}
	return "", fmt.Errorf("plots: %s: unsupported figure format %q (want .png, .svg or .pdf)", path, filepath.Ext(path))
}

// Save writes the figure to path in the format of its extension (.png,
// .svg or .pdf). The file is replaced atomically: on error the old file,
// if any, is left as it was.
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

// Write renders the figure to w as "png", "svg" or "pdf". PDF and SVG are
// vector formats (images inside a figure, such as the mask-evolution
// cells, stay raster); PDF embeds the subset fonts, SVG names them with
// fallbacks of the same metrics.
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
	case "pdf":
		c := newPDFCanvas(f.size.Width, f.size.Height)
		f.draw(draw.New(c), format)
		_, err := c.WriteTo(w)
		return err
	}
	return fmt.Errorf("plots: unsupported figure format %q (want png, svg or pdf)", format)
}

// fixSVG adjusts vgsvg's output: the font family gets fallbacks with the
// same metrics as Liberation Sans (Arimo, Arial, Helvetica), since the
// fonts are not embedded, and embedded images, which vgsvg encodes as PNG
// but labels "image/jpg", are labelled "image/png" so that strict
// renderers (librsvg) draw them, and stretched to their rectangle as in
// PNG output (SVG's default keeps the image's aspect ratio, which turns a
// 1 × 256 colour bar into a hairline). An image drawn several times at
// one size (the mask-evolution cells' background) is embedded once
// (dedupeImages).
func fixSVG(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arimo,Arial,Helvetica,sans-serif;"))
	b = bytes.ReplaceAll(b, []byte("data:image/jpg;base64,iVBOR"), []byte("data:image/png;base64,iVBOR"))
	b = bytes.ReplaceAll(b, []byte("<image "), []byte(`<image preserveAspectRatio="none" `))
	return dedupeImages(b)
}

// svgImage matches an image as vgsvg writes it (after fixSVG's
// attribute): position, size, data, and the flip that keeps it upright.
var svgImage = regexp.MustCompile(`<image preserveAspectRatio="none" x="([^"]+)" y="([^"]+)" width="([^"]+)" height="([^"]+)" xlink:href="([^"]+)" transform="scale\(1, -1\)" />`)

// dedupeImages writes each distinct image (data and size) once, in a
// <defs> at its first use, and every use of it as a <use> placed where the
// image was: <use transform="T" x="X" y="Y"> draws its target under
// T·translate(X, Y), the same as <image x="X" y="Y" transform="T">. The id
// is a hash of the data and size, so that identical images of two figures
// inlined in one HTML page (the report) may share it.
func dedupeImages(b []byte) []byte {
	seen := map[string]bool{}
	return svgImage.ReplaceAllFunc(b, func(m []byte) []byte {
		g := svgImage.FindSubmatch(m)
		x, y, w, h, data := g[1], g[2], g[3], g[4], g[5]
		sum := sha256.Sum256(append(append(append([]byte(nil), data...), w...), h...))
		id := "img-" + hex.EncodeToString(sum[:6])
		use := fmt.Sprintf(`<use xlink:href="#%s" x="%s" y="%s" transform="scale(1, -1)" />`, id, x, y)
		if seen[id] {
			return []byte(use)
		}
		seen[id] = true
		return []byte(fmt.Sprintf(`<defs><image id="%s" preserveAspectRatio="none" x="0" y="0" width="%s" height="%s" xlink:href="%s" /></defs>%s`, id, w, h, data, use))
	})
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

var (
	gridColor = color.Gray{0xDD}
	textColor = color.Gray{0x20}
)

// newPlot returns a plot with the package's look: sans-serif text, ticks
// and labels in dark grey, shortest-form tick labels. Legends are drawn by
// legendBox, not by the plot.
func newPlot(t textStyle, title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = t.bold(titleSize)
	p.Title.TextStyle.Color = textColor
	p.Title.Padding = t.pt(5)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = t.sans(labelSize)
		ax.Label.TextStyle.Color = textColor
		ax.Tick.Label.Font = t.sans(tickSize)
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
