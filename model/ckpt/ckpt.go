package ckpt

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/npy"
	"github.com/mpanalyze/mpanalyze/model/optim"
)

// FormatVersion is the value of Meta.Format written by Save and required
// by Load.
const FormatVersion = "mpanalyze-checkpoint/1"

// MetaName is the name of the metadata array (zip entry "meta.json.npy").
const MetaName = "meta.json"

// Array name prefixes.
const (
	ParamPrefix = "param/"  // model parameters: "param/<Param.Name>"
	AdamMPrefix = "adam_m/" // AdamW first moments: "adam_m/<Param.Name>"
	AdamVPrefix = "adam_v/" // AdamW second moments: "adam_v/<Param.Name>"
)

// Error categories; every error from Load, GetParams and GetAdamW wraps
// one of them (test with errors.Is) and names the file and the array.
var (
	ErrNotNPZ     = errors.New("not a zip/npz file")
	ErrTruncated  = errors.New("truncated file")
	ErrCorrupt    = errors.New("corrupt entry")
	ErrNoMeta     = errors.New("missing " + MetaName)
	ErrMeta       = errors.New("bad " + MetaName)
	ErrDType      = errors.New("wrong dtype")
	ErrMissing    = errors.New("missing array")
	ErrShape      = errors.New("shape mismatch")
	ErrUnexpected = errors.New("unexpected array")
)

// Array is a float32 array in C (row-major) order: len(Data) is the
// product of Shape (1 for the empty shape, a scalar).
type Array struct {
	Shape []int
	Data  []float32
}

// Meta is the checkpoint's metadata, stored as the JSON document meta.json.
// Model and Train hold the trainer's own configuration documents verbatim;
// Extra holds any other fields the trainer wants. Decoding rejects unknown
// top-level keys, so nothing in a file is silently dropped on a re-save.
type Meta struct {
	// Format is FormatVersion; Save sets it.
	Format string `json:"format"`
	// ToolVersion is the mpanalyze version (and git revision) that wrote
	// the file.
	ToolVersion string `json:"tool_version,omitempty"`
	// Step is the number of training iterations completed.
	Step int64 `json:"step"`
	// Model is the model configuration (any JSON value).
	Model json.RawMessage `json:"model,omitempty"`
	// Train is the training configuration (any JSON value).
	Train json.RawMessage `json:"train,omitempty"`
	// Run is the configuration of the run that wrote the file (any JSON
	// value; package run types it).
	Run json.RawMessage `json:"run,omitempty"`
	// RNG holds named generator states (PutRNG / GetRNG).
	RNG map[string]RNGState `json:"rng,omitempty"`
	// Optimizer describes the optimiser state stored in the adam_m/ and
	// adam_v/ arrays (PutAdamW / GetAdamW); nil when there is none.
	Optimizer *OptimizerMeta `json:"optimizer,omitempty"`
	// Extra holds any further fields, keyed by name.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// OptimizerMeta is the scalar part of an optimiser state.
type OptimizerMeta struct {
	Name   string            `json:"name"` // "adamw"
	Step   int64             `json:"step"` // AdamW.StepCount: t of the bias corrections
	Config optim.AdamWConfig `json:"config"`
}

// RNGState is an rng.RNG state. It is written to JSON as four 16-digit hex
// strings, so tools that read JSON numbers as float64 cannot round it.
type RNGState [4]uint64

// MarshalJSON writes ["0123456789abcdef", ...].
func (s RNGState) MarshalJSON() ([]byte, error) {
	var h [4]string
	for i, x := range s {
		h[i] = fmt.Sprintf("%016x", x)
	}
	return json.Marshal(h)
}

// UnmarshalJSON reads four hex strings.
func (s *RNGState) UnmarshalJSON(b []byte) error {
	var h [4]string
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("rng state: %w", err)
	}
	for i, x := range h {
		if len(x) != 16 {
			return fmt.Errorf("rng state word %d %q is not 16 hex digits", i, x)
		}
		var v uint64
		if _, err := fmt.Sscanf(x, "%x", &v); err != nil {
			return fmt.Errorf("rng state word %d %q: %w", i, x, err)
		}
		s[i] = v
	}
	return nil
}

// Checkpoint is the content of a checkpoint file: metadata and named
// float32 arrays. See the package documentation for the file layout.
type Checkpoint struct {
	Meta   Meta
	Arrays map[string]Array
	// path is the file Load read, for error messages ("" if built in memory).
	path string
}

// New returns an empty checkpoint.
func New() *Checkpoint { return &Checkpoint{Arrays: map[string]Array{}} }

// Path returns the file the checkpoint was loaded from ("" if it was built
// in memory).
func (c *Checkpoint) Path() string { return c.path }

func (c *Checkpoint) where() string {
	if c.path == "" {
		return "in-memory checkpoint"
	}
	return c.path
}

