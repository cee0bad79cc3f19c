package coco

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mpanalyze/mpanalyze/data"
	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
)

// Streaming writers: one image at a time, so that exporting the ground
// truth or the predictions of COCO val2017 (5,000 images) keeps only the
// JSON entries in memory, not the masks. Each PNG is written when its
// image is added, each JSON file by Close.

// PNGName is the panoptic PNG name of an image file: its name with the
// extension replaced by ".png", as COCO names panoptic PNGs
// (000000000139.jpg → 000000000139.png).
func PNGName(fileName string) string {
	return strings.TrimSuffix(fileName, filepath.Ext(fileName)) + ".png"
}

// TruthWriter writes data.Truth values as COCO ground truth that the
// reference tools read: dir/instances.json (thing categories only; one
// annotation per Truth object: its own mask as compressed RLE, its area —
// the file's "area" when it had one, else the pixel count —, bbox and
// iscrowd; annotation ids 1, 2, ... in order), dir/panoptic.json (all
// categories; per image segments_info with id, category_id, area, bbox and
// iscrowd, crowd segments included) and dir/panoptic/ (the id PNGs, named
// PNGName(file_name)). Images keep their ids and file names.
type TruthWriter struct {
	dir  string
	cats []data.Category
	ins  truthInstancesOut
	pan  panopticOut
	png  map[string]bool
	ids  map[data.ImageID]bool
}

type (
	truthAnnOut struct {
		ID           int          `json:"id"`
		ImageID      data.ImageID `json:"image_id"`
		CategoryID   int          `json:"category_id"`
		Segmentation rleOut       `json:"segmentation"`
		Area         float64      `json:"area"`
		BBox         [4]float64   `json:"bbox"`
		IsCrowd      int          `json:"iscrowd"`
	}
	truthInstancesOut struct {
		Info        infoOut       `json:"info"`
		Licenses    []struct{}    `json:"licenses"`
		Images      []imageOut    `json:"images"`
		Annotations []truthAnnOut `json:"annotations"`
		Categories  []categoryOut `json:"categories"`
	}
)

// NewTruthWriter starts a ground-truth export of a dataset with categories
// cats into dir (created as needed).
func NewTruthWriter(dir string, cats []data.Category, description string) (*TruthWriter, error) {
	if err := mkdirs(filepath.Join(dir, "panoptic")); err != nil {
		return nil, err
	}
	co, err := categoriesOut("ground truth", cats)
	if err != nil {
		return nil, err
	}
	info := infoOut{Description: description}
	return &TruthWriter{dir: dir, cats: cats, png: map[string]bool{}, ids: map[data.ImageID]bool{},
		ins: truthInstancesOut{Info: info, Licenses: []struct{}{}, Images: []imageOut{}, Annotations: []truthAnnOut{}, Categories: thingCategories(co)},
		pan: panopticOut{Info: info, Licenses: []struct{}{}, Images: []imageOut{}, Annotations: []panopticAnnOut{}, Categories: co},
	}, nil
}

// Add writes t's panoptic PNG and keeps its JSON entries.
func (w *TruthWriter) Add(t *data.Truth) error {
	if w.ids[t.ImageID] {
		return fmt.Errorf("coco: ground-truth export: image id %s added twice", t.ImageID)
	}
	w.ids[t.ImageID] = true
	name := PNGName(t.FileName)
	if w.png[name] {
		return fmt.Errorf("coco: ground-truth export: image %s: PNG name %s used twice", t.ImageID, name)
	}
	w.png[name] = true
	img := imageOut{ID: t.ImageID, FileName: t.FileName, Height: t.H, Width: t.W}
	w.ins.Images = append(w.ins.Images, img)
	w.pan.Images = append(w.pan.Images, img)
	for k := range t.Objects {
		o := &t.Objects[k]
		b := bboxOf(o.Mask)
		w.ins.Annotations = append(w.ins.Annotations, truthAnnOut{
			ID: len(w.ins.Annotations) + 1, ImageID: t.ImageID, CategoryID: w.cats[o.Class].ID,
			Segmentation: rleOut{Size: [2]int{t.H, t.W}, Counts: EncodeRLE(o.Mask).String()},
			Area:         objectArea(o),
			BBox:         [4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])},
			IsCrowd:      boolInt(o.Crowd),
		})
	}
	info := make([]SegmentInfo, 0, len(t.Segments))
	for _, sg := range t.Segments {
		info = append(info, SegmentInfo{ID: int(sg.ID), CategoryID: w.cats[sg.Class].ID, IsCrowd: boolInt(sg.Crowd)})
	}
	filled, err := panopticInfo(t.H, t.W, t.Panoptic, info)
	if err != nil {
		return fmt.Errorf("coco: ground-truth export: image %s: %w", t.ImageID, err)
	}
	// Keep the file's area where it had one (what was scored), and the
	// segments_info order of the file.
	byID := map[int]SegmentInfo{}
	for _, sg := range filled {
		byID[sg.ID] = sg
	}
	for k, sg := range t.Segments {
		info[k] = byID[int(sg.ID)]
		if sg.Area > 0 {
			info[k].Area = sg.Area
		}
	}
	path := filepath.Join(w.dir, "panoptic", name)
	if err := mkdirs(filepath.Dir(path)); err != nil {
		return err
	}
	if err := atomicfile.Write(path, func(wr io.Writer) error { return writeIDPNG(wr, t.H, t.W, t.Panoptic) }); err != nil {
		return fmt.Errorf("coco: %w", err)
	}
	w.pan.Annotations = append(w.pan.Annotations, panopticAnnOut{ImageID: t.ImageID, FileName: name, SegmentsInfo: info})
	return nil
}

