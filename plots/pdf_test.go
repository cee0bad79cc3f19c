package plots

import (
	"bytes"
	"compress/zlib"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"

	"gonum.org/v1/plot/vg"
)

// TestPDF: a figure's PDF has the figure's page size, embeds its two
// fonts subset (the whole of Liberation Sans would be ≈ 400 kB a face), and
// holds its text as Unicode, arrows and Greek letters included.
func TestPDF(t *testing.T) {
	const title = "Consecutive IoU σ → ×"
	f := StageCurves(stageSeries(), &StageSettings{Style: Style{Size: Size{Width: 7 * vg.Inch, Height: 4 * vg.Inch}},
		Title: title, YLabel: "IoU", Pairs: true, Percent: true})
	var b bytes.Buffer
	if err := f.Write(&b, "pdf"); err != nil {
		t.Fatal(err)
	}
	pdf := b.Bytes()
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.")) {
		t.Fatalf("not a PDF: %.20q", pdf)
	}
	if !bytes.Contains(pdf, []byte("/MediaBox [0 0 504.00 288.00]")) { // 7 × 4 in
		t.Error("no 504 × 288 pt page")
	}
	if n := bytes.Count(pdf, []byte("/FontFile2")); n != 2 {
		t.Errorf("%d embedded TrueType fonts, want 2 (regular and bold)", n)
	}
	if len(pdf) > 60_000 {
		t.Errorf("PDF of %d bytes: are the fonts subset?", len(pdf))
	}
	// The text is in a content stream as UTF-16BE code units (fpdf's
	// UTF-8 fonts: Identity-H, CID = Unicode code point).
	streams := regexp.MustCompile(`(?s)stream\r?\n(.*?)\r?\nendstream`).FindAllSubmatch(pdf, -1)
	var content []byte
	for _, s := range streams {
		r, err := zlib.NewReader(bytes.NewReader(s[1]))
		if err != nil {
			continue
		}
		d, _ := io.ReadAll(r)
		content = append(content, d...)
	}
	u16 := func(s string) []byte {
		var out []byte
		for _, c := range utf16.Encode([]rune(s)) {
			out = append(out, byte(c>>8), byte(c))
		}
		return out
	}
	for _, s := range []string{"σ → ×", "0→1", "Mask2Former"} { // ( and ) are escaped
		if !bytes.Contains(content, u16(s)) {
			t.Errorf("no %q in the page's text", s)
		}
	}
	// With poppler's pdftotext, the text as a reader's tool extracts it.
	if _, err := exec.LookPath("pdftotext"); err == nil {
		path := filepath.Join(t.TempDir(), "f.pdf")
		if err := os.WriteFile(path, pdf, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("pdftotext", path, "-").Output()
		if err != nil {
			t.Fatalf("pdftotext: %v", err)
		}
		if !strings.Contains(string(out), title) {
			t.Errorf("pdftotext finds no %q in\n%s", title, out)
		}
	}
}
