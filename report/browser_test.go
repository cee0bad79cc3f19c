package report

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/internal/browser"
)

// One browser serves every test of the package (launching one takes
// seconds); TestMain closes it.
var (
	browserOnce sync.Once
	shared      *browser.Browser
	sharedErr   error
)

func sharedBrowser(t *testing.T) *browser.Browser {
	t.Helper()
	path, err := browser.Find()
	if err != nil {
		if os.Getenv(browser.RequireEnv) == "1" {
			t.Fatalf("%v (%s=1)", err, browser.RequireEnv)
		}
		t.Skip(err)
	}
	browserOnce.Do(func() { shared, sharedErr = browser.Launch(path) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

var update = flag.Bool("update", false, "rewrite testdata/viewer_reference.png from this run's screenshot (shrunk to 192 px wide, twice the comparison thumbnail)")

// referenceDiff is the most the viewer's screenshot may differ from the
// committed reference (mean absolute RGB difference of 96-px-wide
// thumbnails, see browser.ImageDiff). Measured on the fixture: 0.0014 for
// the same view; 0.0055 at the other checkpoint; 0.026 with one image
// missing (grey background); 0.049 on the next image; 0.056 with the
// attention overlay on; 0.085 with one model hidden.
const referenceDiff = 0.015

// openReport writes d to a file and opens it in a new page of w×h CSS
// pixels (phone: a mobile viewport at scale 2), waiting for the viewer.
// It fails on any console error or warning and on any request other than
// the page itself and data: URLs.
func openReport(t *testing.T, b *browser.Browser, d *Data, w, h int, phone bool) (*browser.Page, context.Context) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := WriteFile(path, d); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p, err := b.NewPage(ctx, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if phone {
		if err := p.SetViewport(ctx, w, h, 2, true); err != nil {
			t.Fatal(err)
		}
	}
	u, err := browser.FileURL(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, `document.getElementById("viewer-app").dataset.state !== "loading"`); err != nil {
		t.Fatal(err)
	}
	var st string
	p.Eval(ctx, `document.getElementById("viewer-app").dataset.state + ": " + document.getElementById("viewer-app").textContent.slice(0, 300)`, &st)
	if !strings.HasPrefix(st, "ready") {
		t.Fatalf("viewer: %s", st)
	}
	t.Cleanup(func() {
		for _, c := range p.Console() {
			if c.Level == "error" || c.Level == "warning" {
				t.Errorf("console: %s", c)
			}
		}
		for _, r := range p.Requests() {
			if r != u && !strings.HasPrefix(r, "data:") {
				t.Errorf("request to %s", r)
			}
		}
	})
	return p, ctx
}

func eval[T any](t *testing.T, ctx context.Context, p *browser.Page, expr string) T {
	t.Helper()
	var v T
	if err := p.Eval(ctx, expr, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// jsPct is the viewer's pct: thousandths as a percentage with one decimal.
func jsPct(v float64) string {
	m := milli(v)
	if m < 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", float64(m)/10)
}

// wantLabel is the viewer's accessible name of a cell.
func wantLabel(v *Viewer, p *Panel, s, q int) string {
	c := p.Cells[s*p.NumQueries+q]
	cls := fmt.Sprintf("class %d", c.Class)
	if c.Class == v.NumClasses {
		cls = "no object"
	} else if c.Class < len(v.Classes) {
		cls = v.Classes[c.Class]
	}
	ls := fmt.Sprintf("%d layers", p.StageLayers[s])
	if p.StageLayers[s] == 1 {
		ls = "1 layer"
	}
	l := fmt.Sprintf("query %d, stage %d (%s): %s %s", q, s, ls, cls, jsPct(c.Score))
	if s > 0 {
		l += ", IoU with previous stage " + jsPct(c.IoUPrev)
	}
	return l
}

func panelOf(v *Viewer, m, c, i int) *Panel {
	for k := range v.Panels {
		if p := &v.Panels[k]; p.Model == m && p.Checkpoint == c && p.Image == i {
			return p
		}
	}
	return nil
}

// The viewer in a real browser: it loads from file:// with no console
// error and no request, shows what the Go side computed, and every
// control (model, checkpoint, image, stage, overlays, sort, hover) changes
// what it shows. The screenshot is saved and compared with the reference.
func TestViewerInBrowser(t *testing.T) {
	b := sharedBrowser(t)
	d, err := FromTraces(fixtureTraces(t), &Settings{MaxImages: 3})
	if err != nil {
		t.Fatal(err)
	}
	v := d.Viewer
	p, ctx := openReport(t, b, d, 1280, 800, false)
	loadMS := eval[float64](t, ctx, p, `performance.getEntriesByType("navigation")[0].loadEventStart`)
	t.Logf("load event after %.0f ms", loadMS)

	state := func() string {
		return eval[string](t, ctx, p, `(() => { const a = document.getElementById("viewer-app").dataset;
			return [a.models, a.ckpt, a.image, a.stage].join(" "); })()`)
	}
	// Both models, the last checkpoint, the first image, the last stage.
	if s := state(); s != "0,1 1 0 3" {
		t.Errorf("initial state %q, want models 0,1, checkpoint 1, image 0, stage 3", s)
	}
	labels := func(m int) []string {
		return eval[[]string](t, ctx, p, fmt.Sprintf(`[...document.querySelectorAll('table.grid[data-model="%d"] .cell[data-stage]')].map(b => b.getAttribute("aria-label"))`, m))
	}
	// Every cell's numbers are the Go side's, rows matched first.
	check := func(m, c, i int) {
		t.Helper()
		pn := panelOf(v, m, c, i)
		var want []string
		for _, q := range rowOrder(pn) {
			for s := range pn.StageLayers {
				want = append(want, wantLabel(v, pn, s, q))
			}
		}
		if got := labels(m); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("model %d, checkpoint %d, image %d: cells\n%s\nwant\n%s", m, c, i, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	check(0, 1, 0)
	check(1, 1, 0)

	// Hover: the detail shows the cell's numbers.
	pn := panelOf(v, 1, 1, 0)
	if err := p.Hover(ctx, `table.grid[data-model="1"] .cell[data-stage="1"][data-query="2"]`); err != nil {
		t.Fatal(err)
	}
	c := pn.Cells[1*pn.NumQueries+2]
	det := eval[map[string]string](t, ctx, p, `Object.fromEntries([...document.querySelectorAll("#detail-1 dd")].map(d => [d.dataset.field, d.textContent]))`)
	if det["IoU, previous stage"] != jsPct(c.IoUPrev) || det["IoU, last stage"] != jsPct(c.IoUFinal) || det["IoU, its GT"] != jsPct(c.IoUGT) ||
		det["stage"] != "1 (1 decoder layer)" || !strings.HasPrefix(det["query"], "q2, matched at the last stage to GT 2") {
		t.Errorf("detail of model 1, stage 1, query 2: %v; want IoUs %s %s %s", det, jsPct(c.IoUPrev), jsPct(c.IoUFinal), jsPct(c.IoUGT))
	}

	// Stage: arrows move the selected column in every grid.
	sel := func() string {
		return eval[string](t, ctx, p, `[...document.querySelectorAll("table.grid thead th.sel")].map(th => th.dataset.stage).join(",") + " " + document.getElementById("detail-0").dataset.stage`)
	}
	p.Key(ctx, "ArrowLeft")
	p.Key(ctx, "ArrowLeft")
	if s, h := state(), sel(); s != "0,1 1 0 1" || h != "1,1 1" {
		t.Errorf("after ← ←: state %q, selected columns %q", s, h)
	}
	p.Key(ctx, "ArrowRight")
	if s := state(); s != "0,1 1 0 2" {
		t.Errorf("after →: state %q", s)
	}
	// Image: arrows move through the images; the cells follow.
	before := labels(0)
	p.Key(ctx, "ArrowDown")
	if s := state(); s != "0,1 1 1 2" {
		t.Errorf("after ↓: state %q", s)
	}
	if h := eval[string](t, ctx, p, `document.querySelector('section.model[data-model="0"] h3').textContent`); !strings.HasSuffix(h, "image 1") {
		t.Errorf("heading %q after ↓", h)
	}
	check(0, 1, 1)
	if strings.Join(labels(0), "") == strings.Join(before, "") {
		t.Error("the cells did not change with the image")
	}
	p.Click(ctx, "#v-prev")
	if s := state(); s != "0,1 1 0 2" {
		t.Errorf("after ◀: state %q", s)
	}
	// Checkpoint: the earlier checkpoint's masks.
	before = labels(1)
	eval[bool](t, ctx, p, `(() => { const s = document.getElementById("v-ckpt"); s.value = "0"; s.dispatchEvent(new Event("change")); return true; })()`)
	if s := state(); s != "0,1 0 0 2" {
		t.Errorf("after choosing checkpoint 0: state %q", s)
	}
	check(0, 0, 0)
	check(1, 0, 0)
	if strings.Join(labels(1), "") == strings.Join(before, "") {
		t.Error("the cells did not change with the checkpoint")
	}
	// Model: unticking MP-Former leaves Mask2Former alone.
	p.Click(ctx, "#vm-1")
	if s, n := state(), eval[int](t, ctx, p, `document.querySelectorAll("table.grid").length`); s != "0 0 0 2" || n != 1 {
		t.Errorf("after unticking MP-Former: state %q, %d grids", s, n)
	}
	p.Click(ctx, "#vm-1")
	if n := eval[int](t, ctx, p, `document.querySelectorAll("table.grid").length`); n != 2 {
		t.Errorf("after ticking MP-Former again: %d grids", n)
	}
	// Sort by mean consecutive IoU: matched first, lowest first.
	eval[bool](t, ctx, p, `(() => { const s = document.getElementById("v-sort"); s.value = "mean"; s.dispatchEvent(new Event("change")); return true; })()`)
	pn = panelOf(v, 0, 0, 0)
	var want []string
	qs := make([]int, pn.NumQueries)
	for q := range qs {
		qs[q] = q
	}
	sort.SliceStable(qs, func(a, b int) bool {
		ma, mb := pn.FinalGT[qs[a]] < 0, pn.FinalGT[qs[b]] < 0
		if ma != mb {
			return !ma
		}
		return milli(pn.MeanCons[qs[a]]) < milli(pn.MeanCons[qs[b]])
	})
	for _, q := range qs {
		want = append(want, fmt.Sprint(q))
	}
	if got := eval[[]string](t, ctx, p, `[...document.querySelectorAll('table.grid[data-model="0"] tbody tr')].map(r => r.dataset.query)`); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("rows by mean consecutive IoU: %v, want %v", got, want)
	}
	// Sort by the IoU at the selected stage: moving the stage re-sorts.
	eval[bool](t, ctx, p, `(() => { const s = document.getElementById("v-sort"); s.value = "stage"; s.dispatchEvent(new Event("change")); return true; })()`)
	for _, key := range []string{"ArrowLeft", "ArrowRight"} {
		p.Key(ctx, key)
		st := eval[int](t, ctx, p, `+document.getElementById("viewer-app").dataset.stage`)
		sort.SliceStable(qs, func(a, b int) bool {
			ma, mb := pn.FinalGT[qs[a]] < 0, pn.FinalGT[qs[b]] < 0
			if ma != mb {
				return !ma
			}
			ka, kb := milli(pn.Cells[st*pn.NumQueries+qs[a]].IoUPrev), milli(pn.Cells[st*pn.NumQueries+qs[b]].IoUPrev)
			if ka != kb {
				return ka < kb
			}
			return qs[a] < qs[b]
		})
		want = want[:0]
		for _, q := range qs {
			want = append(want, fmt.Sprint(q))
		}
		if got := eval[[]string](t, ctx, p, `[...document.querySelectorAll('table.grid[data-model="0"] tbody tr')].map(r => r.dataset.query)`); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("rows by IoU at stage %d: %v, want %v", st, got, want)
		}
	}
	// Overlays repaint the cells: the attention mask darkens blocked
	// cells at stage 0.
	sum := `(() => { const d = ` + pixels(`document.querySelector('table.grid[data-model="0"] .cell[data-stage="0"] canvas')`, "0", "0", "c.width", "c.height") + `;
		let s = 0; for (const x of d) s += x; return s; })()`
	waitDrawn := func() { t.Helper(); waitPainted(t, ctx, p) }
	eval[bool](t, ctx, p, `(document.getElementById("viewer-app").scrollIntoView(), true)`)
	waitDrawn()
	plain := eval[float64](t, ctx, p, sum)
	p.Click(ctx, "#v-attn")
	if err := p.WaitFor(ctx, sum+` < `+fmt.Sprint(plain)); err != nil {
		t.Errorf("the attention overlay did not darken the stage-0 cell: %v", err)
	}
	p.Click(ctx, "#v-attn")

	// The screenshot: back to the initial view, saved and compared.
	eval[bool](t, ctx, p, `(() => { const s = document.getElementById("v-sort"); s.value = "query"; s.dispatchEvent(new Event("change"));
		const c = document.getElementById("v-ckpt"); c.value = "1"; c.dispatchEvent(new Event("change")); return true; })()`)
	p.Key(ctx, "End")
	p.Hover(ctx, "h1")
	eval[bool](t, ctx, p, `(document.activeElement.blur(), true)`)
	eval[bool](t, ctx, p, `(document.getElementById("viewer-app").scrollIntoView(), true)`)
	waitDrawn()
	shot, err := p.ScreenshotElement(ctx, "#viewer-app")
	if err != nil {
		t.Fatal(err)
	}
	out := browser.ArtifactPath(t, "viewer.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("viewer screenshot: %s", out)
	ref := filepath.Join("testdata", "viewer_reference.png")
	if *update {
		small, err := browser.Shrink(shot, 192)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ref, small, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want2, err := os.ReadFile(ref)
	if err != nil {
		t.Fatalf("%v (go test ./report -run ViewerInBrowser -update writes it)", err)
	}
	diff, err := browser.ImageDiff(shot, want2)
	if err != nil || diff > referenceDiff {
		t.Errorf("the viewer's screenshot %s differs from %s by %.4f (at most %.2f): %v", out, ref, diff, referenceDiff, err)
	}
	t.Logf("difference from the reference: %.4f", diff)
}

// At phone width the page does not scroll sideways (the grids do, inside
// their box) and the viewer still works.
func TestViewerPhone(t *testing.T) {
	b := sharedBrowser(t)
	d, err := FromTraces(fixtureTraces(t)[:2], &Settings{MaxImages: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, ctx := openReport(t, b, d, 390, 844, true)
	if w := eval[[]float64](t, ctx, p, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		t.Errorf("the page is %v px wide in a %v px viewport", w[0], w[1])
	}
	cell := eval[float64](t, ctx, p, `document.querySelector(".cell").getBoundingClientRect().width`)
	if cell < 36 || math.IsNaN(cell) {
		t.Errorf("cells of %v px at phone width", cell)
	}
	p.Key(ctx, "ArrowDown")
	if i := eval[string](t, ctx, p, `document.getElementById("viewer-app").dataset.image`); i != "1" {
		t.Errorf("↓ at phone width: image %s", i)
	}
	eval[bool](t, ctx, p, `(document.getElementById("viewer-app").scrollIntoView(), true)`)
	shot, err := p.Screenshot(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	out := browser.ArtifactPath(t, "viewer_phone.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("phone screenshot: %s", out)
}

// Without an image the viewer draws on grey and says so; without a
// viewer the page needs no script at all.
func TestPageWithoutImagesInBrowser(t *testing.T) {
	b := sharedBrowser(t)
	desc := map[string]any{"kind": "nosuchkind"}
	tr := writeFixture(t, t.TempDir(), fixture{model: "mpformer", ckpt: "x.npz", drift: 2, images: []int{0}, describe: desc})
	d, err := FromTraces([]string{tr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, ctx := openReport(t, b, d, 1280, 800, false)
	if note := eval[string](t, ctx, p, `document.getElementById("viewer-images").textContent`); !strings.Contains(note, "neutral grey background") || !strings.Contains(note, "nosuchkind") {
		t.Errorf("image note %q", note)
	}
	// A pixel of a cell where the mask is off: the neutral grey (#c8c8c8).
	pn := &d.Viewer.Panels[0]
	q, mi := -1, -1
	for k := 0; k < pn.NumQueries && q < 0; k++ {
		m := pn.Masks[k] // stage 0
		for i := range m.H * m.W {
			if !m.Get(i) {
				q, mi = k, i
				break
			}
		}
	}
	if q < 0 {
		t.Fatal("no mask pixel off at stage 0")
	}
	waitPainted(t, ctx, p)
	W, H := pn.Masks[0].W, pn.Masks[0].H
	px := eval[[]int](t, ctx, p, "[..."+pixels(fmt.Sprintf(`document.querySelector('.cell[data-stage="0"][data-query="%d"] canvas')`, q),
		fmt.Sprintf("Math.floor((%d + 0.5) * c.width / %d)", mi%W, W), fmt.Sprintf("Math.floor((%d + 0.5) * c.height / %d)", mi/W, H), "1", "1")+"]")
	if len(px) != 4 || px[0] != 0xc8 || px[1] != 0xc8 || px[2] != 0xc8 {
		t.Errorf("background pixel %v, want c8c8c8", px)
	}
}

// rowOrder is the viewer's default row order: the queries matched at the
// last stage, then the others, each by query index.
func rowOrder(p *Panel) []int {
	var out, rest []int
	for q := range p.NumQueries {
		if p.FinalGT[q] >= 0 {
			out = append(out, q)
		} else {
			rest = append(rest, q)
		}
	}
	return append(out, rest...)
}

// waitPainted waits until every cell canvas near the viewport (where the
// viewer paints, see viewer.js) shows what the viewer last asked for.
func waitPainted(t *testing.T, ctx context.Context, p *browser.Page) {
	t.Helper()
	err := p.WaitFor(ctx, `(() => { const v = document.getElementById("viewer-app").dataset.version;
		return [...document.querySelectorAll("#viewer-app .cell canvas")].every(c => {
			const r = c.getBoundingClientRect(); return c.dataset.drawn === v || r.bottom < -300 || r.top > innerHeight + 300; }); })()`)
	if err != nil {
		t.Fatal(err)
	}
}

// pixels is a JavaScript expression giving the RGBA pixels of a rectangle
// of the canvas that expr selects (c in x, y, w, h), read from a copy made
// for reading (reading the viewer's own canvases again and again would
// make Chromium warn about readback).
func pixels(expr, x, y, w, h string) string {
	return `(() => { const c = ` + expr + `; const t = document.createElement("canvas"); t.width = c.width; t.height = c.height;
		const g = t.getContext("2d", {willReadFrequently: true}); g.drawImage(c, 0, 0);
		return g.getImageData(` + x + `, ` + y + `, ` + w + `, ` + h + `).data; })()`
}

// TestLoadTime measures a report page: MPANALYZE_REPORT_PAGE=report.html
// go test ./report -run LoadTime -v opens it 7 times in fresh tabs of one
// headless Chromium at 1280×800 and logs the median time to the load event
// (performance navigation timing: loadEventStart) and to the viewer being
// ready (its masks inflated and the first grid built), after one warm-up
// load. Skipped without the variable.
func TestLoadTime(t *testing.T) {
	page := os.Getenv("MPANALYZE_REPORT_PAGE")
	if page == "" {
		t.Skip("set MPANALYZE_REPORT_PAGE to a report to time")
	}
	b := sharedBrowser(t)
	u, err := browser.FileURL(page)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(page)
	if err != nil {
		t.Fatal(err)
	}
	var loads, readies []float64
	for i := range 8 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		p, err := b.NewPage(ctx, 1280, 800)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Navigate(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitFor(ctx, `!document.getElementById("viewer-app") || document.getElementById("viewer-app").dataset.state !== "loading"`); err != nil {
			t.Fatal(err)
		}
		var tm [2]float64
		if err := p.Eval(ctx, `[performance.getEntriesByType("navigation")[0].loadEventStart, performance.now()]`, &tm); err != nil {
			t.Fatal(err)
		}
		p.Call(ctx, "Page.close", nil, nil)
		cancel()
		if i > 0 {
			loads, readies = append(loads, tm[0]), append(readies, tm[1])
		}
	}
	sort.Float64s(loads)
	sort.Float64s(readies)
	t.Logf("%s: %d bytes; load event after %.0f ms (median of %d; %.0f–%.0f), viewer ready by %.0f ms (%.0f–%.0f)",
		page, st.Size(), loads[len(loads)/2], len(loads), loads[0], loads[len(loads)-1], readies[len(readies)/2], readies[0], readies[len(readies)-1])
}
