package probes

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/npy"
	"github.com/mpanalyze/mpanalyze/matcher"
	"github.com/mpanalyze/mpanalyze/metrics"
)

// writeTrace records imgs into a trace at path and returns its files.
func writeTrace(t testing.TB, path string, c synth, set *TraceSettings, imgs []Image) (npz, js string) {
	t.Helper()
	w := NewTraceWriter(path, set)
	feed(t, w, c.info(), imgs)
	return w.Paths()
}

// readAll reads every image of the trace at path.
func readAll(t testing.TB, path string, s *ReadSettings) (*TraceReader, []Image) {
	t.Helper()
	r, err := OpenTrace(path, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	var out []Image
	for {
		im, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *im)
	}
	return r, out
}

// dropMP returns the images with their MP rows removed, as a trace written
// without KeepMP holds them.
func dropMP(imgs []Image) []Image {
	out := cloneImages(imgs)
	for i := range out {
		for s := range out[i].Stages {
			st := &out[i].Stages[s]
			P, HW, K1, cells := st.NumMP, st.H*st.W, st.NumClasses+1, st.AttnH*st.AttnW
			st.MaskLogits = st.MaskLogits[P*HW:]
			st.ClassLogits = st.ClassLogits[P*K1:]
			st.AttnMask = st.AttnMask[P*cells:]
			if st.Unblocked != nil {
				st.Unblocked = st.Unblocked[P:]
			}
			st.NumMP = 0
		}
	}
	return out
}

func TestTraceRoundTrip(t *testing.T) {
	maskformer := synth{S: 3, Q: 4, K: 2, H: 4, W: 8, StageLayers: []int{1, 2, 3}, Model: "maskformer"}
	mp := m2f
	mp.MP = 3
	mp.Model = "mpformer"
	cases := []struct {
		name  string
		c     synth
		set   *TraceSettings
		gts   []int // −1 = no ground truth
		match bool
		want  func([]Image) []Image // what the reader yields; nil = the input
	}{
		{name: "mask2former", c: m2f, gts: []int{2, 0, 3}, match: true},
		{name: "no-gt", c: m2f, gts: []int{-1, 2, -1}, match: true},
		{name: "more-gt-than-queries", c: m2f, gts: []int{7}, match: true},
		{name: "mp-kept", c: mp, set: &TraceSettings{KeepMP: true}, gts: []int{2, 1}, match: true},
		{name: "mp-dropped", c: mp, gts: []int{2, 1}, match: true, want: dropMP},
		{name: "maskformer", c: maskformer, gts: []int{1, -1}, match: true},
		{name: "compressed", c: mp, set: &TraceSettings{KeepMP: true, Compress: true}, gts: []int{3}, match: true},
		// The compact layout: binary masks, float16 class logits, packed
		// attention (see asCompact).
		{name: "compact", c: m2f, set: &TraceSettings{Compact: true}, gts: []int{2, 0, 3}, match: true, want: compactOf(false)},
		{name: "compact-logits", c: m2f, set: &TraceSettings{Compact: true, Float16: true}, gts: []int{2, -1}, match: true, want: compactOf(true)},
		{name: "compact-mp", c: mp, set: &TraceSettings{Compact: true, KeepMP: true}, gts: []int{2, 1}, match: true, want: compactOf(false)},
		{name: "compact-mp-logits", c: mp, set: &TraceSettings{Compact: true, KeepMP: true, Float16: true}, gts: []int{1}, match: true, want: compactOf(true)},
		{name: "compact-mp-dropped", c: mp, set: &TraceSettings{Compact: true}, gts: []int{2}, match: true,
			want: func(imgs []Image) []Image { return asCompact(dropMP(imgs), false) }},
		{name: "compact-maskformer", c: maskformer, set: &TraceSettings{Compact: true}, gts: []int{1, -1}, match: true, want: compactOf(false)},
		// 5×7 masks and 3×3, 5×7 attention: packed rows end in padding bits.
		{name: "compact-odd-sizes", c: oddSizes, set: &TraceSettings{Compact: true, KeepMP: true}, gts: []int{2, -1}, match: true, want: compactOf(false)},
		{name: "full-odd-sizes", c: oddSizes, set: &TraceSettings{KeepMP: true}, gts: []int{2}, match: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			imgs := tc.c.images(1, tc.gts, tc.match)
			path := filepath.Join(t.TempDir(), "run.npz")
			npz, js := writeTrace(t, path, tc.c, tc.set, imgs)
			if npz != path || js != strings.TrimSuffix(path, ".npz")+".json" {
				t.Fatalf("paths %s %s", npz, js)
			}
			r, got := readAll(t, path, nil)
			want := imgs
			if tc.want != nil {
				want = tc.want(imgs)
			}
			if d := diffImages(want, got); d != "" {
				t.Fatal(d)
			}
			// The run info survives, with stage_layers filled in.
			info, wantInfo := r.Info(), tc.c.info()
			if wantInfo.StageLayers == nil {
				wantInfo.StageLayers = make([]int, tc.c.S)
				for s := range wantInfo.StageLayers {
					wantInfo.StageLayers[s] = s
				}
			}
			wantInfo.Matching = MatchingRecorded
			if jsonOf(t, info) != jsonOf(t, wantInfo) {
				t.Fatalf("run info\n got %s\nwant %s", jsonOf(t, info), jsonOf(t, wantInfo))
			}
			side := r.Sidecar()
			fi, _ := os.Stat(npz)
			if side.NPZBytes != fi.Size() || side.Conventions.Threshold != "logit > 0 (sigmoid > 0.5)" || len(side.Images) != len(imgs) {
				t.Fatalf("sidecar %+v", side)
			}
			for i, im := range side.Images {
				gt := max(tc.gts[i], 0)
				if im.Index != imgs[i].Index || im.HasGT != (tc.gts[i] >= 0) || im.GT != gt {
					t.Fatalf("sidecar image %d: %+v", i, im)
				}
			}
			// No temporary file is left behind.
			ents, _ := os.ReadDir(filepath.Dir(path))
			if len(ents) != 2 {
				t.Fatalf("directory holds %v", ents)
			}
		})
	}
}

