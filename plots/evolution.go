package plots

import (
	"fmt"
	"image"
	"image/color"

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
	// masks of a figure have one size; they are upsampled (nearest
	// neighbour) to the cell.
	Masks []*mask.Bits
	// GT, when set, is the ground-truth segment the query is matched to,
	// shown in an extra last column (at any resolution).
	GT *mask.Bits
}

// MaskSettings configures MaskEvolution. The zero value gives cells of
// 112 pixels along the image's longer side at DefaultDPI.
type MaskSettings struct {
	Title string
	// StageLayers[s], when set, adds "(L layers)" under the heading of
	// column s; nil labels the columns "stage s" only.
	StageLayers []int
	// CellPixels is the longer side of a cell in pixels (PNG); 0 means 112.
	CellPixels int
	// DPI sets the size of text relative to the cells; 0 means DefaultDPI.
	DPI int
	// NoIoU leaves out the line under each cell from stage 1 on that gives
	// the IoU of the mask with the previous stage's.
	NoIoU bool
}

// Overlay colours of successive rows: saturated Okabe–Ito colours that
// stand out on a washed-out photograph.
var overlayColors = []color.RGBA{vermillion, blue, bluishGreen, reddishPurple, orange, skyBlue}

// MaskEvolution draws how a few queries' masks change through the decoder
// stages — the picture of layer-to-layer inconsistency. Each row is a query
// (rows[i]), each column a stage (and a last "GT" column when a row has a
// GT mask); each cell is img, washed out, with the query's mask overlaid in
// the row's colour and outlined. Under cells of stage s ≥ 1 the IoU of the
// stage-s and stage-(s−1) masks is printed (as metrics.IoU computes it, at
// the mask resolution; "empty" when both are empty), in bold vermillion
// below 50 %. A nil s means the zero settings.
//
// Use ImageFromRGB for an image held as H·W·3 bytes. It panics if rows is
// empty, rows differ in their number of stages, or masks differ in size.
func MaskEvolution(img image.Image, rows []MaskRow, s *MaskSettings) *Figure {
	if s == nil {
		s = &MaskSettings{}
	}
	if len(rows) == 0 {
		panic("plots: MaskEvolution: no rows")
	}
	ib := img.Bounds()
	if ib.Empty() {
		panic("plots: MaskEvolution: empty image")
	}
	stages, hasGT := checkMaskRows(rows, s)
	l := newEvolutionLayout(ib, rows, s, stages, hasGT)
	grid := l.paint(img, rows)
	size := Size{Width: l.px(l.width), Height: l.px(l.height), DPI: l.dpi}
	return &Figure{size: size, draw: func(dc draw.Canvas, _ string) {
		l.draw(dc, grid, rows, s.Title)
	}}
}

