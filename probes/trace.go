package probes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Trace format identifiers; see TRACE.md. Writers write TraceVersion;
// readers read versions 1 and 2 (version 1 has neither the compact layout
// nor gt_cover).
const (
	TraceFormat  = "mpanalyze-trace"
	TraceVersion = 2
)

// Trace layouts (Storage.Layout).
const (
	// LayoutFull stores float mask logits for every stage and query.
	LayoutFull = "full"
	// LayoutCompact stores binary masks run-length encoded, with the
	// mask logits optional.
	LayoutCompact = "compact"
)

// The conventions a trace states in its sidecar, in words.
const (
	conventionStages    = "stage s is the prediction after stage_layers[s] decoder layers; for Mask2Former stage 0 is the heads on the learnable queries before the first layer and stage s >= 1 follows layer s; MaskFormer has no stage 0 (stage_layers 1..L)"
	conventionThreshold = "logit > 0 (sigmoid > 0.5)"
	conventionRows      = "mask_logits, class_logits, attn_mask_s<s>, unblocked and match hold the matching queries 0..Q-1 only; MP rows, when kept, are in the mp_ arrays"
	conventionAttention = "attn_mask_s<s> is the cross-attention mask of the layer after stage s, at that layer's feature size, true = blocked, after entirely blocked rows were unblocked; unblocked marks those rows"
	conventionGT        = "gt_masks (gt_runs) are at the mask logits' size (stride 4): pixels whose area coverage is >= 0.5; gt_cover counts each cell's pixels the segment covers (coverage = gt_cover / mask_stride^2), the targets of the model's matching"
)

// Sidecar is the JSON document stored next to a trace's .npz.
type Sidecar struct {
	Format      string      `json:"format"`  // TraceFormat
	Version     int         `json:"version"` // TraceVersion
	Run         RunInfo     `json:"run"`
	Conventions Conventions `json:"conventions"`
	Storage     Storage     `json:"storage"`
	// MatchingNote says how the stored matchings were computed, when the
	// recorder knows (e.g. the Python recorder with scipy).
	MatchingNote string `json:"matching_note,omitempty"`
	// NPZBytes is the size of the .npz; a pair whose sizes disagree does
	// not belong together.
	NPZBytes int64            `json:"npz_bytes"`
	Images   []TraceImageInfo `json:"images"`
	Arrays   []ArrayInfo      `json:"arrays"`
}

// Conventions restates the conventions the trace was recorded under.
type Conventions struct {
	StageIndexing string `json:"stage_indexing"`
	StageLayers   []int  `json:"stage_layers"`
	Threshold     string `json:"threshold"`
	MaskStride    int    `json:"mask_stride"`
	MaskSize      [2]int `json:"mask_size"` // [H, W]
	Rows          string `json:"rows"`
	Attention     string `json:"attention"`
	GT            string `json:"gt"`
}

// Storage says how the arrays are stored.
type Storage struct {
	// Layout is LayoutFull or LayoutCompact; empty (version 1) means full.
	Layout string `json:"layout,omitempty"`
	// MaskDType is the dtype of the mask logits: "float32" or "float16";
	// "none" in a compact trace that keeps no logits.
	MaskDType string `json:"mask_dtype"`
	// ClassDType is the dtype of the class logits: "float32" (also when
	// empty, version 1) or "float16".
	ClassDType  string `json:"class_dtype,omitempty"`
	MPRows      bool   `json:"mp_rows"`     // MP rows kept in the mp_ arrays
	Compression string `json:"compression"` // "stored" or "deflate"
}

// Compact reports whether the trace has the compact layout.
func (s *Storage) Compact() bool { return s.Layout == LayoutCompact }

