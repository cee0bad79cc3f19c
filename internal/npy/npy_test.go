package npy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

// Headers as numpy.save writes them (numpy 1.24; numpy's spare room for
// growing the first axis falls inside the padding here, so AppendHeader
// writes the same bytes), spelled out byte by byte.
var knownHeaders = []struct {
	name   string
	descr  string
	shape  []int
	header string
}{
	{"f4 2x3", "<f4", []int{2, 3},
		"\x93NUMPY" + "\x01\x00" + "\x76\x00" + // magic, version 1.0, header length 118
			"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + // 59 bytes
			"                                                          " + // 58 spaces
			"\n"},
	{"u1 0-d", "|u1", []int{},
		"\x93NUMPY" + "\x01\x00" + "\x76\x00" +
			"{'descr': '|u1', 'fortran_order': False, 'shape': (), }" + // 55 bytes
			"                                                              " + // 62 spaces
			"\n"},
	{"i4 1-d", "<i4", []int{5},
		"\x93NUMPY" + "\x01\x00" + "\x76\x00" +
			"{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }" + // 57 bytes
			"                                                            " + // 60 spaces
			"\n"},
}

func TestAppendHeaderKnownBytes(t *testing.T) {
	for _, k := range knownHeaders {
		if len(k.header) != 128 {
			t.Fatalf("%s: the test header has %d bytes, want 128", k.name, len(k.header))
		}
		got, err := AppendHeader([]byte("prefix"), k.descr, k.shape)
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		if string(got) != "prefix"+k.header {
			t.Errorf("%s: AppendHeader =\n%q\nwant\n%q", k.name, got, "prefix"+k.header)
		}
		h, err := ReadHeader(strings.NewReader(k.header + "data"))
		want := Header{Descr: k.descr, Shape: k.shape, DataOffset: 128}
		if err != nil || !equalHeader(h, want) {
			t.Errorf("%s: ReadHeader = %+v, %v; want %+v", k.name, h, err, want)
		}
	}
}

func equalHeader(a, b Header) bool {
	return a.Descr == b.Descr && a.Fortran == b.Fortran && slices.Equal(a.Shape, b.Shape) && a.DataOffset == b.DataOffset
}

func TestRoundTrip(t *testing.T) {
	shapes := [][]int{{}, {0}, {1}, {7}, {2, 3}, {0, 4}, {3, 200, 300}, {1 << 20, 1 << 20}, slices.Repeat([]int{1}, MaxDims)}
	for _, descr := range []string{"<f4", "|u1", "<f2", "<i4", "|b1", ">f8", "<U10", "<M8[ns]"} {
		for _, shape := range shapes {
			data := []byte("\x00\x01data")
			b, err := AppendHeader(nil, descr, shape)
			if err != nil {
				t.Fatalf("%s %v: %v", descr, shape, err)
			}
			if len(b)%Align != 0 {
				t.Errorf("%s %v: header of %d bytes", descr, shape, len(b))
			}
			r := bytes.NewReader(append(b, data...))
			h, err := ReadHeader(r)
			want := Header{Descr: descr, Shape: shape, DataOffset: len(b)}
			if err != nil || !equalHeader(h, want) || h.Shape == nil {
				t.Errorf("%s %v: ReadHeader = %+v, %v", descr, shape, h, err)
			}
			if rest, _ := io.ReadAll(r); string(rest) != string(data) {
				t.Errorf("%s %v: data after the header = %q", descr, shape, rest)
			}
		}
	}
}

// TestAppendHeaderNoPadding covers a header that ends on a multiple of 64
// bytes as it is: no padding (numpy would add 64 spaces), still readable.
func TestAppendHeaderNoPadding(t *testing.T) {
	shape := noPaddingShape(t)
	b, err := AppendHeader(nil, "<f4", shape)
	if err != nil || len(b)%Align != 0 || b[len(b)-2] != '}' {
		t.Fatalf("%v: %q, %v", shape, b, err)
	}
	h, err := ReadHeader(bytes.NewReader(b))
	if err != nil || !slices.Equal(h.Shape, shape) || h.DataOffset != len(b) {
		t.Fatalf("ReadHeader = %+v, %v", h, err)
	}
}

