package npy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/testenv"
)

const python = testenv.Python

// runNumpy runs a Python script with numpy, skipping the test when
// python3 or numpy is not installed.
func runNumpy(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	testenv.RequirePython(t, "numpy")
	out, err := exec.Command(python, append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", python, err, out)
	}
	return out
}

// TestReadNumpyWritten reads headers and data numpy wrote.
func TestReadNumpyWritten(t *testing.T) {
	dir := t.TempDir()
	runNumpy(t, `
import sys
import numpy as np
from numpy.lib import format as F
d = sys.argv[1]
def save(name, a, version=None):
    with open(d + "/" + name + ".npy", "wb") as f:
        F.write_array(f, a, version=version)
save("f4_2x3", np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1)
save("u1_0d", np.array(7, dtype="|u1"))
save("i4_5", np.array([-2, -1, 0, 1, 2**31 - 1], dtype="<i4"))
save("i4_2x3x4", np.arange(24, dtype="<i4").reshape(2, 3, 4) - 12)
save("f8_fortran", np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)))
save("b1_0x4", np.zeros((0, 4), dtype="|b1"))
save("f2_big_endian", np.arange(3, dtype=">f2"))
save("f4_v2", np.arange(4, dtype="<f4"), (2, 0))
save("f4_v3", np.arange(4, dtype="<f4"), (3, 0))
save("f4_long_axis", np.full((70000, 1), 0.25, dtype="<f4"))
`, dir)
	cases := []struct {
		name string
		want Header
		f32  []float32
		i32  []int32
	}{
		{"f4_2x3", Header{Descr: "<f4", Shape: []int{2, 3}}, []float32{-1, -0.5, 0, 0.5, 1, 1.5}, nil},
		{"u1_0d", Header{Descr: "|u1", Shape: []int{}}, nil, nil},
		{"i4_5", Header{Descr: "<i4", Shape: []int{5}}, nil, []int32{-2, -1, 0, 1, 1<<31 - 1}},
		{"i4_2x3x4", Header{Descr: "<i4", Shape: []int{2, 3, 4}}, nil,
			[]int32{-12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"f8_fortran", Header{Descr: "<f8", Fortran: true, Shape: []int{2, 3}}, nil, nil},
		{"b1_0x4", Header{Descr: "|b1", Shape: []int{0, 4}}, nil, nil},
		{"f2_big_endian", Header{Descr: ">f2", Shape: []int{3}}, nil, nil},
		{"f4_v2", Header{Descr: "<f4", Shape: []int{4}}, []float32{0, 1, 2, 3}, nil},
		{"f4_v3", Header{Descr: "<f4", Shape: []int{4}}, []float32{0, 1, 2, 3}, nil},
		{"f4_long_axis", Header{Descr: "<f4", Shape: []int{70000, 1}}, slices.Repeat([]float32{0.25}, 70000), nil},
	}
	for _, c := range cases {
		b, err := os.ReadFile(filepath.Join(dir, c.name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(b)
		h, err := ReadHeader(r)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		c.want.DataOffset = len(b) - c.want.NumElems()*ItemSize(c.want.Descr)
		if !equalHeader(h, c.want) || h.DataOffset%Align != 0 {
			t.Errorf("%s: ReadHeader = %+v, want %+v", c.name, h, c.want)
		}
		if c.f32 != nil {
			got := make([]float32, h.NumElems())
			if err := ReadElems(r, got, nil); err != nil || !slices.Equal(got, c.f32) {
				t.Errorf("%s: data %v, %v; want %v", c.name, got, err, c.f32)
			}
		}
		if c.i32 != nil {
			got := make([]int32, h.NumElems())
			if err := ReadElems(r, got, nil); err != nil || !slices.Equal(got, c.i32) {
				t.Errorf("%s: data %v, %v; want %v", c.name, got, err, c.i32)
			}
		}
	}
	// Where numpy's spare room for the first axis falls inside the
	// padding, AppendHeader writes numpy's bytes; the hand-written headers
	// are those.
	for _, k := range knownHeaders {
		name := map[string]string{"f4 2x3": "f4_2x3", "u1 0-d": "u1_0d", "i4 1-d": "i4_5"}[k.name]
		b, err := os.ReadFile(filepath.Join(dir, name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(k.header)) {
			t.Errorf("%s: numpy wrote %q, want %q", k.name, b[:min(len(b), len(k.header))], k.header)
		}
	}
}

// TestNumpyReadsOurs has numpy load arrays written with AppendHeader and
// WriteElems.
func TestNumpyReadsOurs(t *testing.T) {
	dir := t.TempDir()
	type want struct {
		Descr string  `json:"descr"`
		Shape []int   `json:"shape"`
		Sum   float64 `json:"sum"`
	}
	wants := map[string]want{}
	write := func(name, descr string, shape []int, data func(*bytes.Buffer) error, sum float64) {
		t.Helper()
		b, err := AppendHeader(nil, descr, shape)
		if err != nil {
			t.Fatal(err)
		}
		buf := bytes.NewBuffer(b)
		if err := data(buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".npy"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		wants[name] = want{descr, shape, sum}
	}
	f32 := func(v ...float32) func(*bytes.Buffer) error {
		return func(b *bytes.Buffer) error { return WriteElems(b, v, make([]byte, 8)) }
	}
	write("f4_2x3", "<f4", []int{2, 3}, f32(1, 2, 3, 4, 5, 6.5), 21.5)
	write("f4_0d", "<f4", []int{}, f32(-3), -3)
	write("f4_empty", "<f4", []int{0, 4}, f32(), 0)
	noPad := noPaddingShape(t)
	write("f4_no_padding", "<f4", noPad, f32(slices.Repeat([]float32{1}, (Header{Shape: noPad}).NumElems())...), float64((Header{Shape: noPad}).NumElems()))
	write("i4_3", "<i4", []int{3}, func(b *bytes.Buffer) error { return WriteElems(b, []int32{-5, 7, 1 << 30}, nil) }, 1<<30+2)
	write("u1_4", "|u1", []int{4}, func(b *bytes.Buffer) error { _, err := b.Write([]byte{1, 2, 3, 250}); return err }, 256)
	write("b1_2x2", "|b1", []int{2, 2}, func(b *bytes.Buffer) error { _, err := b.Write([]byte{1, 0, 1, 1}); return err }, 3)

	out := runNumpy(t, `
import json, os, sys
import numpy as np
d = sys.argv[1]
res = {}
for f in sorted(os.listdir(d)):
    a = np.load(os.path.join(d, f), allow_pickle=False)
    assert a.flags.c_contiguous
    res[f[:-4]] = {"descr": a.dtype.str, "shape": list(a.shape), "sum": float(a.astype(np.float64).sum())}
print(json.dumps(res))
`, dir)
	var got map[string]want
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != len(wants) {
		t.Errorf("numpy read %d arrays, want %d", len(got), len(wants))
	}
	for name, w := range wants {
		g, ok := got[name]
		if !ok || g.Descr != w.Descr || !slices.Equal(g.Shape, w.Shape) || g.Sum != w.Sum {
			t.Errorf("%s: numpy read %+v, want %+v", name, g, w)
		}
	}
}