// TraceImageInfo describes one image of a trace.
type TraceImageInfo struct {
	Index int  `json:"index"`  // dataset index; arrays are named img<index>/…
	HasGT bool `json:"has_gt"` // gt_masks and gt_classes present
	GT    int  `json:"gt"`     // GT segments (0 without GT)
	NumMP int  `json:"num_mp"` // MP rows stored (0 unless storage.mp_rows)
	Match bool `json:"match"`  // img<index>/match present
	// Cover: img<index>/gt_cover is present (version 2).
	Cover bool `json:"cover,omitempty"`
}

// ArrayInfo names one array of the .npz (without ".npy"), with its numpy
// dtype ("<f4", "<f2", "<i4", "|u1", "|b1") and shape.
type ArrayInfo struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	// RLE, for the runs of run-length encoded masks (compact layout,
	// <name>_runs), is the shape of the boolean array they encode: the
	// last two axes are each mask's pixels, the others index the masks,
	// as <name>_nruns does.
	RLE []int `json:"rle,omitempty"`
}

// rleInfo describes the runs array of boolean masks of the given shape;
// its length is per image, so Shape is left nil (checkSidecar accepts any
// 1-D length).
func rleInfo(shape ...int) ArrayInfo {
	return ArrayInfo{DType: dtU16, RLE: shape}
}

// nrunsInfo describes the run counts of the masks of an rleInfo shape.
func nrunsInfo(shape ...int) ArrayInfo {
	return ArrayInfo{DType: dtI32, Shape: shape[:len(shape)-2]}
}

// TracePaths returns the two files of the trace at path: for
// "<name>.npz", "<name>.json" or "<name>", the files <name>.npz and
// <name>.json; for a directory (an existing one, or a path ending in a
// slash), <dir>/trace.npz and <dir>/trace.json.
func TracePaths(path string) (npz, sidecar string) {
	base := path
	switch {
	case strings.HasSuffix(path, ".npz"):
		base = strings.TrimSuffix(path, ".npz")
	case strings.HasSuffix(path, ".json"):
		base = strings.TrimSuffix(path, ".json")
	case strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator)) || isDir(path):
		base = filepath.Join(path, "trace")
	}
	return base + ".npz", base + ".json"
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// hashFile returns the hex SHA-256 of a regular file, or "" if it cannot.
func hashFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func imgPrefix(index int) string { return "img" + strconv.Itoa(index) + "/" }

// imageArrays is what the sidecar lists for one image.
type imageArrays struct {
	info   *TraceImageInfo
	arrays map[string]*ArrayInfo // by name without the prefix
	attn   map[int]*ArrayInfo    // attn_mask_s<s> (attn_s<s>_runs if compact) by s
}

// attnSize returns the attention size h, w of an attention array.
func attnSize(a *ArrayInfo) (h, w int) {
	if a.RLE != nil {
		return a.RLE[1], a.RLE[2]
	}
	return a.Shape[1], a.Shape[2]
}

// dtypes maps the sidecar's dtype names to numpy's.
var dtypes = map[string]string{"float32": dtF32, "float16": dtF16}

// checkSidecar checks the sidecar against itself: format, run info, and
// for every image exactly the arrays the format prescribes, with the
// shapes and dtypes the run implies. It returns the arrays per image, in
// the sidecar's image order.
func checkSidecar(path string, sc *Sidecar) ([]imageArrays, error) {
	c := &sidecarCheck{path: path, sc: sc}
	if err := c.checkHeader(); err != nil {
		return nil, err
	}
	if err := c.checkStorage(); err != nil {
		return nil, err
	}
	imgs, byIndex, err := c.listImages()
	if err != nil {
		return nil, err
	}
	if err := c.assignArrays(byIndex); err != nil {
		return nil, err
	}
	for i := range imgs {
		want, err := c.expectedArrays(&imgs[i])
		if err != nil {
			return nil, err
		}
		if err := c.compareArrays(&imgs[i], want); err != nil {
			return nil, err
		}
	}
	return imgs, nil
}