// noPaddingShape finds a '<f4' shape whose dict plus preamble and '\n'
// is a multiple of 64 bytes.
func noPaddingShape(t testing.TB) []int {
	for k := 2; k < 40; k++ {
		for last := 1; last < 1000; last++ {
			shape := append(slices.Repeat([]int{1}, k-1), last)
			dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
				strings.Trim(strings.Join(strings.Fields(fmt.Sprint(shape)), ", "), "[]"))
			if (10+len(dict)+1)%Align == 0 {
				return shape
			}
		}
	}
	t.Fatal("no shape without padding")
	return nil
}

func TestAppendHeaderErrors(t *testing.T) {
	cases := []struct {
		descr string
		shape []int
		msg   string
	}{
		{"<f4", []int{2, -1}, "negative dimension"},
		{"<f4", slices.Repeat([]int{1}, MaxDims+1), "more than 64"},
		{"<f4", []int{1 << 40, 1 << 30}, "too large"},
		{"", []int{1}, "empty"},
		{"<f'4", []int{1}, "not allowed"},
		{`<f\4`, []int{1}, "not allowed"},
		{"<f4\n", []int{1}, "not allowed"},
		{"<fé", []int{1}, "not allowed"},
		{strings.Repeat("f", maxDescr+1), []int{1}, "more than 1024"},
	}
	for _, c := range cases {
		dst := []byte("keep")
		got, err := AppendHeader(dst, c.descr, c.shape)
		if err == nil || !strings.Contains(err.Error(), c.msg) || string(got) != "keep" {
			t.Errorf("AppendHeader(%.20q, %v) = %q, %v; want an error containing %q", c.descr, c.shape, got, err, c.msg)
		}
	}
}

// errWriter fails every Write.
type errWriter struct{}

var errWrite = errors.New("write failed")

func (errWriter) Write([]byte) (int, error) { return 0, errWrite }

// pre is a format 1.0 preamble for a header of len(dict) bytes.
func pre(dict string) string {
	return Magic + "\x01\x00" + string([]byte{byte(len(dict)), byte(len(dict) >> 8)}) + dict
}

func TestReadHeaderAccepts(t *testing.T) {
	v2 := func(dict string) string {
		n := len(dict)
		return Magic + "\x02\x00" + string([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}) + dict
	}
	cases := []struct {
		name string
		in   string
		want Header
	}{
		{"keys reordered, double quotes", pre(`{"shape": (2, 3), "fortran_order": False, "descr": "<f4"}` + "\n"),
			Header{Descr: "<f4", Shape: []int{2, 3}}},
		{"fortran, no trailing comma", pre("{'descr': '<f8', 'fortran_order': True, 'shape': (4,)}"),
			Header{Descr: "<f8", Fortran: true, Shape: []int{4}}},
		{"Python 2 longs", pre("{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }   \n"),
			Header{Descr: "<i4", Shape: []int{2, 3}}},
		{"tuple with trailing comma", pre("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3,), }\n"),
			Header{Descr: "|u1", Shape: []int{2, 3}}},
		{"whitespace", pre("\n {\t'descr' :'|b1' ,\r\n'fortran_order':False,'shape':( 0 , 4 ) ,}\n\n"),
			Header{Descr: "|b1", Shape: []int{0, 4}}},
		{"16-byte aligned (old numpy)", pre("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }    \n"),
			Header{Descr: "<f4", Shape: []int{1}}},
		{"version 2.0", v2("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n"),
			Header{Descr: "<f4", Shape: []int{}}},
		{"version 3.0", strings.Replace(v2("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n"), "\x02\x00", "\x03\x00", 1),
			Header{Descr: "<f4", Shape: []int{3}}},
	}
	for _, c := range cases {
		h, err := ReadHeader(strings.NewReader(c.in + "DATA"))
		c.want.DataOffset = len(c.in)
		if err != nil || !equalHeader(h, c.want) || h.Shape == nil {
			t.Errorf("%s: ReadHeader = %+v, %v; want %+v", c.name, h, err, c.want)
		}
	}
}