// oddSizes has mask and attention sizes that are not multiples of 8.
var oddSizes = synth{S: 3, Q: 4, K: 2, H: 5, W: 7, MP: 1, Attn: [][2]int{{3, 3}, {5, 7}, {0, 0}}, Model: "mpformer"}

func compactOf(keepLogits bool) func([]Image) []Image {
	return func(imgs []Image) []Image { return asCompact(imgs, keepLogits) }
}

// TestTraceFloat16 checks that float16 mask logits keep every binary mask
// and are within half-precision rounding of the float32 values.
func TestTraceFloat16(t *testing.T) {
	imgs := m2f.images(2, []int{2, 1}, true)
	// Tiny logits must keep their sign (they would round to ±0).
	imgs[0].Stages[0].MaskLogits[0] = 1e-12
	imgs[0].Stages[0].MaskLogits[1] = -1e-12
	path := filepath.Join(t.TempDir(), "f16")
	writeTrace(t, path, m2f, &TraceSettings{Float16: true}, imgs)
	_, got := readAll(t, path, nil)
	for i := range imgs {
		a, b := imgs[i].ImageStages(), got[i].ImageStages()
		for s := range a.Masks {
			for q := range a.Masks[s] {
				if metrics.IoU(a.Masks[s][q], b.Masks[s][q]) != 1 {
					t.Fatalf("image %d stage %d query %d: binary mask changed", i, s, q)
				}
			}
		}
		for s := range imgs[i].Stages {
			x, y := imgs[i].Stages[s].MaskLogits, got[i].Stages[s].MaskLogits
			for j := range x {
				// Half precision has 11 significant bits: relative error ≤ 2⁻¹¹.
				if d := math.Abs(float64(x[j] - y[j])); d > math.Abs(float64(x[j]))/2048+1e-7 {
					t.Fatalf("logit %v read as %v", x[j], y[j])
				}
			}
			imgs[i].Stages[s].MaskLogits = got[i].Stages[s].MaskLogits
		}
	}
	if d := diffImages(imgs, got); d != "" {
		t.Fatal(d)
	}
}

