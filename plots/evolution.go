package plots

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/mpanalyze/mpanalyze/mask"
)

// MaskRow is one query of a MaskEvolution figure.
type MaskRow struct {
	// Label is written left of the row, e.g. "query 17 → dog\nscore 0.93";
	// it may hold several lines.
	Label string
	// Masks[s] is the query's binary mask at stage s (logit > 0, at the
	// mask resolution, stride 4), or nil when it was not recorded. All
	// masks of a figure have one size; each mask pixel covers its share
	// of the cell.
	Masks []*mask.Bits
	// GT, when set, is the ground-truth segment the query is matched to,
	// shown in an extra last column (at any resolution).
	GT *mask.Bits
}

// MaskSettings configures MaskEvolution. The zero value gives a figure
// TextWidth (7 inches) wide.
type MaskSettings struct {
	// Style: the width defaults to TextWidth; the cells fill it and the
	// height follows from the cells (Height is ignored). NoTitle also
	// leaves out the key line under the grid.
	Style
	Title string
	// StageLayers[s], when set, adds "L layers" under the heading of
	// column s; nil labels the columns "stage s" only.
	StageLayers []int
	// NoIoU leaves out the line under each cell from stage 1 on that gives
	// the IoU of the mask with the previous stage's.
	NoIoU bool
}

// Mask colours: one colour for every mask, a saturated blue that stands
// out on the greyscale image (Okabe–Ito blue), filled translucent and
// outlined opaque.
var (
	maskOutline = blue
	maskFill    = withAlpha(blue, 0.38)
	cellFrame   = color.Gray{0xA0}
)

// MaskEvolution draws how a few queries' masks change through the decoder
// stages — the picture of layer-to-layer inconsistency. Each row is a query
// (rows[i]), each column a stage (and a last "GT" column when a row has a
// GT mask); each cell is img in light greyscale with the query's mask as a
// translucent blue fill and an opaque blue outline, the same colour in
// every row, drawn as vectors at the mask's resolution. A cell whose mask
// is empty says "empty". Under cells of stage s ≥ 1 is the IoU of the
// stage-s and stage-(s−1) masks (as metrics.IoU computes it, at the mask
// resolution), in bold vermillion below 50 %; "both empty" when both masks
// are empty (metrics counts that pair's IoU as 1). A nil s means the zero
// settings.
//
// Use ImageFromRGB for an image held as H·W·3 bytes. It panics if rows is
// empty, rows differ in their number of stages, or masks differ in size.
func MaskEvolution(img image.Image, rows []MaskRow, s *MaskSettings) *Figure {
	if s == nil {
		s = &MaskSettings{}
	}
	stages, hasGT := maskStages(img, rows, s)
	t := s.Style.text()
	f := &maskFigure{
		rows: rows, stages: stages, hasGT: hasGT, t: t,
		title:  s.Style.title(s.Title),
		rowSty: maskTextStyle(t, tickSize, false), headSty: maskTextStyle(t, tickSize, false), noteSty: maskTextStyle(t, noteSize, false),
	}

	// Layout, in points from the top left.
	W := s.Width
	if W == 0 {
		W = TextWidth
	}
	f.columns(W, img.Bounds())
	f.headings(s.StageLayers)
	H := f.verticals(W, s)
	size := Size{Width: W, Height: H, DPI: s.DPI}.or(W, H)

	// The image, in grey, at no more pixels than the cell shows at 300
	// dpi (every cell draws the same image).
	long := int(math.Ceil(float64(max(f.cw, f.ch)) / 72 * 300))
	f.grey = greyImage(img, long)

	return &Figure{size: size, draw: func(dc draw.Canvas, _ string) { f.draw(dc) }}
}

