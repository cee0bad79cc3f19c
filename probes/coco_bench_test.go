package probes

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/mask"
)

// The COCO-size benchmarks run on generated traces of a COCO-size
// Mask2Former: 10 stages, 100 queries, 133 classes, 200×336 mask logits
// (an 800×1344 padded input at stride 4), attention on the 1/32, 1/16 and
// 1/8 levels (25×42, 50×84, 100×168) in the decoder's round-robin order,
// 15 GT segments per image.
var cocoShape = synth{S: 10, Q: 100, K: 133, H: 200, W: 336, Model: "mask2former",
	Attn: [][2]int{{25, 42}, {50, 84}, {100, 168}, {25, 42}, {50, 84}, {100, 168}, {25, 42}, {50, 84}, {100, 168}, {0, 0}}}

var (
	cocoImages = flag.Int("coco-images", 8, "images of the generated COCO-size traces of the benchmarks")
	cocoDir    = flag.String("coco-dir", "", "keep the generated COCO-size traces in this directory and reuse them (default: a temporary directory, removed)")
)

// blob is one star-shaped region of a query's mask: centre, radii, and
// a boundary that wobbles with the angle.
type blob struct{ cy, cx, ry, rx, ph, amp float64 }

// cocoImage generates one image of the COCO-size run: each query has one
// to three blobs (30 % of the queries none), whose centre and radii
// jitter from stage to stage, less in later stages (a decoder refining
// its masks); the last stage's masks of the 15 matched queries are the
// GT. Attention masks are the masks sampled at each level's cell centres
// (blocked = outside the mask, an entirely blocked row unblocked), as the
// official decoder derives them. withLogits also fills the mask logits
// (±2, so that the full trace's binary masks are the same).
func cocoImage(r *rand.Rand, index int, withLogits bool) Image {
	c := cocoShape
	S, Q, H, W, G := c.S, c.Q, c.H, c.W, 15
	blobs := make([][]blob, Q)
	for q := range blobs {
		if r.Float64() < 0.3 {
			continue
		}
		for range 1 + r.IntN(3) {
			blobs[q] = append(blobs[q], blob{r.Float64() * float64(H), r.Float64() * float64(W), 5 + r.Float64()*60, 5 + r.Float64()*90, r.Float64() * 6, 0.1 + 0.2*r.Float64()})
		}
	}
	im := Image{Index: index}
	perm := r.Perm(Q)
	final := perm[:G]
	for s := range S {
		st := Stage{Image: index, Stage: s, NumQueries: Q, NumClasses: c.K, H: H, W: W,
			ClassLogits: make([]float32, Q*(c.K+1)), Masks: make([]*mask.Bits, Q), Match: make([]int, G)}
		for i := range st.ClassLogits {
			st.ClassLogits[i] = float32(r.NormFloat64())
		}
		for q := range Q {
			m := mask.New(H, W)
			for _, b := range blobs[q] {
				j := 0.15 * float64(S-s) / float64(S)
				drawBlob(m, b.cy+r.NormFloat64()*b.ry*j, b.cx+r.NormFloat64()*b.rx*j,
					b.ry*(1+r.NormFloat64()*j), b.rx*(1+r.NormFloat64()*j), b.ph, b.amp)
			}
			st.Masks[q] = m
		}
		// Stage s keeps the final matching of a segment with probability
		// 0.5 + 0.5·s/(S−1).
		used := map[int]bool{}
		for g, q := range final {
			if r.Float64() < 0.5+0.5*float64(s)/float64(S-1) {
				st.Match[g] = q
				used[q] = true
			} else {
				st.Match[g] = -1
			}
		}
		for g := range st.Match {
			for st.Match[g] < 0 {
				if q := r.IntN(Q); !used[q] {
					st.Match[g], used[q] = q, true
				}
			}
		}
		if h, w := c.Attn[s][0], c.Attn[s][1]; h > 0 {
			st.AttnH, st.AttnW = h, w
			st.AttnBits, st.Unblocked = attnFromMasks(st.Masks, h, w)
		}
		if withLogits {
			st.MaskLogits = make([]float32, Q*H*W)
			for q, m := range st.Masks {
				for i := range H * W {
					st.MaskLogits[q*H*W+i] = -2
					if m.Get(i) {
						st.MaskLogits[q*H*W+i] = 2
					}
				}
			}
			st.Masks = nil
		}
		im.Stages = append(im.Stages, st)
	}
	gt := &GroundTruth{Classes: make([]int, G), Masks: make([]*mask.Bits, G), Cover: make([][]float32, G)}
	last := &im.Stages[S-1]
	for g, q := range final {
		gt.Classes[g] = r.IntN(c.K)
		if withLogits {
			gt.Masks[g] = mask.FromFunc(H, W, func(i int) bool { return last.MaskLogits[q*H*W+i] > 0 })
		} else {
			gt.Masks[g] = last.Masks[q].Clone()
		}
		// Coverage: whole cells (a compact trace without logits does not
		// store it).
		gt.Cover[g] = make([]float32, H*W)
		for i := range gt.Cover[g] {
			if gt.Masks[g].Get(i) {
				gt.Cover[g][i] = 1
			}
		}
	}
	for s := range im.Stages {
		im.Stages[s].GT = gt
	}
	im.GT = gt
	return im
}