func TestF16(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		// IEEE 754 binary16 encodings.
		{1, 0x3c00},
		{-2, 0xc000},
		{0.1, 0x2e66},   // 0.0999755859375, nearest half to 0.1
		{65504, 0x7bff}, // largest finite half
		{65520, 0x7c00}, // rounds to +Inf (halfway, even = Inf)
		{float32(math.Inf(-1)), 0xfc00},
		{0, 0},
		{float32(math.Copysign(0, -1)), 0x8000},
		{6.103515625e-05, 0x0400},  // smallest normal 2⁻¹⁴
		{5.9604645e-08, 0x0001},    // smallest subnormal 2⁻²⁴
		{1e-12, 0x0001},            // below it: kept non-zero (our rule)
		{-1e-12, 0x8001},           // and its sign
		{1 + 1.0/2048, 0x3c00},     // tie between 1 and 1+2⁻¹⁰ goes to even
		{1 + 3.0/2048, 0x3c02},     // tie goes up to even
		{2.9802322e-08 * 3, 0x002}, // 1.5·2⁻²⁴·... subnormal rounding: 3·2⁻²⁵ = 1.5 ulp → 2
	}
	for _, c := range cases {
		if got := f32ToF16(c.in); got != c.want {
			t.Errorf("f32ToF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if !math.IsNaN(float64(f16ToF32(f32ToF16(float32(math.NaN()))))) {
		t.Error("NaN lost")
	}
	// Every finite half converts to float32 and back to itself.
	for h := range 1 << 16 {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN
		}
		if got := f32ToF16(f16ToF32(uint16(h))); got != uint16(h) && !(h&0x7fff == 0) {
			t.Fatalf("half %#04x → %g → %#04x", h, f16ToF32(uint16(h)), got)
		}
	}
}

func TestTracePaths(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ in, npz, js string }{
		{"a/b.npz", "a/b.npz", "a/b.json"},
		{"a/b.json", "a/b.npz", "a/b.json"},
		{"a/b", "a/b.npz", "a/b.json"},
		{"a/b/", "a/b/trace.npz", "a/b/trace.json"},
		{dir, dir + "/trace.npz", dir + "/trace.json"},
	}
	for _, c := range cases {
		if n, j := TracePaths(c.in); n != c.npz || j != c.js {
			t.Errorf("TracePaths(%q) = %q, %q", c.in, n, j)
		}
	}
	// The directory form is created by the writer.
	imgs := m2f.images(3, []int{1}, true)
	writeTrace(t, filepath.Join(dir, "sub")+"/", m2f, nil, imgs)
	_, got := readAll(t, filepath.Join(dir, "sub"), nil)
	if d := diffImages(imgs, got); d != "" {
		t.Fatal(d)
	}
}

