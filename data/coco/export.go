package coco

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
)

// ExportOptions tunes ExportInstances. A nil *ExportOptions means the zero
// value.
type ExportOptions struct {
	// UncompressedRLE writes each segmentation's counts as an integer
	// array. The default (false) writes COCO's compressed counts string.
	// pycocotools reads both.
	UncompressedRLE bool
}

// The JSON shapes written. Field order is the output order.
type (
	infoOut struct {
		Description string `json:"description"`
	}
	imageOut struct {
		ID       data.ImageID `json:"id"`
		FileName string       `json:"file_name"`
		Height   int          `json:"height"`
		Width    int          `json:"width"`
	}
	categoryOut struct {
		ID            int    `json:"id"`
		Name          string `json:"name"`
		Supercategory string `json:"supercategory"`
		IsThing       int    `json:"isthing"`
		Color         [3]int `json:"color"`
	}
	rleOut struct {
		Size   [2]int `json:"size"`
		Counts any    `json:"counts"` // string or []int
	}
	annotationOut struct {
		ID           int          `json:"id"`
		ImageID      data.ImageID `json:"image_id"`
		CategoryID   int          `json:"category_id"`
		Segmentation rleOut       `json:"segmentation"`
		Area         int          `json:"area"`
		BBox         [4]float64   `json:"bbox"`
		IsCrowd      int          `json:"iscrowd"`
	}
	instancesOut struct {
		Info        infoOut         `json:"info"`
		Licenses    []struct{}      `json:"licenses"`
		Images      []imageOut      `json:"images"`
		Annotations []annotationOut `json:"annotations"`
		Categories  []categoryOut   `json:"categories"`
	}
	panopticAnnOut struct {
		ImageID      data.ImageID  `json:"image_id"`
		FileName     string        `json:"file_name"`
		SegmentsInfo []SegmentInfo `json:"segments_info"`
	}
	panopticOut struct {
		Info        infoOut          `json:"info"`
		Licenses    []struct{}       `json:"licenses"`
		Images      []imageOut       `json:"images"`
		Annotations []panopticAnnOut `json:"annotations"`
		Categories  []categoryOut    `json:"categories"`
	}
)

// SegmentInfo is one entry of a panoptic annotation's segments_info.
type SegmentInfo struct {
	ID         int    `json:"id"`
	CategoryID int    `json:"category_id"`
	Area       int    `json:"area"`
	BBox       [4]int `json:"bbox"` // [x, y, width, height] in pixels
	IsCrowd    int    `json:"iscrowd"`
}

// imageInfoer is implemented by datasets that keep COCO image ids and file
// names (*Dataset does).
type imageInfoer interface {
	ImageInfo(i int) (id data.ImageID, fileName string)
}

// exportNames returns sample i's image id and the PNG name it is written
// under: the dataset's own id and file name with a .png extension when it
// has them (ImageInfo), else id i+1 and "%012d.png" as COCO names files.
func exportNames(ds data.Dataset, i int) (id data.ImageID, name string) {
	if ii, ok := ds.(imageInfoer); ok {
		id, name = ii.ImageInfo(i)
		return id, strings.TrimSuffix(name, filepath.Ext(name)) + ".png"
	}
	return data.IntImageID(i + 1), fmt.Sprintf("%012d.png", i+1)
}

func categoriesOut(name string, cats []data.Category) ([]categoryOut, error) {
	var out []categoryOut
	seen := map[int]bool{}
	for _, c := range cats {
		if seen[c.ID] {
			return nil, fmt.Errorf("%w: %s: category id %d appears twice", ErrInconsistent, name, c.ID)
		}
		seen[c.ID] = true
		t := 0
		if c.IsThing {
			t = 1
		}
		out = append(out, categoryOut{ID: c.ID, Name: c.Name, IsThing: t,
			Color: [3]int{int(c.Color[0]), int(c.Color[1]), int(c.Color[2])}})
	}
	return out, nil
}

// thingCategories keeps the thing categories (isthing 1).
func thingCategories(cats []categoryOut) []categoryOut {
	out := []categoryOut{}
	for _, c := range cats {
		if c.IsThing == 1 {
			out = append(out, c)
		}
	}
	return out
}

