package ckpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mpanalyze/mpanalyze/internal/atomicfile"
	"github.com/mpanalyze/mpanalyze/internal/npy"
	"github.com/mpanalyze/mpanalyze/internal/npz"
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
	ErrNotNPZ     = npz.ErrNotNPZ    // "not a zip/npz file"
	ErrTruncated  = npz.ErrTruncated // "truncated file"
	ErrCorrupt    = npz.ErrCorrupt   // "corrupt entry"
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
		zw := npz.NewWriter(w, false)
		buf := make([]byte, 1<<16)
		for _, name := range names {
			var err error
			if name == MetaName {
				err = writeU8(zw, name, meta)
			} else {
				a := c.Arrays[name]
				err = writeF32(zw, name, a.Shape, a.Data, buf)
			}
			if err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
		}
		return zw.Close()
	})
}

func writeU8(zw *npz.Writer, name string, b []byte) error {
	w, err := zw.Create(name, dtypeU8, []int{len(b)})
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func writeF32(zw *npz.Writer, name string, shape []int, data []float32, buf []byte) error {
	w, err := zw.Create(name, dtypeF32, shape)
	if err != nil {
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
	zr, err := npz.NewReader(r, size)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(zr.Entries))
	for i, e := range zr.Entries {
		names[i] = e.File.Name
	}
	if n := damagedMetaName(names); n != "" {
		return nil, fmt.Errorf("%w: no %s.npy entry, but one named %q (the file is damaged)", ErrCorrupt, MetaName, n)
	}
	c := New()
	var metaRaw []byte
	seen := map[string]bool{}
	for i := range zr.Entries {
		e := &zr.Entries[i]
		if !e.NPY {
			return nil, fmt.Errorf("%w: entry %q is not a .npy array", ErrCorrupt, e.File.Name)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("%w: entry %q appears twice", ErrCorrupt, e.File.Name)
		}
		seen[e.Name] = true
		a, raw, err := readEntry(e, e.Name == MetaName)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.File.Name, err)
		}
		if e.Name == MetaName {
			metaRaw = raw
		} else {
			c.Arrays[e.Name] = a
		}
	}
	if metaRaw == nil {
		return nil, fmt.Errorf("%w: no %s.npy entry among %d entries", ErrNoMeta, MetaName, len(zr.Entries))
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
// bytes. internal/npz checks the sizes against the zip directory before
// anything is allocated; the entry is read to its end so that the CRC is
// verified.
func readEntry(e *npz.Entry, meta bool) (Array, []byte, error) {
	accept := func(info npy.Header) error {
		if info.Fortran {
			return fmt.Errorf("%w: Fortran-order arrays are not supported (shape %v)", ErrDType, info.Shape)
		}
		if meta {
			if npy.ItemSize(info.Descr) != 1 || !strings.Contains(info.Descr, "u1") || len(info.Shape) != 1 {
				return fmt.Errorf("%w: %s must be a 1-D uint8 array, found dtype %q shape %v", ErrDType, MetaName, info.Descr, info.Shape)
			}
		} else if info.Descr != dtypeF32 {
			return fmt.Errorf("%w: dtype %q, want float32 ('<f4')", ErrDType, info.Descr)
		}
		return nil
	}
	arr, err := e.Open(nil, accept)
	if err != nil {
		return Array{}, nil, err
	}
	defer arr.Close()
	var a Array
	var raw []byte
	if meta {
		raw = make([]byte, arr.DataLen)
		if _, err := io.ReadFull(arr, raw); err != nil {
			return Array{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, npz.ReadErr(err))
		}
	} else {
		a.Shape = arr.Header.Shape
		a.Data = make([]float32, arr.Header.NumElems())
		if err := npy.ReadElems(arr, a.Data, make([]byte, min(1<<16, arr.DataLen))); err != nil {
			return Array{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, npz.ReadErr(err))
		}
	}
	if err := arr.Finish(); err != nil {
		return Array{}, nil, err
	}
	return a, raw, nil
}