// sidecarCheck holds what checkSidecar has established about a sidecar
// while it checks it part by part: the layout and the dtypes the storage
// section declares.
type sidecarCheck struct {
	path            string
	sc              *Sidecar
	compact         bool
	maskDT, classDT string // numpy dtypes; maskDT is "" when a compact trace keeps no logits
}

// bad returns the *TraceError of a sidecar that fails a check.
func (c *sidecarCheck) bad(kind error, format string, a ...any) error {
	return traceErr(c.path, "", kind, nil, format, a...)
}

// checkHeader checks the format, the version and the run info.
func (c *sidecarCheck) checkHeader() error {
	sc := c.sc
	if sc.Format != TraceFormat {
		return c.bad(ErrTraceVersion, "format %q, want %q", sc.Format, TraceFormat)
	}
	if sc.Version != 1 && sc.Version != TraceVersion {
		return c.bad(ErrTraceVersion, "version %d, this reader reads versions 1 and %d", sc.Version, TraceVersion)
	}
	run := &sc.Run
	if run.StageLayers != nil && len(run.StageLayers) != run.NumStages {
		return c.bad(ErrTraceStages, "run has %d stages but stage_layers has %d entries", run.NumStages, len(run.StageLayers))
	}
	if err := run.Check(); err != nil {
		return c.bad(ErrTraceSidecar, "run: %v", err)
	}
	return nil
}

// checkStorage checks the storage section and records its layout and
// dtypes.
func (c *sidecarCheck) checkStorage() error {
	st := &c.sc.Storage
	switch st.Layout {
	case "", LayoutFull:
	case LayoutCompact:
		c.compact = true
	default:
		return c.bad(ErrTraceSidecar, "storage.layout %q, want full or compact", st.Layout)
	}
	maskDT, ok := dtypes[st.MaskDType]
	if !ok && !(c.compact && st.MaskDType == "none") {
		return c.bad(ErrTraceSidecar, "storage.mask_dtype %q, want float32 or float16 (or none, compact)", st.MaskDType)
	}
	c.maskDT = maskDT
	c.classDT = dtF32
	if st.ClassDType != "" {
		if c.classDT, ok = dtypes[st.ClassDType]; !ok {
			return c.bad(ErrTraceSidecar, "storage.class_dtype %q, want float32 or float16", st.ClassDType)
		}
	}
	if c.sc.Version == 1 && (st.Layout != "" || st.ClassDType != "") {
		return c.bad(ErrTraceSidecar, "storage %+v: a version 1 trace has no layout or class_dtype", *st)
	}
	return nil
}

// listImages checks every image entry on its own and returns one
// imageArrays per entry, in sidecar order, and the same by dataset index.
func (c *sidecarCheck) listImages() ([]imageArrays, map[int]*imageArrays, error) {
	sc, run := c.sc, &c.sc.Run
	imgs := make([]imageArrays, len(sc.Images))
	byIndex := make(map[int]*imageArrays, len(sc.Images))
	for i := range sc.Images {
		im := &sc.Images[i]
		if _, dup := byIndex[im.Index]; dup {
			return nil, nil, c.bad(ErrTraceSidecar, "image %d listed twice", im.Index)
		}
		if im.GT < 0 || (!im.HasGT && (im.GT != 0 || im.Match || im.Cover)) || im.NumMP < 0 || (im.NumMP > 0 && !sc.Storage.MPRows) ||
			(im.Cover && (sc.Version == 1 || run.MaskStride <= 0 || run.MaskStride*run.MaskStride > 255)) {
			return nil, nil, c.bad(ErrTraceSidecar, "image %d: inconsistent entry %+v", im.Index, *im)
		}
		imgs[i] = imageArrays{info: im, arrays: map[string]*ArrayInfo{}, attn: map[int]*ArrayInfo{}}
		byIndex[im.Index] = &imgs[i]
	}
	return imgs, byIndex, nil
}