// checkSample verifies the data.Sample contract the exporters rely on:
// sizes, class indices, non-empty non-overlapping instance masks with
// unique ids, and a panoptic map that is exactly the instances.
func checkSample(s *data.Sample, k int) error {
	n := s.H * s.W
	if s.H <= 0 || s.W <= 0 || len(s.RGB) != 3*n || len(s.Panoptic) != n || len(s.Semantic) != n {
		return fmt.Errorf("%w: size %d×%d with %d RGB bytes, %d panoptic and %d semantic values",
			ErrInconsistent, s.H, s.W, len(s.RGB), len(s.Panoptic), len(s.Semantic))
	}
	pan := make([]int32, n)
	ids := map[int]bool{}
	for _, in := range s.Instances {
		switch {
		case in.Class < 0 || in.Class >= k:
			return fmt.Errorf("%w: instance %d has class %d, want 0..%d", ErrInconsistent, in.ID, in.Class, k-1)
		case in.ID < 1 || in.ID > maxSegmentID:
			return fmt.Errorf("%w: instance id %d outside 1..2^24-1", ErrInconsistent, in.ID)
		case ids[in.ID]:
			return fmt.Errorf("%w: instance id %d appears twice", ErrInconsistent, in.ID)
		case in.Mask == nil || in.Mask.H != s.H || in.Mask.W != s.W:
			return fmt.Errorf("%w: instance %d has no %d×%d mask", ErrInconsistent, in.ID, s.H, s.W)
		case in.Mask.Empty():
			return fmt.Errorf("%w: instance %d has an empty mask", ErrInconsistent, in.ID)
		}
		ids[in.ID] = true
		var clash error
		forEachSet(in.Mask, func(i int) {
			if pan[i] != 0 && clash == nil {
				clash = fmt.Errorf("%w: instances %d and %d overlap at pixel %d", ErrInconsistent, pan[i], in.ID, i)
			}
			pan[i] = int32(in.ID)
		})
		if clash != nil {
			return clash
		}
	}
	for i, id := range s.Panoptic {
		if id != pan[i] {
			return fmt.Errorf("%w: Panoptic[%d] = %d but the instance masks say %d", ErrInconsistent, i, id, pan[i])
		}
	}
	return nil
}

// ExportInstances writes ds as a COCO instance dataset: each sample's RGB
// as a PNG under imageDir and jsonPath with images, the thing categories
// (with isthing and color) and one annotation per thing data.Instance:
// RLE segmentation, area (pixels), bbox [x, y, w, h], iscrowd 0. Stuff
// stays in the panoptic export: COCO's own instance files hold thing
// categories only, and a default COCOeval over a file with stuff
// categories would average over them too. Annotation ids run 1, 2, ... over the whole dataset in sample
// and instance order; instance order is the data.Sample painter's order,
// so loading the file back reproduces the masks. Directories are created
// as needed and every file is written atomically.
func ExportInstances(ds data.Dataset, jsonPath, imageDir string, opt *ExportOptions) error {
	if opt == nil {
		opt = &ExportOptions{}
	}
	cats, err := categoriesOut(ds.Name(), ds.Categories())
	if err != nil {
		return err
	}
	cats = thingCategories(cats)
	if err := mkdirs(imageDir, filepath.Dir(jsonPath)); err != nil {
		return err
	}
	dataCats := ds.Categories()
	out := instancesOut{Info: infoOut{Description: "exported by mpanalyze from " + ds.Name()},
		Licenses: []struct{}{}, Images: []imageOut{}, Annotations: []annotationOut{}, Categories: cats}
	names := map[string]bool{}
	for i := 0; i < ds.Len(); i++ {
		s, id, name, err := exportSample(ds, i, imageDir, names)
		if err != nil {
			return err
		}
		out.Images = append(out.Images, imageOut{ID: id, FileName: name, Height: s.H, Width: s.W})
		for _, in := range s.Instances {
			if !dataCats[in.Class].IsThing {
				continue
			}
			r := EncodeRLE(in.Mask)
			seg := rleOut{Size: [2]int{s.H, s.W}, Counts: r.String()}
			if opt.UncompressedRLE {
				seg.Counts = r.Counts
			}
			b := bboxOf(in.Mask)
			out.Annotations = append(out.Annotations, annotationOut{
				ID: len(out.Annotations) + 1, ImageID: id, CategoryID: dataCats[in.Class].ID,
				Segmentation: seg, Area: in.Mask.Area(),
				BBox: [4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])},
			})
		}
	}
	return writeJSON(jsonPath, out)
}

// ExportPanoptic writes ds as a COCO panoptic dataset: RGB PNGs under
// imageDir, id PNGs (id = R + 256·G + 256²·B, 0 = void) under pngDir with
// the same names, and jsonPath with images, categories and per image
// segments_info (id = the data.Instance ID, category_id, area, bbox,
// iscrowd 0), in instance order.
func ExportPanoptic(ds data.Dataset, jsonPath, imageDir, pngDir string) error {
	cats, err := categoriesOut(ds.Name(), ds.Categories())
	if err != nil {
		return err
	}
	if err := mkdirs(imageDir, pngDir, filepath.Dir(jsonPath)); err != nil {
		return err
	}
	dataCats := ds.Categories()
	out := panopticOut{Info: infoOut{Description: "exported by mpanalyze from " + ds.Name()},
		Licenses: []struct{}{}, Images: []imageOut{}, Annotations: []panopticAnnOut{}, Categories: cats}
	names := map[string]bool{}
	for i := 0; i < ds.Len(); i++ {
		s, id, name, err := exportSample(ds, i, imageDir, names)
		if err != nil {
			return err
		}
		out.Images = append(out.Images, imageOut{ID: id, FileName: name, Height: s.H, Width: s.W})
		info := make([]SegmentInfo, len(s.Instances))
		for k, in := range s.Instances {
			info[k] = SegmentInfo{ID: in.ID, CategoryID: dataCats[in.Class].ID, Area: in.Mask.Area(), BBox: bboxOf(in.Mask)}
		}
		path := filepath.Join(pngDir, name)
		if err := atomicfile.Write(path, func(w io.Writer) error { return writeIDPNG(w, s.H, s.W, s.Panoptic) }); err != nil {
			return fmt.Errorf("coco: %w", err)
		}
		out.Annotations = append(out.Annotations, panopticAnnOut{ImageID: id, FileName: name, SegmentsInfo: info})
	}
	return writeJSON(jsonPath, out)
}