// checkName reports an array name Save refuses: empty, the metadata name,
// or one that would make an odd zip path.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty array name")
	case name == MetaName:
		return fmt.Errorf("array name %q is reserved for the metadata", name)
	case strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00"):
		return fmt.Errorf("array name %q has a leading '/', a '\\' or a NUL", name)
	case slices.Contains(strings.Split(name, "/"), ".."):
		return fmt.Errorf("array name %q has a '..' element", name)
	}
	return nil
}

// fixedTime is the modification time of every zip entry, so that equal
// checkpoints are equal files (the zip epoch, 1980-01-01).
var fixedTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Save writes c to path atomically (a temporary file in the same directory,
// synced and renamed; on error the old file is untouched). Entries are
// uncompressed (like numpy.savez) and in sorted name order, with a fixed
// timestamp, so equal checkpoints give byte-identical files. Save sets
// c.Meta.Format to FormatVersion.
func Save(path string, c *Checkpoint) error {
	names := make([]string, 0, len(c.Arrays)+1)
	for name, a := range c.Arrays {
		if err := checkName(name); err != nil {
			return fmt.Errorf("ckpt: save %s: %w", path, err)
		}
		n := 1
		for _, d := range a.Shape {
			if d < 0 {
				return fmt.Errorf("ckpt: save %s: array %q has negative dimension in shape %v", path, name, a.Shape)
			}
			n *= d
		}
		if n != len(a.Data) {
			return fmt.Errorf("ckpt: save %s: array %q has %d values for shape %v (%d)", path, name, len(a.Data), a.Shape, n)
		}
		names = append(names, name)
	}
	c.Meta.Format = FormatVersion
	m := c.Meta
	m.Extra = withArrayList(c.Meta.Extra, c.Arrays)
	meta, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return fmt.Errorf("ckpt: save %s: encode %s: %w", path, MetaName, err)
	}
	meta = append(meta, '\n')
	names = append(names, MetaName)
	slices.Sort(names)
	return atomicfile.Write(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		buf := make([]byte, 1<<16)
		for _, name := range names {
			ew, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store, Modified: fixedTime})
			if err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
			if name == MetaName {
				err = writeU8(ew, meta)
			} else {
				a := c.Arrays[name]
				err = writeF32(ew, a.Shape, a.Data, buf)
			}
			if err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
		}
		return zw.Close()
	})
}

func writeU8(w io.Writer, b []byte) error {
	if err := npy.WriteHeader(w, dtypeU8, []int{len(b)}); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func writeF32(w io.Writer, shape []int, data []float32, buf []byte) error {
	if err := npy.WriteHeader(w, dtypeF32, shape); err != nil {
		return err
	}
	return npy.WriteElems(w, data, buf)
}

// Load reads a checkpoint written by Save, or any .npz whose arrays are
// float32 ('<f4', C order) plus a uint8 meta.json array holding a Meta
// document of FormatVersion (numpy.savez and numpy.savez_compressed files
// qualify). Every array in the file is loaded, including ones no caller
// asks for; GetParams and GetAdamW reject unknown arrays under their own
// prefixes. On a bad file Load returns one error naming the file, the entry
// and the cause, wrapping ErrNotNPZ, ErrTruncated, ErrCorrupt, ErrNoMeta,
// ErrMeta or ErrDType; it does not panic.
func Load(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ckpt: load: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ckpt: load: %w", err)
	}
	c, err := read(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("ckpt: load %s: %w", path, err)
	}
	c.path = path
	return c, nil
}

// read parses an npz of the given size.
func read(r io.ReaderAt, size int64) (*Checkpoint, error) {
	if size == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrTruncated)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		var head [4]byte
		n, _ := r.ReadAt(head[:], 0)
		if n >= 2 && head[0] == 'P' && head[1] == 'K' {
			if zipEndIntact(r, size) {
				return nil, fmt.Errorf("%w: the zip directory is damaged, though the file has its full length (%d bytes; %w)", ErrCorrupt, size, err)
			}
			return nil, fmt.Errorf("%w: a zip archive without a readable end (%d bytes; %w)", ErrTruncated, size, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrNotNPZ, err)
	}
	names := make([]string, len(zr.File))
	for i, zf := range zr.File {
		names[i] = zf.Name
	}
	if n := damagedMetaName(names); n != "" {
		return nil, fmt.Errorf("%w: no %s.npy entry, but one named %q (the file is damaged)", ErrCorrupt, MetaName, n)
	}
	c := New()
	var metaRaw []byte
	seen := map[string]bool{}
	for _, zf := range zr.File {
		name, ok := strings.CutSuffix(zf.Name, ".npy")
		if !ok {
			return nil, fmt.Errorf("%w: entry %q is not a .npy array", ErrCorrupt, zf.Name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: entry %q appears twice", ErrCorrupt, zf.Name)
		}
		seen[name] = true
		a, raw, err := readEntry(zf, size, name == MetaName)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", zf.Name, err)
		}
		if name == MetaName {
			metaRaw = raw
		} else {
			c.Arrays[name] = a
		}
	}
	if metaRaw == nil {
		return nil, fmt.Errorf("%w: no %s.npy entry among %d entries", ErrNoMeta, MetaName, len(zr.File))
	}
	dec := json.NewDecoder(bytes.NewReader(metaRaw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Meta); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMeta, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: text after the JSON document", ErrMeta)
	}
	if c.Meta.Format != FormatVersion {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrMeta, c.Meta.Format, FormatVersion)
	}
	if err := checkArrayList(c); err != nil {
		return nil, err
	}
	return c, nil
}