// maskStages checks MaskEvolution's input (rows, a non-empty image, the
// same number of stages in every row, masks of one size, StageLayers of
// one entry per stage) and returns the number of stages and whether a row
// has a GT mask.
func maskStages(img image.Image, rows []MaskRow, s *MaskSettings) (stages int, hasGT bool) {
	if len(rows) == 0 {
		panic("plots: MaskEvolution: no rows")
	}
	if img.Bounds().Empty() {
		panic("plots: MaskEvolution: empty image")
	}
	stages = len(rows[0].Masks)
	if stages == 0 {
		panic("plots: MaskEvolution: no stages")
	}
	var mh, mw int
	for i, r := range rows {
		if len(r.Masks) != stages {
			panic(fmt.Sprintf("plots: MaskEvolution: row %d has %d stages, row 0 has %d", i, len(r.Masks), stages))
		}
		for _, m := range r.Masks {
			if m == nil {
				continue
			}
			if mh == 0 {
				mh, mw = m.H, m.W
			}
			if m.H != mh || m.W != mw {
				panic(fmt.Sprintf("plots: MaskEvolution: row %d: mask of %d×%d, others %d×%d", i, m.H, m.W, mh, mw))
			}
		}
		hasGT = hasGT || r.GT != nil
	}
	if s.StageLayers != nil && len(s.StageLayers) != stages {
		panic(fmt.Sprintf("plots: MaskEvolution: %d StageLayers for %d stages", len(s.StageLayers), stages))
	}
	return stages, hasGT
}

// maskTextStyle is the text style of MaskEvolution at size (in points
// before scaling), bold or regular.
func maskTextStyle(t textStyle, size float64, bold bool) text.Style {
	f := t.sans(size)
	if bold {
		f = t.bold(size)
	}
	return text.Style{Font: f, Color: textColor, Handler: plot.DefaultTextHandler}
}

// maskFigure is the layout of a MaskEvolution figure, in points from the
// top left, and what it draws.
type maskFigure struct {
	rows                      []MaskRow
	stages, cols              int
	hasGT                     bool
	t                         textStyle
	title                     string
	titleSty                  text.Style
	rowSty, headSty, noteSty  text.Style
	heads                     [][]string
	pad                       vg.Length
	cw, ch                    vg.Length // cell width and height
	colX                      []vg.Length
	titleY, headY, keyY, iouH vg.Length
	rowY                      []vg.Length
	key                       string
	grey                      image.Image
}

// columns places the columns in width W: the row labels (at most 30 % of
// W) on the left, then a cell per stage and the GT column a little apart;
// the cells have img's aspect ratio. It panics if the cells would be
// narrower than 4 points.
func (f *maskFigure) columns(W vg.Length, ib image.Rectangle) {
	t := f.t
	f.pad = t.pt(3)
	pad, gap, gtGap := f.pad, t.pt(3), t.pt(7)
	var labelW vg.Length
	for _, r := range f.rows {
		labelW = max(labelW, f.rowSty.Width(r.Label))
	}
	labelW = min(labelW, 0.3*W)
	x0 := pad + labelW + t.pt(6)
	f.cols = f.stages
	if f.hasGT {
		f.cols++
	}
	cols := f.cols
	cw := (W - x0 - pad - vg.Length(cols-1)*gap) / vg.Length(cols)
	if f.hasGT {
		cw -= (gtGap - gap) / vg.Length(cols)
	}
	if cw < vg.Points(4) {
		panic(fmt.Sprintf("plots: MaskEvolution: %d columns do not fit %v", cols, W))
	}
	f.cw = cw
	f.ch = cw * vg.Length(ib.Dy()) / vg.Length(ib.Dx())
	f.colX = make([]vg.Length, cols)
	for c := range cols {
		f.colX[c] = x0 + vg.Length(c)*(cw+gap)
		if f.hasGT && c == f.stages {
			f.colX[c] += gtGap - gap
		}
	}
}