// exportSample reads and checks sample i and writes its RGB PNG.
func exportSample(ds data.Dataset, i int, imageDir string, names map[string]bool) (*data.Sample, data.ImageID, string, error) {
	s, err := ds.Sample(i)
	if err != nil {
		return nil, "", "", fmt.Errorf("coco: export %s sample %d: %w", ds.Name(), i, err)
	}
	if err := checkSample(s, len(ds.Categories())); err != nil {
		return nil, "", "", fmt.Errorf("coco: export %s sample %d: %w", ds.Name(), i, err)
	}
	id, name := exportNames(ds, i)
	if names[name] {
		return nil, "", "", fmt.Errorf("coco: export %s sample %d: %w: image file name %s used twice", ds.Name(), i, ErrInconsistent, name)
	}
	names[name] = true
	path := filepath.Join(imageDir, name)
	if err := atomicfile.Write(path, func(w io.Writer) error { return writeRGBPNG(w, s.H, s.W, s.RGB) }); err != nil {
		return nil, "", "", fmt.Errorf("coco: %w", err)
	}
	return s, id, name, nil
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("coco: %w", err)
		}
	}
	return nil
}

// writeJSON writes v compactly with one trailing newline. Struct fields
// keep their declared order, so the output is deterministic. HTML escaping
// is off: compressed RLE strings contain '<' and '>'.
func writeJSON(path string, v any) error {
	err := atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	})
	if err != nil {
		return fmt.Errorf("coco: %w", err)
	}
	return nil
}

// panopticInfo checks an id map against its segments and fills each
// segment's area and bbox from the map: every non-zero id of the map must
// be a segment, every segment must have pixels, and ids must be unique and
// in 1..2^24-1. Segments come back sorted by id.
func panopticInfo(h, w int, ids []int32, info []SegmentInfo) ([]SegmentInfo, error) {
	index := map[int32]int{}
	// Never nil: an image without segments has "segments_info": [], which
	// pq_compute iterates; null makes it fail.
	out := append([]SegmentInfo{}, info...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	x0 := make([]int, len(out))
	y0 := make([]int, len(out))
	x1 := make([]int, len(out))
	y1 := make([]int, len(out))
	for k := range out {
		sg := &out[k]
		if sg.ID < 1 || sg.ID > maxSegmentID {
			return nil, fmt.Errorf("%w: segment id %d outside 1..2^24-1", ErrPanopticIDs, sg.ID)
		}
		if _, dup := index[int32(sg.ID)]; dup {
			return nil, fmt.Errorf("%w: segment id %d appears twice", ErrPanopticIDs, sg.ID)
		}
		index[int32(sg.ID)] = k
		sg.Area = 0
		x0[k], y0[k], x1[k], y1[k] = w, h, 0, 0
	}
	var unknown []int
	seenUnknown := map[int32]bool{}
	for i, id := range ids {
		if id == 0 {
			continue
		}
		k, ok := index[id]
		if !ok {
			if !seenUnknown[id] {
				seenUnknown[id] = true
				unknown = append(unknown, int(id))
			}
			continue
		}
		y, x := i/w, i%w
		out[k].Area++
		x0[k], y0[k] = min(x0[k], x), min(y0[k], y)
		x1[k], y1[k] = max(x1[k], x+1), max(y1[k], y+1)
	}
	if len(unknown) > 0 {
		sort.Ints(unknown)
		return nil, fmt.Errorf("%w: map ids %s have no segment info", ErrPanopticIDs, idList(unknown))
	}
	var absent []int
	for k := range out {
		if out[k].Area == 0 {
			absent = append(absent, out[k].ID)
			continue
		}
		out[k].BBox = [4]int{x0[k], y0[k], x1[k] - x0[k], y1[k] - y0[k]}
	}
	if len(absent) > 0 {
		return nil, fmt.Errorf("%w: segments %s have no pixel in the map", ErrPanopticIDs, idList(absent))
	}
	return out, nil
}