// attnStage returns the stage of an attention array's name without the
// image prefix: attn_mask_s<s> (full), attn_s<s>_runs (compact).
func (c *sidecarCheck) attnStage(rest string) (string, bool) {
	if !c.compact {
		return strings.CutPrefix(rest, "attn_mask_s")
	}
	if s, ok := strings.CutPrefix(rest, "attn_s"); ok {
		return strings.CutSuffix(s, "_runs")
	}
	return "", false
}

// assignArrays files every listed array under its image (and, for an
// attention mask, under its stage), rejecting duplicates and arrays of no
// listed image.
func (c *sidecarCheck) assignArrays(byIndex map[int]*imageArrays) error {
	sc := c.sc
	names := make(map[string]bool, len(sc.Arrays))
	for i := range sc.Arrays {
		a := &sc.Arrays[i]
		if names[a.Name] {
			return c.bad(ErrTraceSidecar, "array %s listed twice", a.Name)
		}
		names[a.Name] = true
		var idx int
		if n, err := fmt.Sscanf(a.Name, "img%d/", &idx); n != 1 || err != nil {
			return c.bad(ErrTraceSidecar, "array %s does not belong to an image", a.Name)
		}
		rest := strings.TrimPrefix(a.Name, imgPrefix(idx))
		im := byIndex[idx]
		if im == nil || rest == a.Name {
			return c.bad(ErrTraceSidecar, "array %s belongs to no listed image", a.Name)
		}
		if s, ok := c.attnStage(rest); ok {
			st, err := strconv.Atoi(s)
			if err != nil || st < 0 || st >= sc.Run.NumStages || strconv.Itoa(st) != s {
				return c.bad(ErrTraceSidecar, "array %s: no such stage", a.Name)
			}
			im.attn[st] = a
		}
		im.arrays[rest] = a
	}
	return nil
}

// wantArrays maps the names of an image's arrays (without the image
// prefix) to the dtype and shape the run implies.
type wantArrays map[string]ArrayInfo

// addRLE adds the run-length encoded masks <name> of the shape:
// <name>_runs and <name>_nruns.
func (want wantArrays) addRLE(name string, shape ...int) {
	want[name+"_runs"] = rleInfo(shape...)
	want[name+"_nruns"] = nrunsInfo(shape...)
}

// expectedArrays returns the arrays the format prescribes for an image.
func (c *sidecarCheck) expectedArrays(im *imageArrays) (wantArrays, error) {
	run := &c.sc.Run
	S, Q, K, H, W := run.NumStages, run.NumQueries, run.NumClasses, run.MaskH, run.MaskW
	P, G := im.info.NumMP, im.info.GT
	want := wantArrays{
		"class_logits": {DType: c.classDT, Shape: []int{S, Q, K + 1}},
		"unblocked":    {DType: dtU8, Shape: []int{S, Q}},
	}
	if c.compact {
		want.addRLE("mask", S, Q, H, W)
	}
	if c.maskDT != "" {
		want["mask_logits"] = ArrayInfo{DType: c.maskDT, Shape: []int{S, Q, H, W}}
	}
	if P > 0 {
		if c.compact {
			want.addRLE("mp_mask", S, P, H, W)
		}
		if c.maskDT != "" {
			want["mp_mask_logits"] = ArrayInfo{DType: c.maskDT, Shape: []int{S, P, H, W}}
		}
		want["mp_class_logits"] = ArrayInfo{DType: c.classDT, Shape: []int{S, P, K + 1}}
		want["mp_unblocked"] = ArrayInfo{DType: dtU8, Shape: []int{S, P}}
	}
	if im.info.HasGT {
		if c.compact {
			want.addRLE("gt", G, H, W)
		} else {
			want["gt_masks"] = ArrayInfo{DType: dtU8, Shape: []int{G, H, W}}
		}
		want["gt_classes"] = ArrayInfo{DType: dtI32, Shape: []int{G}}
	}
	if im.info.Cover {
		want["gt_cover"] = ArrayInfo{DType: dtU8, Shape: []int{G, H, W}}
	}
	if im.info.Match {
		want["match"] = ArrayInfo{DType: dtI32, Shape: []int{S, G}}
	}
	if err := c.expectAttention(im, want); err != nil {
		return nil, err
	}
	return want, nil
}