// headings sets the column headings, "stage s" and (with stageLayers)
// "L layer(s)", or "GT", in a font shrunk to fit the cell width.
func (f *maskFigure) headings(stageLayers []int) {
	f.heads = make([][]string, f.cols)
	for c := range f.stages {
		f.heads[c] = []string{fmt.Sprintf("stage %d", c)}
		if stageLayers != nil {
			f.heads[c] = append(f.heads[c], layersText(stageLayers[c]))
		}
	}
	if f.hasGT {
		f.heads[f.stages] = []string{"GT"}
	}
	f.headSty.Font.Size = fitSize(f.headSty, f.cw, f.heads)
}

// verticals places, from the top, the title, the headings, the rows (each
// with a line for the IoUs unless s.NoIoU or there is one stage) and,
// with a title, the key line; it returns the figure's height.
func (f *maskFigure) verticals(W vg.Length, s *MaskSettings) vg.Length {
	t, pad := f.t, f.pad
	rowGap := t.pt(5)
	lineH := f.headSty.Height("Xg")
	y := pad
	f.titleY = y
	if f.title != "" {
		f.titleSty = maskTextStyle(t, titleSize, true)
		f.title, f.titleSty.Font = t.fitTitle(f.title, W-2*pad)
		y += f.titleSty.Height(f.title) + t.pt(5)
	}
	f.headY = y
	nHead := 1
	if s.StageLayers != nil {
		nHead = 2
	}
	y += vg.Length(nHead)*lineH + t.pt(3)
	if !s.NoIoU && f.stages > 1 {
		f.iouH = f.noteSty.Height("IoU") + t.pt(2)
	}
	f.rowY = make([]vg.Length, len(f.rows))
	for i := range f.rows {
		f.rowY[i] = y
		y += f.ch + f.iouH + rowGap
	}
	y -= rowGap
	if f.title != "" {
		f.key = "Blue: the query's mask (logit > 0) over the image in grey."
		if f.iouH > 0 {
			f.key += " Under each cell: IoU with the previous stage, bold below 50 %."
		}
		f.noteSty.Font.Size = fitSize(f.noteSty, W-2*pad, [][]string{{f.key}})
		y += t.pt(5)
	}
	f.keyY = y
	if f.key != "" {
		y += f.noteSty.Height(f.key)
	}
	return y + pad
}

// at converts a point in points from dc's top left to canvas coordinates.
func (f *maskFigure) at(dc draw.Canvas, x, y vg.Length) vg.Point {
	return vg.Point{X: dc.Min.X + x, Y: dc.Max.Y - y}
}

// draw draws the title, the column headings, the rows and the key.
func (f *maskFigure) draw(dc draw.Canvas) {
	if f.title != "" {
		st := f.titleSty
		st.YAlign = draw.YTop
		dc.FillText(st, f.at(dc, f.pad, f.titleY), f.title)
	}
	for c, h := range f.heads {
		st := f.headSty
		st.XAlign, st.YAlign = draw.XCenter, draw.YTop
		dc.FillText(st, f.at(dc, f.colX[c]+f.cw/2, f.headY), strings.Join(h, "\n"))
	}
	for i := range f.rows {
		f.drawRow(dc, i)
	}
	if f.key != "" {
		st := f.noteSty
		st.YAlign = draw.YTop
		st.Color = color.Gray{0x50}
		dc.FillText(st, f.at(dc, f.pad, f.keyY), f.key)
	}
}