func TestReadHeaderErrors(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"
	dict := func(old, new string) string { return pre(strings.Replace(good, old, new, 1)) }
	cases := []struct {
		name string
		in   string
		kind error  // errors.Is
		msg  string // in the message
	}{
		{"empty", "", io.EOF, "reading the preamble"},
		{"bad magic", "hello world, not numpy", ErrNotNPY, `no \x93NUMPY magic (starts "hello ")`},
		{"short non-npy", "hi", ErrNotNPY, "magic"},
		{"truncated magic", "\x93NUM", io.ErrUnexpectedEOF, "reading the preamble"},
		{"truncated version", Magic + "\x01", io.ErrUnexpectedEOF, "reading the preamble"},
		{"truncated length", Magic + "\x01\x00\x10", io.ErrUnexpectedEOF, "header length"},
		{"truncated v2 length", Magic + "\x02\x00\x10\x00", io.ErrUnexpectedEOF, "header length"},
		{"truncated header", pre(good)[:40], io.ErrUnexpectedEOF, "reading the 60-byte header"},
		{"version 4.0", Magic + "\x04\x00\x10\x00" + good, ErrHeader, "unsupported format version 4.0"},
		{"version 1.1", Magic + "\x01\x01\x10\x00" + good, ErrHeader, "unsupported format version 1.1"},
		{"version 0.0", Magic + "\x00\x00\x10\x00" + good, ErrHeader, "unsupported format version 0.0"},
		{"header too long", Magic + "\x02\x00\x00\x00\x10\x00" + good, ErrHeader, "exceeds 65536"},
		{"empty header", pre(""), ErrHeader, "want '{'"},
		{"not a dict", pre("[1, 2]\n"), ErrHeader, "want '{'"},
		{"unterminated dict", pre("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)"), ErrHeader, "want ',' or '}'"},
		{"missing key", dict("'fortran_order': False, ", ""), ErrHeader, "missing key 'fortran_order'"},
		{"all keys missing", pre("{}"), ErrHeader, "missing key 'descr', 'fortran_order', 'shape'"},
		{"unexpected key", dict("'shape'", "'shope'"), ErrHeader, `unexpected key "shope"`},
		{"duplicate key", dict("'shape': (2, 3), ", "'shape': (2, 3), 'shape': (2, 3), "), ErrHeader, "duplicate key 'shape'"},
		{"unquoted key", dict("'descr'", "descr"), ErrHeader, "want a quoted string"},
		{"no colon", dict("'descr':", "'descr'"), ErrHeader, "want ':'"},
		{"structured descr", dict("'<f4'", "[('a', '<f4')]"), ErrHeader, "descr must be a simple type string"},
		{"escape in descr", dict("'<f4'", `'<f\x34'`), ErrHeader, "not allowed"},
		{"empty descr", dict("'<f4'", "''"), ErrHeader, "empty"},
		{"unterminated descr", pre("{'descr': '<f4"), ErrHeader, "unterminated string"},
		{"fortran_order 0", dict("False", "0"), ErrHeader, "fortran_order must be True or False"},
		{"fortran_order false", dict("False", "false"), ErrHeader, "fortran_order must be True or False"},
		{"fortran_order Falsey", dict("False", "Falsey"), ErrHeader, "want ',' or '}'"},
		{"shape list", dict("(2, 3)", "[2, 3]"), ErrHeader, "shape must be a tuple"},
		{"negative dim", dict("(2, 3)", "(2, -3)"), ErrHeader, "negative dimension"},
		{"1-tuple without comma", dict("(2, 3)", "(3)"), ErrHeader, "not a tuple"},
		{"empty element", dict("(2, 3)", "(,)"), ErrHeader, "want an integer"},
		{"double comma", dict("(2, 3)", "(2,, 3)"), ErrHeader, "want an integer"},
		{"leading zero", dict("(2, 3)", "(2, 03)"), ErrHeader, "leading zero"},
		{"float dim", dict("(2, 3)", "(2, 3.0)"), ErrHeader, "want ',' or ')'"},
		{"dim overflows int64", dict("(2, 3)", "(99999999999999999999,)"), ErrHeader, "out of range"},
		{"dim over MaxElems", dict("(2, 3)", fmt.Sprintf("(%d,)", MaxElems+1)), ErrHeader, "out of range"},
		{"product over MaxElems", dict("(2, 3)", "(1099511627776, 1099511627776)"), ErrHeader, "too large"},
		{"too many dims", dict("(2, 3)", "("+strings.Repeat("1, ", MaxDims+1)+")"), ErrHeader, "more than 64 dimensions"},
		{"unterminated tuple", pre("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3"), ErrHeader, "want ',' or ')'"},
		{"text after dict", pre(good + "x"), ErrHeader, "text after the dict"},
		{"NUL padding", pre(strings.TrimSuffix(good, "\n") + "\x00\x00\n"), ErrHeader, "text after the dict"},
	}
	for _, c := range cases {
		h, err := ReadHeader(strings.NewReader(c.in))
		if err == nil {
			t.Errorf("%s: ReadHeader succeeded: %+v", c.name, h)
			continue
		}
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v\nwant errors.Is %v and containing %q", c.name, err, c.kind, c.msg)
		}
		if !errors.Is(err, ErrHeader) && !errors.Is(err, ErrNotNPY) {
			t.Errorf("%s: err = %v wraps neither ErrHeader nor ErrNotNPY", c.name, err)
		}
	}
}