// expectAttention adds an image's attention masks to want. Their sizes
// are the layers' own, so they are taken from the listed arrays after
// checking their form: Q queries (P for the mp_ rows), boolean in the
// full layout, run-length encoded in the compact one.
func (c *sidecarCheck) expectAttention(im *imageArrays, want wantArrays) error {
	Q, P := c.sc.Run.NumQueries, im.info.NumMP
	pre := imgPrefix(im.info.Index)
	for _, s := range sortedKeys(im.attn) {
		a := im.attn[s]
		var ok bool
		var h, w int
		if c.compact {
			ok = len(a.RLE) == 3 && a.RLE[0] == Q && a.RLE[1] > 0 && a.RLE[2] > 0
			if ok {
				h, w = a.RLE[1], a.RLE[2]
				want.addRLE("attn_s"+strconv.Itoa(s), Q, h, w)
			}
		} else {
			ok = a.DType == dtBool && len(a.Shape) == 3 && a.Shape[0] == Q && a.Shape[1] > 0 && a.Shape[2] > 0 && a.RLE == nil
			if ok {
				h, w = a.Shape[1], a.Shape[2]
				want[a.Name[len(pre):]] = *a
			}
		}
		if !ok {
			return c.bad(ErrTraceSidecar, "array %s is %s %v (rle %v), want the attention mask of %d queries", a.Name, a.DType, a.Shape, a.RLE, Q)
		}
		if P > 0 {
			if c.compact {
				want.addRLE("mp_attn_s"+strconv.Itoa(s), P, h, w)
			} else {
				want["mp_"+a.Name[len(pre):]] = ArrayInfo{DType: dtBool, Shape: []int{P, h, w}}
			}
		}
	}
	return nil
}

// compareArrays checks that an image lists exactly the wanted arrays,
// each with the wanted dtype and shape (runs: any 1-D length). A
// disagreement in the stage axis of a per-stage array is an
// ErrTraceStages.
func (c *sidecarCheck) compareArrays(im *imageArrays, want wantArrays) error {
	pre := imgPrefix(im.info.Index)
	for _, name := range sortedStrings(want) {
		w := want[name]
		a := im.arrays[name]
		if a == nil {
			return c.bad(ErrTraceSidecar, "image %d has no array %s%s", im.info.Index, pre, name)
		}
		shapeOK := equalInts(a.Shape, w.Shape)
		if w.RLE != nil { // runs: any 1-D length
			shapeOK = len(a.Shape) == 1
		}
		if a.DType != w.DType || !shapeOK || !equalInts(a.RLE, w.RLE) {
			kind := ErrTraceSidecar
			if len(a.Shape) > 0 && len(w.Shape) > 0 && a.Shape[0] != w.Shape[0] && (name == "mask_logits" || name == "mask_nruns" || name == "class_logits" || name == "unblocked" || name == "match") {
				kind = ErrTraceStages
			}
			if w.RLE != nil {
				return c.bad(kind, "%s%s is %s %v (rle %v), the run implies %s [n] (rle %v)", pre, name, a.DType, a.Shape, a.RLE, w.DType, w.RLE)
			}
			return c.bad(kind, "%s%s is %s %v, the run implies %s %v", pre, name, a.DType, a.Shape, w.DType, w.Shape)
		}
	}
	for _, name := range sortedStrings(im.arrays) {
		if _, ok := want[name]; !ok {
			return c.bad(ErrTraceSidecar, "unexpected array %s%s", pre, name)
		}
	}
	return nil
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

// sortedKeys returns the keys of m in increasing order.
func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// sortedStrings returns the keys of m in increasing order.
func sortedStrings[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