// TestTraceComputedMatching reads a trace without matchings: the reader
// computes them with matcher.MatchStages against the stored GT coverage
// (the model's targets), against the binary GT masks when the trace has no
// coverage, or leaves them out.
func TestTraceComputedMatching(t *testing.T) {
	imgs := m2f.images(4, []int{3, -1, 0, 2}, false)
	noCover := cloneImages(imgs)
	for i := range noCover {
		if noCover[i].GT != nil {
			noCover[i].GT.Cover = nil
		}
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		imgs  []Image
		cover bool
	}{{"cover", imgs, true}, {"binary", noCover, false}} {
		path := filepath.Join(dir, tc.name)
		writeTrace(t, path, m2f, nil, tc.imgs)
		r, got := readAll(t, path, nil)
		if r.Info().Matching != MatchingComputed {
			t.Fatalf("%s: matching %q", tc.name, r.Info().Matching)
		}
		differ := 0
		for i, im := range got {
			src := &tc.imgs[i]
			if src.GT == nil {
				if im.Stages[0].Match != nil {
					t.Fatalf("%s image %d: a matching without GT", tc.name, i)
				}
				continue
			}
			// The expected matchings, by the model's call on the recorded stages.
			HW := m2f.H * m2f.W
			cls, msk := make([][]float32, m2f.S), make([][]float32, m2f.S)
			for s := range cls {
				cls[s], msk[s] = src.Stages[s].ClassLogits, src.Stages[s].MaskLogits
			}
			binary := make([]float32, len(src.GT.Classes)*HW)
			for g, m := range src.GT.Masks {
				for p := range HW {
					if m.Get(p) {
						binary[g*HW+p] = 1
					}
				}
			}
			targets := binary
			if tc.cover {
				targets = matcher.CoverTargets(src.GT.Cover, HW)
			}
			want := matcher.MatchStages(cls, msk, targets, src.GT.Classes, m2f.Q, m2f.K, HW, nil)
			onBinary := matcher.MatchStages(cls, msk, binary, src.GT.Classes, m2f.Q, m2f.K, HW, nil)
			for s := range im.Stages {
				w, b := []int{}, []int{}
				if want != nil {
					w, b = want[s], onBinary[s]
				}
				if jsonOf(t, im.Stages[s].Match) != jsonOf(t, w) {
					t.Fatalf("%s image %d stage %d: matching %v, want %v", tc.name, i, s, im.Stages[s].Match, w)
				}
				if jsonOf(t, w) != jsonOf(t, b) {
					differ++
				}
			}
		}
		// The synthetic coverage is far from 0/1: the two targets disagree
		// somewhere, so the test tells them apart.
		if tc.cover && differ == 0 {
			t.Errorf("coverage and binary targets give the same matchings everywhere")
		}
		r2, got2 := readAll(t, path, &ReadSettings{NoMatching: true})
		if r2.Info().Matching != MatchingNone {
			t.Fatalf("matching %q", r2.Info().Matching)
		}
		if got2[0].Stages[0].Match != nil || got2[2].Stages[0].Match == nil {
			t.Fatal("NoMatching must leave matchings out (except the empty one of an image with no segment)")
		}
	}
	// The trace's match_cost is the default weight set; settings override it.
	info := m2f.info()
	info.MatchCost = &MatchCost{Class: 1, Mask: 0, Dice: 0}
	path := filepath.Join(dir, "cost")
	w := NewTraceWriter(path, nil)
	feed(t, w, info, imgs[:1])
	_, got := readAll(t, path, nil)
	st := &imgs[0].Stages[0]
	classOnly := matcher.Weights{Class: 1}
	want := matcher.Match(st.ClassLogits, st.MaskLogits, matcher.CoverTargets(st.GT.Cover, m2f.H*m2f.W), st.GT.Classes, m2f.Q, m2f.K, m2f.H*m2f.W, &classOnly)
	if jsonOf(t, got[0].Stages[0].Match) != jsonOf(t, want) {
		t.Fatalf("class-only cost: %v, want %v", got[0].Stages[0].Match, want)
	}
	_, got = readAll(t, path, &ReadSettings{Weights: &matcher.Weights{Class: 2, Mask: 5, Dice: 5}})
	def := matcher.Match(st.ClassLogits, st.MaskLogits, matcher.CoverTargets(st.GT.Cover, m2f.H*m2f.W), st.GT.Classes, m2f.Q, m2f.K, m2f.H*m2f.W, nil)
	if jsonOf(t, got[0].Stages[0].Match) != jsonOf(t, def) {
		t.Fatalf("settings' weights: %v, want %v", got[0].Stages[0].Match, def)
	}
}