// drawBlob sets the pixels of a star-shaped region.
func drawBlob(m *mask.Bits, cy, cx, ry, rx, ph, amp float64) {
	ext := 1 + 1.5*amp
	y0, y1 := max(0, int(cy-ry*ext)), min(m.H-1, int(cy+ry*ext))
	x0, x1 := max(0, int(cx-rx*ext)), min(m.W-1, int(cx+rx*ext))
	for y := y0; y <= y1; y++ {
		dy := (float64(y) - cy) / ry
		for x := x0; x <= x1; x++ {
			dx := (float64(x) - cx) / rx
			a := math.Atan2(dy, dx)
			rad := 1 + amp*math.Sin(3*a+ph) + 0.5*amp*math.Sin(7*a+2*ph)
			if dy*dy+dx*dx < rad*rad {
				m.Set(y*m.W+x, true)
			}
		}
	}
}

// attnFromMasks samples masks at the centres of an h×w grid: blocked where
// the mask is unset, rows that would be entirely blocked unblocked.
func attnFromMasks(ms []*mask.Bits, h, w int) ([]*mask.Bits, []bool) {
	out := make([]*mask.Bits, len(ms))
	unb := make([]bool, len(ms))
	for q, m := range ms {
		a := mask.New(h, w)
		open := 0
		for i := range h {
			y := (2*i + 1) * m.H / (2 * h)
			for j := range w {
				x := (2*j + 1) * m.W / (2 * w)
				if m.At(y, x) {
					open++
				} else {
					a.Set(i*w+j, true)
				}
			}
		}
		if open == 0 {
			a = mask.New(h, w)
			unb[q] = true
		}
		out[q] = a
	}
	return out, unb
}