// checkMaskRows checks that every row has the same number of stages (and
// the settings as many StageLayers) and every mask the same size, and
// returns the stage count and whether a row has a GT mask.
func checkMaskRows(rows []MaskRow, s *MaskSettings) (stages int, hasGT bool) {
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

// evolutionLayout places a MaskEvolution figure, in pixels from the top
// left: cells of cw×ch, column and row origins, the title, column heads
// and IoU lines, and the text styles.
type evolutionLayout struct {
	dpi, cw, ch         int
	stages              int
	colX, rowY          []int
	width, height       int
	titleY, headY, iouH int
	heads               []string
	titleSty, headSty   text.Style
	rowSty, iouSty      text.Style
}

// Margins of a MaskEvolution figure, in pixels: around it, between
// cells, and before the GT column.
const evoPad, evoGap, evoGTGap = 10, 6, 16

// px converts pixels to a length at the figure's resolution.
func (l *evolutionLayout) px(p int) vg.Length { return vg.Length(p) * vg.Inch / vg.Length(l.dpi) }

// dots converts a length to whole pixels, rounding up.
func (l *evolutionLayout) dots(v vg.Length) int { return int(v.Dots(float64(l.dpi)) + 0.999) }

// newEvolutionLayout sizes the cells (CellPixels along the image's longer
// side, at least 8) and places the label column, the cells, the GT column,
// the title and the column heads.
func newEvolutionLayout(ib image.Rectangle, rows []MaskRow, s *MaskSettings, stages int, hasGT bool) *evolutionLayout {
	l := &evolutionLayout{dpi: s.DPI, stages: stages}
	if l.dpi == 0 {
		l.dpi = DefaultDPI
	}
	long := s.CellPixels
	if long == 0 {
		long = 112
	}
	l.cw, l.ch = long, long*ib.Dy()/ib.Dx()
	if ib.Dy() > ib.Dx() {
		l.cw, l.ch = long*ib.Dx()/ib.Dy(), long
	}
	l.cw, l.ch = max(l.cw, 8), max(l.ch, 8)
	style := func(f float64, bold bool) text.Style {
		fn := sans(f)
		if bold {
			fn = sansBold(f)
		}
		return text.Style{Font: fn, Color: textColor, Handler: plot.DefaultTextHandler}
	}
	l.titleSty, l.headSty, l.rowSty, l.iouSty = style(12, true), style(9.5, false), style(9.5, false), style(8, false)
	l.headSty.XAlign = draw.XCenter
	l.iouSty.XAlign = draw.XCenter
	l.rowSty.YAlign = draw.YCenter

	labelW := 0
	for _, r := range rows {
		labelW = max(labelW, l.dots(l.rowSty.Width(r.Label)))
	}
	x0 := evoPad + labelW + 10
	cols := stages
	if hasGT {
		cols++
	}
	l.colX = make([]int, cols)
	for c := range cols {
		l.colX[c] = x0 + c*(l.cw+evoGap)
		if hasGT && c == stages {
			l.colX[c] += evoGTGap - evoGap
		}
	}
	l.width = l.colX[cols-1] + l.cw + evoPad
	y := evoPad
	l.titleY = y
	if s.Title != "" {
		y += l.dots(l.titleSty.Height(s.Title)) + 6
	}
	l.heads = make([]string, cols)
	for c := range stages {
		l.heads[c] = fmt.Sprintf("stage %d", c)
		if s.StageLayers != nil {
			l.heads[c] += fmt.Sprintf("\n(%d layers)", s.StageLayers[c])
		}
	}
	if hasGT {
		l.heads[stages] = "GT"
	}
	headH := 0
	for _, h := range l.heads {
		headH = max(headH, l.dots(l.headSty.Height(h)))
	}
	l.headY = y
	y += headH + 4
	if !s.NoIoU && stages > 1 {
		l.iouH = l.dots(l.iouSty.Height("IoU")) + 3
	}
	l.rowY = make([]int, len(rows))
	for i := range rows {
		l.rowY[i] = y
		y += l.ch + l.iouH + evoGap
	}
	l.height = y - evoGap + evoPad
	return l
}

// paint composes the cells at their final pixel size on a white image:
// img washed out, each row's masks (and GT) overlaid in the row's colour.
func (l *evolutionLayout) paint(img image.Image, rows []MaskRow) *image.RGBA {
	grid := image.NewRGBA(image.Rect(0, 0, l.width, l.height))
	for i := range grid.Pix {
		grid.Pix[i] = 0xFF
	}
	base := washedOut(img, l.cw, l.ch)
	for i, r := range rows {
		col := overlayColors[i%len(overlayColors)]
		for c := range l.colX {
			var m *mask.Bits
			if c < l.stages {
				m = r.Masks[c]
			} else {
				m = r.GT
			}
			paintCell(grid, l.colX[c], l.rowY[i], base, m, col)
		}
	}
	return grid
}

// draw draws the painted grid, the title, the column heads, the row
// labels and the IoU lines.
func (l *evolutionLayout) draw(dc draw.Canvas, grid *image.RGBA, rows []MaskRow, title string) {
	top := dc.Max.Y
	at := func(x, y int) vg.Point { return vg.Point{X: dc.Min.X + l.px(x), Y: top - l.px(y)} }
	dc.DrawImage(vg.Rectangle{Min: at(0, l.height), Max: at(l.width, 0)}, grid)
	if title != "" {
		t := l.titleSty
		t.YAlign = draw.YTop
		dc.FillText(t, at(l.colX[0], l.titleY), title)
	}
	for c, h := range l.heads {
		t := l.headSty
		t.YAlign = draw.YTop
		dc.FillText(t, at(l.colX[c]+l.cw/2, l.headY), h)
	}
	for i, r := range rows {
		dc.FillText(l.rowSty, at(evoPad, l.rowY[i]+l.ch/2), r.Label)
		if l.iouH == 0 {
			continue
		}
		for c := 1; c < l.stages; c++ {
			a, b := r.Masks[c-1], r.Masks[c]
			if a == nil || b == nil {
				continue
			}
			dc.FillText(l.iouText(a, b), at(l.colX[c]+l.cw/2, l.rowY[i]+l.ch+2), stageIoULabel(a, b))
		}
	}
}

// stageIoULabel is the line under a cell: the IoU of its mask b with the
// previous stage's a, "empty" when both are empty.
func stageIoULabel(a, b *mask.Bits) string {
	txt := fmt.Sprintf("IoU %.0f%%", 100*stageIoU(a, b))
	switch {
	case a.Empty() && b.Empty():
		txt = "empty" // IoU(∅, ∅) = 1 by convention
	case b.Empty():
		txt += " (empty)"
	}
	return txt
}

// stageIoU is the IoU of a and b, 1 for two empty masks, as in package
// metrics.
func stageIoU(a, b *mask.Bits) float64 {
	inter, union := mask.InterUnion(a, b)
	if union > 0 {
		return float64(inter) / float64(union)
	}
	return 1.0
}

// iouText is the style of the IoU line of masks a and b: bold vermillion
// below 50 %, shrunk to fit the cell.
func (l *evolutionLayout) iouText(a, b *mask.Bits) text.Style {
	t := l.iouSty
	t.YAlign = draw.YTop
	if stageIoU(a, b) < 0.5 {
		t.Font = sansBold(8)
		t.Color = vermillion
	}
	txt := stageIoULabel(a, b)
	for t.Font.Size > vg.Points(5.5) && t.Width(txt) > l.px(l.cw) {
		t.Font.Size -= vg.Points(0.5)
	}
	return t
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

// washedOut resamples img to w×h (box average when shrinking, nearest
// when enlarging) and blends it halfway to white.
func washedOut(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		sy0, sy1 := b.Min.Y+y*b.Dy()/h, b.Min.Y+(y+1)*b.Dy()/h
		sy1 = max(sy1, sy0+1)
		for x := range w {
			sx0, sx1 := b.Min.X+x*b.Dx()/w, b.Min.X+(x+1)*b.Dx()/w
			sx1 = max(sx1, sx0+1)
			var r, g, bl, n uint32
			for sy := sy0; sy < sy1; sy++ {
				for sx := sx0; sx < sx1; sx++ {
					cr, cg, cb, _ := img.At(sx, sy).RGBA()
					r, g, bl, n = r+cr>>8, g+cg>>8, bl+cb>>8, n+1
				}
			}
			i := out.PixOffset(x, y)
			out.Pix[i+0] = uint8((r/n + 0xFF) / 2)
			out.Pix[i+1] = uint8((g/n + 0xFF) / 2)
			out.Pix[i+2] = uint8((bl/n + 0xFF) / 2)
			out.Pix[i+3] = 0xFF
		}
	}
	return out
}

// paintCell draws base at (x0, y0) of dst with m (nearest-neighbour
// upsampled to the cell) blended in col and outlined in col; nil m leaves
// the washed-out image alone.
func paintCell(dst *image.RGBA, x0, y0 int, base *image.RGBA, m *mask.Bits, col color.RGBA) {
	w, h := base.Bounds().Dx(), base.Bounds().Dy()
	in := func(x, y int) bool {
		if m == nil || x < 0 || y < 0 || x >= w || y >= h {
			return false
		}
		return m.At(y*m.H/h, x*m.W/w)
	}
	for y := range h {
		for x := range w {
			si := base.PixOffset(x, y)
			di := dst.PixOffset(x0+x, y0+y)
			px := base.Pix[si : si+4]
			if in(x, y) {
				// Outline pixels have a pixel outside the mask within 2
				// pixels; the cell's border does not count as outside.
				out := func(x, y int) bool { return x >= 0 && y >= 0 && x < w && y < h && !in(x, y) }
				edge := out(x-1, y) || out(x+1, y) || out(x, y-1) || out(x, y+1) ||
					out(x-2, y) || out(x+2, y) || out(x, y-2) || out(x, y+2)
				if edge {
					px = []uint8{col.R, col.G, col.B, 0xFF}
				} else {
					px = []uint8{blend(px[0], col.R), blend(px[1], col.G), blend(px[2], col.B), 0xFF}
				}
			}
			copy(dst.Pix[di:di+4], px)
		}
	}
	// A thin grey frame around the cell.
	frame := color.RGBA{0xB0, 0xB0, 0xB0, 0xFF}
	for x := -1; x <= w; x++ {
		dst.SetRGBA(x0+x, y0-1, frame)
		dst.SetRGBA(x0+x, y0+h, frame)
	}
	for y := -1; y <= h; y++ {
		dst.SetRGBA(x0-1, y0+y, frame)
		dst.SetRGBA(x0+w, y0+y, frame)
	}
}

// blend mixes a base channel with an overlay channel, 45 % base.
func blend(base, over uint8) uint8 {
	return uint8((45*int(base) + 55*int(over) + 50) / 100)
}
