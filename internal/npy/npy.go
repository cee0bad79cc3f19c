package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Magic starts every .npy file.
const Magic = "\x93NUMPY"

const (
	// Align is the multiple of bytes at which the data starts.
	Align = 64
	// MaxHeaderLen bounds the header length ReadHeader accepts (numpy ≥
	// 1.24 refuses headers over 10 000 bytes by default).
	MaxHeaderLen = 1 << 16
	// MaxDims is the most dimensions a shape may have (NPY_MAXDIMS of
	// numpy 2).
	MaxDims = 64
	// MaxElems bounds the element count of a shape, so that the data size
	// of any element type up to 8 bytes fits in an int.
	MaxElems = math.MaxInt / 8
)

var (
	// ErrNotNPY: the input does not start with Magic.
	ErrNotNPY = errors.New("not a .npy array")
	// ErrHeader: the preamble or header is truncated or malformed, or
	// has a format version other than 1.0, 2.0 and 3.0.
	ErrHeader = errors.New("malformed .npy header")
)

// Header is a parsed .npy header.
type Header struct {
	Descr   string // the dtype descriptor, e.g. "<f4", "|u1"
	Fortran bool   // fortran_order: the data is in column-major order
	Shape   []int  // the array shape; empty (not nil) for a 0-d array
	// DataOffset is the number of bytes before the data: the preamble and
	// the header.
	DataOffset int
}

// NumElems returns the number of elements of the shape (1 for a 0-d
// array). For a Header from ReadHeader it is at most MaxElems.
func (h Header) NumElems() int {
	n := 1
	for _, d := range h.Shape {
		n *= d
	}
	return n
}

// ItemSize returns the bytes per element of a simple numeric descriptor:
// an optional byte order ('<', '>' or '|'), a kind ('b' bool, 'i' or 'u'
// integer, 'f' float, 'c' complex) and a size numpy has, as in "<f4",
// "|u1" or "u1". It returns 0 for any other descriptor (strings, dates,
// objects, a '=' byte order, an unknown size).
func ItemSize(descr string) int {
	if descr != "" && strings.IndexByte("<>|", descr[0]) >= 0 {
		descr = descr[1:]
	}
	if len(descr) < 2 {
		return 0
	}
	n, ok := sizeDigits[descr[1:]]
	switch descr[0] {
	case 'b':
		ok = ok && n == 1
	case 'i', 'u':
		ok = ok && n <= 8
	case 'f':
		ok = ok && n >= 2 && n <= 16
	case 'c':
		ok = ok && n >= 8
	default:
		ok = false
	}
	if !ok {
		return 0
	}
	return n
}

var sizeDigits = map[string]int{"1": 1, "2": 2, "4": 4, "8": 8, "16": 16, "32": 32}

// AppendHeader appends to dst the format 1.0 preamble and header of a
// C-order array of the given descriptor and shape, and returns the
// extended slice. The header is written as numpy.lib.format does
// ("{'descr': …, 'fortran_order': False, 'shape': (…), }", a 1-tuple with
// its trailing comma), padded with spaces and a '\n' to the next multiple
// of Align bytes, without numpy's spare room for growing the first axis
// and with no padding when the header already ends on a multiple of
// Align. It fails, leaving dst unchanged, on a descriptor ReadHeader would
// reject, a negative dimension, or a shape over MaxDims dimensions or
// MaxElems elements; so what it writes always fits format 1.0.
func AppendHeader(dst []byte, descr string, shape []int) ([]byte, error) {
	if err := checkDescr(descr); err != nil {
		return dst, fmt.Errorf("npy: descr %q: %w", descr, err)
	}
	if err := checkShape(shape); err != nil {
		return dst, fmt.Errorf("npy: %w", err)
	}
	var sb strings.Builder
	sb.WriteString("{'descr': '")
	sb.WriteString(descr)
	sb.WriteString("', 'fortran_order': False, 'shape': (")
	for i, d := range shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		sb.WriteByte(',')
	}
	sb.WriteString("), }")
	dict := sb.String()
	// magic(6) + version(2) + length(2) + dict + padding + '\n'.
	total := len(Magic) + 4 + len(dict) + 1
	pad := (Align - total%Align) % Align
	hlen := len(dict) + pad + 1 // < 2600: descr and shape are bounded
	dst = slices.Grow(dst, len(Magic)+4+hlen)
	dst = append(dst, Magic...)
	dst = append(dst, 1, 0)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(hlen))
	dst = append(dst, dict...)
	for range pad {
		dst = append(dst, ' ')
	}
	return append(dst, '\n'), nil
}