// TestTraceCompactNoMatching: a compact trace without logits cannot be
// matched at read time; its images without stored matchings have none.
func TestTraceCompactNoMatching(t *testing.T) {
	imgs := m2f.images(4, []int{3, 0}, false)
	path := filepath.Join(t.TempDir(), "c")
	writeTrace(t, path, m2f, &TraceSettings{Compact: true}, imgs)
	r, got := readAll(t, path, nil)
	if r.Info().Matching != MatchingNone || got[0].Stages[0].Match != nil || got[1].Stages[0].Match == nil {
		t.Fatalf("matching %q, %v, %v", r.Info().Matching, got[0].Stages[0].Match, got[1].Stages[0].Match)
	}
}

// TestReadVersion1 reads a trace written by the version 1 writer (before
// gt_cover and the compact layout; testdata/v1/f16z: float16 mask logits,
// deflated, MP rows kept) and compares what it yields with the sums of
// the archive's arrays decoded independently of the reader.
func TestReadVersion1(t *testing.T) {
	const path = "testdata/v1/f16z"
	r, got := readAll(t, path, nil)
	if r.Sidecar().Version != 1 || r.Info().Matching != MatchingRecorded || len(got) != 4 || got[0].Stages[0].NumMP != 2 {
		t.Fatalf("version %d, matching %q, %d images", r.Sidecar().Version, r.Info().Matching, len(got))
	}
	want := rawSums(t, path+".npz")
	sums := arraySums(got)
	if len(sums) != len(want) {
		t.Fatalf("%d arrays read, %d in the archive", len(sums), len(want))
	}
	for name, w := range want {
		if g, ok := sums[name]; !ok || math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%s: read sum %v, archive %v", name, g, w)
		}
	}
}

// rawSums decodes every array of an .npz with internal/npy and returns
// its sum (float16 widened exactly).
func rawSums(t *testing.T, path string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		h, err := npy.ReadHeader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		data = data[h.DataOffset:]
		sum := 0.0
		for i := 0; i < h.NumElems(); i++ {
			switch h.Descr {
			case dtF32:
				sum += float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
			case dtF16:
				sum += float64(f16ToF32(binary.LittleEndian.Uint16(data[2*i:])))
			case dtI32:
				sum += float64(int32(binary.LittleEndian.Uint32(data[4*i:])))
			case dtU8, dtBool:
				sum += float64(data[i])
			default:
				t.Fatalf("%s: dtype %s", f.Name, h.Descr)
			}
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = sum
	}
	return out
}

