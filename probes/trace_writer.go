package probes

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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
// the full layout: float32 mask logits of the matching queries,
// uncompressed.
type TraceSettings struct {
	// KeepMP also stores the MP rows of training-time stages, in the
	// img<i>/mp_* arrays. By default they are dropped (the reader then
	// yields stages with NumMP = 0).
	KeepMP bool
	// Float16 stores mask logits as float16 ("<f2"), halving the trace.
	// Rounding never turns a non-zero logit into zero, so the binary masks
	// (logit > 0) are those of the float32 logits; the values are not.
	// With Compact it keeps the mask logits, as float16.
	Float16 bool
	// Compress deflates the entries: smaller, several times slower.
	Compress bool
	// Compact writes the compact layout (TRACE.md): every stage's binary
	// masks bit-packed (np.packbits, bitorder="little"), class logits as
	// float16, attention
	// and GT masks bit-packed, matchings and GT coverage as in the full
	// layout, every entry deflated. The mask logits are dropped unless
	// Float16 is set.
	Compact bool
}

// TraceWriter is a probe that writes a trace (see TRACE.md): a .npz of
// per-image arrays and a JSON sidecar. It streams: each image's mask
// logits (or, compact without logits, its packed masks) go to the archive
// as its stages arrive, the smaller arrays when its last stage arrives, so
// it holds one image's class logits, attention masks, matchings (and, for
// a compact trace with logits, packed masks) at most. Everything goes to
// temporary files in the destination directory; Close renames them into
// place, so a crash or an error never leaves a partial trace under the
// final name.
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
	runs    runBuf // compact: the masks of the matching queries
	mpRuns  runBuf // compact: the MP rows' masks
	attn    map[int]*attnBuf
	unb     []byte
	mpUnb   []byte
	match   []int32
	gtMasks []byte // full: [G, H, W] bytes
	gtRuns  runBuf // compact: the GT masks
	gtCover []byte
	gtCls   []int32
}

// runBuf collects run-length encoded masks: the runs of every mask and
// each mask's number of runs.
type runBuf struct {
	runs   []uint16
	counts []int32
}

func (b *runBuf) reset() { b.runs, b.counts = b.runs[:0], b.counts[:0] }