// TestReadHeaderEveryTruncation reads every prefix of a good file: each
// shorter than the header fails with a wrapped io error, none panics.
func TestReadHeaderEveryTruncation(t *testing.T) {
	b, err := AppendHeader(nil, "<f4", []int{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		_, err := ReadHeader(bytes.NewReader(b[:n]))
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%d of %d bytes: err = %v, want EOF or ErrUnexpectedEOF", n, len(b), err)
		}
	}
}

func TestItemSize(t *testing.T) {
	cases := map[string]int{
		"<f4": 4, ">f4": 4, "|u1": 1, "<u1": 1, "u1": 1, "|b1": 1, "|i1": 1, "<f2": 2, "<i4": 4,
		"<i8": 8, "<u2": 2, ">f8": 8, "<f16": 16, "<c8": 8, "<c16": 16,
		"": 0, "<": 0, "f": 0, "=f4": 0, "<f3": 0, "<b2": 0, "<i16": 0, "<c4": 0, "<f04": 0,
		"<U10": 0, "|S5": 0, "|O": 0, "<M8[ns]": 0, "<f4 ": 0,
	}
	for descr, want := range cases {
		if got := ItemSize(descr); got != want {
			t.Errorf("ItemSize(%q) = %d, want %d", descr, got, want)
		}
	}
}

