package npz

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mpanalyze/mpanalyze/internal/npy"
)

// Suffix ends every entry name of an .npz archive.
const Suffix = ".npy"

// Error categories; errors of NewReader and Entry.Open wrap one of them.
var (
	// ErrNotNPZ: the file is not a zip archive.
	ErrNotNPZ = errors.New("not a zip/npz file")
	// ErrTruncated: the file ends early (empty, no readable central
	// directory, or an entry larger than the file).
	ErrTruncated = errors.New("truncated file")
	// ErrCorrupt: an entry cannot be decoded: bad .npy header, size
	// mismatch, CRC-32 mismatch, unknown compression, data that ends early
	// or continues past the array.
	ErrCorrupt = errors.New("corrupt entry")
)

// Error is a bad archive or entry: its Kind (ErrNotNPZ, ErrTruncated or
// ErrCorrupt) and what was found. Callers with their own error categories
// (probes' TraceError) map Kind and keep Err as the cause.
type Error struct {
	Kind error
	Err  error
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Err.Error() }

// Unwrap returns the kind and the cause, for errors.Is.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

func errorf(kind error, format string, a ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, a...)}
}

// ModTime is the modification time of every entry Writer writes.
var ModTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Writer writes an .npz archive.
type Writer struct {
	zw     *zip.Writer
	method uint16
}

// NewWriter returns a writer of an archive into w whose entries are
// uncompressed (numpy.savez), or deflated when deflate is true
// (numpy.savez_compressed; archive/zip's default compression level).
func NewWriter(w io.Writer, deflate bool) *Writer {
	m := zip.Store
	if deflate {
		m = zip.Deflate
	}
	return &Writer{zw: zip.NewWriter(w), method: m}
}

// Create finishes the previous entry and starts the entry "<name>.npy"
// with the .npy header of a C-order array of the given descriptor and
// shape. The caller writes the data (exactly the header's element count ×
// item size bytes) to the returned writer before the next Create or Close.
func (w *Writer) Create(name, descr string, shape []int) (io.Writer, error) {
	h, err := npy.AppendHeader(nil, descr, shape)
	if err != nil {
		return nil, err
	}
	ew, err := w.zw.CreateHeader(&zip.FileHeader{Name: name + Suffix, Method: w.method, Modified: ModTime})
	if err != nil {
		return nil, err
	}
	if _, err := ew.Write(h); err != nil {
		return nil, err
	}
	return ew, nil
}

// Close finishes the last entry and writes the central directory. It does
// not close the underlying writer.
func (w *Writer) Close() error { return w.zw.Close() }

// Reader is an open .npz archive.
type Reader struct {
	// Entries are the archive's entries in file order, duplicates and
	// entries that are not .npy arrays included: the caller decides what
	// to accept.
	Entries []Entry
	size    int64
}

// Entry is one entry of an archive.
type Entry struct {
	// Name is the entry's name without the ".npy" suffix when NPY is
	// true, else its full name.
	Name string
	// NPY reports whether the name ends in ".npy".
	NPY bool
	// File is the zip entry.
	File *zip.File

	archive int64 // size of the archive
}

// NewReader opens the archive of the given size. It fails with ErrTruncated
// on an empty file or a zip archive whose end cannot be read (a file cut
// short), with ErrCorrupt on a full-length zip archive whose directory or
// end record is damaged (zipEndIntact), and with ErrNotNPZ on anything
// else that is not a zip archive.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size == 0 {
		return nil, errorf(ErrTruncated, "the file is empty")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		var head [2]byte
		if n, _ := r.ReadAt(head[:], 0); n == 2 && head == [2]byte{'P', 'K'} {
			if zipEndIntact(r, size) {
				return nil, errorf(ErrCorrupt, "the zip directory is damaged, though the file has its full length (%d bytes; %w)", size, err)
			}
			return nil, errorf(ErrTruncated, "a zip archive without a readable end (%d bytes; %w)", size, err)
		}
		return nil, &Error{ErrNotNPZ, err}
	}
	out := &Reader{Entries: make([]Entry, len(zr.File)), size: size}
	for i, zf := range zr.File {
		name, ok := strings.CutSuffix(zf.Name, Suffix)
		if !ok || name == "" {
			name, ok = zf.Name, false
		}
		out.Entries[i] = Entry{Name: name, NPY: ok, File: zf, archive: size}
	}
	return out, nil
}

// Size returns the size of the archive.
func (r *Reader) Size() int64 { return r.size }

// maxDeflateRatio is the most deflate can expand: 258 bytes from about
// two bits, 1032:1.
const maxDeflateRatio = 1032

