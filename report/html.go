package report

import (
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"regexp"
	"strconv"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/mask"
)

//go:embed assets/page.html
var pageHTML string

//go:embed assets/report.css
var reportCSS string

//go:embed assets/viewer.js
var viewerJS string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"css":    func() template.CSS { return template.CSS(reportCSS) },
	"js":     func() template.JS { return template.JS(viewerJS) },
	"svg":    inlineSVG,
	"cells":  tableCells,
	"anchor": func(s string) string { return anchorRe.ReplaceAllString(s, "-") },
}).Parse(pageHTML))

var anchorRe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Write renders d as one self-contained HTML page: the CSS, the viewer's
// JavaScript, its data and every figure are inside the file, which opens
// from disk with no network and no server.
func Write(w io.Writer, d *Data) error {
	payload := ""
	if d.Viewer != nil {
		var err error
		if payload, err = encodeViewer(d.Viewer); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	err := page.Execute(&b, struct {
		*Data
		Payload template.HTML
	}{d, template.HTML(payload)})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

// svgHead is the XML prolog and comment vgsvg puts before <svg.
var svgHead = regexp.MustCompile(`(?s)^.*?<svg `)

// inlineSVG turns a figure's SVG document into an element for the page,
// labelled by the element with id labelID.
func inlineSVG(doc []byte, labelID string) template.HTML {
	s := svgHead.ReplaceAllLiteral(doc, []byte(`<svg role="img" aria-labelledby="`+template.HTMLEscapeString(labelID)+`" `))
	return template.HTML(s)
}

// cell is one table cell as the page writes it: the text, and for numbers
// the raw value and sd (strconv 'g' -1, as compare --format json writes
// them) in data attributes.
type cell struct {
	Text    string
	Num     bool
	V, SD   string
	N       int
	HasData bool
}

func tableCells(t tables.Table, i int) []cell {
	out := make([]cell, len(t.Rows[i]))
	for j, txt := range t.Rows[i] {
		c := cell{Text: txt}
		if t.Values != nil {
			if v := t.Values[i][j]; v != nil {
				c.HasData, c.Num, c.N = true, true, v.N
				c.V, c.SD = numAttr(v.Value), numAttr(v.SD)
			}
		}
		if !c.Num && t.Values != nil {
			for k := range t.Rows {
				if t.Values[k][j] != nil {
					c.Num = true // a dash in a column of numbers
				}
			}
		}
		out[j] = c
	}
	return out
}

func numAttr(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// The viewer's payload: the deflated (raw DEFLATE, RFC 1951) bytes of
//
//	uint32 little-endian n | n bytes of JSON (viewerJSON) | mask bits
//
// in base64. Masks are bit-packed row-major, bit i of a mask in byte i/8
// at bit i%8 (least significant first), each mask starting on a byte; the
// JSON gives their byte offsets. The page inflates it with the browser's
// DecompressionStream("deflate-raw").

type viewerJSON struct {
	Models      []modelJSON `json:"models"`
	Checkpoints []ckptJSON  `json:"checkpoints"`
	Images      []imageJSON `json:"images"`
	Classes     []string    `json:"classes"`
	NumClasses  int         `json:"numClasses"`
	Panels      []panelJSON `json:"panels"`
	TotalImages int         `json:"totalImages"`
	MaxImages   int         `json:"maxImages"`
}

type modelJSON struct {
	Label string `json:"label"`
	Name  string `json:"name"`
	Seed  uint64 `json:"seed"`
}

type ckptJSON struct {
	Label    string  `json:"label"`
	Step     int     `json:"step"`
	Fraction float64 `json:"fraction"`
}

type imageJSON struct {
	Index int    `json:"index"`
	W     int    `json:"w"`
	H     int    `json:"h"`
	Src   string `json:"src"` // a data: URL, "" for none
}

type attnJSON struct {
	H   int `json:"h"`
	W   int `json:"w"`
	Off int `json:"off"` // Q masks of h×w bits
}

type gtJSON struct {
	Class int `json:"cls"`
	Off   int `json:"off"`
}

// panelJSON holds per-cell numbers [s·Q + q] as integers: IoUs, scores and
// shares in thousandths (−1 where undefined).
type panelJSON struct {
	Model      int         `json:"m"`
	Checkpoint int         `json:"c"`
	Image      int         `json:"i"`
	Layers     []int       `json:"layers"`
	Q          int         `json:"q"`
	H          int         `json:"h"`
	W          int         `json:"w"`
	Masks      int         `json:"masks"` // offset of S·Q masks
	Attn       []*attnJSON `json:"attn"`
	GT         []gtJSON    `json:"gt"`
	Class      []int       `json:"cls"`
	Score      []int       `json:"score"`
	IoUPrev    []int       `json:"iouPrev"`
	IoUFinal   []int       `json:"iouFinal"`
	IoUGT      []int       `json:"iouGT"`
	Matched    []int       `json:"matched"`
	Blocked    []int       `json:"blocked"`
	Unblocked  []int       `json:"unblocked"`
	FinalGT    []int       `json:"finalGT"`
	MeanCons   []int       `json:"meanCons"`
}

// milli writes a fraction in thousandths, −1 for NaN.
func milli(v float64) int {
	if math.IsNaN(v) {
		return -1
	}
	return int(math.Round(v * 1000))
}

// packBits appends m bit-packed (see the payload layout) to buf.
func packBits(buf []byte, m *mask.Bits) []byte {
	n := (m.H*m.W + 7) / 8
	for k := range n {
		buf = append(buf, byte(m.Words[k/8]>>(8*uint(k%8))))
	}
	return buf
}

// encodeViewer builds the payload (see above), in base64.
func encodeViewer(v *Viewer) (string, error) {
	vj := viewerJSON{Classes: v.Classes, NumClasses: v.NumClasses, TotalImages: v.TotalImages, MaxImages: v.MaxImages}
	if vj.Classes == nil {
		vj.Classes = []string{}
	}
	for _, m := range v.Models {
		vj.Models = append(vj.Models, modelJSON(m))
	}
	for _, c := range v.Checkpoints {
		vj.Checkpoints = append(vj.Checkpoints, ckptJSON(c))
	}
	for _, im := range v.Images {
		ij := imageJSON{Index: im.Index, W: im.W, H: im.H}
		if im.JPEG != nil {
			ij.Src = "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(im.JPEG)
		}
		vj.Images = append(vj.Images, ij)
	}
	var bits []byte
	for _, p := range v.Panels {
		S, Q := len(p.StageLayers), p.NumQueries
		if len(p.Masks) != S*Q || len(p.Cells) != S*Q || len(p.Attn) != S {
			return "", fmt.Errorf("report: panel of model %d, image %d: %d masks, %d cells, %d attention stages for %d stages × %d queries",
				p.Model, p.Image, len(p.Masks), len(p.Cells), len(p.Attn), S, Q)
		}
		pj := panelJSON{Model: p.Model, Checkpoint: p.Checkpoint, Image: p.Image, Layers: p.StageLayers, Q: Q,
			H: p.Masks[0].H, W: p.Masks[0].W, Masks: len(bits), Attn: make([]*attnJSON, S), GT: []gtJSON{},
			FinalGT: p.FinalGT}
		for _, m := range p.Masks {
			bits = packBits(bits, m)
		}
		for s, am := range p.Attn {
			if am == nil {
				continue
			}
			pj.Attn[s] = &attnJSON{H: am[0].H, W: am[0].W, Off: len(bits)}
			for _, m := range am {
				bits = packBits(bits, m)
			}
		}
		for _, g := range p.GT {
			pj.GT = append(pj.GT, gtJSON{Class: g.Class, Off: len(bits)})
			bits = packBits(bits, g.Mask)
		}
		for _, c := range p.Cells {
			pj.Class = append(pj.Class, c.Class)
			pj.Score = append(pj.Score, milli(c.Score))
			pj.IoUPrev = append(pj.IoUPrev, milli(c.IoUPrev))
			pj.IoUFinal = append(pj.IoUFinal, milli(c.IoUFinal))
			pj.IoUGT = append(pj.IoUGT, milli(c.IoUGT))
			pj.Matched = append(pj.Matched, c.Matched)
			pj.Blocked = append(pj.Blocked, milli(c.Blocked))
			u := 0
			if c.Unblocked {
				u = 1
			}
			pj.Unblocked = append(pj.Unblocked, u)
		}
		for _, m := range p.MeanCons {
			pj.MeanCons = append(pj.MeanCons, milli(m))
		}
		vj.Panels = append(vj.Panels, pj)
	}
	js, err := json.Marshal(vj)
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	var raw bytes.Buffer
	zw, _ := flate.NewWriter(&raw, flate.BestCompression)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(js)))
	zw.Write(n[:])
	zw.Write(js)
	zw.Write(bits)
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw.Bytes()), nil
}

// WriteFile writes the page to path, replacing it atomically.
func WriteFile(path string, d *Data) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return Write(w, d) }); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}
