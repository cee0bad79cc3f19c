package probes

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The .npy dtypes a trace uses, as numpy spells them (little-endian).
const (
	dtF32  = "<f4"
	dtF16  = "<f2"
	dtI32  = "<i4"
	dtU8   = "|u1"
	dtBool = "|b1"
)

func itemSize(dtype string) int {
	switch dtype {
	case dtF32, dtI32:
		return 4
	case dtF16:
		return 2
	case dtU8, dtBool:
		return 1
	}
	return 0
}

// maxElems bounds the element count a header may announce (2⁴⁰), so that
// a corrupt header cannot make the reader allocate without limit.
const maxElems = 1 << 40

func numElems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// npyHeader returns a .npy format 1.0 header (magic, version, length,
// dict, padded with spaces and a newline to a multiple of 64 bytes), as
// numpy.lib.format writes it.
func npyHeader(dtype string, shape []int) []byte {
	var sb strings.Builder
	sb.WriteString("{'descr': '")
	sb.WriteString(dtype)
	sb.WriteString("', 'fortran_order': False, 'shape': (")
	for i, d := range shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	dict := sb.String()
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1
	b := make([]byte, 0, 10+hlen)
	b = append(b, "\x93NUMPY\x01\x00"...)
	b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	b = append(b, dict...)
	b = append(b, strings.Repeat(" ", pad)...)
	return append(b, '\n')
}

// npyInfo is a parsed .npy header.
type npyInfo struct {
	dtype  string
	shape  []int
	offset int // bytes before the data
}

// readNPYHeader parses a .npy header (format 1.0, 2.0 or 3.0). Only the
// dtypes of a trace, C order, are accepted.
func readNPYHeader(r io.Reader) (npyInfo, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return npyInfo{}, fmt.Errorf("npy header: %w", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return npyInfo{}, errors.New("not a .npy array (bad magic)")
	}
	var hlen, off int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return npyInfo{}, fmt.Errorf("npy header: %w", err)
		}
		hlen, off = int(binary.LittleEndian.Uint16(b[:])), 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return npyInfo{}, fmt.Errorf("npy header: %w", err)
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return npyInfo{}, fmt.Errorf("unsupported .npy format version %d.%d", pre[6], pre[7])
	}
	if hlen > 1<<16 {
		return npyInfo{}, fmt.Errorf("npy header of %d bytes", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return npyInfo{}, fmt.Errorf("npy header: %w", err)
	}
	dtype, fortran, shape, err := parseNPYDict(string(hb))
	if err != nil {
		return npyInfo{}, fmt.Errorf("npy header %q: %w", strings.TrimSpace(string(hb)), err)
	}
	if fortran {
		return npyInfo{}, errors.New("fortran_order arrays are not supported")
	}
	if itemSize(dtype) == 0 {
		return npyInfo{}, fmt.Errorf("unsupported dtype %q", dtype)
	}
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > maxElems/d) {
			return npyInfo{}, fmt.Errorf("bad shape %v", shape)
		}
		n *= d
	}
	return npyInfo{dtype: dtype, shape: shape, offset: off + hlen}, nil
}

// parseNPYDict parses the Python dict literal of a .npy header:
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, keys in
// any order, single or double quotes.
func parseNPYDict(s string) (dtype string, fortran bool, shape []int, err error) {
	p := &pyLit{s: strings.TrimRight(s, " \n\x00")}
	if !p.eat('{') {
		return "", false, nil, errors.New("not a dict")
	}
	seen := map[string]bool{}
	for {
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok || !p.eat(':') {
			return "", false, nil, errors.New("bad key")
		}
		seen[key] = true
		switch key {
		case "descr":
			if dtype, ok = p.str(); !ok {
				return "", false, nil, errors.New("bad descr")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				fortran = true
			case p.word("False"):
			default:
				return "", false, nil, errors.New("bad fortran_order")
			}
		case "shape":
			if shape, ok = p.tuple(); !ok {
				return "", false, nil, errors.New("bad shape")
			}
		default:
			return "", false, nil, fmt.Errorf("unknown key %q", key)
		}
		if !p.eat(',') {
			if !p.eat('}') {
				return "", false, nil, errors.New("expected ',' or '}'")
			}
			break
		}
	}
	p.skip()
	if p.i != len(p.s) {
		return "", false, nil, errors.New("trailing characters")
	}
	if !seen["descr"] || !seen["fortran_order"] || !seen["shape"] {
		return "", false, nil, errors.New("missing key")
	}
	return dtype, fortran, shape, nil
}

// pyLit scans a Python literal.
type pyLit struct {
	s string
	i int
}

func (p *pyLit) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *pyLit) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyLit) word(w string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

func (p *pyLit) str() (string, bool) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

func (p *pyLit) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	shape := []int{}
	for {
		if p.eat(')') {
			return shape, true
		}
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i || j-p.i > 15 {
			return nil, false
		}
		d, _ := strconv.Atoi(p.s[p.i:j])
		p.i = j
		p.word("L") // Python 2 longs
		shape = append(shape, d)
		if !p.eat(',') {
			return shape, p.eat(')')
		}
	}
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
	b := a.buf()
	for len(v) > 0 {
		n := min(len(v), chunk/4)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		if _, err := a.w.Write(b[:4*n]); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
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
	b := a.buf()
	for len(v) > 0 {
		n := min(len(v), chunk/4)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
		}
		if _, err := a.w.Write(b[:4*n]); err != nil {
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
	var b [chunk]byte
	size := 4
	if dtype == dtF16 {
		size = 2
	}
	for len(dst) > 0 {
		n := min(len(dst), chunk/size)
		if _, err := io.ReadFull(r, b[:n*size]); err != nil {
			return err
		}
		if size == 2 {
			for i := range dst[:n] {
				dst[i] = f16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
			}
		} else {
			for i := range dst[:n] {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		}
		dst = dst[n:]
	}
	return nil
}

func readI32(r *bufio.Reader, dst []int32) error {
	var b [4]byte
	for i := range dst {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return err
		}
		dst[i] = int32(binary.LittleEndian.Uint32(b[:]))
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