// Array is an open .npy entry, positioned at its data.
type Array struct {
	Header npy.Header
	// DataLen is the number of data bytes: NumElems × the item size.
	DataLen int64
	// R reads the data, buffered.
	R  *bufio.Reader
	rc io.ReadCloser
}

// Open opens the entry as a .npy array. It checks the compression method
// and the sizes in the zip directory (an entry larger than the archive,
// a deflated size deflate cannot reach), parses the .npy header, calls
// accept (when not nil) with it, whose error is returned unchanged, and
// then checks that the entry holds exactly the header and the data
// (NumElems × the item size of a numeric dtype, npy.ItemSize). The caller
// reads DataLen bytes, then calls Finish, and Close in every case.
//
// br, when not nil, is reset onto the entry and buffers every read (one
// per goroutine can serve any number of entries, one at a time); nil
// allocates a buffer.
func (e *Entry) Open(br *bufio.Reader, accept func(h npy.Header) error) (*Array, error) {
	zf := e.File
	usize, csize := zf.UncompressedSize64, zf.CompressedSize64
	switch zf.Method {
	case zip.Store:
		if csize != usize {
			return nil, errorf(ErrCorrupt, "stored entry with compressed size %d != size %d", csize, usize)
		}
	case zip.Deflate:
		if usize/maxDeflateRatio > csize+1 {
			return nil, errorf(ErrCorrupt, "size %d is impossible for %d compressed bytes", usize, csize)
		}
	default:
		return nil, errorf(ErrCorrupt, "unsupported zip compression method %d", zf.Method)
	}
	if csize > uint64(e.archive) {
		// The zip directory was read, so the file is not cut short: the
		// directory is damaged.
		return nil, errorf(ErrCorrupt, "compressed size %d exceeds the file size %d", csize, e.archive)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, &Error{ErrCorrupt, err}
	}
	if br == nil {
		br = bufio.NewReaderSize(rc, 1<<12)
	} else {
		br.Reset(rc)
	}
	a := &Array{R: br, rc: rc}
	fail := func(err error) (*Array, error) {
		if !errors.Is(err, zip.ErrChecksum) {
			// A damaged byte may show up as a malformed header or a
			// wrong size before the CRC-32 is checked at the end of the
			// entry; if the CRC fails, that is the cause to report.
			if _, cerr := io.Copy(io.Discard, br); errors.Is(cerr, zip.ErrChecksum) {
				err = &Error{ErrCorrupt, ReadErr(cerr)}
			}
		}
		rc.Close()
		return nil, err
	}
	a.Header, err = npy.ReadHeader(br)
	if err != nil {
		return fail(&Error{ErrCorrupt, ReadErr(err)})
	}
	if accept != nil {
		if err := accept(a.Header); err != nil {
			return fail(err)
		}
	}
	item := npy.ItemSize(a.Header.Descr)
	if item == 0 {
		return fail(errorf(ErrCorrupt, "unsupported dtype %q", a.Header.Descr))
	}
	n := a.Header.NumElems()
	if n > npy.MaxElems/item {
		return fail(errorf(ErrCorrupt, "shape %v is too large", a.Header.Shape))
	}
	a.DataLen = int64(n * item)
	if uint64(a.Header.DataOffset)+uint64(a.DataLen) != usize {
		return fail(errorf(ErrCorrupt, "entry has %d bytes, which does not hold a %d-byte header and %d×%d data bytes for shape %v",
			usize, a.Header.DataOffset, n, item, a.Header.Shape))
	}
	return a, nil
}

// Read reads the array's data.
func (a *Array) Read(p []byte) (int, error) { return a.R.Read(p) }

// Finish checks that the data ends where the header says, which makes the
// zip reader verify the entry's CRC-32. Call it after reading DataLen
// bytes. Its error wraps ErrCorrupt.
func (a *Array) Finish() error {
	var one [1]byte
	n, err := io.ReadFull(a.R, one[:])
	switch {
	case n != 0:
		return errorf(ErrCorrupt, "data continues past the declared size")
	case err != io.EOF:
		return &Error{ErrCorrupt, ReadErr(err)}
	}
	return nil
}

// Close closes the entry.
func (a *Array) Close() error { return a.rc.Close() }

// ReadErr names the common zip read failures: a CRC-32 mismatch and data
// that ends early. Other errors are returned unchanged.
func ReadErr(err error) error {
	switch {
	case errors.Is(err, zip.ErrChecksum):
		return fmt.Errorf("CRC-32 mismatch, the data is damaged (%w)", err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("data ends early (%w)", err)
	}
	return err
}
