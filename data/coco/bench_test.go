package coco

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/data"
)

// val2017Size is the size of COCO's panoptic_val2017.json: 5,000 images of
// 640×480 (H×W); segsPerImage is chosen so that the file is about 45 MB,
// the size issue #12 names for it.
const (
	val2017Images = 5000
	segsPerImage  = 96
)

// writeVal2017Size writes a generated panoptic annotation file of COCO
// val2017's size, its images and PNGs (one 640×480 PNG hard-linked under
// every name: Open reads headers only) into dir.
func writeVal2017Size(b *testing.B, dir string) {
	{
		for _, sub := range []string{"images", "panoptic"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		var pngBuf bytes.Buffer
		_ = png.Encode(&pngBuf, image.NewRGBA(image.Rect(0, 0, 640, 480)))
		proto := filepath.Join(dir, "proto.png")
		if err := os.WriteFile(proto, pngBuf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, "panoptic_val2017.json"))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		fmt.Fprint(w, `{"info": {"description": "generated: COCO val2017 size"}, "licenses": [], "images": [`)
		for i := 0; i < val2017Images; i++ {
			if i > 0 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprintf(w, `{"license": 4, "file_name": "%012d.jpg", "coco_url": "http://images.cocodataset.org/val2017/%012d.jpg", "height": 480, "width": 640, "date_captured": "2013-11-14 17:02:52", "flickr_url": "http://farm7.staticflickr.com/6116/6255196340_da26cf2c9e_z.jpg", "id": %d}`, i+1, i+1, i+1)
			for _, sub := range []string{"images", "panoptic"} {
				ext := ".jpg"
				if sub == "panoptic" {
					ext = ".png"
				}
				if err := os.Link(proto, filepath.Join(dir, sub, fmt.Sprintf("%012d%s", i+1, ext))); err != nil {
					b.Fatal(err)
				}
			}
		}
		fmt.Fprint(w, `], "annotations": [`)
		for i := 0; i < val2017Images; i++ {
			if i > 0 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprintf(w, `{"segments_info": [`)
			for s := 0; s < segsPerImage; s++ {
				if s > 0 {
					fmt.Fprint(w, ", ")
				}
				fmt.Fprintf(w, `{"id": %d, "category_id": %d, "iscrowd": %d, "bbox": [%d, %d, %d, %d], "area": %d}`,
					3226956+1000*s+i, 1+(i+s)%133, (s%17)/16, s%640, s%480, 20+s, 30+s, 600+7*s)
			}
			fmt.Fprintf(w, `], "file_name": "%012d.png", "image_id": %d}`, i+1, i+1)
		}
		fmt.Fprint(w, `], "categories": [`)
		for c := 1; c <= 133; c++ {
			if c > 1 {
				fmt.Fprint(w, ", ")
			}
			fmt.Fprintf(w, `{"supercategory": "s", "isthing": %d, "id": %d, "name": "c%d"}`, b2i(c <= 80), c, c)
		}
		fmt.Fprint(w, "]}\n")
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// BenchmarkOpenVal2017Size opens a generated panoptic annotation file of
// COCO val2017's size (5,000 images, ~45 MB) with OpenTruth (what `eval
// --gt --predictions` does: JSON plus every PNG header) and with Open
// (training and eval: also every image header). Reported: CPU seconds per
// open (getrusage, which a shared machine disturbs less than wall time),
// the file's MB,
// the peak Go heap while opening (sampled every millisecond) and the
// process's peak RSS (getrusage; run the benchmark alone to read it as
// the benchmark's).
//
//	go test -run '^$' -bench OpenVal2017Size -benchtime 3x ./data/coco/
func BenchmarkOpenVal2017Size(b *testing.B) {
	dir := b.TempDir()
	writeVal2017Size(b, dir)
	ann := filepath.Join(dir, "panoptic_val2017.json")
	st, _ := os.Stat(ann)
	for _, c := range []struct {
		name string
		open func() (*Dataset, error)
	}{
		{"OpenTruth", func() (*Dataset, error) { return OpenTruth(ann, filepath.Join(dir, "panoptic"), false) }},
		{"Open", func() (*Dataset, error) {
			return Open(dataSpec(ann, filepath.Join(dir, "images"), filepath.Join(dir, "panoptic")))
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			runtime.GC()
			var peak atomic.Uint64
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				// runtime/metrics reads without stopping the world
				// (ReadMemStats would, every millisecond).
				sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
					metrics.Read(sample)
					if v := sample[0].Value.Uint64(); v > peak.Load() {
						peak.Store(v)
					}
				}
			}()
			var ru0 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := c.open()
				if err != nil {
					b.Fatal(err)
				}
				if d.Len() != val2017Images {
					b.Fatalf("%d images", d.Len())
				}
			}
			b.StopTimer()
			close(stop)
			<-done
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			cpu := func(r syscall.Rusage) float64 {
				return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
			}
			b.ReportMetric((cpu(ru)-cpu(ru0))/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(st.Size())/1e6, "file-MB")
			b.ReportMetric(float64(peak.Load())/1e6, "peak-heap-MB")
			b.ReportMetric(float64(ru.Maxrss)/1e3, "maxrss-MB")
		})
	}
}

func dataSpec(ann, images, pngs string) data.Spec {
	return data.Spec{Kind: "coco", Annotations: ann, Images: images, PanopticPNGs: pngs}
}