// readEntry reads one .npy entry: a float32 array, or (meta) 1-D uint8
// bytes. Sizes are checked against the zip directory before anything is
// allocated, and the entry is read to its end so that the CRC is verified.
func readEntry(zf *zip.File, fileSize int64, meta bool) (Array, []byte, error) {
	usize := zf.UncompressedSize64
	switch zf.Method {
	case zip.Store:
		if zf.CompressedSize64 != usize {
			return Array{}, nil, fmt.Errorf("%w: stored entry with compressed size %d != size %d", ErrCorrupt, zf.CompressedSize64, usize)
		}
	case zip.Deflate:
		// Deflate expands at most 1032:1.
		if usize/1032 > zf.CompressedSize64+1 {
			return Array{}, nil, fmt.Errorf("%w: size %d is impossible for %d compressed bytes", ErrCorrupt, usize, zf.CompressedSize64)
		}
	default:
		return Array{}, nil, fmt.Errorf("%w: unsupported zip compression method %d", ErrCorrupt, zf.Method)
	}
	if zf.CompressedSize64 > uint64(fileSize) {
		// The zip directory was read, so the file is not cut short: the
		// directory is damaged.
		return Array{}, nil, fmt.Errorf("%w: compressed size %d exceeds the file size %d", ErrCorrupt, zf.CompressedSize64, fileSize)
	}
	rc, err := zf.Open()
	if err != nil {
		return Array{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer rc.Close()
	a, raw, err := decodeEntry(rc, usize, meta)
	if err != nil && !errors.Is(err, zip.ErrChecksum) {
		// A damaged byte may show up as a malformed header or a wrong
		// size before the CRC-32 is checked at the end of the entry; if
		// the CRC fails, that is the cause to report.
		if _, cerr := io.Copy(io.Discard, rc); errors.Is(cerr, zip.ErrChecksum) {
			return Array{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, readErr(cerr))
		}
	}
	return a, raw, err
}

// decodeEntry parses one .npy entry of usize bytes from rc.
func decodeEntry(rc io.Reader, usize uint64, meta bool) (Array, []byte, error) {
	info, err := npy.ReadHeader(rc)
	if err != nil {
		return Array{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, readErr(err))
	}
	if info.Fortran {
		return Array{}, nil, fmt.Errorf("%w: Fortran-order arrays are not supported (shape %v)", ErrDType, info.Shape)
	}
	itemLen := npy.ItemSize(info.Descr)
	if meta {
		if itemLen != 1 || !strings.Contains(info.Descr, "u1") || len(info.Shape) != 1 {
			return Array{}, nil, fmt.Errorf("%w: %s must be a 1-D uint8 array, found dtype %q shape %v", ErrDType, MetaName, info.Descr, info.Shape)
		}
	} else if info.Descr != dtypeF32 {
		return Array{}, nil, fmt.Errorf("%w: dtype %q, want float32 ('<f4')", ErrDType, info.Descr)
	}
	nelem := info.NumElems()
	dataLen := nelem * itemLen
	if uint64(info.DataOffset)+uint64(dataLen) != usize {
		return Array{}, nil, fmt.Errorf("%w: %d-byte entry does not hold a %d-byte header and %d×%d data bytes for shape %v",
			ErrCorrupt, usize, info.DataOffset, nelem, itemLen, info.Shape)
	}
	var a Array
	var raw []byte
	if meta {
		raw = make([]byte, dataLen)
		if _, err := io.ReadFull(rc, raw); err != nil {
			return Array{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, readErr(err))
		}
	} else {
		a.Shape = info.Shape
		a.Data = make([]float32, nelem)
		if err := npy.ReadElems(rc, a.Data, make([]byte, min(1<<16, dataLen))); err != nil {
			return Array{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, readErr(err))
		}
	}
	// Read past the end: the zip reader checks the CRC-32 at EOF.
	var one [1]byte
	if n, err := rc.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			return Array{}, nil, fmt.Errorf("%w: data continues past the declared size", ErrCorrupt)
		}
		return Array{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, readErr(err))
	}
	return a, raw, nil
}

// readErr names the common zip read failures.
func readErr(err error) error {
	switch {
	case errors.Is(err, zip.ErrChecksum):
		return fmt.Errorf("CRC-32 mismatch, the data is damaged (%w)", err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("data ends early (%w)", err)
	}
	return err
}
