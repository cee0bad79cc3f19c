package npz

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	npyio "codeberg.org/sbinet/npyio/npz"

	"github.com/mpanalyze/mpanalyze/internal/npy"
	"github.com/mpanalyze/mpanalyze/internal/testenv"
)

// sample writes three arrays: float32 [2, 3], uint8 [4], int32 [0, 2].
func sample(t testing.TB, deflate bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, deflate)
	f32 := []float32{0.5, -1, 2, 3.25, 0, 1e-30}
	for _, a := range []struct {
		name, descr string
		shape       []int
		write       func(io.Writer) error
	}{
		{"a/f32", "<f4", []int{2, 3}, func(ew io.Writer) error { return npy.WriteElems(ew, f32, nil) }},
		{"u8", "|u1", []int{4}, func(ew io.Writer) error { _, err := ew.Write([]byte{1, 2, 3, 250}); return err }},
		{"empty", "<i4", []int{0, 2}, func(io.Writer) error { return nil }},
	} {
		ew, err := w.Create(a.name, a.descr, a.shape)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.write(ew); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		b := sample(t, deflate)
		// Equal content, equal bytes (fixed entry times).
		if !bytes.Equal(b, sample(t, deflate)) {
			t.Errorf("deflate=%v: two writes differ", deflate)
		}
		r, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for i := range r.Entries {
			e := &r.Entries[i]
			names = append(names, e.Name)
			want := uint16(zip.Store)
			if deflate {
				want = zip.Deflate
			}
			if !e.NPY || e.File.Method != want || !e.File.Modified.Equal(ModTime) {
				t.Errorf("entry %+v: method %d, time %v", e, e.File.Method, e.File.Modified)
			}
		}
		if !slices.Equal(names, []string{"a/f32", "u8", "empty"}) {
			t.Fatalf("entries %v", names)
		}
		a, err := r.Entries[0].Open(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 6)
		if err := npy.ReadElems(a, got, nil); err != nil || got[3] != 3.25 || a.DataLen != 24 || !slices.Equal(a.Header.Shape, []int{2, 3}) {
			t.Errorf("float32 array %v, %v, header %+v", got, err, a.Header)
		}
		if err := a.Finish(); err != nil {
			t.Errorf("Finish: %v", err)
		}
		a.Close()
		// accept sees the header; its error comes back unchanged.
		errNo := errors.New("no thanks")
		if _, err := r.Entries[1].Open(nil, func(h npy.Header) error {
			if h.Descr != "|u1" {
				t.Errorf("accept got %+v", h)
			}
			return errNo
		}); err != errNo {
			t.Errorf("accept error: %v", err)
		}
	}
}

// TestIndependentReaders: numpy (when installed) and npyio, an independent
// Go implementation, read what Writer writes.
func TestIndependentReaders(t *testing.T) {
	dir := t.TempDir()
	for _, deflate := range []bool{false, true} {
		p := filepath.Join(dir, map[bool]string{false: "stored.npz", true: "deflated.npz"}[deflate])
		if err := os.WriteFile(p, sample(t, deflate), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := npyio.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var u8 []uint8
		if err := r.Read("u8.npy", &u8); err != nil || !slices.Equal(u8, []uint8{1, 2, 3, 250}) {
			t.Errorf("npyio read %v, %v", u8, err)
		}
		r.Close()
	}
	python := testenv.RequirePython(t, "numpy")
	out, err := exec.Command(python, "-c", `
import json, sys
import numpy as np
res = {}
for p in sys.argv[1:]:
    f = np.load(p)
    res[p] = {k: [f[k].dtype.str, list(f[k].shape), float(f[k].astype(np.float64).sum())] for k in f.files}
print(json.dumps(res))
`, filepath.Join(dir, "stored.npz"), filepath.Join(dir, "deflated.npz")).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	var got map[string]map[string][]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for p, arrays := range got {
		// Sums: 0.5−1+2+3.25+0+1e-30 = 4.75 (1e-30 is lost in float64), 1+2+3+250 = 256.
		want := map[string]string{"a/f32": `["<f4",[2,3],4.75]`, "u8": `["|u1",[4],256]`, "empty": `["<i4",[0,2],0]`}
		for k, w := range want {
			var g bytes.Buffer
			enc := json.NewEncoder(&g)
			enc.SetEscapeHTML(false)
			enc.Encode(arrays[k])
			if strings.TrimSpace(g.String()) != w {
				t.Errorf("%s %s: numpy read %s, want %s", p, k, g.String(), w)
			}
		}
	}
}

// entries builds a stored zip of raw entries.
func entries(t *testing.T, kv ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(kv); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: kv[i], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(kv[i+1]))
	}
	zw.Close()
	return buf.Bytes()
}

