package plots

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// legendBox is a plot.Legend drawn over the data area on a translucent
// white box, in the corner where it hides the fewest data points.
type legendBox struct {
	plot.Legend
	texts []string
}

func newLegend(t textStyle) *legendBox {
	l := &legendBox{Legend: plot.NewLegend()}
	l.TextStyle.Font = t.sans(tickSize)
	l.TextStyle.Color = textColor
	l.ThumbnailWidth = t.pt(20)
	l.Padding = t.pt(1.5)
	return l
}

func (l *legendBox) add(text string, thumbs ...plot.Thumbnailer) {
	l.Add(text, thumbs...)
	l.texts = append(l.texts, text)
}

// size returns the extent of the entries.
func (l *legendBox) size() (w, h vg.Length) {
	var enth vg.Length
	for _, t := range l.texts {
		r := l.TextStyle.Rectangle(t)
		w = max(w, r.Max.X)
		enth = max(enth, r.Max.Y)
	}
	em := l.TextStyle.Rectangle(" ").Max.X
	n := vg.Length(len(l.texts))
	return l.ThumbnailWidth + em + w, n*enth + (n-1)*l.Padding
}

// place picks the corner of a data area of dataW × dataH covering the
// fewest of pts (data units, x in [x0, x1], y in [y0, y1]), preferring
// bottom right, then top left, top right and bottom left.
func (l *legendBox) place(pts []vg.Point, x0, x1, y0, y1 float64, dataW, dataH vg.Length) {
	if len(l.texts) == 0 {
		return
	}
	w, h := l.size()
	fw := float64((w + vg.Points(10)) / dataW)
	fh := float64((h + vg.Points(10)) / dataH)
	type corner struct{ top, left bool }
	best, bestN := corner{}, math.MaxInt
	for _, c := range []corner{{false, false}, {true, true}, {true, false}, {false, true}} {
		cnt := 0
		for _, q := range pts {
			u := (float64(q.X) - x0) / (x1 - x0)
			v := (float64(q.Y) - y0) / (y1 - y0)
			inX := (c.left && u <= fw) || (!c.left && u >= 1-fw)
			inY := (c.top && v >= 1-fh) || (!c.top && v <= fh)
			if inX && inY {
				cnt++
			}
		}
		if cnt < bestN {
			best, bestN = c, cnt
		}
	}
	l.Top, l.Left = best.top, best.left
	l.XOffs, l.YOffs = -vg.Points(6), -vg.Points(5)
	if l.Left {
		l.XOffs = vg.Points(6)
	}
	if !l.Top {
		l.YOffs = vg.Points(5)
	}
}

// draw draws the box and the legend on the data canvas c.
func (l *legendBox) draw(c draw.Canvas) {
	if len(l.texts) == 0 {
		return
	}
	w, h := l.size()
	descent := l.TextStyle.FontExtents().Descent
	var r vg.Rectangle
	if l.Left {
		r.Min.X = c.Min.X + l.XOffs
	} else {
		r.Min.X = c.Max.X + l.XOffs - w
	}
	if l.Top {
		r.Min.Y = c.Max.Y + l.YOffs - h - descent
	} else {
		r.Min.Y = c.Min.Y + l.YOffs
	}
	r.Max = vg.Point{X: r.Min.X + w, Y: r.Min.Y + h + descent}
	pad := vg.Points(3)
	r.Min.X -= pad
	r.Min.Y -= pad
	r.Max.X += pad
	r.Max.Y += pad
	c.SetColor(color.NRGBA{0xFF, 0xFF, 0xFF, 0xD8})
	c.Fill(r.Path())
	c.SetLineStyle(draw.LineStyle{Color: color.Gray{0xC8}, Width: vg.Points(0.6)})
	c.Stroke(r.Path())
	l.Legend.Draw(c)
}