// drawRow draws row i: its label, its cells and, unless left out, the IoU
// of each stage's mask with the previous stage's under the cell.
func (f *maskFigure) drawRow(dc draw.Canvas, i int) {
	t, r, cw, ch := f.t, f.rows[i], f.cw, f.ch
	st := f.rowSty
	st.YAlign = draw.YCenter
	dc.FillText(st, f.at(dc, f.pad, f.rowY[i]+ch/2), r.Label)
	for c := range f.cols {
		m := r.GT
		if c < f.stages {
			m = r.Masks[c]
		}
		rect := vg.Rectangle{Min: f.at(dc, f.colX[c], f.rowY[i]+ch), Max: f.at(dc, f.colX[c]+cw, f.rowY[i])}
		drawCell(dc, t, rect, f.grey, m)
	}
	if f.iouH == 0 {
		return
	}
	for c := 1; c < f.stages; c++ {
		a, b := r.Masks[c-1], r.Masks[c]
		if a == nil || b == nil {
			continue
		}
		txt, low := iouText(a, b)
		st := f.noteSty
		st.Font.Size = vg.Points(noteSize * t.scale)
		if low {
			st.Font = t.bold(noteSize)
			st.Color = vermillion
		}
		st.Font.Size = fitSize(st, cw, [][]string{{txt}})
		st.XAlign, st.YAlign = draw.XCenter, draw.YTop
		dc.FillText(st, f.at(dc, f.colX[c]+cw/2, f.rowY[i]+ch+t.pt(1.5)), txt)
	}
}

// layersText is "1 layer", "n layers".
func layersText(n int) string {
	if n == 1 {
		return "1 layer"
	}
	return fmt.Sprintf("%d layers", n)
}

// iouText is what is written under a cell: "IoU 78 %" (low when below
// 50 %), or "both empty".
func iouText(a, b *mask.Bits) (string, bool) {
	inter, union := mask.InterUnion(a, b)
	if union == 0 {
		return "both empty", false // IoU(∅, ∅) = 1 in package metrics
	}
	iou := float64(inter) / float64(union)
	return fmt.Sprintf("IoU %.0f %%", 100*iou), iou < 0.5
}

// fitSize returns the largest font size, at most st's and at least 5 pt,
// at which every line of every text fits width w.
func fitSize(st text.Style, w vg.Length, texts [][]string) vg.Length {
	for st.Font.Size > vg.Points(5) {
		fits := true
		for _, lines := range texts {
			for _, l := range lines {
				fits = fits && st.Width(l) <= w
			}
		}
		if fits {
			break
		}
		st.Font.Size -= vg.Points(0.25)
	}
	return st.Font.Size
}