// cocoTraces writes (once per process, or once into -coco-dir) a full
// float32 trace and a compact trace of the same generated images, and
// returns their paths.
var cocoTraces = sync.OnceValues(func() (map[string]string, error) {
	dir := *cocoDir
	if dir == "" {
		d, err := os.MkdirTemp("", "mpanalyze-coco-bench-")
		if err != nil {
			return nil, err
		}
		dir = d
		cocoCleanup = func() { os.RemoveAll(d) }
	}
	paths := map[string]string{}
	for _, layout := range cocoLayouts {
		n := cocoCount(layout)
		path := filepath.Join(dir, fmt.Sprintf("coco%d_%s", n, layout))
		paths[layout] = path
		if _, err := os.Stat(path + ".json"); err == nil {
			continue
		}
		w := NewTraceWriter(path, &TraceSettings{Compact: layout != "full", Compress: layout == "compact-deflate"})
		if err := w.Init(cocoShape.info()); err != nil {
			return nil, err
		}
		r := rand.New(rand.NewPCG(2026, 18))
		record := func(im *Image, index int) error {
			for s := range im.Stages {
				im.Stages[s].Image = index
				if err := w.Record(&im.Stages[s]); err != nil {
					return err
				}
			}
			return nil
		}
		if layout == "full" { // one image of logits at a time
			for i := range *cocoImages {
				im := cocoImage(r, i, true)
				if err := record(&im, i); err != nil {
					return nil, err
				}
			}
		} else {
			// A compact trace repeats the images (under other indices),
			// so that opening it weighs on the images as little as on a
			// real run's thousands; its first images are the full trace's.
			imgs := make([]Image, *cocoImages)
			for i := range imgs {
				imgs[i] = cocoImage(r, i, false)
			}
			for k := range n {
				if err := record(&imgs[k%len(imgs)], k); err != nil {
					return nil, err
				}
			}
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	return paths, nil
})

// cocoCount is the number of images of a generated trace: -coco-images
// for the full trace (278 MB each), 8 times as many for the compact ones.
func cocoCount(layout string) int {
	if layout == "full" {
		return *cocoImages
	}
	return 8 * *cocoImages
}

var cocoCleanup = func() {}

// cocoLayouts are the generated traces: full (float32 logits), compact
// (stored) and compact deflated.
var cocoLayouts = []string{"full", "compact", "compact-deflate"}

// BenchmarkAnalyzeCOCO reads and scores the generated COCO-size traces
// (full, compact, compact-deflate):
//
//	<layout>/readfile  os.ReadFile of the .npz (what the disk cache delivers)
//	<layout>/replay    OpenTrace + Replay into an Evaluator, one image at a
//	                   time (what `analyze` did before Analyze)
//	<layout>/analyze   OpenTrace + Analyze with GOMAXPROCS workers (`analyze`)
//
// Each reports images/s, file-GB/s (the .npz's bytes per second) and
// packed-GB/s: the bit-packed binary masks the images hold (S·Q·⌈H·W/8⌉
// bytes per image, 8.4 MB at this size) per second.
func BenchmarkAnalyzeCOCO(b *testing.B) {
	paths, err := cocoTraces()
	if err != nil {
		b.Fatal(err)
	}
	c := cocoShape
	packed := float64(c.S * c.Q * ((c.H*c.W + 7) / 8)) // np.packbits bytes of the masks
	for _, layout := range cocoLayouts {
		npz, _ := TracePaths(paths[layout])
		fi, err := os.Stat(npz)
		if err != nil {
			b.Fatal(err)
		}
		report := func(b *testing.B, images int, elapsed, cpu time.Duration) {
			sec := elapsed.Seconds()
			b.ReportMetric(float64(images)/sec, "images/s")
			b.ReportMetric(float64(images)*packed/sec/1e9, "packed-GB/s")
			b.ReportMetric(float64(b.N)*float64(fi.Size())/sec/1e9, "file-GB/s")
			b.ReportMetric(float64(fi.Size())/float64(cocoCount(layout)), "file-bytes/image")
			// CPU time per image, all threads: what the work costs on a
			// machine shared with other processes.
			b.ReportMetric(cpu.Seconds()*1e3/float64(images), "cpu-ms/image")
		}
		b.Run(layout+"/readfile", func(b *testing.B) {
			start, cpu := time.Now(), processCPU()
			for range b.N {
				if _, err := os.ReadFile(npz); err != nil {
					b.Fatal(err)
				}
			}
			report(b, b.N*cocoCount(layout), time.Since(start), processCPU()-cpu)
		})
		run := func(b *testing.B, score func(r *TraceReader) (Report, error)) {
			start, cpu := time.Now(), processCPU()
			for range b.N {
				r, err := OpenTrace(npz, nil)
				if err != nil {
					b.Fatal(err)
				}
				rep, err := score(r)
				r.Close()
				if err != nil || rep.Images != cocoCount(layout) {
					b.Fatalf("%d images, %v", rep.Images, err)
				}
			}
			report(b, b.N*cocoCount(layout), time.Since(start), processCPU()-cpu)
		}
		b.Run(layout+"/replay", func(b *testing.B) {
			run(b, func(r *TraceReader) (Report, error) {
				var ev Evaluator
				err := r.Replay(&ev, 0)
				return ev.Report(), err
			})
		})
		b.Run(layout+"/analyze", func(b *testing.B) {
			run(b, func(r *TraceReader) (Report, error) { return r.Analyze(0, 0) })
		})
	}
}

// TestCOCOGeneratorAgrees: the generated full and compact COCO-size traces
// analyse the same. It takes a while (it writes a 270 MB-per-image full
// trace), so it runs only with -coco-check.
func TestCOCOGeneratorAgrees(t *testing.T) {
	if !*cocoCheck {
		t.Skip("generates COCO-size traces; run with -coco-check")
	}
	paths, err := cocoTraces()
	if err != nil {
		t.Fatal(err)
	}
	var reps []string
	for _, layout := range cocoLayouts {
		r, err := OpenTrace(paths[layout], nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Analyze(*cocoImages, 0) // the images all layouts share
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, jsonOf(t, rep.Layer)+jsonOf(t, rep.Attention))
	}
	for i := range reps {
		if reps[i] != reps[0] {
			t.Fatalf("the %s and %s COCO-size traces analyse differently", cocoLayouts[i], cocoLayouts[0])
		}
	}
}

var cocoCheck = flag.Bool("coco-check", false, "run TestCOCOGeneratorAgrees (generates COCO-size traces)")

func TestMain(m *testing.M) {
	code := m.Run()
	cocoCleanup()
	os.Exit(code)
}
