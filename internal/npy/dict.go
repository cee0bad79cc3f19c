package npy

import (
	"fmt"
	"strconv"
	"strings"
)

// parseDict parses the header dict literal (see ReadHeader for what it
// accepts). Its errors quote the header and give the byte offset.
func parseDict(s string) (Header, error) {
	p := &dictParser{s: s}
	h := Header{}
	seen := map[string]bool{}
	p.space()
	if !p.eat('{') {
		return Header{}, p.fail("want '{'")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return Header{}, err
		}
		p.space()
		if !p.eat(':') {
			return Header{}, p.fail("want ':' after key")
		}
		p.space()
		if err := p.value(key, &h, seen); err != nil {
			return Header{}, err
		}
		p.space()
		if p.eat(',') {
			continue
		}
		if !p.eat('}') {
			return Header{}, p.fail("want ',' or '}'")
		}
		break
	}
	p.space()
	if p.i != len(p.s) {
		return Header{}, p.fail("text after the dict")
	}
	var missing []string
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			missing = append(missing, "'"+k+"'")
		}
	}
	if missing != nil {
		return Header{}, p.fail("missing key " + strings.Join(missing, ", "))
	}
	if err := checkShape(h.Shape); err != nil {
		return Header{}, fmt.Errorf("header %s: %w", quote(s), err)
	}
	return h, nil
}

// value parses the value of key (descr, fortran_order or shape) into h
// and records the key in seen; an unknown or repeated key is an error.
func (p *dictParser) value(key string, h *Header, seen map[string]bool) error {
	switch key {
	case "descr", "fortran_order", "shape":
		if seen[key] {
			return p.fail("duplicate key '" + key + "'")
		}
	default:
		return p.fail(fmt.Sprintf("unexpected key %q", key))
	}
	var err error
	switch key {
	case "descr":
		if h.Descr, err = p.str(); err != nil {
			return fmt.Errorf("descr must be a simple type string: %w", err)
		}
	case "fortran_order":
		switch {
		case p.word("True"):
			h.Fortran = true
		case p.word("False"):
		default:
			return p.fail("fortran_order must be True or False")
		}
	case "shape":
		if h.Shape, err = p.tuple(); err != nil {
			return err
		}
	}
	seen[key] = true
	return nil
}

type dictParser struct {
	s string
	i int
}

func (p *dictParser) fail(msg string) error {
	return fmt.Errorf("header %s: %s at byte %d", quote(p.s), msg, p.i)
}

// quote quotes a header for an error message, without its trailing
// padding and cut to 200 bytes.
func quote(s string) string {
	s = strings.TrimRight(s, " \n")
	if len(s) > 200 {
		return strconv.Quote(s[:200]) + "…"
	}
	return strconv.Quote(s)
}

// space skips Python whitespace between tokens.
func (p *dictParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\n\r", p.s[p.i]) >= 0 {
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

// str parses a quoted string of printable ASCII without escapes (numpy's
// keys and simple dtype descriptors never need them).
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
	if err := checkDescr(v); err != nil {
		return "", p.fail(fmt.Sprintf("string %q: %v", v, err))
	}
	p.i += end + 2
	return v, nil
}

// tuple parses a Python tuple of non-negative decimal integers: (), (3,),
// (2, 3), (2, 3,). A 1-tuple needs its comma: (3) is the integer 3.
func (p *dictParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, p.fail("shape must be a tuple")
	}
	shape := []int{}
	p.space()
	if p.eat(')') {
		return shape, nil
	}
	for {
		d, err := p.dim()
		if err != nil {
			return nil, err
		}
		shape = append(shape, d)
		if len(shape) > MaxDims {
			return nil, p.fail(fmt.Sprintf("more than %d dimensions", MaxDims))
		}
		p.space()
		if p.eat(')') {
			if len(shape) == 1 {
				return nil, p.fail("shape (n) is not a tuple, want (n,)")
			}
			return shape, nil
		}
		if !p.eat(',') {
			return nil, p.fail("want ',' or ')' in shape")
		}
		p.space()
		if p.eat(')') {
			return shape, nil
		}
	}
}

// dim parses one dimension: a decimal integer without leading zeros,
// optionally followed by Python 2's long suffix 'L' (old numpy wrote it).
func (p *dictParser) dim() (int, error) {
	neg := p.eat('-')
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	digits := p.s[start:p.i]
	switch {
	case digits == "":
		return 0, p.fail("want an integer in shape")
	case neg:
		return 0, p.fail("negative dimension -" + digits)
	case len(digits) > 1 && digits[0] == '0':
		return 0, p.fail("leading zero in dimension " + digits)
	}
	d, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || d > MaxElems {
		return 0, p.fail("dimension " + digits + " is out of range")
	}
	p.eat('L')
	return int(d), nil
}
