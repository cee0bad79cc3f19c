package coco

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/mpanalyze/mpanalyze/data"
)

func init() {
	data.Register("coco", func(s data.Spec) (data.Dataset, error) {
		d, err := Open(s)
		if err != nil {
			return nil, err
		}
		return d, nil
	})
}

// Format is the kind of COCO annotation file a Dataset was read from.
type Format string

const (
	// Instances is a COCO instance file (instances_*.json, or a stuff file
	// of the same shape): per-annotation polygons or RLE.
	Instances Format = "instances"
	// Panoptic is a COCO panoptic file (panoptic_*.json) with one id PNG
	// per image.
	Panoptic Format = "panoptic"
)

// Dataset is a COCO instance or panoptic annotation file with its images,
// as a data.Dataset. Open checks the JSON, every annotation's shape and
// every selected image's header; pixels are read by Load/Sample, on each
// call. A Dataset is safe for concurrent use.
type Dataset struct {
	spec       data.Spec
	format     Format
	sha256     string
	categories []data.Category
	images     []*imageEntry
	inFile     struct{ images, annotations int }
	// dropped at Open under SkipInvalid, by reason
	skippedAnns, skippedImages map[string]int

	mu          sync.Mutex
	loadSkips   map[string]int        // by Load under SkipInvalid, by reason
	loadCounted map[data.ImageID]bool // images whose load skips were counted
}

type imageEntry struct {
	id       data.ImageID
	fileName string
	h, w     int
	anns     []annEntry // instance format, in file order
	pngName  string     // panoptic format
	segs     []segEntry // panoptic format, in segments_info order
	dropped  []int      // panoptic segment ids skipped at Open (their pixels are void)

	// During Open only: positions in the file's annotations list of this
	// image's instance annotations, or of its panoptic annotation (-1:
	// none).
	pending []int
	panRef  int
}

type annEntry struct {
	id    int
	class int
	crowd bool
	area  float64     // the "area" field, 0 when absent
	polys [][]float64 // either polygons
	rle   *RLE        // or an RLE
}

type segEntry struct {
	id    int
	class int
	crowd bool
	area  int // the "area" field, 0 when absent
}

var _ data.Dataset = (*Dataset)(nil)

// Open reads the COCO file s.Annotations with images under s.Images. If
// s.PanopticPNGs is set the file must be a panoptic file and its PNGs are
// read from there; otherwise it must be an instance file. s.N > 0 keeps the
// first N usable images in file order. s.Split is only recorded.
//
// Problems come back as one *Error naming the file, the image or
// annotation id and the kind (a sentinel such as ErrPolygonOutside). With
// s.SkipInvalid, a bad annotation or panoptic segment is dropped, an image
// whose file is missing, undecodable or of the wrong size is dropped with
// its annotations, and each is counted by reason in Describe()["skipped"];
// malformed JSON and schema errors (ErrMalformedJSON, and ErrMalformed for
// the images and categories lists) still fail.
func Open(s data.Spec) (*Dataset, error) {
	if s.Annotations == "" {
		return nil, errors.New("coco: Spec.Annotations (the COCO JSON file) is empty")
	}
	if s.Images == "" {
		return nil, errors.New("coco: Spec.Images (the image directory) is empty")
	}
	raw, err := os.ReadFile(s.Annotations)
	if err != nil {
		return nil, fmt.Errorf("coco: read annotations: %w", err)
	}
	return open(s, raw)
}

// OpenTruth reads a COCO ground-truth file for scoring only: no image
// directory (the images are neither read nor checked; Load and Sample
// fail, Truth works). A panoptic file (one with segments_info) takes its
// PNGs from panopticPNGs, or when that is empty from the file's path
// without ".json", panopticapi's pq_compute default; an instance file
// needs none. Errors are Open's.
func OpenTruth(annotations, panopticPNGs string, skipInvalid bool) (*Dataset, error) {
	if annotations == "" {
		return nil, errors.New("coco: the ground-truth JSON file name is empty")
	}
	raw, err := os.ReadFile(annotations)
	if err != nil {
		return nil, fmt.Errorf("coco: read annotations: %w", err)
	}
	if panopticPNGs == "" && bytes.Contains(raw, []byte(`"segments_info"`)) {
		panopticPNGs = strings.TrimSuffix(annotations, ".json")
	}
	return open(data.Spec{Kind: "coco", Annotations: annotations, PanopticPNGs: panopticPNGs, SkipInvalid: skipInvalid}, raw)
}

