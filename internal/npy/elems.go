package npy

import (
	"encoding/binary"
	"io"
	"math"
)

// Elem is an element type WriteElems and ReadElems encode, little-endian
// ("<f4", "<i4").
type Elem interface{ float32 | int32 }

// chunkBytes is the scratch buffer size WriteElems and ReadElems allocate
// when given none.
const chunkBytes = 1 << 15

// scratch returns buf if it holds at least one element of size bytes,
// else a new buffer for up to n elements.
func scratch(buf []byte, size, n int) []byte {
	if len(buf) >= size {
		return buf
	}
	return make([]byte, max(size, min(n*size, chunkBytes)))
}

// WriteElems writes v little-endian to w, encoding through buf a chunk at
// a time (a buffer is allocated if buf is shorter than one element).
func WriteElems[T Elem](w io.Writer, v []T, buf []byte) error {
	const size = 4
	buf = scratch(buf, size, len(v))
	per := len(buf) / size
	for len(v) > 0 {
		n := min(per, len(v))
		switch v := any(v[:n]).(type) {
		case []float32:
			for i, x := range v {
				binary.LittleEndian.PutUint32(buf[size*i:], math.Float32bits(x))
			}
		case []int32:
			for i, x := range v {
				binary.LittleEndian.PutUint32(buf[size*i:], uint32(x))
			}
		}
		if _, err := w.Write(buf[:size*n]); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

// ReadElems fills dst with little-endian values read from r through buf
// (a buffer is allocated if buf is shorter than one element). It returns
// io.EOF if r ends before the first chunk, io.ErrUnexpectedEOF if it ends
// later.
func ReadElems[T Elem](r io.Reader, dst []T, buf []byte) error {
	const size = 4
	buf = scratch(buf, size, len(dst))
	per := len(buf) / size
	first := true
	for len(dst) > 0 {
		n := min(per, len(dst))
		if _, err := io.ReadFull(r, buf[:size*n]); err != nil {
			if err == io.EOF && !first {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		switch d := any(dst[:n]).(type) {
		case []float32:
			for i := range d {
				d[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[size*i:]))
			}
		case []int32:
			for i := range d {
				d[i] = int32(binary.LittleEndian.Uint32(buf[size*i:]))
			}
		}
		dst = dst[n:]
		first = false
	}
	return nil
}
