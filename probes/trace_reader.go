package probes

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/mpanalyze/mpanalyze/internal/npy"
	"github.com/mpanalyze/mpanalyze/internal/npz"
	"github.com/mpanalyze/mpanalyze/mask"
	"github.com/mpanalyze/mpanalyze/matcher"
)

// ReadSettings configures a TraceReader. The zero value (or nil) computes
// missing matchings with the trace's cost weights.
type ReadSettings struct {
	// NoMatching leaves the matchings of images that have ground truth but
	// no stored matching absent (metrics that need one then count nothing
	// for them). By default the reader computes them, see TraceReader.
	NoMatching bool
	// Weights of the matching cost; nil means the trace's run.match_cost,
	// or matcher.DefaultWeights (2, 5, 5) when the trace has none.
	Weights *matcher.Weights
}

// TraceReader reads a trace written by TraceWriter or the Python package mpanalyze_trace, of
// either layout (full or compact, TRACE.md). It checks everything it can
// when it opens the trace (the sidecar against itself, the archive's
// entries, dtypes and shapes against the sidecar) and the data (CRC-32,
// value ranges) as it reads each image, one at a time.
//
// Matchings: images stored without them (the Python recorder without scipy,
// or a trace whose matchings were dropped) are given matchings computed at
// read time with matcher.MatchStages, the function the model's evaluation
// uses: per stage, the cost 2·(−softmax class probability) + 5·BCE +
// 5·dice (or the trace's run.match_cost) over every stride-4 pixel,
// solved exactly, against the trace's GT coverage (gt_cover). With the
// same float32 logits, coverage and weights that is the model's matching,
// bit for bit. Traces without gt_cover (version 1) are matched against the
// binary GT masks instead, which is another cost: on a trained model about
// 2 % of the matchings differ from the model's. Compact traces without
// mask logits cannot be matched at read time; their images without stored
// matchings have none. Info().Matching says which.
type TraceReader struct {
	npzPath, jsonPath string
	settings          ReadSettings
	f                 *os.File
	zr                *npz.Reader
	side              Sidecar
	info              RunInfo
	imgs              []imageArrays
	files             map[string]*npz.Entry
	next              int
	br                *bufio.Reader
}