func open(s data.Spec, raw []byte) (*Dataset, error) {
	sum := sha256.Sum256(raw)
	var f fileJSON
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, jsonError(s.Annotations, raw, err)
	}
	// json.Unmarshal accepts an empty object or a bare list as "valid";
	// a COCO file has at least the three keys.
	if f.Images == nil || f.Categories == nil || f.Annotations == nil {
		return nil, newErr(s.Annotations, ErrMalformed, "want an object with \"images\", \"annotations\" and \"categories\" lists")
	}
	d := &Dataset{
		spec:          s,
		format:        Instances,
		sha256:        hex.EncodeToString(sum[:]),
		skippedAnns:   map[string]int{},
		skippedImages: map[string]int{},
		loadSkips:     map[string]int{},
		loadCounted:   map[data.ImageID]bool{},
	}
	if s.PanopticPNGs != "" {
		d.format = Panoptic
	}
	d.inFile.images, d.inFile.annotations = len(f.Images), len(f.Annotations)
	catIndex, err := d.readCategories(f.Categories)
	if err != nil {
		return nil, err
	}
	all, byID, err := d.readImages(f.Images)
	if err != nil {
		return nil, err
	}
	if d.format == Panoptic {
		err = d.groupPanoptic(f.Annotations, byID)
	} else {
		err = d.groupInstances(f.Annotations, byID)
	}
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if s.N > 0 && len(d.images) == s.N {
			break
		}
		ok, err := d.admit(e, f.Annotations, catIndex)
		if err != nil {
			return nil, err
		}
		if ok {
			d.images = append(d.images, e)
		}
	}
	for _, e := range all {
		e.pending = nil
	}
	return d, nil
}

// skip counts a bad annotation or segment under SkipInvalid, or returns
// err.
func (d *Dataset) skip(err error) error {
	if !d.spec.SkipInvalid {
		return err
	}
	d.skippedAnns[reason(err)]++
	return nil
}

// skipImage counts a dropped image under SkipInvalid, or returns err.
func (d *Dataset) skipImage(err error) error {
	if !d.spec.SkipInvalid {
		return err
	}
	d.skippedImages[reason(err)]++
	return nil
}

func (d *Dataset) readCategories(cats []categoryJSON) (map[int]int, error) {
	file := d.spec.Annotations
	index := map[int]int{}
	for k, c := range cats {
		if c.ID == nil {
			return nil, newErr(file, ErrMalformed, "category %d (%q) has no id", k, c.Name)
		}
		if _, dup := index[*c.ID]; dup {
			return nil, newErr(file, ErrMalformed, "category id %d appears twice", *c.ID)
		}
		index[*c.ID] = k
		thing, err := c.IsThing.value("isthing", true)
		if err != nil {
			return nil, newErr(file, ErrMalformed, "category %d: %v", *c.ID, err)
		}
		cat := data.Category{ID: *c.ID, Name: c.Name, IsThing: thing, Color: palette(k)}
		if c.Color != nil {
			if len(c.Color) != 3 {
				return nil, newErr(file, ErrMalformed, "category %d: color has %d values, want 3", *c.ID, len(c.Color))
			}
			for j, v := range c.Color {
				if v < 0 || v > 255 {
					return nil, newErr(file, ErrMalformed, "category %d: color value %d out of 0..255", *c.ID, v)
				}
				cat.Color[j] = uint8(v)
			}
		}
		d.categories = append(d.categories, cat)
	}
	return index, nil
}

// palette is a deterministic colour for class k when the file has none:
// hues spaced by the golden angle, full saturation, 85% value.
func palette(k int) [3]uint8 {
	c := data.HSV(math.Mod(float64(k)*0.6180339887498949, 1), 1, 0.85)
	return [3]uint8{uint8(c[0] + .5), uint8(c[1] + .5), uint8(c[2] + .5)}
}

func (d *Dataset) readImages(imgs []imageJSON) ([]*imageEntry, map[data.ImageID]*imageEntry, error) {
	file := d.spec.Annotations
	byID := map[data.ImageID]*imageEntry{}
	var all []*imageEntry
	for k, im := range imgs {
		if im.ID == nil {
			return nil, nil, newErr(file, ErrMalformed, "image %d (%q) has no id", k, im.FileName)
		}
		id := *im.ID
		if _, dup := byID[id]; dup {
			return nil, nil, newErr(file, ErrMalformed, "image id appears twice").img(id)
		}
		if im.FileName == "" {
			return nil, nil, newErr(file, ErrMalformed, "no file_name").img(id)
		}
		if im.Height <= 0 || im.Width <= 0 || im.Height*im.Width > maxPixels ||
			im.Height > maxPixels || im.Width > maxPixels {
			return nil, nil, newErr(file, ErrMalformed, "size %d×%d (H×W) is not a valid image size", im.Height, im.Width).img(id)
		}
		e := &imageEntry{id: id, fileName: im.FileName, h: im.Height, w: im.Width, panRef: -1}
		byID[id] = e
		all = append(all, e)
	}
	return all, byID, nil
}
