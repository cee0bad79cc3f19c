package ckpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The .npy format (numpy.lib.format, version 1.0):
//
//	"\x93NUMPY" 0x01 0x00 <uint16 LE header length H> <H bytes of header>
//	<data>
//
// The header is a Python dict literal such as
// "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", padded
// with spaces and ended by '\n' so that the data starts at a multiple of 64
// bytes. Versions 2.0 and 3.0 use a uint32 header length (3.0 allows UTF-8);
// they are read, not written.
//
// This file writes and parses the format itself rather than through
// codeberg.org/sbinet/npyio: npyio writes a Go slice only as a 1-D array
// (n-d shapes only via a 2-D gonum mat.Dense), and its header reader slices
// with unchecked indices (a header without '\n' makes it panic), while
// Load must turn any bad file into an error.

var npyMagic = []byte("\x93NUMPY")

const (
	dtypeF32 = "<f4"
	npyAlign = 64
	// maxHeader bounds the header length we accept (numpy >= 1.24 refuses
	// headers over 10 000 bytes by default).
	maxHeader = 1 << 16
	maxDims   = 64
)

// npyHeader returns the .npy v1.0 preamble and header for an array of the
// given dtype descriptor and C-order shape.
func npyHeader(descr string, shape []int) ([]byte, error) {
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
	total := 10 + len(dict) + 1
	pad := (npyAlign - total%npyAlign) % npyAlign
	hlen := len(dict) + pad + 1
	if hlen > math.MaxUint16 {
		return nil, fmt.Errorf("npy header of %d bytes for shape %v is too long", hlen, shape)
	}
	b := make([]byte, 0, 10+hlen)
	b = append(b, npyMagic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	b = append(b, dict...)
	for range pad {
		b = append(b, ' ')
	}
	b = append(b, '\n')
	return b, nil
}

// npyInfo is a parsed .npy header.
type npyInfo struct {
	descr   string
	fortran bool
	shape   []int
	hdrLen  int64 // bytes before the data
	nelem   int64
	itemLen int64 // bytes per element, from descr ('<f4' → 4, '|u1' → 1); 0 if unknown
}

// errNPY marks a malformed .npy preamble or header.
var errNPY = errors.New("malformed .npy header")

// readNPYHeader reads and parses the preamble and header from r. The size
// of the whole .npy (header and data) must be known by the caller, which
// checks that hdrLen + nelem·itemLen matches it before reading data.
func readNPYHeader(r io.Reader) (*npyInfo, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("%w: reading the preamble: %w", errNPY, err)
	}
	if string(pre[:6]) != string(npyMagic) {
		return nil, fmt.Errorf("%w: no \\x93NUMPY magic (starts %q)", errNPY, pre[:6])
	}
	major := pre[6]
	var hlen int64
	var lenBytes int64
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: reading the header length: %w", errNPY, err)
		}
		hlen, lenBytes = int64(binary.LittleEndian.Uint16(b[:])), 2
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: reading the header length: %w", errNPY, err)
		}
		hlen, lenBytes = int64(binary.LittleEndian.Uint32(b[:])), 4
	default:
		return nil, fmt.Errorf("%w: unsupported format version %d.%d", errNPY, major, pre[7])
	}
	if hlen > maxHeader {
		return nil, fmt.Errorf("%w: header length %d exceeds %d", errNPY, hlen, maxHeader)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: reading the %d-byte header: %w", errNPY, hlen, err)
	}
	info, err := parseNPYDict(string(hdr))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNPY, err)
	}
	info.hdrLen = 8 + lenBytes + hlen
	return info, nil
}

// parseNPYDict parses the header dict literal. It accepts the keys in any
// order, single- or double-quoted, with an optional trailing comma and
// trailing whitespace.
func parseNPYDict(s string) (*npyInfo, error) {
	p := &dictParser{s: s}
	info := &npyInfo{}
	var haveDescr, haveOrder, haveShape bool
	p.space()
	if !p.eat('{') {
		return nil, p.fail("want '{'")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, p.fail("want ':' after key")
		}
		p.space()
		switch key {
		case "descr":
			if haveDescr {
				return nil, p.fail("duplicate key 'descr'")
			}
			if info.descr, err = p.str(); err != nil {
				return nil, fmt.Errorf("descr must be a simple type string: %w", err)
			}
			haveDescr = true
		case "fortran_order":
			if haveOrder {
				return nil, p.fail("duplicate key 'fortran_order'")
			}
			switch {
			case p.word("True"):
				info.fortran = true
			case p.word("False"):
			default:
				return nil, p.fail("fortran_order must be True or False")
			}
			haveOrder = true
		case "shape":
			if haveShape {
				return nil, p.fail("duplicate key 'shape'")
			}
			if info.shape, err = p.tuple(); err != nil {
				return nil, err
			}
			haveShape = true
		default:
			return nil, p.fail(fmt.Sprintf("unexpected key %q", key))
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return nil, p.fail("want ',' or '}'")
		}
		break
	}
	if strings.TrimSpace(p.s[p.i:]) != "" {
		return nil, p.fail("text after the dict")
	}
	if !haveDescr || !haveOrder || !haveShape {
		return nil, fmt.Errorf("header %q lacks one of 'descr', 'fortran_order', 'shape'", s)
	}
	n := int64(1)
	for _, d := range info.shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in shape %v", info.shape)
		}
		if d > 0 && n > math.MaxInt64/8/int64(d) {
			return nil, fmt.Errorf("shape %v is too large", info.shape)
		}
		n *= int64(d)
	}
	info.nelem = n
	switch info.descr {
	case dtypeF32:
		info.itemLen = 4
	case "|u1", "<u1", ">u1", "u1", "|i1", "<i1", "|b1":
		info.itemLen = 1
	}
	return info, nil
}

type dictParser struct {
	s string
	i int
}

func (p *dictParser) fail(msg string) error {
	return fmt.Errorf("header %q: %s at byte %d", p.s, msg, p.i)
}

func (p *dictParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *dictParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *dictParser) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str parses a quoted string without escapes (numpy's keys and simple
// dtype descriptors never contain them).
func (p *dictParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", p.fail("want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.fail("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", p.fail("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

// tuple parses a tuple of non-negative decimal integers: (), (3,), (2, 3).
func (p *dictParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.fail("shape must be a tuple")
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return nil, p.fail("want a non-negative integer in shape")
		}
		d, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil || d > math.MaxInt32*int64(1<<20) {
			return nil, p.fail("dimension out of range")
		}
		p.eat('L') // Python 2 long suffix, as old numpy wrote
		shape = append(shape, int(d))
		if len(shape) > maxDims {
			return nil, p.fail("too many dimensions")
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat(')') {
			return nil, p.fail("want ',' or ')' in shape")
		}
		return shape, nil
	}
}