// OpenTrace opens the trace at path (see TracePaths) and validates it. A
// nil s means the zero ReadSettings. Errors are *TraceError values naming
// the file and the mismatch, and wrap the ErrTrace sentinels.
func OpenTrace(path string, s *ReadSettings) (*TraceReader, error) {
	r := &TraceReader{br: bufio.NewReaderSize(nil, 1<<16)}
	if s != nil {
		r.settings = *s
	}
	r.npzPath, r.jsonPath = TracePaths(path)
	if err := r.open(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *TraceReader) open() error {
	js, err := os.ReadFile(r.jsonPath)
	if err != nil {
		return traceErr(r.jsonPath, "", ErrTraceSidecar, err, "cannot read the sidecar")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var probe struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(js, &probe); err != nil {
		return traceErr(r.jsonPath, "", ErrTraceSidecar, err, "malformed JSON")
	}
	if probe.Format != TraceFormat || (probe.Version != 1 && probe.Version != TraceVersion) {
		return traceErr(r.jsonPath, "", ErrTraceVersion, nil, "format %q version %d, this reader reads %q versions 1 and %d", probe.Format, probe.Version, TraceFormat, TraceVersion)
	}
	if err := dec.Decode(&r.side); err != nil {
		return traceErr(r.jsonPath, "", ErrTraceSidecar, err, "malformed sidecar")
	}
	if r.imgs, err = checkSidecar(r.jsonPath, &r.side); err != nil {
		return err
	}
	r.info = r.side.Run
	if len(r.info.Config) > 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, r.info.Config) == nil {
			r.info.Config = buf.Bytes()
		}
	}

	r.f, err = os.Open(r.npzPath)
	if err != nil {
		return traceErr(r.npzPath, "", ErrTraceMismatch, err, "the sidecar's .npz cannot be opened")
	}
	fi, err := r.f.Stat()
	if err != nil {
		return traceErr(r.npzPath, "", ErrTraceMismatch, err, "stat")
	}
	r.zr, err = npz.NewReader(r.f, fi.Size())
	if err != nil {
		return traceErr(r.npzPath, "", ErrTraceTruncated, npzCause(err), "not a complete zip archive (%d bytes, the sidecar says %d)", fi.Size(), r.side.NPZBytes)
	}
	if fi.Size() != r.side.NPZBytes {
		return traceErr(r.npzPath, "", ErrTraceMismatch, nil, "%d bytes, the sidecar says %d: the .npz and the sidecar are not one pair", fi.Size(), r.side.NPZBytes)
	}
	r.files = make(map[string]*npz.Entry, len(r.zr.Entries))
	for i := range r.zr.Entries {
		e := &r.zr.Entries[i]
		if !e.NPY {
			return traceErr(r.npzPath, e.Name, ErrTraceMismatch, nil, "extra entry (not a .npy array)")
		}
		if r.files[e.Name] != nil {
			return traceErr(r.npzPath, e.Name, ErrTraceCorrupt, nil, "entry present twice")
		}
		r.files[e.Name] = e
	}
	listed := make(map[string]bool, len(r.side.Arrays))
	for _, a := range r.side.Arrays {
		listed[a.Name] = true
		e := r.files[a.Name]
		if e == nil {
			return traceErr(r.npzPath, a.Name, ErrTraceMismatch, nil, "missing array (listed in the sidecar)")
		}
		if err := r.checkEntry(e, &a); err != nil {
			return err
		}
	}
	for _, e := range r.zr.Entries {
		if !listed[e.Name] {
			return traceErr(r.npzPath, e.Name, ErrTraceMismatch, nil, "extra array (not in the sidecar)")
		}
	}

	r.info.Matching = r.matching()
	return nil
}