// WriteHeader writes the header AppendHeader makes to w.
func WriteHeader(w io.Writer, descr string, shape []int) error {
	h, err := AppendHeader(nil, descr, shape)
	if err != nil {
		return err
	}
	_, err = w.Write(h)
	return err
}

// ReadHeader reads the preamble and header of a .npy array from r,
// leaving r at the start of the data. It accepts format versions 1.0, 2.0
// and 3.0, headers up to MaxHeaderLen bytes, and the dict literal with its
// keys in any order, single- or double-quoted, with or without a trailing
// comma, with spaces, tabs and newlines between tokens, and a Python 2 'L'
// after a dimension. It checks what numpy checks: exactly the keys
// 'descr', 'fortran_order' (True or False) and 'shape' (a tuple of
// non-negative integers), plus: descr is a simple type string (up to 1024
// bytes of printable ASCII without quotes or backslashes; structured
// dtypes are not supported), no key is repeated, the shape has at most MaxDims
// dimensions and MaxElems elements. It does not check that descr is a
// dtype numpy knows (see ItemSize) nor the alignment of the data.
//
// Errors wrap ErrNotNPY (no magic) or ErrHeader, and the io error when r
// ends early (io.EOF if r is empty, else io.ErrUnexpectedEOF).
func ReadHeader(r io.Reader) (Header, error) {
	var pre [8]byte
	n, err := io.ReadFull(r, pre[:])
	if m := min(n, len(Magic)); string(pre[:m]) != Magic[:m] {
		return Header{}, fmt.Errorf("%w: no \\x93NUMPY magic (starts %q)", ErrNotNPY, pre[:m])
	}
	if err != nil {
		return Header{}, fmt.Errorf("%w: reading the preamble: %w", ErrHeader, err)
	}
	major, minor := pre[6], pre[7]
	var lenBytes int
	switch {
	case major == 1 && minor == 0:
		lenBytes = 2
	case (major == 2 || major == 3) && minor == 0:
		lenBytes = 4
	default:
		return Header{}, fmt.Errorf("%w: unsupported format version %d.%d", ErrHeader, major, minor)
	}
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:lenBytes]); err != nil {
		return Header{}, fmt.Errorf("%w: reading the header length: %w", ErrHeader, err)
	}
	hlen := uint64(binary.LittleEndian.Uint16(lb[:]))
	if lenBytes == 4 {
		hlen = uint64(binary.LittleEndian.Uint32(lb[:]))
	}
	if hlen > MaxHeaderLen {
		return Header{}, fmt.Errorf("%w: header length %d exceeds %d", ErrHeader, hlen, MaxHeaderLen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return Header{}, fmt.Errorf("%w: reading the %d-byte header: %w", ErrHeader, hlen, err)
	}
	h, err := parseDict(string(hdr))
	if err != nil {
		return Header{}, fmt.Errorf("%w: %w", ErrHeader, err)
	}
	h.DataOffset = len(pre) + lenBytes + int(hlen)
	return h, nil
}

// maxDescr bounds the length of descr (and of the keys).
const maxDescr = 1024

// checkDescr reports whether s can be a descr: a non-empty string of
// printable ASCII without quotes or backslashes, so that it is written
// and read back unchanged without escapes, and at most maxDescr bytes.
func checkDescr(s string) error {
	if s == "" {
		return errors.New("empty string")
	}
	if len(s) > maxDescr {
		return fmt.Errorf("%d bytes, more than %d", len(s), maxDescr)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\'' || c == '"' || c == '\\' {
			return fmt.Errorf("byte %q is not allowed", c)
		}
	}
	return nil
}

// checkShape checks the dimensions of a shape.
func checkShape(shape []int) error {
	if len(shape) > MaxDims {
		return fmt.Errorf("shape has %d dimensions, more than %d", len(shape), MaxDims)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d > 0 && n > MaxElems/d {
			return fmt.Errorf("shape %v is too large (over %d elements)", shape, MaxElems)
		}
		n *= d
	}
	return nil
}
