package browser

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A page that logs, throws, loads a missing file and reacts to keys and
// clicks: every event reaches the recorder, and input reaches the page.
func TestPage(t *testing.T) {
	b := ForTest(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "p.html")
	html := `<!doctype html><html><body style="margin:0;background:#0072B2">
<button id="b" style="position:absolute;left:10px;top:10px;width:80px;height:30px" onclick="this.textContent='clicked'">x</button>
<img src="missing.png" alt="">
<script>
console.log("hello", 42);
console.error("bad thing");
document.addEventListener("keydown", e => { document.body.dataset.key = e.key; });
setTimeout(() => { throw new Error("boom"); }, 0);
</script></body></html>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := b.NewPage(ctx, 320, 200)
	if err != nil {
		t.Fatal(err)
	}
	u, err := FileURL(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, "#b"); err != nil {
		t.Fatal(err)
	}
	if err := p.Key(ctx, "ArrowRight"); err != nil {
		t.Fatal(err)
	}
	var got struct{ Text, Key string }
	if err := p.Eval(ctx, `({Text: document.getElementById("b").textContent, Key: document.body.dataset.key || ""})`, &got); err != nil {
		t.Fatal(err)
	}
	if got.Text != "clicked" || got.Key != "ArrowRight" {
		t.Errorf("page saw %+v, want the click and ArrowRight", got)
	}
	if err := p.WaitFor(ctx, "true"); err != nil {
		t.Fatal(err)
	}
	// The exception is thrown from a timer; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	var log string
	for time.Now().Before(deadline) {
		var parts []string
		for _, c := range p.Console() {
			parts = append(parts, c.String())
		}
		log = strings.Join(parts, "\n")
		if strings.Contains(log, "boom") && strings.Contains(log, "missing.png") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"console log: hello 42", "console error: bad thing", "exception error: ", "boom", "log error: ", "missing.png"} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, log)
		}
	}
	reqs := strings.Join(p.Requests(), "\n")
	if !strings.Contains(reqs, u) || !strings.Contains(reqs, "missing.png") {
		t.Errorf("requests:\n%s", reqs)
	}
	var e struct{}
	if err := p.Eval(ctx, `(() => { throw new Error("thrown here"); })()`, &e); err == nil || !strings.Contains(err.Error(), "thrown here") {
		t.Errorf("Eval of a throwing expression: %v", err)
	}
	shot, err := p.Screenshot(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if bnd := img.Bounds(); bnd.Dx() != 320 || bnd.Dy() != 200 {
		t.Errorf("screenshot %v, want 320×200", bnd)
	}
	// The background is Okabe–Ito blue #0072B2 away from the button.
	if r, g, bl, _ := img.At(300, 190).RGBA(); r>>8 != 0x00 || g>>8 != 0x72 || bl>>8 != 0xB2 {
		t.Errorf("pixel (300, 190) = %02x%02x%02x, want 0072b2", r>>8, g>>8, bl>>8)
	}
}

func solid(w, h int, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// ImageDiff is the mean absolute RGB difference of the shrunk images.
func TestImageDiff(t *testing.T) {
	white := solid(200, 100, color.RGBA{255, 255, 255, 255})
	black := solid(100, 50, color.RGBA{0, 0, 0, 255})
	grey := solid(200, 100, color.RGBA{0x66, 0x66, 0x66, 255})
	for _, c := range []struct {
		a, b []byte
		want float64
	}{
		{white, white, 0},
		{white, black, 1},                    // sizes differ, shapes agree
		{white, grey, 1 - float64(0x66)/255}, // 0x66/255 = 0.4
	} {
		got, err := ImageDiff(c.a, c.b)
		if err != nil || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("ImageDiff = %v, %v; want %v", got, err, c.want)
		}
	}
	if _, err := ImageDiff(white, solid(100, 100, color.RGBA{})); err == nil {
		t.Error("images of different shapes compared")
	}
}