// drawCell draws one cell: the grey image, the mask as a translucent
// fill and an outline, "empty" when the mask is empty, a thin frame. A nil
// mask leaves the image alone.
func drawCell(c draw.Canvas, t textStyle, r vg.Rectangle, grey image.Image, m *mask.Bits) {
	c.DrawImage(r, grey)
	if m != nil {
		fill, outline := maskPaths(m, r)
		if len(fill) > 0 {
			c.SetColor(maskFill)
			c.Fill(fill)
			c.SetLineStyle(draw.LineStyle{Color: maskOutline, Width: min(t.pt(1.1), (r.Max.X-r.Min.X)/25)})
			c.Stroke(outline)
		} else {
			st := text.Style{Font: t.sans(noteSize), Color: textColor, XAlign: draw.XCenter, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
			st.Font.Size = fitSize(st, 0.9*(r.Max.X-r.Min.X), [][]string{{"empty"}})
			w, h := st.Width("empty"), st.Height("empty")
			mid := vg.Point{X: (r.Min.X + r.Max.X) / 2, Y: (r.Min.Y + r.Max.Y) / 2}
			box := vg.Rectangle{Min: vg.Point{X: mid.X - w/2 - 1.5, Y: mid.Y - h/2 - 1}, Max: vg.Point{X: mid.X + w/2 + 1.5, Y: mid.Y + h/2 + 1}}
			c.SetColor(color.NRGBA{0xFF, 0xFF, 0xFF, 0xD0})
			c.Fill(box.Path())
			c.FillText(st, mid, "empty")
		}
	}
	c.SetLineStyle(draw.LineStyle{Color: cellFrame, Width: vg.Points(0.5)})
	c.Stroke(r.Path())
}

// maskPaths returns m's pixels inside r as one fill path (a rectangle per
// horizontal run of set pixels, so that the fill has no seams) and its
// boundary as one stroke path (the edges between set and unset pixels,
// and the image border where a pixel is set, merged into straight runs,
// each extended by nothing: corners meet at shared end points).
func maskPaths(m *mask.Bits, r vg.Rectangle) (fill, outline vg.Path) {
	pw := (r.Max.X - r.Min.X) / vg.Length(m.W)
	ph := (r.Max.Y - r.Min.Y) / vg.Length(m.H)
	// Pixel (y, x) from the top left; vg's y grows upwards.
	px := func(x, y int) vg.Point {
		return vg.Point{X: r.Min.X + vg.Length(x)*pw, Y: r.Max.Y - vg.Length(y)*ph}
	}
	on := func(y, x int) bool { return y >= 0 && x >= 0 && y < m.H && x < m.W && m.At(y, x) }
	for y := range m.H {
		for x := 0; x < m.W; {
			if !m.At(y, x) {
				x++
				continue
			}
			x1 := x
			for x1 < m.W && m.At(y, x1) {
				x1++
			}
			fill.Move(px(x, y))
			fill.Line(px(x1, y))
			fill.Line(px(x1, y+1))
			fill.Line(px(x, y+1))
			fill.Close()
			x = x1
		}
	}
	// Horizontal edges: between rows y−1 and y, where exactly one is set.
	for y := 0; y <= m.H; y++ {
		for x := 0; x < m.W; {
			if on(y-1, x) == on(y, x) {
				x++
				continue
			}
			x1 := x
			for x1 < m.W && on(y-1, x1) != on(y, x1) {
				x1++
			}
			outline.Move(px(x, y))
			outline.Line(px(x1, y))
			x = x1
		}
	}
	// Vertical edges: between columns x−1 and x.
	for x := 0; x <= m.W; x++ {
		for y := 0; y < m.H; {
			if on(y, x-1) == on(y, x) {
				y++
				continue
			}
			y1 := y
			for y1 < m.H && on(y1, x-1) != on(y1, x) {
				y1++
			}
			outline.Move(px(x, y))
			outline.Line(px(x, y1))
			y = y1
		}
	}
	return fill, outline
}

// ImageFromRGB wraps h·w·3 bytes, row-major RGB (as data.Image holds
// them), as an image. It panics if len(pix) ≠ h·w·3.
func ImageFromRGB(h, w int, pix []uint8) *image.RGBA {
	if h <= 0 || w <= 0 || len(pix) != h*w*3 {
		panic(fmt.Sprintf("plots: ImageFromRGB: %d bytes for %d×%d×3", len(pix), h, w))
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range h * w {
		copy(img.Pix[4*i:4*i+3], pix[3*i:3*i+3])
		img.Pix[4*i+3] = 0xFF
	}
	return img
}

// greyImage returns img in light grey: its Rec. 709 luma mapped linearly
// into [greyLo, 255], so that the darkest pixel is a mid grey and any
// mask colour stands out on it; resampled (box average) so that its
// longer side has at most long pixels.
func greyImage(img image.Image, long int) *image.Gray {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if k := max(w, h); long > 0 && k > long {
		w, h = max(1, w*long/k), max(1, h*long/k)
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		sy0, sy1 := b.Min.Y+y*b.Dy()/h, b.Min.Y+(y+1)*b.Dy()/h
		sy1 = max(sy1, sy0+1)
		for x := range w {
			sx0, sx1 := b.Min.X+x*b.Dx()/w, b.Min.X+(x+1)*b.Dx()/w
			sx1 = max(sx1, sx0+1)
			var sum float64
			n := 0
			for sy := sy0; sy < sy1; sy++ {
				for sx := sx0; sx < sx1; sx++ {
					r, g, bl, _ := img.At(sx, sy).RGBA()
					sum += (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 0xFFFF
					n++
				}
			}
			out.Pix[out.PixOffset(x, y)] = uint8(math.Round(greyLo + (255-greyLo)*sum/float64(n)))
		}
	}
	return out
}

// greyLo is the grey of a black pixel in the cells' background.
const greyLo = 120