// Close writes the two JSON files.
func (w *TruthWriter) Close() error {
	if err := writeJSON(filepath.Join(w.dir, "instances.json"), w.ins); err != nil {
		return err
	}
	return writeJSON(filepath.Join(w.dir, "panoptic.json"), w.pan)
}

// ResultsWriter writes predictions in the formats of the reference tools:
// dir/instances_results.json (COCO results: image_id, category_id,
// segmentation as compressed RLE, score; what COCO.loadRes reads) and
// dir/panoptic_results.json with its PNGs in dir/panoptic_results/ (the
// folder pq_compute looks in by default). Every image added gets a
// panoptic entry whose segments_info is a list, empty when nothing was
// predicted.
type ResultsWriter struct {
	dir   string
	ins   []instanceResultOut
	pan   []panopticAnnOut
	names map[string]bool
	ids   map[data.ImageID]bool
}

// NewResultsWriter starts a predictions export into dir.
func NewResultsWriter(dir string) (*ResultsWriter, error) {
	if err := mkdirs(filepath.Join(dir, "panoptic_results")); err != nil {
		return nil, err
	}
	return &ResultsWriter{dir: dir, ins: []instanceResultOut{}, pan: []panopticAnnOut{}, names: map[string]bool{}, ids: map[data.ImageID]bool{}}, nil
}

// ResultsPaths are the files a ResultsWriter writes into dir.
func ResultsPaths(dir string) (instances, panopticJSON, panopticPNGs string) {
	return filepath.Join(dir, "instances_results.json"), filepath.Join(dir, "panoptic_results.json"), filepath.Join(dir, "panoptic_results")
}

// AddInstances encodes preds' masks now and keeps the entries, in order.
func (w *ResultsWriter) AddInstances(preds []InstancePrediction) error {
	for k, p := range preds {
		if p.Mask == nil {
			return fmt.Errorf("coco: instance prediction %d (image %s) has no mask", k, p.ImageID)
		}
		if math.IsNaN(p.Score) || math.IsInf(p.Score, 0) {
			return fmt.Errorf("coco: instance prediction %d (image %s) has score %v", k, p.ImageID, p.Score)
		}
		w.ins = append(w.ins, instanceResultOut{ImageID: p.ImageID, CategoryID: p.CategoryID,
			Segmentation: rleOut{Size: [2]int{p.Mask.H, p.Mask.W}, Counts: EncodeRLE(p.Mask).String()}, Score: p.Score})
	}
	return nil
}

// AddPanoptic writes p's id map now as an RGB PNG under
// dir/panoptic_results (id = R + 256·G + 256²·B) and keeps its entry
// {image_id, file_name, segments_info: [{id, category_id, area, bbox,
// iscrowd}]}, segments sorted by id: the prediction format panopticapi's
// pq_compute reads. It fails (wrapping ErrPanopticIDs) when a map id has
// no Info entry or an Info segment has no pixel — pq_compute rejects both
// — and (wrapping ErrSizeMismatch) when Segments is not H·W long.
func (w *ResultsWriter) AddPanoptic(p PanopticPrediction) error {
	if w.ids[p.ImageID] {
		return fmt.Errorf("coco: panoptic prediction for image %s added twice", p.ImageID)
	}
	w.ids[p.ImageID] = true
	_, _, dir := ResultsPaths(w.dir)
	a, err := writePanopticPNG(dir, &p, w.names)
	if err != nil {
		return err
	}
	w.pan = append(w.pan, a)
	return nil
}

// Close writes the JSON files; panoptic annotations are sorted by image id.
func (w *ResultsWriter) Close() error {
	insPath, panPath, _ := ResultsPaths(w.dir)
	if err := writeJSON(insPath, w.ins); err != nil {
		return err
	}
	sort.SliceStable(w.pan, func(a, b int) bool { return w.pan[a].ImageID.Compare(w.pan[b].ImageID) < 0 })
	return writeJSON(panPath, panopticResultsOut{Annotations: w.pan})
}

// writePanopticPNG checks p, writes its PNG under dir and returns its JSON
// entry.
func writePanopticPNG(dir string, p *PanopticPrediction, names map[string]bool) (panopticAnnOut, error) {
	if p.H <= 0 || p.W <= 0 || len(p.Segments) != p.H*p.W {
		return panopticAnnOut{}, fmt.Errorf("coco: panoptic prediction for image %s: %w: %d segment ids for %d×%d", p.ImageID, ErrSizeMismatch, len(p.Segments), p.H, p.W)
	}
	info, err := panopticInfo(p.H, p.W, p.Segments, p.Info)
	if err != nil {
		return panopticAnnOut{}, fmt.Errorf("coco: panoptic prediction for image %s: %w", p.ImageID, err)
	}
	name := p.FileName
	if name == "" {
		name = p.ImageID.String() + ".png"
		if n, ok := p.ImageID.Int(); ok {
			name = fmt.Sprintf("%012d.png", n)
		}
	}
	if names[name] {
		return panopticAnnOut{}, fmt.Errorf("coco: panoptic prediction for image %s: file name %s used twice", p.ImageID, name)
	}
	names[name] = true
	seg, h, w := p.Segments, p.H, p.W
	if err := mkdirs(filepath.Dir(filepath.Join(dir, name))); err != nil {
		return panopticAnnOut{}, err
	}
	if err := atomicfile.Write(filepath.Join(dir, name), func(wr io.Writer) error { return writeIDPNG(wr, h, w, seg) }); err != nil {
		return panopticAnnOut{}, fmt.Errorf("coco: %w", err)
	}
	return panopticAnnOut{ImageID: p.ImageID, FileName: name, SegmentsInfo: info}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