func TestNumElems(t *testing.T) {
	for _, c := range []struct {
		shape []int
		want  int
	}{{nil, 1}, {[]int{}, 1}, {[]int{0, 5}, 0}, {[]int{2, 3, 4}, 24}} {
		if got := (Header{Shape: c.shape}).NumElems(); got != c.want {
			t.Errorf("NumElems(%v) = %d, want %d", c.shape, got, c.want)
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	for _, k := range knownHeaders {
		f.Add([]byte(k.header))
	}
	f.Add([]byte(pre(`{"shape": (2L, 3L,), "fortran_order": True, "descr": ">f8"}`)))
	f.Add([]byte(pre("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n")))
	f.Add([]byte(Magic + "\x02\x00\x08\x00\x00\x00{}      "))
	f.Add([]byte("\x93NUMPY\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, err := ReadHeader(r)
		if err != nil {
			if !errors.Is(err, ErrHeader) && !errors.Is(err, ErrNotNPY) {
				t.Fatalf("err = %v wraps neither ErrHeader nor ErrNotNPY", err)
			}
			return
		}
		if h.DataOffset != len(in)-r.Len() || h.Shape == nil || len(h.Shape) > MaxDims || h.NumElems() > MaxElems || h.NumElems() < 0 {
			t.Fatalf("ReadHeader(%q) = %+v with %d bytes left", in, h, r.Len())
		}
		// What was read can be written, and reads back the same.
		b, err := AppendHeader(nil, h.Descr, h.Shape)
		if err != nil {
			t.Fatalf("AppendHeader(%+v): %v", h, err)
		}
		h2, err := ReadHeader(bytes.NewReader(b))
		h.Fortran, h.DataOffset = false, len(b)
		if err != nil || !equalHeader(h, h2) {
			t.Fatalf("round trip of %+v: %+v, %v", h, h2, err)
		}
	})
}

func TestElemsRoundTrip(t *testing.T) {
	f := []float32{0, float32(math.Copysign(0, -1)), 1.5, -2.25e-40, float32(math.Inf(-1)), math.MaxFloat32,
		math.Float32frombits(0x7fc12345), math.Float32frombits(0xffa00001)}
	fb := []byte{
		0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0xc0, 0x3f, 0x35, 0x73, 0x02, 0x80,
		0, 0, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x7f, 0x45, 0x23, 0xc1, 0x7f, 0x01, 0x00, 0xa0, 0xff}
	i := []int32{0, 1, -1, math.MaxInt32, math.MinInt32, 0x01020304}
	ib := []byte{0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0x80, 4, 3, 2, 1}
	for _, buf := range [][]byte{nil, make([]byte, 3), make([]byte, 4), make([]byte, 7), make([]byte, 12), make([]byte, 1<<16)} {
		var w bytes.Buffer
		if err := WriteElems(&w, f, buf); err != nil || !bytes.Equal(w.Bytes(), fb) {
			t.Errorf("buf %d: WriteElems(float32) = %x, %v; want %x", len(buf), w.Bytes(), err, fb)
		}
		gf := make([]float32, len(f))
		if err := ReadElems(bytes.NewReader(fb), gf, buf); err != nil || !bitsEqual(gf, f) {
			t.Errorf("buf %d: ReadElems(float32) = %v, %v", len(buf), gf, err)
		}
		w.Reset()
		if err := WriteElems(&w, i, buf); err != nil || !bytes.Equal(w.Bytes(), ib) {
			t.Errorf("buf %d: WriteElems(int32) = %x, %v; want %x", len(buf), w.Bytes(), err, ib)
		}
		gi := make([]int32, len(i))
		if err := ReadElems(bytes.NewReader(ib), gi, buf); err != nil || !slices.Equal(gi, i) {
			t.Errorf("buf %d: ReadElems(int32) = %v, %v", len(buf), gi, err)
		}
		// Short input: io.EOF when nothing is there, else ErrUnexpectedEOF.
		if err := ReadElems(bytes.NewReader(nil), gi, buf); err != io.EOF {
			t.Errorf("buf %d: empty input: %v, want io.EOF", len(buf), err)
		}
		for _, n := range []int{2, 4, len(ib) - 4, len(ib) - 1} {
			if err := ReadElems(bytes.NewReader(ib[:n]), gi, buf); err != io.ErrUnexpectedEOF {
				t.Errorf("buf %d: %d of %d bytes: %v, want io.ErrUnexpectedEOF", len(buf), n, len(ib), err)
			}
		}
		if err := WriteElems(errWriter{}, f, buf); !errors.Is(err, errWrite) {
			t.Errorf("buf %d: write error: %v", len(buf), err)
		}
	}
	if err := WriteElems(errWriter{}, []float32{}, nil); err != nil {
		t.Errorf("writing nothing: %v", err)
	}
	if err := ReadElems(bytes.NewReader(nil), []int32{}, nil); err != nil {
		t.Errorf("reading nothing: %v", err)
	}
}

func bitsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// TestElemsLarge writes and reads more than one default chunk.
func TestElemsLarge(t *testing.T) {
	v := make([]float32, 3*chunkBytes/4+5)
	for i := range v {
		v[i] = float32(i) * 0.25
	}
	var w bytes.Buffer
	if err := WriteElems(&w, v, nil); err != nil || w.Len() != 4*len(v) {
		t.Fatalf("WriteElems: %d bytes, %v", w.Len(), err)
	}
	got := make([]float32, len(v))
	if err := ReadElems(&w, got, nil); err != nil || !slices.Equal(got, v) {
		t.Fatalf("ReadElems: %v", err)
	}
}
