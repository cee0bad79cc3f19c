package metrics

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/mask"
)

// refCases is the directory of the reference case files; point it at the
// output of `gen.py --cases N --out DIR` to check the evaluators on more
// random datasets than the committed 30.
var refCases = flag.String("refcases", "testdata", "directory holding coco_ap_cases.json and pq_cases.json (see testdata/README.md)")

// testdata/coco_ap_cases.json holds 30 random small datasets (1–4 images,
// 1–3 categories, 8×8 masks with crowd GT, score ties, empty masks, images
// with more than 10 detections of one category, area scales up to 1000 so
// every area range occurs) and the 12 COCOeval.stats values computed for
// them by the test-time port of pycocotools' COCOeval in
// metrics/testdata/reference/cocoref.py. testdata/gen.py writes the
// file (TestReferenceCasesReproduce checks that it still does); 600 such
// datasets (gen.py --cases 600) all matched to 1e-12.
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
	readJSON(t, filepath.Join(*refCases, "coco_ap_cases.json"), &file)
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

// testdata/pq_cases.json holds 30 random small panoptic datasets (1–3
// images of 6×8 id maps, 1–4 categories, things and stuff, crowd GT, void,
// predictions that perturb the GT or are unrelated) and [PQ, SQ, RQ, N] for
// all/things/stuff computed by the port of panopticapi's pq_compute in
// metrics/testdata/reference/cocoref.py, written by testdata/gen.py;
// 600 such datasets all matched to 1e-12.
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
	readJSON(t, filepath.Join(*refCases, "pq_cases.json"), &file)
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
