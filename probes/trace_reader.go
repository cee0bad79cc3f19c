package probes

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/mpanalyze/mpanalyze/data/mask"
	"github.com/mpanalyze/mpanalyze/internal/npy"
	"github.com/mpanalyze/mpanalyze/internal/npz"
	"github.com/mpanalyze/mpanalyze/model/matcher"
)

// ReadSettings configures a TraceReader. The zero value (or nil) computes
// missing matchings with Mask2Former's cost weights.
type ReadSettings struct {
	// NoMatching leaves the matchings of images that have ground truth but
	// no stored matching absent (metrics that need one then count nothing
	// for them). By default the reader computes them, see Matching.
	NoMatching bool
	// Weights of the matching cost; nil means matcher.DefaultWeights (2, 5, 5).
	Weights *matcher.Weights
}

// TraceReader reads a trace written by TraceWriter or record_trace.py. It
// checks everything it can when it opens the trace (the sidecar against
// itself, the archive's entries, dtypes and shapes against the sidecar) and
// the data (CRC-32, value ranges) as it reads each image, one at a time.
//
// Matchings: traces recorded without them (record_trace.py without scipy)
// are given matchings computed at read time with model/matcher: per stage,
// the cost 2·(−softmax class probability) + 5·BCE + 5·dice over every
// stride-4 pixel, with the trace's binary GT masks as targets, solved
// exactly. The model matches with the same cost on the same pixels but
// with fractional GT coverage as targets, so a tie-free matching can differ
// only where that difference decides it. Info().Matching says which.
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
	if probe.Format != TraceFormat || probe.Version != TraceVersion {
		return traceErr(r.jsonPath, "", ErrTraceVersion, nil, "format %q version %d, this reader reads %q version %d", probe.Format, probe.Version, TraceFormat, TraceVersion)
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
	case missing && r.settings.NoMatching:
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
func (r *TraceReader) Image(k int) (*Image, error) {
	if r.zr == nil {
		return nil, fmt.Errorf("probes: trace %s: %w", r.npzPath, ErrClosed)
	}
	if k < 0 || k >= len(r.imgs) {
		return nil, fmt.Errorf("probes: trace %s: image %d of %d", r.npzPath, k, len(r.imgs))
	}
	ia := &r.imgs[k]
	info := ia.info
	S, Q, K, H, W := r.info.NumStages, r.info.NumQueries, r.info.NumClasses, r.info.MaskH, r.info.MaskW
	P, HW, K1 := info.NumMP, H*W, K+1
	im := &Image{Index: info.Index, Stages: make([]Stage, S)}
	for s := range im.Stages {
		im.Stages[s] = Stage{
			Image: info.Index, Stage: s, NumMP: P, NumQueries: Q, NumClasses: K, H: H, W: W,
			MaskLogits:  make([]float32, (P+Q)*HW),
			ClassLogits: make([]float32, (P+Q)*K1),
		}
	}
	// floats reads a float array [S, rows, n] into row offset off of each
	// stage's slice.
	floats := func(name string, rows, n, off int, dst func(st *Stage) []float32) error {
		return r.read(ia, name, func(br *bufio.Reader, dtype string) error {
			for s := range im.Stages {
				d := dst(&im.Stages[s])[off*n : (off+rows)*n]
				if err := readFloats(br, dtype, d); err != nil {
					return err
				}
			}
			return nil
		})
	}
	maskOf := func(st *Stage) []float32 { return st.MaskLogits }
	clsOf := func(st *Stage) []float32 { return st.ClassLogits }
	if err := floats("mask_logits", Q, HW, P, maskOf); err != nil {
		return nil, err
	}
	if err := floats("class_logits", Q, K1, P, clsOf); err != nil {
		return nil, err
	}
	if P > 0 {
		if err := floats("mp_mask_logits", P, HW, 0, maskOf); err != nil {
			return nil, err
		}
		if err := floats("mp_class_logits", P, K1, 0, clsOf); err != nil {
			return nil, err
		}
	}
	// unblocked flags, [S, rows] bytes.
	for s := range im.Stages {
		im.Stages[s].Unblocked = make([]bool, P+Q)
	}
	flags := func(name string, rows, off int) error {
		return r.read(ia, name, func(br *bufio.Reader, _ string) error {
			b := make([]byte, rows)
			for s := range im.Stages {
				if _, err := io.ReadFull(br, b); err != nil {
					return err
				}
				for i, v := range b {
					im.Stages[s].Unblocked[off+i] = v != 0
				}
			}
			return nil
		})
	}
	if err := flags("unblocked", Q, P); err != nil {
		return nil, err
	}
	if P > 0 {
		if err := flags("mp_unblocked", P, 0); err != nil {
			return nil, err
		}
	}
	for _, s := range sortedKeys(ia.attn) {
		a := ia.attn[s]
		st := &im.Stages[s]
		st.AttnH, st.AttnW = a.Shape[1], a.Shape[2]
		cells := st.AttnH * st.AttnW
		st.AttnMask = make([]bool, (P+Q)*cells)
		bools := func(name string, rows, off int) error {
			return r.read(ia, name, func(br *bufio.Reader, _ string) error {
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
		name := "attn_mask_s" + strconv.Itoa(s)
		if err := bools(name, Q, P); err != nil {
			return nil, err
		}
		if P > 0 {
			if err := bools("mp_"+name, P, 0); err != nil {
				return nil, err
			}
		}
	}
	if info.HasGT {
		G := info.GT
		gt := &GroundTruth{Classes: make([]int, G), Masks: make([]*mask.Bits, G)}
		err := r.read(ia, "gt_classes", func(br *bufio.Reader, _ string) error {
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
			return nil, err
		}
		err = r.read(ia, "gt_masks", func(br *bufio.Reader, _ string) error {
			b := make([]byte, HW)
			for g := range gt.Masks {
				if _, err := io.ReadFull(br, b); err != nil {
					return err
				}
				m := mask.New(H, W)
				for i, v := range b {
					if v != 0 {
						m.Words[i>>6] |= 1 << uint(i&63)
					}
				}
				gt.Masks[g] = m
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		im.GT = gt
		for s := range im.Stages {
			im.Stages[s].GT = gt
		}
		if info.Match {
			err = r.read(ia, "match", func(br *bufio.Reader, _ string) error {
				v := make([]int32, G)
				for s := range im.Stages {
					if err := npy.ReadElems(br, v, nil); err != nil {
						return err
					}
					m := make([]int, G)
					seen := map[int32]bool{}
					for g, q := range v {
						if q < -1 || int(q) >= Q || (q >= 0 && seen[q]) {
							return fmt.Errorf("stage %d matches GT segment %d to query %d (of %d queries, or twice)", s, g, q, Q)
						}
						seen[q] = true
						m[g] = int(q)
					}
					im.Stages[s].Match = m
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		} else if G == 0 || !r.settings.NoMatching {
			for s := range im.Stages {
				m, err := computeMatch(&im.Stages[s], r.settings.Weights)
				if err != nil {
					return nil, traceErr(r.npzPath, imgPrefix(info.Index)+"match", ErrTraceCorrupt, err, "cannot compute the stage %d matching", s)
				}
				im.Stages[s].Match = m
			}
		}
	}
	return im, nil
}

// read opens img<i>/<name>, skips its header and lets fill decode the
// data, then checks that the data ends there and its CRC-32.
func (r *TraceReader) read(ia *imageArrays, name string, fill func(br *bufio.Reader, dtype string) error) error {
	full := imgPrefix(ia.info.Index) + name
	arr, err := r.files[full].Open(r.br, func(h npy.Header) error { return checkNPYHeader(h) })
	if err != nil {
		return r.entryErr(full, err)
	}
	defer arr.Close()
	if err := fill(arr.R, arr.Header.Descr); err != nil {
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

// computeMatch computes a stage's matching of the matching queries to the
// GT with the Mask2Former cost on every pixel of the mask logits.
func computeMatch(st *Stage, w *matcher.Weights) ([]int, error) {
	G := len(st.GT.Classes)
	if G == 0 {
		return []int{}, nil
	}
	HW, K1 := st.H*st.W, st.NumClasses+1
	cls := st.ClassLogits[st.NumMP*K1:]
	msk := st.MaskLogits[st.NumMP*HW:]
	for _, v := range cls {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, errors.New("non-finite class logit")
		}
	}
	for _, v := range msk {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, errors.New("non-finite mask logit")
		}
	}
	targets := make([]float32, G*HW)
	for g, m := range st.GT.Masks {
		for i := 0; i < HW; i++ {
			if m.Get(i) {
				targets[g*HW+i] = 1
			}
		}
	}
	return matcher.Match(cls, msk, targets, st.GT.Classes, st.NumQueries, st.NumClasses, HW, w), nil
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
