package report

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image/jpeg"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/probes"
)

func bits(h, w int, on ...int) *mask.Bits {
	m := mask.New(h, w)
	for _, i := range on {
		m.Set(i, true)
	}
	return m
}

func logits(m *mask.Bits) []float32 {
	out := make([]float32, m.H*m.W)
	for i := range out {
		out[i] = -1
		if m.Get(i) {
			out[i] = 1
		}
	}
	return out
}

// handImage is a 2-stage, 2-query image on 2×2 masks (pixels 0 1 / 2 3)
// whose numbers are worked out by hand in TestPanelNumbers.
func handImage() (*probes.Image, *probes.RunInfo) {
	gt := &probes.GroundTruth{Classes: []int{1}, Masks: []*mask.Bits{bits(2, 2, 0, 2)}}
	ln3 := float32(math.Log(3))
	s0 := probes.Stage{Stage: 0, NumQueries: 2, NumClasses: 2, H: 2, W: 2,
		MaskLogits:  append(logits(bits(2, 2, 0, 1)), logits(bits(2, 2))...),
		ClassLogits: []float32{0, 0, 0, 0, 0, 5},
		AttnH:       1, AttnW: 2,
		// q0 blocked on the left; q1 was entirely blocked, so unblocked.
		AttnMask:  []bool{true, false, false, false},
		Unblocked: []bool{false, true},
		Match:     []int{1}, GT: gt}
	s1 := probes.Stage{Stage: 1, NumQueries: 2, NumClasses: 2, H: 2, W: 2,
		MaskLogits:  append(logits(bits(2, 2, 0)), logits(bits(2, 2, 3))...),
		ClassLogits: []float32{0, ln3, 0, 0, 0, 0},
		Unblocked:   []bool{false, false},
		Match:       []int{0}, GT: gt}
	info := &probes.RunInfo{Model: "mask2former", NumStages: 2, NumQueries: 2, NumClasses: 2, MaskStride: 4, MaskH: 2, MaskW: 2}
	return &probes.Image{Index: 5, Stages: []probes.Stage{s0, s1}, GT: gt}, info
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-7 // float32 logits
}

// The numbers of every cell, worked out by hand on handImage.
func TestPanelNumbers(t *testing.T) {
	im, info := handImage()
	p, err := makePanel(im, info)
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	want := []Cell{
		// s0 q0: mask {0,1}; final {0}: IoU 1/2; GT {0,2}: 1/3; stage 0
		// matches the GT to q1; 1 of 2 attention cells blocked. Class
		// logits all 0: class 0 (first of three ties), 1/3.
		{Class: 0, Score: 1.0 / 3, IoUPrev: nan, IoUFinal: 0.5, IoUGT: 1.0 / 3, Matched: -1, Blocked: 0.5},
		// s0 q1: empty; final {3}: 0; not matched at the last stage: no GT
		// IoU; matched to GT 0 here; unblocked row. Logits (0,0,5): no
		// object, e^5/(2+e^5).
		{Class: 2, Score: math.Exp(5) / (2 + math.Exp(5)), IoUPrev: nan, IoUFinal: 0, IoUGT: nan, Matched: 0, Blocked: 0, Unblocked: true},
		// s1 q0: {0} vs {0,1}: 1/2; itself: 1; GT {0,2}: 1/2; logits
		// (0, ln 3, 0): class 1, 3/5; no next layer.
		{Class: 1, Score: 0.6, IoUPrev: 0.5, IoUFinal: 1, IoUGT: 0.5, Matched: 0, Blocked: nan},
		// s1 q1: {3} vs {}: 0; itself: 1.
		{Class: 0, Score: 1.0 / 3, IoUPrev: 0, IoUFinal: 1, IoUGT: nan, Matched: -1, Blocked: nan},
	}
	for k, w := range want {
		g := p.Cells[k]
		if g.Class != w.Class || !near(g.Score, w.Score) || !near(g.IoUPrev, w.IoUPrev) || !near(g.IoUFinal, w.IoUFinal) ||
			!near(g.IoUGT, w.IoUGT) || g.Matched != w.Matched || !near(g.Blocked, w.Blocked) || g.Unblocked != w.Unblocked {
			t.Errorf("cell s%d q%d = %+v, want %+v", k/2, k%2, g, w)
		}
	}
	if p.FinalGT[0] != 0 || p.FinalGT[1] != -1 {
		t.Errorf("FinalGT %v, want [0 -1]", p.FinalGT)
	}
	// Mean over the one stage pair.
	if !near(p.MeanCons[0], 0.5) || !near(p.MeanCons[1], 0) {
		t.Errorf("MeanCons %v, want [0.5 0]", p.MeanCons)
	}
	if p.Attn[1] != nil || p.Attn[0] == nil || !mask.Equal(p.Attn[0][0], bits(1, 2, 0)) || p.Attn[0][1].Area() != 0 {
		t.Errorf("attention masks %v", p.Attn)
	}
}

