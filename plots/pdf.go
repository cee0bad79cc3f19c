package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
)

// pdfCanvas is a vg.Canvas that writes one PDF page with fpdf. It exists
// because gonum's vgpdf cannot serve publication figures: it embeds fonts
// with the one-byte cp1252 encoding, so "→", "σ" or "×" come out as
// mojibake, it fails on bold text ("undefined font: liberationsans-bold
// B"), it embeds each font whole (≈ 400 kB per face), and it stamps the
// current time into the file. Here text is embedded as UTF-8 with the
// fonts subset to the glyphs used (fpdf.AddUTF8FontFromBytes), so a
// figure's PDF is tens of kilobytes, its text is selectable and
// searchable, and the same figure gives the same bytes.
//
// Coordinates: vg draws in points from the bottom left; fpdf (unit "pt")
// from the top left. The canvas keeps vg's transformation matrix itself
// and maps every point to the page, so paths, arcs (as Bézier curves) and
// images need no PDF transformation; only rotated text does.
type pdfCanvas struct {
	doc    *fpdf.Fpdf
	w, h   vg.Length
	stack  []pdfState
	fonts  map[string]bool
	images map[image.Image]string // by pointer: *image.RGBA, *image.Gray
	nimg   int                    // images registered
}

// pdfState is what Push saves and Pop restores.
type pdfState struct {
	m      affine
	col    color.Color
	width  vg.Length
	dashes []vg.Length
	offset vg.Length
}

// affine maps (x, y) to (a·x + c·y + e, b·x + d·y + f).
type affine struct{ a, b, c, d, e, f float64 }

func (m affine) apply(p vg.Point) (float64, float64) {
	x, y := float64(p.X), float64(p.Y)
	return m.a*x + m.c*y + m.e, m.b*x + m.d*y + m.f
}

// then returns the transform that applies n first, then m.
func (m affine) then(n affine) affine {
	return affine{
		a: m.a*n.a + m.c*n.b, b: m.b*n.a + m.d*n.b,
		c: m.a*n.c + m.c*n.d, d: m.b*n.c + m.d*n.d,
		e: m.a*n.e + m.c*n.f + m.e, f: m.b*n.e + m.d*n.f + m.f,
	}
}

// scale is the transform's linear scale factor (√|det|), for line widths
// and font sizes.
func (m affine) scale() float64 { return math.Sqrt(math.Abs(m.a*m.d - m.b*m.c)) }

// pdfEpoch is the creation and modification date written into every PDF,
// so that the output depends on the figure only.
var pdfEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func newPDFCanvas(w, h vg.Length) *pdfCanvas {
	doc := fpdf.NewCustom(&fpdf.InitType{UnitStr: "pt", Size: fpdf.SizeType{Wd: w.Points(), Ht: h.Points()}})
	doc.SetCreationDate(pdfEpoch)
	doc.SetModificationDate(pdfEpoch)
	doc.SetCatalogSort(true)
	doc.SetProducer("mpanalyze (gonum/plot, fpdf)", false)
	doc.SetMargins(0, 0, 0)
	doc.SetAutoPageBreak(false, 0)
	doc.AddPage()
	c := &pdfCanvas{doc: doc, w: w, h: h, fonts: map[string]bool{}, images: map[image.Image]string{}}
	c.stack = []pdfState{{m: affine{a: 1, d: 1}}}
	vg.Initialize(c)
	return c
}

func (c *pdfCanvas) top() *pdfState { return &c.stack[len(c.stack)-1] }

// page maps a point of the current user space to fpdf's page coordinates.
func (c *pdfCanvas) page(p vg.Point) (float64, float64) {
	x, y := c.top().m.apply(p)
	return x, c.h.Points() - y
}

func (c *pdfCanvas) Size() (w, h vg.Length) { return c.w, c.h }

func (c *pdfCanvas) SetLineWidth(w vg.Length) {
	c.top().width = w
	c.doc.SetLineWidth(float64(w) * c.top().m.scale())
}

