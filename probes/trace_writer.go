package probes

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/npz"
)

var (
	_ Probe   = (*TraceWriter)(nil)
	_ Aborter = (*TraceWriter)(nil)
)

// TraceSettings configures a TraceWriter. The zero value (or nil) writes
// float32 mask logits of the matching queries, uncompressed.
type TraceSettings struct {
	// KeepMP also stores the MP rows of training-time stages, in the
	// img<i>/mp_* arrays. By default they are dropped (the reader then
	// yields stages with NumMP = 0).
	KeepMP bool
	// Float16 stores mask logits as float16 ("<f2"), halving the trace.
	// Rounding never turns a non-zero logit into zero, so the binary masks
	// (logit > 0) are those of the float32 logits; the values are not.
	Float16 bool
	// Compress deflates the entries: smaller, several times slower.
	Compress bool
}

// TraceWriter is a probe that writes a trace (see TRACE.md): a .npz of
// per-image arrays and a JSON sidecar. It streams: each image's mask
// logits go to the archive as its stages arrive, the smaller arrays when
// its last stage arrives, so it holds one image's class logits, attention
// masks and matchings at most. Everything goes to temporary files in the
// destination directory; Close renames them into place, so a crash or an
// error never leaves a partial trace under the final name.
type TraceWriter struct {
	path     string
	settings TraceSettings

	npzPath, jsonPath string
	tmp               *os.File
	count             *countingWriter
	zw                *npz.Writer
	ew                arrayWriter // the open entry
	info              RunInfo
	seq               sequence
	side              Sidecar
	seen              map[int]bool
	err               error // sticky: the first error; Close then aborts
	state             int   // 0 new, 1 initialised, 2 closed

	// the image being recorded
	img     TraceImageInfo
	cls     []float32
	mpMask  []float32
	mpCls   []float32
	attn    map[int]*attnBuf
	unb     []byte
	mpUnb   []byte
	match   []int32
	gtMasks []byte
	gtCls   []int32
}

type attnBuf struct {
	h, w        int
	rows, mpRow []byte
}