// attnBuf holds one stage's attention masks: 0/1 bytes (full) or runs
// (compact).
type attnBuf struct {
	h, w        int
	rows, mpRow []byte
	runs, mp    runBuf
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
	st := Storage{Layout: LayoutFull, MaskDType: "float32", ClassDType: "float32", MPRows: w.settings.KeepMP, Compression: "stored"}
	if w.settings.Float16 {
		st.MaskDType = "float16"
	}
	if w.settings.Compact {
		st.Layout, st.ClassDType = LayoutCompact, "float16"
		if !w.settings.Float16 {
			st.MaskDType = "none"
		}
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

// keepLogits reports whether the trace stores mask logits.
func (w *TraceWriter) keepLogits() bool { return !w.settings.Compact || w.settings.Float16 }

// record checks a stage and adds it to the image being recorded: the
// matching rows' mask logits stream to the open entry, the rest is
// buffered until the image's last stage, which writes it.
func (w *TraceWriter) record(st *Stage) error {
	if err := checkStage(&w.info, st); err != nil {
		return err
	}
	if st.MaskLogits == nil && w.keepLogits() {
		return stageErr(st, "the stage has binary masks only, and this trace stores mask logits (write a compact trace without Float16)")
	}
	last, err := w.seq.step(st)
	if err != nil {
		return err
	}
	P := 0
	if w.settings.KeepMP {
		P = st.NumMP
	}
	if st.Stage == 0 {
		if err := w.beginImage(st, P); err != nil {
			return err
		}
	}
	if err := w.recordMasks(st, P); err != nil {
		return err
	}
	w.bufferRows(st, P)
	if cells := st.AttnH * st.AttnW; cells > 0 {
		w.attn[st.Stage] = w.attention(st, P)
	}
	if last {
		return w.finishImage()
	}
	return nil
}

// recordMasks writes a stage's masks of the first P MP rows (0 when MP
// rows are dropped) and the matching rows: it streams the matching rows'
// mask logits to the open entry, buffers the MP rows' ones, and in a
// compact trace buffers the runs of both.
func (w *TraceWriter) recordMasks(st *Stage, P int) error {
	Q, HW := w.info.NumQueries, st.H*st.W
	mp := st.NumMP * HW
	var err error
	switch {
	case !w.keepLogits():
	case w.settings.Float16:
		err = w.ew.f16(st.MaskLogits[mp:])
	default:
		err = w.ew.f32(st.MaskLogits[mp:])
	}
	if err != nil {
		return w.ioErr(err)
	}
	if w.settings.Compact {
		w.runs.runs, w.runs.counts = stageRuns(w.runs.runs, w.runs.counts, st, st.NumMP, Q)
		if P > 0 {
			w.mpRuns.runs, w.mpRuns.counts = stageRuns(w.mpRuns.runs, w.mpRuns.counts, st, 0, P)
		}
	}
	if P > 0 && w.keepLogits() {
		copy(w.mpMask[st.Stage*P*HW:], st.MaskLogits[:mp])
	}
	return nil
}

// bufferRows buffers a stage's class logits, unblocked flags and
// matching, for the first P MP rows and the matching rows.
func (w *TraceWriter) bufferRows(st *Stage, P int) {
	Q, k1, s := w.info.NumQueries, w.info.NumClasses+1, st.Stage
	copy(w.cls[s*Q*k1:], st.ClassLogits[st.NumMP*k1:])
	if P > 0 {
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
	if st.Match != nil {
		for g, q := range st.Match {
			w.match[s*len(st.Match)+g] = int32(q)
		}
	}
}

// attention returns a copy of a stage's attention masks, for the first P
// MP rows and the matching rows: runs (compact) or 0/1 bytes (full).
func (w *TraceWriter) attention(st *Stage, P int) *attnBuf {
	Q, cells := w.info.NumQueries, st.AttnH*st.AttnW
	a := &attnBuf{h: st.AttnH, w: st.AttnW}
	if w.settings.Compact {
		a.runs.runs, a.runs.counts = attnRuns(nil, nil, st, st.NumMP, Q)
		if P > 0 {
			a.mp.runs, a.mp.counts = attnRuns(nil, nil, st, 0, P)
		}
		return a
	}
	a.rows = make([]byte, Q*cells)
	attnBytes(a.rows, st, st.NumMP, Q)
	if P > 0 {
		a.mpRow = make([]byte, P*cells)
		attnBytes(a.mpRow, st, 0, P)
	}
	return a
}

// beginImage starts an image at its stage 0: its ground truth, its buffers
// and the streamed entry.
func (w *TraceWriter) beginImage(st *Stage, P int) error {
	S, Q, K, H, W := w.info.NumStages, w.info.NumQueries, w.info.NumClasses, st.H, st.W
	HW := H * W
	compact := w.settings.Compact
	if w.seen[st.Image] {
		return stageErr(st, "image recorded twice")
	}
	w.seen[st.Image] = true
	w.img = TraceImageInfo{Index: st.Image, HasGT: st.GT != nil, NumMP: P, Match: st.Match != nil}
	G := 0
	if gt := st.GT; gt != nil {
		G = len(gt.Classes)
		w.img.GT = G
		w.gtCls = w.gtCls[:0]
		for _, c := range gt.Classes {
			w.gtCls = append(w.gtCls, int32(c))
		}
		if compact {
			w.gtRuns.reset()
			for _, m := range gt.Masks {
				n := len(w.gtRuns.runs)
				w.gtRuns.runs = appendRuns(w.gtRuns.runs, m)
				w.gtRuns.counts = append(w.gtRuns.counts, int32(len(w.gtRuns.runs)-n))
			}
		} else {
			w.gtMasks = grow(w.gtMasks, G*HW)
			for g, m := range gt.Masks {
				for i := 0; i < HW; i++ {
					w.gtMasks[g*HW+i] = byte(m.Words[i>>6] >> uint(i&63) & 1)
				}
			}
		}
		// The coverage serves to recompute matchings, which needs mask
		// logits: a compact trace without them does not store it.
		if gt.Cover != nil && w.keepLogits() {
			if err := w.coverCounts(st, G*HW); err != nil {
				return err
			}
			w.img.Cover = true
		}
	}
	w.cls = grow(w.cls, S*Q*(K+1))
	w.unb = grow(w.unb, S*Q)
	w.match = grow(w.match, S*G)
	if w.keepLogits() {
		w.mpMask = grow(w.mpMask, S*P*HW)
	}
	w.runs.reset()
	w.mpRuns.reset()
	w.mpCls = grow(w.mpCls, S*P*(K+1))
	w.mpUnb = grow(w.mpUnb, S*P)
	w.attn = map[int]*attnBuf{}
	if w.keepLogits() {
		return w.beginEntry(st.Image, "mask_logits", ArrayInfo{DType: w.maskDType(), Shape: []int{S, Q, H, W}})
	}
	return nil
}

// coverCounts stores the GT coverage as counts of covered pixels per cell:
// coverage·stride², which must give back the coverage exactly.
func (w *TraceWriter) coverCounts(st *Stage, n int) error {
	scale := w.info.MaskStride * w.info.MaskStride
	if scale <= 0 || scale > 255 {
		return stageErr(st, "GT coverage needs a mask stride in 1..15, the run has %d", w.info.MaskStride)
	}
	w.gtCover = grow(w.gtCover, n)
	i := 0
	for g, plane := range st.GT.Cover {
		for _, v := range plane {
			c := math.Round(float64(v) * float64(scale))
			if float32(c)/float32(scale) != v {
				return stageErr(st, "GT coverage %v of segment %d is not a multiple of 1/%d (stride %d)", v, g, scale, w.info.MaskStride)
			}
			w.gtCover[i] = byte(c)
			i++
		}
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

// beginEntry finishes the open entry and starts img<index>/<name>.npy
// with a's dtype and shape.
func (w *TraceWriter) beginEntry(index int, name string, a ArrayInfo) error {
	if err := w.ew.w.Flush(); err != nil {
		return w.ioErr(err)
	}
	a.Name = imgPrefix(index) + name
	ent, err := w.zw.Create(a.Name, a.DType, a.Shape)
	if err != nil {
		return w.ioErr(err)
	}
	w.ew.w.Reset(ent)
	w.side.Arrays = append(w.side.Arrays, a)
	return nil
}

// finishImage writes the buffered arrays of the image.
func (w *TraceWriter) finishImage() error {
	l := &entryList{}
	w.predictionEntries(l)
	w.attentionEntries(l)
	w.truthEntries(l)
	for _, e := range l.ents {
		if err := w.beginEntry(w.img.Index, e.name, e.info); err != nil {
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

// traceEntry is one buffered array of an image: its name without the
// image prefix, its dtype and shape, and the writer of its data into the
// open entry.
type traceEntry struct {
	name  string
	info  ArrayInfo
	write func() error
}

// entryList collects the entries of an image in the order they are
// written.
type entryList struct{ ents []traceEntry }

// add appends an array of dtype and shape.
func (l *entryList) add(name string, write func() error, dtype string, shape ...int) {
	l.ents = append(l.ents, traceEntry{name, ArrayInfo{DType: dtype, Shape: shape}, write})
}

// addRLE appends the run-length encoded masks <name> of the given shape,
// held in b: <name>_runs and <name>_nruns.
func (l *entryList) addRLE(w *TraceWriter, name string, b *runBuf, shape ...int) {
	runs := rleInfo(shape...)
	runs.Shape = []int{len(b.runs)}
	l.ents = append(l.ents,
		traceEntry{name + "_runs", runs, func() error { return w.ew.u16(b.runs) }},
		traceEntry{name + "_nruns", nrunsInfo(shape...), func() error { return w.ew.i32(b.counts) }})
}

// floats returns the writer of v as float16 (f16) or float32.
func (w *TraceWriter) floats(v []float32, f16 bool) func() error {
	if f16 {
		return func() error { return w.ew.f16(v) }
	}
	return func() error { return w.ew.f32(v) }
}

// u8 returns the writer of v as bytes.
func (w *TraceWriter) u8(v []byte) func() error { return func() error { return w.ew.bytes(v) } }

// i32 returns the writer of v as int32.
func (w *TraceWriter) i32(v []int32) func() error { return func() error { return w.ew.i32(v) } }

// predictionEntries adds the buffered masks (compact: the runs of the
// matching and MP rows; both layouts: the MP rows' logits, when kept) and
// class logits (float16 in a compact trace) of every stage.
func (w *TraceWriter) predictionEntries(l *entryList) {
	S, Q, K, H, W := w.info.NumStages, w.info.NumQueries, w.info.NumClasses, w.info.MaskH, w.info.MaskW
	P, compact := w.img.NumMP, w.settings.Compact
	clsDT := dtF32
	if compact {
		clsDT = dtF16
	}
	if compact {
		l.addRLE(w, "mask", &w.runs, S, Q, H, W)
	}
	if P > 0 {
		if compact {
			l.addRLE(w, "mp_mask", &w.mpRuns, S, P, H, W)
		}
		if w.keepLogits() {
			l.add("mp_mask_logits", w.floats(w.mpMask, w.settings.Float16), w.maskDType(), S, P, H, W)
		}
	}
	l.add("class_logits", w.floats(w.cls, compact), clsDT, S, Q, K+1)
	if P > 0 {
		l.add("mp_class_logits", w.floats(w.mpCls, compact), clsDT, S, P, K+1)
	}
}

// attentionEntries adds the attention masks of every stage that has them
// and the unblocked flags.
func (w *TraceWriter) attentionEntries(l *entryList) {
	S, Q, P := w.info.NumStages, w.info.NumQueries, w.img.NumMP
	for _, s := range sortedKeys(w.attn) {
		a := w.attn[s]
		if w.settings.Compact {
			name := "attn_s" + strconv.Itoa(s)
			l.addRLE(w, name, &a.runs, Q, a.h, a.w)
			if P > 0 {
				l.addRLE(w, "mp_"+name, &a.mp, P, a.h, a.w)
			}
			continue
		}
		name := "attn_mask_s" + strconv.Itoa(s)
		l.add(name, w.u8(a.rows), dtBool, Q, a.h, a.w)
		if P > 0 {
			l.add("mp_"+name, w.u8(a.mpRow), dtBool, P, a.h, a.w)
		}
	}
	l.add("unblocked", w.u8(w.unb), dtU8, S, Q)
	if P > 0 {
		l.add("mp_unblocked", w.u8(w.mpUnb), dtU8, S, P)
	}
}

// truthEntries adds the matchings and the ground truth: masks (runs in a
// compact trace), classes and coverage.
func (w *TraceWriter) truthEntries(l *entryList) {
	S, H, W, G := w.info.NumStages, w.info.MaskH, w.info.MaskW, w.img.GT
	if w.img.Match {
		l.add("match", w.i32(w.match), dtI32, S, G)
	}
	if !w.img.HasGT {
		return
	}
	if w.settings.Compact {
		l.addRLE(w, "gt", &w.gtRuns, G, H, W)
	} else {
		l.add("gt_masks", w.u8(w.gtMasks), dtU8, G, H, W)
	}
	l.add("gt_classes", w.i32(w.gtCls), dtI32, G)
	if w.img.Cover {
		l.add("gt_cover", w.u8(w.gtCover), dtU8, G, H, W)
	}
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