// decodePayload inverts encodeViewer.
func decodePayload(t *testing.T, b64 string) (viewerJSON, []byte) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint32(all)
	var v viewerJSON
	if err := json.Unmarshal(all[4:4+n], &v); err != nil {
		t.Fatal(err)
	}
	return v, all[4+n:]
}

// The payload carries every mask bit for bit at the offsets its JSON
// gives, and the numbers in thousandths.
func TestPayloadRoundTrip(t *testing.T) {
	im, info := handImage()
	p, err := makePanel(im, info)
	if err != nil {
		t.Fatal(err)
	}
	v := &Viewer{Models: []Model{{Label: "mask2former", Name: "Mask2Former", Seed: 1}}, Checkpoints: []Checkpoint{{Label: "c"}},
		Images: []Image{{Index: 5, W: 8, H: 8}}, Panels: []Panel{*p}, NumClasses: 2, TotalImages: 1, MaxImages: 8}
	b64, err := encodeViewer(v)
	if err != nil {
		t.Fatal(err)
	}
	vj, bin := decodePayload(t, b64)
	if len(vj.Panels) != 1 || vj.NumClasses != 2 || vj.Images[0].Src != "" || vj.Models[0].Name != "Mask2Former" {
		t.Fatalf("payload %+v", vj)
	}
	pj := vj.Panels[0]
	get := func(off, i int) bool { return bin[off+i/8]>>(i%8)&1 == 1 }
	for k, m := range p.Masks {
		for i := range 4 {
			if get(pj.Masks+k, i) != m.Get(i) { // one byte per 2×2 mask
				t.Errorf("mask %d bit %d", k, i)
			}
		}
	}
	if a := pj.Attn[0]; a == nil || pj.Attn[1] != nil || a.H != 1 || a.W != 2 || !get(a.Off, 0) || get(a.Off, 1) || get(a.Off+1, 0) {
		t.Errorf("attention %+v", pj.Attn)
	}
	if g := pj.GT[0]; g.Class != 1 || !get(g.Off, 0) || get(g.Off, 1) || !get(g.Off, 2) {
		t.Errorf("GT %+v", pj.GT)
	}
	// IoUs in thousandths, −1 for undefined: 1/3 → 333.
	if !equalInts(pj.IoUPrev, []int{-1, -1, 500, 0}) || !equalInts(pj.IoUGT, []int{333, -1, 500, -1}) ||
		!equalInts(pj.Score, []int{333, 987, 600, 333}) || !equalInts(pj.Blocked, []int{500, 0, -1, -1}) ||
		!equalInts(pj.Unblocked, []int{0, 1, 0, 0}) || !equalInts(pj.Matched, []int{-1, 0, 0, -1}) || !equalInts(pj.MeanCons, []int{500, 0}) {
		t.Errorf("numbers %+v", pj)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Traces of two models at two checkpoints become two models × two
// checkpoints; the images are the scenes the traces record, rendered
// from the dataset.
func TestFromTraces(t *testing.T) {
	paths := fixtureTraces(t)
	// Given with the later checkpoint first, they come in step order.
	paths[0], paths[1] = paths[1], paths[0]
	d, err := FromTraces(paths, &Settings{MaxImages: 3})
	if err != nil {
		t.Fatal(err)
	}
	v := d.Viewer
	if v == nil {
		t.Fatal("no viewer")
	}
	if len(v.Models) != 2 || v.Models[0].Name != "Mask2Former" || v.Models[1].Name != "MP-Former" ||
		len(v.Checkpoints) != 2 || v.Checkpoints[0].Label != "step 2" || v.Checkpoints[1].Step != 4 {
		t.Errorf("models %+v, checkpoints %+v", v.Models, v.Checkpoints)
	}
	if len(v.Images) != 3 || v.TotalImages != 4 || len(v.Panels) != 2*2*3 {
		t.Errorf("%d images of %d, %d panels", len(v.Images), v.TotalImages, len(v.Panels))
	}
	ds, _ := data.Open(fixtureSpec)
	want, err := renderImage(ds, 1, fixSize)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Images[1].JPEG, want) || v.Images[1].Index != 1 {
		t.Errorf("image 1 is not the rendered scene 1")
	}
	if img, err := jpeg.Decode(bytes.NewReader(v.Images[0].JPEG)); err != nil || img.Bounds().Dx() != fixSize || img.Bounds().Dy() != fixSize {
		t.Errorf("image 0: %v", err)
	}
	if !strings.Contains(v.ImageNote, "Images rendered from the dataset the traces record (synthetic, val, seed 1)") {
		t.Errorf("image note %q", v.ImageNote)
	}
	if len(v.Classes) != v.NumClasses || v.NumClasses != len(ds.Categories()) {
		t.Errorf("%d class names for %d classes", len(v.Classes), v.NumClasses)
	}
	// The table has one row per stage and a consecutive-IoU column per
	// trace; the figures have text alternatives with their numbers.
	if len(d.Tables) != 1 || len(d.Tables[0].Rows) != fixStages || !strings.Contains(strings.Join(d.Tables[0].Header, "|"), "MP-Former @ step 4 cons. IoU") {
		t.Errorf("tables %+v", d.Tables)
	}
	if len(d.Figures) != 2 || !strings.Contains(d.Figures[0].Alt, "Mask2Former @ step 2: 0→1 ") || !bytes.Contains(d.Figures[0].SVG, []byte("<svg")) {
		t.Errorf("figures %+v", d.Figures)
	}
	if len(d.Provenance) != 4 || d.Provenance[0].Fields[1].Value != "runs/mask2former/checkpoints/step-000004.npz" {
		t.Errorf("provenance %+v", d.Provenance)
	}
}

// A trace whose recorded dataset is not the one this build generates is
// drawn over a neutral background, and the page says why.
func TestFromTracesNoImage(t *testing.T) {
	dir := t.TempDir()
	desc := map[string]any{"kind": "synthetic", "generator": "synthetic-v0", "split": "val", "seed": 1, "size": 128, "n": 4}
	p := writeFixture(t, dir, fixture{model: "mask2former", ckpt: "latest.npz", drift: 2, images: []int{0, 2}, describe: desc})
	d, err := FromTraces([]string{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := d.Viewer
	for _, im := range v.Images {
		if im.JPEG != nil {
			t.Errorf("image %d rendered from a dataset that is not the recorded one", im.Index)
		}
	}
	if !strings.Contains(v.ImageNote, "is not the one the trace records") || !strings.Contains(v.ImageNote, "neutral grey background") {
		t.Errorf("image note %q", v.ImageNote)
	}
	if len(v.Images) != 2 || v.Images[1].Index != 2 || len(v.Checkpoints) != 1 || v.Checkpoints[0].Label != "checkpoint latest.npz" {
		t.Errorf("viewer %+v %+v", v.Images, v.Checkpoints)
	}
}

// Two traces of one model at one checkpoint are told apart by file name.
func TestFromTracesSameModel(t *testing.T) {
	dir := t.TempDir()
	a := writeFixture(t, dir, fixture{model: "mpformer", ckpt: "a/latest.npz", drift: 2, images: []int{0, 1}})
	b := writeFixture(t, t.TempDir(), fixture{model: "mpformer", ckpt: "b/latest.npz", drift: 4, images: []int{1, 3}})
	d, err := FromTraces([]string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromTraces([]string{a, a}, nil); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a trace given twice: %v", err)
	}
	v := d.Viewer
	if len(v.Models) != 2 || v.Models[0].Label != strings.TrimSuffix(a, ".npz") || len(v.Images) != 1 || v.Images[0].Index != 1 || v.TotalImages != 1 {
		t.Errorf("models %+v, images %+v", v.Models, v.Images)
	}
	// No image in common is an error naming a trace.
	c := writeFixture(t, t.TempDir(), fixture{model: "mask2former", ckpt: "c.npz", drift: 4, images: []int{2}})
	if _, err := FromTraces([]string{a, c}, nil); err == nil || !strings.Contains(err.Error(), "no image in common") {
		t.Errorf("no common image: %v", err)
	}
	if _, err := FromTraces([]string{dir + "/missing.npz"}, nil); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing trace: %v", err)
	}
}

// The page: every table cell's number in data attributes, every figure
// inline and labelled by its text alternative, nothing loaded from
// elsewhere.
func TestWrite(t *testing.T) {
	d, err := FromTraces(fixtureTraces(t), &Settings{Title: "T <&>"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, d); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, w := range []string{"<title>T &lt;&amp;&gt;</title>", `<table class="data" data-key="diagnosis">`,
		`<svg role="img" aria-labelledby="alt-0" `, `<p id="alt-0">`, `id="viewer-app"`, "4 of 4 images embedded. Images rendered from the dataset"} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	for _, bad := range []string{`src="http`, `href="http`, "url(http", "@import", "<link", `src="//`, "<?xml"} {
		if strings.Contains(page, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	// The cells' data-v attributes are the table's values.
	tab := d.Tables[0].Table
	re := regexp.MustCompile(`data-v="([^"]*)"`)
	var got []string
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		got = append(got, m[1])
	}
	var want []string
	for _, row := range tab.Values {
		for _, v := range row {
			if v != nil {
				s := ""
				if !math.IsNaN(v.Value) {
					s = strconv.FormatFloat(v.Value, 'g', -1, 64)
				}
				want = append(want, s)
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("data-v attributes\n got %v\nwant %v", got, want)
	}
	// The payload decodes to the viewer.
	m := regexp.MustCompile(`(?s)<script type="application/octet-stream" id="viewer-data">([A-Za-z0-9+/=]+)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no payload")
	}
	vj, _ := decodePayload(t, m[1])
	if len(vj.Panels) != len(d.Viewer.Panels) || !strings.HasPrefix(vj.Images[0].Src, "data:image/jpeg;base64,") {
		t.Errorf("payload: %d panels, image %.40q", len(vj.Panels), vj.Images[0].Src)
	}
}