func (c *pdfCanvas) SetLineDash(dashes []vg.Length, offset vg.Length) {
	st := c.top()
	st.dashes, st.offset = append([]vg.Length(nil), dashes...), offset
	k := st.m.scale()
	ds := make([]float64, len(dashes))
	for i, d := range dashes {
		ds[i] = float64(d) * k
	}
	c.doc.SetDashPattern(ds, float64(offset)*k)
}

func (c *pdfCanvas) SetColor(col color.Color) {
	if col == nil {
		col = color.Black
	}
	c.top().col = col
	n := color.NRGBAModel.Convert(col).(color.NRGBA)
	r, g, b := int(n.R), int(n.G), int(n.B)
	c.doc.SetDrawColor(r, g, b)
	c.doc.SetFillColor(r, g, b)
	c.doc.SetTextColor(r, g, b)
	c.doc.SetAlpha(float64(n.A)/255, "Normal")
}

func (c *pdfCanvas) Rotate(rad float64) {
	sin, cos := math.Sincos(rad)
	c.top().m = c.top().m.then(affine{a: cos, b: sin, c: -sin, d: cos})
}

func (c *pdfCanvas) Translate(p vg.Point) {
	c.top().m = c.top().m.then(affine{a: 1, d: 1, e: float64(p.X), f: float64(p.Y)})
}

func (c *pdfCanvas) Scale(x, y float64) {
	c.top().m = c.top().m.then(affine{a: x, d: y})
}

func (c *pdfCanvas) Push() {
	st := *c.top()
	st.dashes = append([]vg.Length(nil), st.dashes...)
	c.stack = append(c.stack, st)
}

// Pop restores the saved state and tells fpdf about it again.
func (c *pdfCanvas) Pop() {
	if len(c.stack) == 1 {
		panic("plots: pdf canvas: Pop without Push")
	}
	c.stack = c.stack[:len(c.stack)-1]
	st := *c.top()
	c.SetColor(st.col)
	c.SetLineWidth(st.width)
	c.SetLineDash(st.dashes, st.offset)
}

func (c *pdfCanvas) Stroke(p vg.Path) {
	if c.top().width <= 0 {
		return
	}
	if c.path(p) {
		c.doc.DrawPath("D")
	}
}

func (c *pdfCanvas) Fill(p vg.Path) {
	if c.path(p) {
		c.doc.DrawPath("F")
	}
}

// path builds p as fpdf's current path; it reports whether p has a
// segment to draw.
func (c *pdfCanvas) path(p vg.Path) bool {
	var cur vg.Point // the current point, in user space
	var start vg.Point
	open, drawn := false, false
	lineTo := func(q vg.Point) {
		if !open {
			c.doc.MoveTo(c.page(q))
			start, open = q, true
		} else if q != cur {
			c.doc.LineTo(c.page(q))
			drawn = true
		}
		cur = q
	}
	for _, comp := range p {
		switch comp.Type {
		case vg.MoveComp:
			c.doc.MoveTo(c.page(comp.Pos))
			cur, start, open = comp.Pos, comp.Pos, true
		case vg.LineComp:
			lineTo(comp.Pos)
		case vg.CurveComp:
			if !open {
				lineTo(cur)
			}
			var c1, c2 vg.Point
			switch len(comp.Control) {
			case 1: // quadratic: raise to cubic
				q := comp.Control[0]
				c1 = vg.Point{X: cur.X + 2*(q.X-cur.X)/3, Y: cur.Y + 2*(q.Y-cur.Y)/3}
				c2 = vg.Point{X: comp.Pos.X + 2*(q.X-comp.Pos.X)/3, Y: comp.Pos.Y + 2*(q.Y-comp.Pos.Y)/3}
			case 2:
				c1, c2 = comp.Control[0], comp.Control[1]
			default:
				panic(fmt.Sprintf("plots: pdf canvas: curve with %d control points", len(comp.Control)))
			}
			x1, y1 := c.page(c1)
			x2, y2 := c.page(c2)
			x, y := c.page(comp.Pos)
			c.doc.CurveBezierCubicTo(x1, y1, x2, y2, x, y)
			cur, drawn = comp.Pos, true
		case vg.ArcComp:
			c.arc(comp, lineTo, &cur)
			drawn = true
		case vg.CloseComp:
			if open {
				c.doc.ClosePath()
				cur, open = start, false
			}
		default:
			panic(fmt.Sprintf("plots: pdf canvas: unknown path component %d", comp.Type))
		}
	}
	return drawn
}

