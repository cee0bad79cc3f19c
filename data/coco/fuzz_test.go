package coco

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/data"
)

// FuzzPanopticLoad feeds a panoptic JSON and one PNG (used as the image and
// as its panoptic PNG, named a.png) through Open, Load, Truth and
// MakeImage: any input must give a value or an error, never a panic.
// Seeds: testdata/fuzz/FuzzPanopticLoad and the crowd fixture.
func FuzzPanopticLoad(f *testing.F) {
	js, _ := os.ReadFile(filepath.Join(crowdDir, "panoptic.json"))
	pngA, _ := os.ReadFile(filepath.Join(crowdDir, "panoptic", "000000000285.png"))
	f.Add(bytes.ReplaceAll(js, []byte("000000000285.jpg"), []byte("a.png")), pngA)
	f.Add([]byte(`{"images":[{"id":1,"file_name":"a.png","height":3,"width":3}],"categories":[{"id":5,"isthing":1}],"annotations":[{"image_id":1,"file_name":"a.png","segments_info":[{"id":1,"category_id":5,"iscrowd":1}]}]}`), pngA)
	f.Fuzz(func(t *testing.T, js, pngBytes []byte) {
		if len(js) > 1<<16 || len(pngBytes) > 1<<16 {
			return
		}
		// A header may claim any size up to maxPixels, and decoding
		// allocates the whole image first: keep the fuzzer to small ones
		// (files must agree with the JSON's size before they are decoded).
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(pngBytes)); err == nil && cfg.Width*cfg.Height > 1<<16 {
			return
		}
		dir := t.TempDir()
		for _, p := range []string{"images", "pan"} {
			if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, p, "a.png"), pngBytes, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ann := filepath.Join(dir, "ann.json")
		if err := os.WriteFile(ann, js, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, skip := range []bool{false, true} {
			d, err := Open(data.Spec{Annotations: ann, Images: filepath.Join(dir, "images"), PanopticPNGs: filepath.Join(dir, "pan"), SkipInvalid: skip})
			if err != nil {
				continue
			}
			for i := 0; i < d.Len(); i++ {
				s, tr, err := d.SampleTruth(i)
				if err != nil {
					continue
				}
				if len(tr.Panoptic) != s.H*s.W || len(tr.Semantic()) != s.H*s.W {
					t.Fatalf("truth of %d×%d with %d pixels", s.H, s.W, len(tr.Panoptic))
				}
				data.MakeImage(s, 32, data.AugParams{Scale: 1})
			}
		}
		if d, err := OpenTruth(ann, filepath.Join(dir, "pan"), false); err == nil {
			for i := 0; i < d.Len(); i++ {
				_, _ = d.Truth(i)
			}
		}
	})
}

// FuzzInstanceResults feeds instance results JSON and panoptic predictions
// JSON (PNGs from the crowd fixture) to the readers, against the crowd
// fixture's ground truth: a value or an error, never a panic. Seeds:
// testdata/fuzz/FuzzInstanceResults and the fixture's results.
func FuzzInstanceResults(f *testing.F) {
	res, _ := os.ReadFile(filepath.Join(crowdDir, "predictions", "instances_results.json"))
	pan, _ := os.ReadFile(filepath.Join(crowdDir, "predictions", "panoptic_results.json"))
	f.Add(res)
	f.Add(pan)
	f.Add([]byte(`[{"image_id":139,"category_id":1,"score":0.5,"segmentation":[[0,0,10,0,10,10]]}]`))
	f.Add([]byte(`[{"image_id":285,"category_id":18,"score":1,"segmentation":{"size":[100,60],"counts":[0,6000]}}]`))
	gt, err := OpenTruth(filepath.Join(crowdDir, "panoptic.json"), "", false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 1<<16 {
			return
		}
		if r, err := parseInstanceResults("fuzz.json", raw, gt); err == nil {
			for i := 0; i < gt.Len(); i++ {
				dets, err := r.Detections(i)
				if err != nil {
					continue
				}
				e := gt.images[i]
				for _, d := range dets {
					if d.Mask.H != e.h || d.Mask.W != e.w {
						t.Fatalf("detection of %d×%d on a %d×%d image", d.Mask.H, d.Mask.W, e.h, e.w)
					}
				}
			}
		}
		if r, err := parsePanopticResults("fuzz.json", filepath.Join(crowdDir, "predictions", "panoptic_results"), raw, gt); err == nil {
			for i := 0; i < gt.Len(); i++ {
				_, _, _ = r.Load(i)
			}
		}
	})
}