// NewTraceWriter returns a writer of the trace at path (see TracePaths; a
// path ending in a slash is created as a directory). A nil s means the
// zero TraceSettings. Nothing is created before Init.
func NewTraceWriter(path string, s *TraceSettings) *TraceWriter {
	w := &TraceWriter{path: path}
	if s != nil {
		w.settings = *s
	}
	return w
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Init creates the temporary .npz next to the destination.
func (w *TraceWriter) Init(info RunInfo) error {
	if w.state != 0 {
		return fmt.Errorf("probes: trace %s: Init called twice", w.path)
	}
	w.state = 1
	if err := info.Check(); err != nil {
		w.err = err
		return err
	}
	w.npzPath, w.jsonPath = TracePaths(w.path)
	if err := os.MkdirAll(filepath.Dir(w.npzPath), 0o755); err != nil {
		w.err = fmt.Errorf("probes: trace %s: %w", w.npzPath, err)
		return w.err
	}
	tmp, err := os.CreateTemp(filepath.Dir(w.npzPath), "."+filepath.Base(w.npzPath)+".tmp-*")
	if err != nil {
		w.err = fmt.Errorf("probes: trace %s: %w", w.npzPath, err)
		return w.err
	}
	w.tmp = tmp
	w.count = &countingWriter{w: tmp}
	// The archive (internal/npz) buffers internally; Close flushes. Equal
	// runs give byte-identical traces (fixed entry times).
	w.zw = npz.NewWriter(w.count, w.settings.Compress)
	w.ew.w = bufio.NewWriterSize(nil, 1<<16)

	w.info = info
	w.info.StageLayers = cloneSlice(info.StageLayers)
	if w.info.StageLayers == nil {
		w.info.StageLayers = make([]int, info.NumStages)
		for s := range w.info.StageLayers {
			w.info.StageLayers[s] = s
		}
	}
	if w.info.Checkpoint != "" && w.info.CheckpointSHA256 == "" {
		w.info.CheckpointSHA256 = hashFile(w.info.Checkpoint)
	}
	w.seq = sequence{stages: info.NumStages}
	w.seen = map[int]bool{}
	st := Storage{MaskDType: "float32", MPRows: w.settings.KeepMP, Compression: "stored"}
	if w.settings.Float16 {
		st.MaskDType = "float16"
	}
	if w.settings.Compress {
		st.Compression = "deflate"
	}
	w.side = Sidecar{
		Format:  TraceFormat,
		Version: TraceVersion,
		Run:     w.info,
		Conventions: Conventions{
			StageIndexing: conventionStages,
			StageLayers:   w.info.StageLayers,
			Threshold:     conventionThreshold,
			MaskStride:    info.MaskStride,
			MaskSize:      [2]int{info.MaskH, info.MaskW},
			Rows:          conventionRows,
			Attention:     conventionAttention,
			GT:            conventionGT,
		},
		Storage: st,
		Images:  []TraceImageInfo{},
		Arrays:  []ArrayInfo{},
	}
	return nil
}

// Record appends the stage to the trace. After an error the writer only
// waits for Close, which then discards the trace.
func (w *TraceWriter) Record(st *Stage) error {
	switch {
	case w.state == 0:
		return fmt.Errorf("probes: trace %s: Record before Init", w.path)
	case w.state == 2:
		return fmt.Errorf("probes: trace %s: %w", w.path, ErrClosed)
	case w.err != nil:
		return w.err
	}
	if err := w.record(st); err != nil {
		w.err = err
		return err
	}
	return nil
}

func (w *TraceWriter) record(st *Stage) error {
	if err := checkStage(&w.info, st); err != nil {
		return err
	}
	last, err := w.seq.step(st)
	if err != nil {
		return err
	}
	S, Q, K, HW := w.info.NumStages, w.info.NumQueries, w.info.NumClasses, st.H*st.W
	s := st.Stage
	P := 0
	if w.settings.KeepMP {
		P = st.NumMP
	}
	if s == 0 {
		if w.seen[st.Image] {
			return stageErr(st, "image recorded twice")
		}
		w.seen[st.Image] = true
		w.img = TraceImageInfo{Index: st.Image, HasGT: st.GT != nil, NumMP: P, Match: st.Match != nil}
		G := 0
		if st.GT != nil {
			G = len(st.GT.Classes)
			w.img.GT = G
			w.gtCls = w.gtCls[:0]
			w.gtMasks = w.gtMasks[:0]
			for g, c := range st.GT.Classes {
				w.gtCls = append(w.gtCls, int32(c))
				m := st.GT.Masks[g]
				for i := 0; i < HW; i++ {
					w.gtMasks = append(w.gtMasks, byte(m.Words[i>>6]>>uint(i&63)&1))
				}
			}
		}
		w.cls = grow(w.cls, S*Q*(K+1))
		w.unb = grow(w.unb, S*Q)
		w.match = grow(w.match, S*G)
		w.mpMask = grow(w.mpMask, S*P*HW)
		w.mpCls = grow(w.mpCls, S*P*(K+1))
		w.mpUnb = grow(w.mpUnb, S*P)
		w.attn = map[int]*attnBuf{}
		if err := w.beginEntry(st.Image, "mask_logits", w.maskDType(), []int{S, Q, st.H, st.W}); err != nil {
			return err
		}
	}
	// Mask logits: matching rows stream to the open entry.
	mp := st.NumMP * HW
	var err2 error
	if w.settings.Float16 {
		err2 = w.ew.f16(st.MaskLogits[mp:])
	} else {
		err2 = w.ew.f32(st.MaskLogits[mp:])
	}
	if err2 != nil {
		return w.ioErr(err2)
	}
	k1 := K + 1
	copy(w.cls[s*Q*k1:], st.ClassLogits[st.NumMP*k1:])
	if P > 0 {
		copy(w.mpMask[s*P*HW:], st.MaskLogits[:mp])
		copy(w.mpCls[s*P*k1:], st.ClassLogits[:P*k1])
	}
	if st.Unblocked != nil {
		for r, u := range st.Unblocked {
			switch {
			case r < st.NumMP:
				if P > 0 {
					w.mpUnb[s*P+r] = b2u(u)
				}
			default:
				w.unb[s*Q+r-st.NumMP] = b2u(u)
			}
		}
	}
	if cells := st.AttnH * st.AttnW; cells > 0 {
		a := &attnBuf{h: st.AttnH, w: st.AttnW, rows: make([]byte, Q*cells)}
		for i, b := range st.AttnMask[st.NumMP*cells:] {
			a.rows[i] = b2u(b)
		}
		if P > 0 {
			a.mpRow = make([]byte, P*cells)
			for i, b := range st.AttnMask[:P*cells] {
				a.mpRow[i] = b2u(b)
			}
		}
		w.attn[s] = a
	}
	if st.Match != nil {
		for g, q := range st.Match {
			w.match[s*len(st.Match)+g] = int32(q)
		}
	}
	if last {
		return w.finishImage()
	}
	return nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func (w *TraceWriter) maskDType() string {
	if w.settings.Float16 {
		return dtF16
	}
	return dtF32
}

func (w *TraceWriter) ioErr(err error) error {
	return fmt.Errorf("probes: trace %s: write: %w", w.npzPath, err)
}

// beginEntry finishes the open entry and starts img<index>/<name>.npy.
func (w *TraceWriter) beginEntry(index int, name, dtype string, shape []int) error {
	if err := w.ew.w.Flush(); err != nil {
		return w.ioErr(err)
	}
	full := imgPrefix(index) + name
	ent, err := w.zw.Create(full, dtype, shape)
	if err != nil {
		return w.ioErr(err)
	}
	w.ew.w.Reset(ent)
	w.side.Arrays = append(w.side.Arrays, ArrayInfo{Name: full, DType: dtype, Shape: shape})
	return nil
}

// finishImage writes the buffered arrays of the image.
func (w *TraceWriter) finishImage() error {
	S, Q, K, H, W := w.info.NumStages, w.info.NumQueries, w.info.NumClasses, w.info.MaskH, w.info.MaskW
	im, P, G := w.img.Index, w.img.NumMP, w.img.GT
	type entry struct {
		name, dtype string
		shape       []int
		write       func() error
	}
	f32 := func(v []float32) func() error { return func() error { return w.ew.f32(v) } }
	u8 := func(v []byte) func() error { return func() error { return w.ew.bytes(v) } }
	ents := []entry{}
	if P > 0 {
		mpMask := func() error { return w.ew.f32(w.mpMask) }
		if w.settings.Float16 {
			mpMask = func() error { return w.ew.f16(w.mpMask) }
		}
		ents = append(ents, entry{"mp_mask_logits", w.maskDType(), []int{S, P, H, W}, mpMask})
	}
	ents = append(ents, entry{"class_logits", dtF32, []int{S, Q, K + 1}, f32(w.cls)})
	if P > 0 {
		ents = append(ents, entry{"mp_class_logits", dtF32, []int{S, P, K + 1}, f32(w.mpCls)})
	}
	for _, s := range sortedKeys(w.attn) {
		a := w.attn[s]
		name := "attn_mask_s" + strconv.Itoa(s)
		ents = append(ents, entry{name, dtBool, []int{Q, a.h, a.w}, u8(a.rows)})
		if P > 0 {
			ents = append(ents, entry{"mp_" + name, dtBool, []int{P, a.h, a.w}, u8(a.mpRow)})
		}
	}
	ents = append(ents, entry{"unblocked", dtU8, []int{S, Q}, u8(w.unb)})
	if P > 0 {
		ents = append(ents, entry{"mp_unblocked", dtU8, []int{S, P}, u8(w.mpUnb)})
	}
	if w.img.Match {
		ents = append(ents, entry{"match", dtI32, []int{S, G}, func() error { return w.ew.i32(w.match) }})
	}
	if w.img.HasGT {
		ents = append(ents,
			entry{"gt_masks", dtU8, []int{G, H, W}, u8(w.gtMasks)},
			entry{"gt_classes", dtI32, []int{G}, func() error { return w.ew.i32(w.gtCls) }})
	}
	for _, e := range ents {
		if err := w.beginEntry(im, e.name, e.dtype, e.shape); err != nil {
			return err
		}
		if err := e.write(); err != nil {
			return w.ioErr(err)
		}
	}
	if err := w.ew.w.Flush(); err != nil {
		return w.ioErr(err)
	}
	w.side.Images = append(w.side.Images, w.img)
	w.attn = nil
	return nil
}

// Close finishes the archive and moves the .npz and then the sidecar into
// place (an older sidecar of the same name is removed first, so the pair on
// disk always belongs together). If any Record failed, or an image is
// incomplete, it discards the trace instead and returns the error.
func (w *TraceWriter) Close() error {
	switch w.state {
	case 0:
		return fmt.Errorf("probes: trace %s: Close before Init", w.path)
	case 2:
		return fmt.Errorf("probes: trace %s: %w", w.path, ErrClosed)
	}
	if w.err == nil {
		w.err = w.seq.incomplete()
	}
	if w.err != nil {
		err := w.err
		w.Abort()
		return fmt.Errorf("probes: trace %s not written: %w", w.npzPath, err)
	}
	w.state = 2
	err := w.finish()
	if err != nil {
		w.removeTmp()
	}
	return err
}

func (w *TraceWriter) finish() error {
	if err := w.ew.w.Flush(); err != nil {
		return w.ioErr(err)
	}
	if err := w.zw.Close(); err != nil {
		return w.ioErr(err)
	}
	// zip.Writer.Close flushes its bufio.Writer into count.
	if err := w.tmp.Sync(); err != nil {
		return w.ioErr(err)
	}
	if err := w.tmp.Close(); err != nil {
		return w.ioErr(err)
	}
	if err := os.Chmod(w.tmp.Name(), 0o644); err != nil {
		return w.ioErr(err)
	}
	w.side.NPZBytes = w.count.n
	js, err := json.MarshalIndent(&w.side, "", "  ")
	if err != nil {
		return fmt.Errorf("probes: trace %s: sidecar: %w", w.jsonPath, err)
	}
	if err := os.Remove(w.jsonPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("probes: trace %s: %w", w.jsonPath, err)
	}
	if err := os.Rename(w.tmp.Name(), w.npzPath); err != nil {
		return fmt.Errorf("probes: trace %s: %w", w.npzPath, err)
	}
	w.tmp = nil
	if err := atomicfile.WriteBytes(w.jsonPath, append(js, '\n')); err != nil {
		return fmt.Errorf("probes: trace %s: sidecar: %w", w.jsonPath, err)
	}
	return nil
}

// Abort discards the trace: the temporary file is removed and nothing is
// left under the final names that was not there before. It is safe to call
// after Close (it then does nothing).
func (w *TraceWriter) Abort() error {
	if w.state == 2 {
		return nil
	}
	w.state = 2
	w.removeTmp()
	return nil
}

func (w *TraceWriter) removeTmp() {
	if w.tmp != nil {
		w.tmp.Close()
		os.Remove(w.tmp.Name())
		w.tmp = nil
	}
}

// Paths returns the .npz and sidecar the writer writes (after Init).
func (w *TraceWriter) Paths() (npz, sidecar string) { return w.npzPath, w.jsonPath }