func npyOf(t *testing.T, descr string, shape []int, data string) string {
	h, err := npy.AppendHeader(nil, descr, shape)
	if err != nil {
		t.Fatal(err)
	}
	return string(h) + data
}

func TestErrors(t *testing.T) {
	good := sample(t, false)
	// The CRC-32 covers the data: flip a bit of u8's data.
	crc := slices.Clone(good)
	zr, _ := zip.NewReader(bytes.NewReader(crc), int64(len(crc)))
	off, _ := zr.File[1].DataOffset()
	crc[off+64+1] ^= 4

	open := func(b []byte, i int) error {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return err
		}
		a, err := r.Entries[i].Open(nil, nil)
		if err != nil {
			return err
		}
		defer a.Close()
		if _, err := io.CopyN(io.Discard, a, a.DataLen); err != nil {
			return err
		}
		return a.Finish()
	}
	cases := []struct {
		name string
		b    []byte
		kind error
		msg  string
	}{
		{"empty", nil, ErrTruncated, "the file is empty"},
		{"text", []byte("not a zip at all"), ErrNotNPZ, "zip: not a valid zip file"},
		{"cut", good[:len(good)-10], ErrTruncated, "without a readable end"},
		{"crc", crc, ErrCorrupt, "CRC-32 mismatch"},
		{"not npy", entries(t, "x.npy", "hello"), ErrCorrupt, "not a .npy array"},
		{"short", entries(t, "x.npy", npyOf(t, "<f4", []int{3}, "12345678")), ErrCorrupt, "entry has 136 bytes, which does not hold a 128-byte header and 3×4 data bytes"},
		{"long", entries(t, "x.npy", npyOf(t, "|u1", []int{3}, "1234")), ErrCorrupt, "entry has 132 bytes"},
		{"string dtype", entries(t, "x.npy", npyOf(t, "<U3", []int{1}, "")), ErrCorrupt, `unsupported dtype "<U3"`},
	}
	for _, c := range cases {
		err := open(c.b, 0)
		if c.name == "crc" {
			err = open(c.b, 1)
		}
		var ne *Error
		if !errors.Is(err, c.kind) || !errors.As(err, &ne) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %v containing %q", c.name, err, c.kind, c.msg)
		}
	}
	// Names: entries that are not .npy are listed as such.
	b := entries(t, "readme.txt", "hi", "a.npy", npyOf(t, "|u1", []int{0}, ""))
	r, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil || r.Entries[0].NPY || r.Entries[0].Name != "readme.txt" || !r.Entries[1].NPY || r.Entries[1].Name != "a" {
		t.Errorf("entries %+v, %v", r, err)
	}
}

// TestNeverPanics opens every truncation of an archive and reads every
// entry of many damaged copies: errors, never panics.
func TestNeverPanics(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		good := sample(t, deflate)
		try := func(b []byte) {
			r, err := NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				return
			}
			for i := range r.Entries {
				if a, err := r.Entries[i].Open(nil, nil); err == nil {
					io.CopyN(io.Discard, a, a.DataLen)
					a.Finish()
					a.Close()
				}
			}
		}
		for n := range len(good) {
			try(good[:n])
		}
		b := slices.Clone(good)
		for i := range b {
			b[i] ^= 0x41
			try(b)
			b[i] ^= 0x41
		}
	}
}