// TestReplayIsIdentity replays a trace into a new writer: the archives are
// byte-identical.
func TestReplayIsIdentity(t *testing.T) {
	mp := m2f
	mp.MP = 2
	imgs := mp.images(5, []int{2, -1, 1}, true)
	dir := t.TempDir()
	for i, set := range []*TraceSettings{{KeepMP: true}, {KeepMP: true, Compact: true}, {KeepMP: true, Compact: true, Float16: true}} {
		a, _ := writeTrace(t, filepath.Join(dir, fmt.Sprint("a", i)), mp, set, imgs)
		r, err := OpenTrace(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		w := NewTraceWriter(filepath.Join(dir, fmt.Sprint("b", i)), set)
		if err := r.Replay(w, 0); err != nil {
			t.Fatal(err)
		}
		b, _ := w.Paths()
		x, _ := os.ReadFile(a)
		y, _ := os.ReadFile(b)
		if string(x) != string(y) {
			t.Fatalf("%+v: replayed archive differs (%d vs %d bytes)", *set, len(x), len(y))
		}
	}
	// A compact trace without logits replays into another compact trace,
	// but not into a full one.
	a := filepath.Join(dir, "a1")
	r, err := OpenTrace(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Replay(NewTraceWriter(filepath.Join(dir, "full"), nil), 0); !errors.Is(err, ErrStage) || !strings.Contains(err.Error(), "binary masks only") {
		t.Fatalf("compact → full: %v", err)
	}
}

// TestTraceWriterFailureLeavesNothing: an error or an incomplete image
// discards the trace and keeps an older pair of the same name intact.
func TestTraceWriterFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t")
	imgs := m2f.images(6, []int{1, 2}, true)
	npz, js := writeTrace(t, path, m2f, nil, imgs)
	oldNPZ, _ := os.ReadFile(npz)
	oldJS, _ := os.ReadFile(js)

	for _, tc := range []struct {
		name string
		run  func(w *TraceWriter) error
	}{
		{"incomplete", func(w *TraceWriter) error {
			w.Record(&imgs[0].Stages[0])
			return w.Close()
		}},
		{"bad stage", func(w *TraceWriter) error {
			bad := imgs[0].Stages[0].Clone()
			bad.MaskLogits = bad.MaskLogits[1:]
			if err := w.Record(&bad); !errors.Is(err, ErrStage) {
				t.Fatalf("Record: %v", err)
			}
			return w.Close()
		}},
		{"abort", func(w *TraceWriter) error {
			w.Record(&imgs[0].Stages[0])
			w.Abort()
			return errors.New("aborted")
		}},
	} {
		w := NewTraceWriter(path, nil)
		if err := w.Init(m2f.info()); err != nil {
			t.Fatal(err)
		}
		if err := tc.run(w); err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 2 {
			t.Fatalf("%s: directory holds %v", tc.name, ents)
		}
		n, _ := os.ReadFile(npz)
		j, _ := os.ReadFile(js)
		if string(n) != string(oldNPZ) || string(j) != string(oldJS) {
			t.Fatalf("%s: the older trace changed", tc.name)
		}
	}
}

// TestTraceSidecarJSON checks the sidecar's documented fields by name.
func TestTraceSidecarJSON(t *testing.T) {
	c := m2f
	c.StageLayers = []int{0, 1, 2, 3}
	ck := filepath.Join(t.TempDir(), "model.ckpt.npz")
	os.WriteFile(ck, []byte("abc"), 0o644)
	info := c.info()
	info.Checkpoint = ck
	w := NewTraceWriter(filepath.Join(t.TempDir(), "x"), nil)
	feed(t, w, info, c.images(1, []int{1}, true))
	_, js := w.Paths()
	b, _ := os.ReadFile(js)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	run := m["run"].(map[string]any)
	// sha256("abc"), FIPS 180-2 test vector.
	if run["checkpoint_sha256"] != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("checkpoint hash %v", run["checkpoint_sha256"])
	}
	for _, k := range []string{"format", "version", "run", "conventions", "storage", "npz_bytes", "images", "arrays"} {
		if _, ok := m[k]; !ok {
			t.Errorf("sidecar lacks %q", k)
		}
	}
	arrays := m["arrays"].([]any)
	first := arrays[0].(map[string]any)
	if first["name"] != "img10/mask_logits" || first["dtype"] != "<f4" || jsonOf(t, first["shape"]) != "[4,5,8,8]" {
		t.Errorf("first array %v", first)
	}
}

// TestAnalyzeEqualsReplay: Analyze reports what Replay into an Evaluator
// reports, bit for bit, for every layout and any number of workers.
func TestAnalyzeEqualsReplay(t *testing.T) {
	mp := m2f
	mp.MP = 2
	dir := t.TempDir()
	cases := []struct {
		name  string
		c     synth
		set   *TraceSettings
		gts   []int
		match bool
		rs    *ReadSettings
	}{
		{"full", m2f, nil, []int{2, -1, 0, 3, 1, 2, 4}, true, nil},
		{"full-mp", mp, &TraceSettings{KeepMP: true}, []int{2, 1, 3}, true, nil},
		{"computed", m2f, nil, []int{2, -1, 0, 3, 1}, false, nil},
		{"no-matching", m2f, nil, []int{2, -1, 3}, false, &ReadSettings{NoMatching: true}},
		{"compact", m2f, &TraceSettings{Compact: true}, []int{2, -1, 0, 3, 1, 2, 4}, true, nil},
		{"compact-mp-logits", mp, &TraceSettings{Compact: true, KeepMP: true, Float16: true}, []int{2, 1}, false, nil},
		{"odd", oddSizes, &TraceSettings{Compact: true, KeepMP: true}, []int{2, 3, -1}, true, nil},
	}
	for _, tc := range cases {
		path := filepath.Join(dir, tc.name)
		writeTrace(t, path, tc.c, tc.set, tc.c.images(3, tc.gts, tc.match))
		r, err := OpenTrace(path, tc.rs)
		if err != nil {
			t.Fatal(err)
		}
		var ev Evaluator
		if err := r.Replay(&ev, 0); err != nil {
			t.Fatal(err)
		}
		want := jsonOf(t, ev.Report())
		for _, workers := range []int{1, 2, 5, 0} {
			rep, err := r.Analyze(0, workers)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := jsonOf(t, rep); got != want {
				t.Fatalf("%s, %d workers:\n got %s\nwant %s", tc.name, workers, got, want)
			}
		}
		var ev2 Evaluator
		if err := r.Replay(&ev2, 2); err != nil {
			t.Fatal(err)
		}
		if rep, err := r.Analyze(2, 3); err != nil || jsonOf(t, rep) != jsonOf(t, ev2.Report()) {
			t.Fatalf("%s: first 2 images: %v", tc.name, err)
		}
		r.Close()
	}
}

