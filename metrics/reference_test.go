package metrics

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// testdata/coco_ap_cases.json holds 30 random small datasets (1–5 images,
// 1–3 categories, 8×8 masks with crowd GT, score ties, empty masks, more
// than 10 detections per image, area scales up to 1000 so every area range
// occurs) and the 12 COCOeval.stats values computed for them by a
// line-by-line transcription of pycocotools' COCOeval evaluateImg,
// accumulate and summarize run under numpy 1.24 (the transcription itself
// is not in this repository). Out of 600 such random datasets all matched
// to 1e-12; these 30 are kept as a regression set.
func TestAPReferenceCases(t *testing.T) {
	var file struct {
		Cases []struct {
			K, H, W int
			Scale   float64
			Stats   []float64
			Images  []struct {
				GT []struct {
					M     string
					Cat   int
					Crowd bool
				}
				DT []struct {
					M     string
					Cat   int
					Score float64
				}
			}
		}
	}
	readJSON(t, "testdata/coco_ap_cases.json", &file)
	if len(file.Cases) < 30 {
		t.Fatalf("%d cases", len(file.Cases))
	}
	dec := func(h, w int, s string) *mask.Bits {
		return mask.FromFunc(h, w, func(i int) bool { return s[i] == '1' })
	}
	for ci, c := range file.Cases {
		e := NewInstanceEvaluator(c.K, &InstanceSettings{AreaScale: c.Scale})
		for _, im := range c.Images {
			var gt []Instance
			var dt []Detection
			for _, g := range im.GT {
				gt = append(gt, Instance{Mask: dec(c.H, c.W, g.M), Category: g.Cat, Crowd: g.Crowd})
			}
			for _, d := range im.DT {
				dt = append(dt, Detection{Mask: dec(c.H, c.W, d.M), Category: d.Cat, Score: d.Score})
			}
			e.Add(gt, dt)
		}
		r := e.Result()
		got := []float64{r.AP, r.AP50, r.AP75, r.APs, r.APm, r.APl, r.AR1, r.AR10, r.AR, r.ARs, r.ARm, r.ARl}
		for i := range got {
			if !near(got[i], c.Stats[i], 1e-12) {
				t.Errorf("case %d stat %d: got %.17g, reference %.17g", ci, i, got[i], c.Stats[i])
			}
		}
	}
}

// testdata/pq_cases.json holds 30 random small panoptic datasets (1–4
// images of 6×8 id maps, 1–4 categories, things and stuff, crowd GT, void,
// predictions that perturb the GT or are unrelated) and [PQ, SQ, RQ, N] for
// all/things/stuff computed by a transcription of panopticapi's
// pq_compute_single_core and pq_average under numpy 1.24 (not in this
// repository). Out of 400 such datasets all matched to 1e-12.
func TestPQReferenceCases(t *testing.T) {
	var file struct {
		Cases []struct {
			IsThing []bool
			Images  []struct {
				GT, Pred []int32
				Gsegs    []struct {
					ID         int32
					CategoryID int `json:"category_id"`
					IsCrowd    int `json:"iscrowd"`
				}
				Psegs []struct {
					ID         int32
					CategoryID int `json:"category_id"`
				}
			}
			Res [][4]float64
		}
	}
	readJSON(t, "testdata/pq_cases.json", &file)
	if len(file.Cases) < 30 {
		t.Fatalf("%d cases", len(file.Cases))
	}
	for ci, c := range file.Cases {
		e := NewPanopticEvaluator(c.IsThing)
		for _, im := range c.Images {
			var gs, ps []Segment
			for _, s := range im.Gsegs {
				gs = append(gs, Segment{ID: s.ID, Category: s.CategoryID, Crowd: s.IsCrowd == 1})
			}
			for _, s := range im.Psegs {
				ps = append(ps, Segment{ID: s.ID, Category: s.CategoryID})
			}
			e.Add(im.GT, gs, im.Pred, ps)
		}
		r := e.Result()
		for i, got := range []PQ{r.All, r.Things, r.Stuff} {
			w := c.Res[i]
			if !near(got.PQ, w[0], 1e-12) || !near(got.SQ, w[1], 1e-12) || !near(got.RQ, w[2], 1e-12) || float64(got.N) != w[3] {
				t.Errorf("case %d part %d: got %+v, reference %v", ci, i, got, w)
			}
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