// arc adds a circular arc as cubic Bézier curves of at most 90° each: a
// quarter circle of radius r from angle a to b has its control points at
// distance k·r along the tangents, k = 4/3·tan((b−a)/4).
func (c *pdfCanvas) arc(comp vg.PathComp, lineTo func(vg.Point), cur *vg.Point) {
	r := float64(comp.Radius)
	at := func(t float64) vg.Point {
		sin, cos := math.Sincos(t)
		return vg.Point{X: comp.Pos.X + vg.Length(r*cos), Y: comp.Pos.Y + vg.Length(r*sin)}
	}
	lineTo(at(comp.Start))
	n := int(math.Ceil(math.Abs(comp.Angle) / (math.Pi / 2)))
	if n == 0 {
		return
	}
	step := comp.Angle / float64(n)
	k := 4.0 / 3 * math.Tan(step/4)
	for i := range n {
		a0 := comp.Start + float64(i)*step
		a1 := a0 + step
		p0, p1 := at(a0), at(a1)
		s0, c0 := math.Sincos(a0)
		s1, c1 := math.Sincos(a1)
		ctl0 := vg.Point{X: p0.X - vg.Length(k*r*s0), Y: p0.Y + vg.Length(k*r*c0)}
		ctl1 := vg.Point{X: p1.X + vg.Length(k*r*s1), Y: p1.Y - vg.Length(k*r*c1)}
		x1, y1 := c.page(ctl0)
		x2, y2 := c.page(ctl1)
		x, y := c.page(p1)
		c.doc.CurveBezierCubicTo(x1, y1, x2, y2, x, y)
		*cur = p1
	}
}

// FillString writes text with its baseline's left end at p. The font is
// embedded (subset) the first time it is used.
func (c *pdfCanvas) FillString(f font.Face, p vg.Point, text string) {
	if f.Font.Size == 0 || text == "" {
		return
	}
	name := f.Name()
	if !c.fonts[name] {
		var b bytes.Buffer
		if _, err := f.Face.WriteSourceTo(nil, &b); err != nil {
			panic(fmt.Sprintf("plots: pdf canvas: font %s: %v", name, err))
		}
		c.doc.AddUTF8FontFromBytes(name, "", b.Bytes())
		c.fonts[name] = true
	}
	m := c.top().m
	c.doc.SetFont(name, "", f.Font.Size.Points()*m.scale())
	x, y := c.page(p)
	angle := math.Atan2(m.b, m.a) * 180 / math.Pi
	if math.Abs(angle) < 1e-9 {
		c.doc.Text(x, y, text)
		return
	}
	c.doc.TransformBegin()
	c.doc.TransformRotate(angle, x, y)
	c.doc.Text(x, y, text)
	c.doc.TransformEnd()
}

// DrawImage draws img stretched to rect (axis-aligned in user space). An
// *image.RGBA or *image.Gray drawn several times is embedded once.
func (c *pdfCanvas) DrawImage(rect vg.Rectangle, img image.Image) {
	cacheable := false
	switch img.(type) {
	case *image.RGBA, *image.Gray: // pointers: comparable map keys
		cacheable = true
	}
	name := ""
	if cacheable {
		name = c.images[img]
	}
	if name == "" {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			panic(fmt.Sprintf("plots: pdf canvas: encode image: %v", err))
		}
		c.nimg++
		name = fmt.Sprintf("image-%d", c.nimg)
		c.doc.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, &b)
		if cacheable {
			c.images[img] = name
		}
	}
	x0, y0 := c.page(rect.Min)
	x1, y1 := c.page(rect.Max)
	c.doc.ImageOptions(name, math.Min(x0, x1), math.Min(y0, y1), math.Abs(x1-x0), math.Abs(y1-y0), false,
		fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
}

// WriteTo writes the document; the canvas cannot be drawn on after.
func (c *pdfCanvas) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	if err := c.doc.Output(&b); err != nil {
		return 0, fmt.Errorf("plots: pdf: %w", err)
	}
	return b.WriteTo(w)
}