// TestAnalyzeError: Analyze reports the first bad image in trace order.
func TestAnalyzeError(t *testing.T) {
	imgs := m2f.images(8, []int{2, 1, 3, 2, 1, 2}, true)
	npz, js := writeTrace(t, filepath.Join(t.TempDir(), "t"), m2f, nil, imgs)
	rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
		for _, i := range []int{16, 22} { // images 2 and 4
			d := data[fmt.Sprintf("img%d/gt_classes.npy", i)]
			d[len(d)-4] = 9 // class 9 of K = 3
		}
		return names
	})
	r, err := OpenTrace(npz, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, workers := range []int{1, 2, 4} {
		_, err := r.Analyze(0, workers)
		if !errors.Is(err, ErrTraceCorrupt) || !strings.Contains(err.Error(), "img16/gt_classes") {
			t.Fatalf("%d workers: %v", workers, err)
		}
	}
	if _, err := r.Analyze(2, 2); err != nil {
		t.Fatalf("the first two images are fine: %v", err)
	}
}

// TestCompactBadRuns: run-length encoded masks whose runs do not cover
// the mask, or whose run counts disagree with the runs, are corrupt data.
func TestCompactBadRuns(t *testing.T) {
	imgs := oddSizes.images(12, []int{2, -1}, true)
	for _, tc := range []struct {
		name string
		edit func(data map[string][]byte)
		msg  string
	}{
		{"short run", func(data map[string][]byte) {
			d := data["img10/mask_runs.npy"]
			d[len(d)-2]-- // the last run of the last mask: one pixel short
		}, "img10/mask_runs: trace npz is corrupt: mask 11: runs do not cover the mask: 34 of 35 pixels"},
		{"long run", func(data map[string][]byte) {
			d := data["img10/gt_runs.npy"]
			d[len(d)-2] += 3
		}, "img10/gt_runs: trace npz is corrupt: mask 1: runs do not cover the mask: 38 pixels past 35"},
		{"counts", func(data map[string][]byte) {
			d := data["img10/attn_s0_nruns.npy"]
			d[len(d)-4]++ // one run more than the array holds
		}, "img10/attn_s0_nruns: trace npz is corrupt: the masks have"},
		{"negative count", func(data map[string][]byte) {
			d := data["img10/mask_nruns.npy"]
			copy(d[len(d)-4:], []byte{0xff, 0xff, 0xff, 0xff})
		}, "mask 11 has -1 runs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			npz, js := writeTrace(t, filepath.Join(t.TempDir(), "t"), oddSizes, &TraceSettings{Compact: true, KeepMP: true}, imgs)
			rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
				tc.edit(data)
				return names
			})
			r, err := OpenTrace(npz, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.Next(); !errors.Is(err, ErrTraceCorrupt) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("%v, want %q", err, tc.msg)
			}
		})
	}
}