// npzCause returns the cause of an internal/npz error without its
// category, which the TraceError's kind replaces.
func npzCause(err error) error {
	var ne *npz.Error
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

// entryErr turns an error of opening or reading an entry into a
// TraceError: the trace's own errors pass through, internal/npz's are
// ErrTraceCorrupt.
func (r *TraceReader) entryErr(name string, err error) error {
	var te *TraceError
	if errors.As(err, &te) {
		return err
	}
	return traceErr(r.npzPath, name, ErrTraceCorrupt, npzCause(err), "")
}

// checkEntry compares an entry's .npy header with the sidecar; internal/npz
// checks its size against the header.
func (r *TraceReader) checkEntry(e *npz.Entry, a *ArrayInfo) error {
	arr, err := e.Open(r.br, func(h npy.Header) error {
		if err := checkNPYHeader(h); err != nil {
			return traceErr(r.npzPath, a.Name, ErrTraceCorrupt, err, "")
		}
		if h.Descr != a.DType || !equalInts(h.Shape, a.Shape) {
			return traceErr(r.npzPath, a.Name, ErrTraceMismatch, nil, "the array is %s %v, the sidecar says %s %v", h.Descr, h.Shape, a.DType, a.Shape)
		}
		return nil
	})
	if err != nil {
		return r.entryErr(a.Name, err)
	}
	arr.Close() // only the header was read: a decompressor may complain
	return nil
}

// matching decides RunInfo.Matching for what the reader yields.
func (r *TraceReader) matching() string {
	stored, missing := false, false
	for _, im := range r.side.Images {
		switch {
		case im.Match:
			stored = true
		case im.HasGT && im.GT > 0:
			missing = true
		}
	}
	switch {
	case missing && (r.settings.NoMatching || !r.canCompute()):
		return MatchingNone
	case missing:
		return MatchingComputed
	case stored:
		if r.side.Run.Matching != "" {
			return r.side.Run.Matching
		}
		return MatchingRecorded
	}
	return MatchingNone
}

// Info returns the run info of the trace, with Matching describing the
// matchings the reader yields.
func (r *TraceReader) Info() RunInfo {
	info := r.info
	info.StageLayers = cloneSlice(r.info.StageLayers)
	return info
}

// Sidecar returns the trace's sidecar as stored.
func (r *TraceReader) Sidecar() Sidecar { return r.side }

// Paths returns the trace's .npz and sidecar.
func (r *TraceReader) Paths() (npz, sidecar string) { return r.npzPath, r.jsonPath }

// Len is the number of images in the trace.
func (r *TraceReader) Len() int { return len(r.imgs) }

// Next reads the next image, in the order of the sidecar, and returns
// io.EOF after the last one.
func (r *TraceReader) Next() (*Image, error) {
	if r.next >= len(r.imgs) {
		return nil, io.EOF
	}
	im, err := r.Image(r.next)
	if err != nil {
		return nil, err
	}
	r.next++
	return im, nil
}

// Image reads the k-th image of the trace (0 ≤ k < Len), as stages that
// share its ground truth. MP rows come first when the trace kept them.
//
// A full trace yields MaskLogits (Masks nil) and AttnMask; a compact trace
// yields Masks (the stored binary masks), AttnBits, float16 class logits
// widened to float32, and MaskLogits only when it kept them.
func (r *TraceReader) Image(k int) (*Image, error) {
	return r.image(k, needs{logits: true, classes: true, cover: true}, r.br)
}

// needs says which parts of an image to decode.
type needs struct {
	logits  bool   // MaskLogits, when stored
	masks   bool   // Masks also for a full trace (binarised as read, without keeping the logits)
	classes bool   // ClassLogits
	cover   bool   // GT.Cover, when stored
	arena   *arena // where the masks come from (nil: allocated)
}

// canCompute reports whether the reader can compute missing matchings:
// they need mask and class logits.
func (r *TraceReader) canCompute() bool { return r.side.Storage.MaskDType != "none" }

// mustCompute reports whether image k's matchings are computed at read
// time.
func (r *TraceReader) mustCompute(info *TraceImageInfo) bool {
	return info.HasGT && !info.Match && info.GT > 0 && !r.settings.NoMatching && r.canCompute()
}

// image reads image k, decoding the parts nd asks for (and all a
// matching computed at read time needs), through br.
func (r *TraceReader) image(k int, nd needs, br *bufio.Reader) (*Image, error) {
	if r.zr == nil {
		return nil, fmt.Errorf("probes: trace %s: %w", r.npzPath, ErrClosed)
	}
	if k < 0 || k >= len(r.imgs) {
		return nil, fmt.Errorf("probes: trace %s: image %d of %d", r.npzPath, k, len(r.imgs))
	}
	ia := &r.imgs[k]
	compute := r.mustCompute(ia.info)
	if compute {
		nd.logits, nd.classes, nd.cover = true, true, true
	}
	rd := &imageReader{r: r, ia: ia, br: br, im: r.newImage(ia.info, nd), arena: nd.arena}
	if err := rd.predictedMasks(nd); err != nil {
		return nil, err
	}
	if err := rd.classesAndUnblocked(nd.classes); err != nil {
		return nil, err
	}
	for _, s := range sortedKeys(ia.attn) {
		if err := rd.attention(s, r.side.Storage.Compact()); err != nil {
			return nil, err
		}
	}
	if ia.info.HasGT {
		if err := rd.truthAndMatches(nd.cover, compute); err != nil {
			return nil, err
		}
	}
	return rd.im, nil
}

// newImage returns an image of the trace's stages with the buffers nd
// asks for allocated (masks from nd's arena).
func (r *TraceReader) newImage(info *TraceImageInfo, nd needs) *Image {
	st := &r.side.Storage
	compact, hasLogits := st.Compact(), st.MaskDType != "none"
	S, Q, K, H, W := r.info.NumStages, r.info.NumQueries, r.info.NumClasses, r.info.MaskH, r.info.MaskW
	P := info.NumMP
	rows := P + Q
	im := &Image{Index: info.Index, Stages: make([]Stage, S)}
	for s := range im.Stages {
		im.Stages[s] = Stage{Image: info.Index, Stage: s, NumMP: P, NumQueries: Q, NumClasses: K, H: H, W: W}
		if nd.logits && hasLogits {
			im.Stages[s].MaskLogits = make([]float32, rows*H*W)
		}
		if compact || nd.masks {
			im.Stages[s].Masks = nd.arena.masks(rows, H, W)
		}
		if nd.classes {
			im.Stages[s].ClassLogits = make([]float32, rows*(K+1))
		}
	}
	return im
}

// predictedMasks reads the predicted masks of every stage, matching rows
// and MP rows: the stored binary masks of a compact trace, then the mask
// logits when nd wants them kept or binarised (a full trace read for
// Masks).
func (d *imageReader) predictedMasks(nd needs) error {
	st := &d.r.side.Storage
	compact, hasLogits := st.Compact(), st.MaskDType != "none"
	Q, P := d.r.info.NumQueries, d.ia.info.NumMP
	if compact {
		stageRows := func(off, rows int) []*mask.Bits {
			ms := make([]*mask.Bits, 0, len(d.im.Stages)*rows)
			for s := range d.im.Stages {
				ms = append(ms, d.im.Stages[s].Masks[off:off+rows]...)
			}
			return ms
		}
		if err := d.runs("mask", stageRows(P, Q)); err != nil {
			return err
		}
		if P > 0 {
			if err := d.runs("mp_mask", stageRows(0, P)); err != nil {
				return err
			}
		}
	}
	if hasLogits && (nd.logits || (nd.masks && !compact)) {
		binarise := nd.masks && !compact
		if err := d.maskLogits("mask_logits", Q, P, nd.logits, binarise); err != nil {
			return err
		}
		if P > 0 {
			if err := d.maskLogits("mp_mask_logits", P, 0, nd.logits, binarise); err != nil {
				return err
			}
		}
	}
	return nil
}

// classesAndUnblocked reads the class logits (when classes) and the
// unblocked flags of every stage, matching rows and MP rows.
func (d *imageReader) classesAndUnblocked(classes bool) error {
	Q, K1, P := d.r.info.NumQueries, d.r.info.NumClasses+1, d.ia.info.NumMP
	if classes {
		clsOf := func(st *Stage) []float32 { return st.ClassLogits }
		if err := d.floats("class_logits", Q, K1, P, clsOf); err != nil {
			return err
		}
		if P > 0 {
			if err := d.floats("mp_class_logits", P, K1, 0, clsOf); err != nil {
				return err
			}
		}
	}
	for s := range d.im.Stages {
		d.im.Stages[s].Unblocked = make([]bool, P+Q)
	}
	if err := d.flags("unblocked", Q, P); err != nil {
		return err
	}
	if P > 0 {
		return d.flags("mp_unblocked", P, 0)
	}
	return nil
}

// truthAndMatches reads the image's ground truth (with its coverage when
// cover) and its matchings: the stored ones, none needed without GT
// segments, or, when compute, matchings computed with the trace's cost
// weights (or the settings').
func (d *imageReader) truthAndMatches(cover, compute bool) error {
	r, info, im := d.r, d.ia.info, d.im
	if err := d.groundTruth(r.side.Storage.Compact(), cover); err != nil {
		return err
	}
	switch {
	case info.Match:
		return d.matchings()
	case info.GT == 0:
		for s := range im.Stages {
			im.Stages[s].Match = []int{}
		}
	case compute:
		w := r.info.MatchCost.Weights()
		if r.settings.Weights != nil {
			w = *r.settings.Weights
		}
		ms, err := computeMatches(im, &w)
		if err != nil {
			return traceErr(r.npzPath, imgPrefix(info.Index)+"match", ErrTraceCorrupt, err, "cannot compute the matchings")
		}
		for s := range im.Stages {
			im.Stages[s].Match = ms[s]
		}
	}
	return nil
}

// arena hands out the masks of one image from blocks it reuses for the
// next image (Analyze's workers score an image and drop it before reading
// the next), so reading does not allocate 8 MB per COCO-size image. A nil
// arena allocates.
type arena struct {
	words   []uint64
	used    int
	missed  int // words allocated outside the block since the last reset
	structs []mask.Bits
	nstruct int
	ptrs    []*mask.Bits
	nptr    int
}

// reset makes the arena's memory available again; the masks it handed
// out must no longer be used. It grows the blocks to what the last image
// needed.
func (a *arena) reset() {
	if a.missed > 0 {
		a.words = make([]uint64, a.used+a.missed)
	}
	if a.nstruct > len(a.structs) {
		a.structs = make([]mask.Bits, a.nstruct)
	}
	if a.nptr > len(a.ptrs) {
		a.ptrs = make([]*mask.Bits, a.nptr)
	}
	a.used, a.missed, a.nstruct, a.nptr = 0, 0, 0, 0
}

// masks returns n h×w masks; with a non-nil arena their content is
// undefined until the caller clears or fills them (the readers' fillers,
// decodeRuns and setFromLogits, clear each mask first, while it is in
// cache).
func (a *arena) masks(n, h, w int) []*mask.Bits {
	nw := (h*w + 63) / 64
	var words []uint64
	var bs []mask.Bits
	var ms []*mask.Bits
	if a != nil && a.used+n*nw <= len(a.words) {
		words = a.words[a.used : a.used+n*nw] // not cleared: every filler clears its mask
		a.used += n * nw
	} else {
		words = make([]uint64, n*nw)
		if a != nil {
			a.missed += n * nw
		}
	}
	if a != nil && a.nstruct+n <= len(a.structs) && a.nptr+n <= len(a.ptrs) {
		bs, ms = a.structs[a.nstruct:a.nstruct+n], a.ptrs[a.nptr:a.nptr+n]
	} else {
		bs, ms = make([]mask.Bits, n), make([]*mask.Bits, n)
	}
	if a != nil {
		a.nstruct += n
		a.nptr += n
	}
	for i := range ms {
		bs[i] = mask.Bits{H: h, W: w, Words: words[i*nw : (i+1)*nw : (i+1)*nw]}
		ms[i] = &bs[i]
	}
	return ms
}

// imageReader decodes the arrays of one image.
type imageReader struct {
	r     *TraceReader
	ia    *imageArrays
	br    *bufio.Reader
	im    *Image
	arena *arena
}

func (d *imageReader) read(name string, fill func(br *bufio.Reader, dtype string) error) error {
	return d.r.read(d.ia, name, d.br, fill)
}

// floats reads a float array [S, rows, n] into row offset off of each
// stage's slice.
// Every value is checked (CheckValues) before it reaches a probe.
func (d *imageReader) floats(name string, rows, n, off int, dst func(st *Stage) []float32) error {
	shape := []int{len(d.im.Stages), rows, n}
	return d.read(name, func(br *bufio.Reader, dtype string) error {
		for s := range d.im.Stages {
			v := dst(&d.im.Stages[s])[off*n : (off+rows)*n]
			if err := readFloats(br, dtype, v); err != nil {
				return err
			}
			if err := d.check(name, dtype, shape, s*rows*n, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// check refuses values no recorder writes in a piece of img<i>/<name>
// that starts at flat index base (CheckValues).
func (d *imageReader) check(name, dtype string, shape []int, base int, v []float32) error {
	return checkValuesAt(d.r.npzPath, imgPrefix(d.ia.info.Index)+name, dtype, shape, base, v)
}

// maskLogits reads mask logits [S, rows, H, W] into row offset off: into
// MaskLogits when keep, and binarised into Masks when binarise.
func (d *imageReader) maskLogits(name string, rows, off int, keep, binarise bool) error {
	info := &d.r.info
	HW := info.MaskH * info.MaskW
	shape := []int{len(d.im.Stages), rows, info.MaskH, info.MaskW}
	var scratch []float32
	return d.read(name, func(br *bufio.Reader, dtype string) error {
		for s := range d.im.Stages {
			st := &d.im.Stages[s]
			if keep {
				v := st.MaskLogits[off*HW : (off+rows)*HW]
				if err := readFloats(br, dtype, v); err != nil {
					return err
				}
				if err := d.check(name, dtype, shape, s*rows*HW, v); err != nil {
					return err
				}
				if binarise {
					for q := range rows {
						setFromLogits(st.Masks[off+q], v[q*HW:(q+1)*HW])
					}
				}
				continue
			}
			if scratch == nil {
				scratch = make([]float32, HW)
			}
			for q := range rows {
				if err := readFloats(br, dtype, scratch); err != nil {
					return err
				}
				if err := d.check(name, dtype, shape, (s*rows+q)*HW, scratch); err != nil {
					return err
				}
				setFromLogits(st.Masks[off+q], scratch)
			}
		}
		return nil
	})
}

// setFromLogits sets m to logit > 0.
func setFromLogits(m *mask.Bits, logits []float32) {
	clear(m.Words)
	for i, v := range logits {
		if v > 0 {
			m.Words[i>>6] |= 1 << uint(i&63)
		}
	}
}

// runs reads the run-length encoded masks <name>_runs / <name>_nruns into
// ms, in array order: the run counts first, then every mask's runs, which
// must cover it exactly.
func (d *imageReader) runs(name string, ms []*mask.Bits) error {
	counts := make([]int32, len(ms))
	err := d.read(name+"_nruns", func(br *bufio.Reader, _ string) error {
		return npy.ReadElems(br, counts, nil)
	})
	if err != nil {
		return err
	}
	total := int64(0)
	for i, c := range counts {
		if c < 0 {
			return traceErr(d.r.npzPath, imgPrefix(d.ia.info.Index)+name+"_nruns", ErrTraceCorrupt, nil, "mask %d has %d runs", i, c)
		}
		total += int64(c)
	}
	if a := d.ia.arrays[name+"_runs"]; int64(a.Shape[0]) != total {
		return traceErr(d.r.npzPath, imgPrefix(d.ia.info.Index)+name+"_nruns", ErrTraceCorrupt, nil, "the masks have %d runs, %s_runs holds %d", total, name, a.Shape[0])
	}
	return d.read(name+"_runs", func(br *bufio.Reader, _ string) error {
		var buf []byte
		var runs []uint16
		for i, m := range ms {
			n := int(counts[i])
			if cap(buf) < 2*n {
				buf, runs = make([]byte, 2*n), make([]uint16, n)
			}
			b, rs := buf[:2*n], runs[:n]
			if _, err := io.ReadFull(br, b); err != nil {
				return err
			}
			for j := range rs {
				rs[j] = binary.LittleEndian.Uint16(b[2*j:])
			}
			if err := decodeRuns(m, rs); err != nil {
				return fmt.Errorf("mask %d: %w", i, err)
			}
		}
		return nil
	})
}

// flags reads unblocked flags [S, rows] into row offset off.
func (d *imageReader) flags(name string, rows, off int) error {
	return d.read(name, func(br *bufio.Reader, _ string) error {
		b := make([]byte, rows)
		for s := range d.im.Stages {
			if _, err := io.ReadFull(br, b); err != nil {
				return err
			}
			for i, v := range b {
				d.im.Stages[s].Unblocked[off+i] = v != 0
			}
		}
		return nil
	})
}

// attention reads stage s's attention masks (and their MP rows).
func (d *imageReader) attention(s int, compact bool) error {
	a := d.ia.attn[s]
	st := &d.im.Stages[s]
	P, Q := st.NumMP, st.NumQueries
	st.AttnH, st.AttnW = attnSize(a)
	cells := st.AttnH * st.AttnW
	if compact {
		name := "attn_s" + strconv.Itoa(s)
		st.AttnBits = d.arena.masks(P+Q, st.AttnH, st.AttnW)
		if err := d.runs(name, st.AttnBits[P:]); err != nil {
			return err
		}
		if P > 0 {
			return d.runs("mp_"+name, st.AttnBits[:P])
		}
		return nil
	}
	name := "attn_mask_s" + strconv.Itoa(s)
	st.AttnMask = make([]bool, (P+Q)*cells)
	read := func(name string, rows, off int) error {
		return d.read(name, func(br *bufio.Reader, _ string) error {
			b := make([]byte, rows*cells)
			if _, err := io.ReadFull(br, b); err != nil {
				return err
			}
			for i, v := range b {
				st.AttnMask[off*cells+i] = v != 0
			}
			return nil
		})
	}
	if err := read(name, Q, P); err != nil {
		return err
	}
	if P > 0 {
		return read("mp_"+name, P, 0)
	}
	return nil
}

// groundTruth reads the image's GT classes, masks and (when wanted and
// stored) coverage, and points every stage at it.
func (d *imageReader) groundTruth(compact, cover bool) error {
	info := &d.r.info
	K, H, W := info.NumClasses, info.MaskH, info.MaskW
	HW := H * W
	G := d.ia.info.GT
	gt := &GroundTruth{Classes: make([]int, G)}
	err := d.read("gt_classes", func(br *bufio.Reader, _ string) error {
		v := make([]int32, G)
		if err := npy.ReadElems(br, v, nil); err != nil {
			return err
		}
		for g, c := range v {
			if c < 0 || int(c) >= K {
				return fmt.Errorf("GT segment %d has class %d, want 0..%d", g, c, K-1)
			}
			gt.Classes[g] = int(c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	gt.Masks = d.arena.masks(G, H, W)
	if compact {
		err = d.runs("gt", gt.Masks)
	} else {
		err = d.read("gt_masks", func(br *bufio.Reader, _ string) error {
			b := make([]byte, HW)
			for _, m := range gt.Masks {
				if _, err := io.ReadFull(br, b); err != nil {
					return err
				}
				clear(m.Words)
				for i, v := range b {
					if v != 0 {
						m.Words[i>>6] |= 1 << uint(i&63)
					}
				}
			}
			return nil
		})
	}
	if err != nil {
		return err
	}
	if cover && d.ia.info.Cover {
		scale := info.MaskStride * info.MaskStride
		gt.Cover = make([][]float32, G)
		err = d.read("gt_cover", func(br *bufio.Reader, _ string) error {
			b := make([]byte, HW)
			for g := range gt.Cover {
				if _, err := io.ReadFull(br, b); err != nil {
					return err
				}
				c := make([]float32, HW)
				for i, v := range b {
					if int(v) > scale {
						return fmt.Errorf("GT segment %d covers %d pixels of a %d-pixel cell", g, v, scale)
					}
					c[i] = float32(v) / float32(scale)
				}
				gt.Cover[g] = c
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	d.im.GT = gt
	for s := range d.im.Stages {
		d.im.Stages[s].GT = gt
	}
	return nil
}

// matchings reads the stored matchings.
func (d *imageReader) matchings() error {
	G, Q := d.ia.info.GT, d.r.info.NumQueries
	return d.read("match", func(br *bufio.Reader, _ string) error {
		v := make([]int32, G)
		seen := make([]int, Q)
		for s := range d.im.Stages {
			if err := npy.ReadElems(br, v, nil); err != nil {
				return err
			}
			m := make([]int, G)
			for g, q := range v {
				if q < -1 || int(q) >= Q || (q >= 0 && seen[q] == s+1) {
					return fmt.Errorf("stage %d matches GT segment %d to query %d (of %d queries, or twice)", s, g, q, Q)
				}
				if q >= 0 {
					seen[q] = s + 1
				}
				m[g] = int(q)
			}
			d.im.Stages[s].Match = m
		}
		return nil
	})
}

// read opens img<i>/<name>, skips its header and lets fill decode the
// data through br, then checks that the data ends there and its CRC-32.
func (r *TraceReader) read(ia *imageArrays, name string, br *bufio.Reader, fill func(br *bufio.Reader, dtype string) error) error {
	full := imgPrefix(ia.info.Index) + name
	arr, err := r.files[full].Open(br, func(h npy.Header) error { return checkNPYHeader(h) })
	if err != nil {
		return r.entryErr(full, err)
	}
	defer arr.Close()
	if err := fill(arr.R, arr.Header.Descr); err != nil {
		var te *TraceError
		if errors.As(err, &te) {
			return err // a value no recorder writes (CheckValues)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return traceErr(r.npzPath, full, ErrTraceCorrupt, npz.ReadErr(err), "")
	}
	if err := arr.Finish(); err != nil {
		return r.entryErr(full, err)
	}
	return nil
}

// computeMatches computes every stage's matching of the matching queries
// to the GT with matcher.MatchStages, the function the model's evaluation
// uses: on every pixel of the mask logits, against the GT coverage when
// the trace has it (then the matchings are the model's, bit for bit), else
// against the binary GT masks.
func computeMatches(im *Image, w *matcher.Weights) ([][]int, error) {
	gt := im.GT
	G := len(gt.Classes)
	if G == 0 {
		out := make([][]int, len(im.Stages))
		for s := range out {
			out[s] = []int{}
		}
		return out, nil
	}
	st0 := &im.Stages[0]
	HW, K1, P := st0.H*st0.W, st0.NumClasses+1, st0.NumMP
	cls, msk := make([][]float32, len(im.Stages)), make([][]float32, len(im.Stages))
	for s := range im.Stages {
		st := &im.Stages[s]
		cls[s], msk[s] = st.ClassLogits[P*K1:], st.MaskLogits[P*HW:]
		for _, v := range cls[s] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("stage %d: non-finite class logit", s)
			}
		}
		for _, v := range msk[s] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("stage %d: non-finite mask logit", s)
			}
		}
	}
	var targets []float32
	if gt.Cover != nil {
		targets = matcher.CoverTargets(gt.Cover, HW)
	} else {
		targets = make([]float32, G*HW)
		for g, m := range gt.Masks {
			for i := 0; i < HW; i++ {
				if m.Get(i) {
					targets[g*HW+i] = 1
				}
			}
		}
	}
	return matcher.MatchStages(cls, msk, targets, gt.Classes, st0.NumQueries, st0.NumClasses, HW, w), nil
}

// Replay sends the trace's images to p as the model would: Init with
// Info(), every stage of every image in order, then Close. maxImages > 0
// stops after that many images. On an error it calls p's Abort if it has
// one (Close otherwise) and returns the error.
func (r *TraceReader) Replay(p Probe, maxImages int) error {
	if err := p.Init(r.Info()); err != nil {
		abort(p)
		return err
	}
	n := len(r.imgs)
	if maxImages > 0 && maxImages < n {
		n = maxImages
	}
	for k := 0; k < n; k++ {
		im, err := r.Image(k)
		if err == nil {
			for s := range im.Stages {
				if err = p.Record(&im.Stages[s]); err != nil {
					break
				}
			}
		}
		if err != nil {
			abort(p)
			return err
		}
	}
	return p.Close()
}

// Close closes the .npz.
func (r *TraceReader) Close() error {
	r.zr = nil
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
