package probes

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/mpanalyze/mpanalyze/internal/npy"
)

// The .npy dtypes a trace uses, as numpy spells them (little-endian).
const (
	dtF32  = "<f4"
	dtF16  = "<f2"
	dtI32  = "<i4"
	dtU16  = "<u2"
	dtU8   = "|u1"
	dtBool = "|b1"
)

// itemSize returns the bytes per element of a trace dtype, 0 for others.
func itemSize(dtype string) int {
	switch dtype {
	case dtF32, dtF16, dtI32, dtU16, dtU8, dtBool:
		return npy.ItemSize(dtype)
	}
	return 0
}

// maxElems bounds the element count a header may announce (2⁴⁰), so that
// a corrupt header cannot make the reader allocate without limit.
const maxElems = 1 << 40

// checkNPYHeader accepts the .npy headers of a trace: its dtypes, C
// order, at most maxElems elements.
func checkNPYHeader(h npy.Header) error {
	if h.Fortran {
		return errors.New("fortran_order arrays are not supported")
	}
	if itemSize(h.Descr) == 0 {
		return fmt.Errorf("unsupported dtype %q", h.Descr)
	}
	if h.NumElems() > maxElems {
		return fmt.Errorf("bad shape %v", h.Shape)
	}
	return nil
}

// arrayWriter encodes array data little-endian into a buffered writer,
// a chunk at a time.
type arrayWriter struct {
	w       *bufio.Writer
	scratch []byte
}

const chunk = 1 << 15 // bytes encoded per Write

func (a *arrayWriter) buf() []byte {
	if a.scratch == nil {
		a.scratch = make([]byte, chunk)
	}
	return a.scratch
}

func (a *arrayWriter) f32(v []float32) error {
	return npy.WriteElems(a.w, v, a.buf())
}

func (a *arrayWriter) f16(v []float32) error {
	b := a.buf()
	for len(v) > 0 {
		n := min(len(v), chunk/2)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint16(b[2*i:], f32ToF16(x))
		}
		if _, err := a.w.Write(b[:2*n]); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

func (a *arrayWriter) i32(v []int32) error {
	return npy.WriteElems(a.w, v, a.buf())
}

func (a *arrayWriter) u16(v []uint16) error {
	b := a.buf()
	for len(v) > 0 {
		n := min(len(v), chunk/2)
		putRuns(b, v[:n])
		if _, err := a.w.Write(b[:2*n]); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

func (a *arrayWriter) bytes(v []byte) error {
	_, err := a.w.Write(v)
	return err
}

// readFloats decodes len(dst) float32 values, or float16 ones when dtype
// is "<f2".
func readFloats(r *bufio.Reader, dtype string, dst []float32) error {
	if dtype != dtF16 {
		return npy.ReadElems(r, dst, nil)
	}
	var b [chunk]byte
	for len(dst) > 0 {
		n := min(len(dst), chunk/2)
		if _, err := io.ReadFull(r, b[:2*n]); err != nil {
			return err
		}
		for i := range dst[:n] {
			dst[i] = f16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
		dst = dst[n:]
	}
	return nil
}

// f32ToF16 converts to IEEE half precision, rounding to nearest even,
// except that a non-zero value never becomes zero: values below the
// smallest subnormal (2⁻²⁴) become it, with their sign. So logit > 0 reads
// the same before and after, and the binary masks of a float16 trace equal
// those of the float32 one. Overflow gives ±Inf, NaN stays NaN.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff:
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp == 0 && man == 0:
		return sign
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half: value = m·2⁻²⁴ with m = round(|f|·2²⁴).
		if e < -10 {
			return sign | 1
		}
		m := man | 0x800000
		shift := uint(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		if h == 0 {
			h = 1
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: correct rounding
	}
	return sign | uint16(h)
}

// f16ToF32 converts IEEE half precision to float32 exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		v := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}
