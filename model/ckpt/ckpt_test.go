package ckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npz"
	"github.com/mpanalyze/mpanalyze/internal/npy"
	"github.com/mpanalyze/mpanalyze/internal/rng"
	"github.com/mpanalyze/mpanalyze/model/engine"
	"github.com/mpanalyze/mpanalyze/model/optim"
)

// special holds float32 bit patterns a checkpoint must keep exactly.
var special = []uint32{
	0x00000000, // +0
	0x80000000, // −0
	0x00000001, // smallest subnormal
	0x807fffff, // largest negative subnormal
	0x7f7fffff, // max float32
	0x7f800000, // +Inf
	0xff800000, // −Inf
	0x7fc00000, // quiet NaN
	0x7fa00001, // signalling NaN with a payload
	0xffc12345, // negative NaN with a payload
	0x3f800000, // 1
	0x3dcccccd, // float32(0.1)
}

func specialArray(shape ...int) Array {
	n := 1
	for _, d := range shape {
		n *= d
	}
	a := Array{Shape: shape, Data: make([]float32, n)}
	for i := range a.Data {
		a.Data[i] = math.Float32frombits(special[i%len(special)] + uint32(i/len(special)))
	}
	return a
}

func sampleCheckpoint() *Checkpoint {
	c := New()
	c.Meta.ToolVersion = "mpanalyze test"
	c.Meta.Step = 1234
	c.Meta.Model = json.RawMessage(`{"hidden_dim":64,"layers":9}`)
	c.Meta.Train = json.RawMessage(`{"lr":0.0001,"note":"héllo \"quoted\""}`)
	c.Meta.Extra = map[string]json.RawMessage{"best_miou": json.RawMessage(`0.5`)}
	c.PutRNG("data", rng.New(42))
	c.Arrays["param/scalar"] = specialArray()
	c.Arrays["param/empty"] = specialArray(0)
	c.Arrays["param/empty2d"] = specialArray(0, 3)
	c.Arrays["param/vec"] = specialArray(5)
	c.Arrays["param/decoder.layers.3.cross.q.weight"] = specialArray(2, 3, 4)
	c.Arrays["other/ema"] = specialArray(7, 1)
	return c
}

func sameArrays(t *testing.T, got, want map[string]Array) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d arrays, want %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Fatalf("array %q missing", name)
		}
		if !slices.Equal(g.Shape, w.Shape) || len(g.Data) != len(w.Data) {
			t.Fatalf("array %q: shape %v (%d values), want %v (%d)", name, g.Shape, len(g.Data), w.Shape, len(w.Data))
		}
		for i := range w.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(w.Data[i]) {
				t.Fatalf("array %q[%d]: bits %08x, want %08x", name, i, math.Float32bits(g.Data[i]), math.Float32bits(w.Data[i]))
			}
		}
	}
}

func metaJSON(t *testing.T, m Meta) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSaveLoadBitIdentical(t *testing.T) {
	dir := t.TempDir()
	c := sampleCheckpoint()
	p1 := filepath.Join(dir, "a.npz")
	if err := Save(p1, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p1)
	if err != nil {
		t.Fatal(err)
	}
	sameArrays(t, got.Arrays, c.Arrays)
	if g, w := metaJSON(t, got.Meta), metaJSON(t, c.Meta); g != w {
		t.Errorf("meta after load:\n%s\nwant\n%s", g, w)
	}
	if got.Path() != p1 {
		t.Errorf("Path = %q", got.Path())
	}
	// Saving what was loaded gives the same bytes: the file is a function
	// of the content (sorted entries, fixed timestamps).
	p2 := filepath.Join(dir, "b.npz")
	if err := Save(p2, got); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if !bytes.Equal(b1, b2) {
		t.Error("re-saving a loaded checkpoint changed the file bytes")
	}
	// Entries are in sorted order, and every .npy data block starts at a
	// 64-byte boundary of its entry.
	zr, err := zip.OpenReader(p1)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store {
			t.Errorf("entry %s is compressed (method %d)", f.Name, f.Method)
		}
		rc, _ := f.Open()
		info, err := npy.ReadHeader(rc)
		rc.Close()
		if err != nil || info.DataOffset%64 != 0 {
			t.Errorf("entry %s: header length %v, err %v; want a multiple of 64", f.Name, info, err)
		}
	}
	if !slices.IsSorted(names) || names[0] != "meta.json.npy" || !slices.Contains(names, "meta.json.npy") {
		t.Errorf("entry order %v", names)
	}
}

// TestNpyioReadsCheckpoint reads a saved array with npyio, an independent
// .npy implementation, so a Go-only run still checks the on-disk format.
func TestNpyioReadsCheckpoint(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.npz")
	c := sampleCheckpoint()
	if err := Save(p, c); err != nil {
		t.Fatal(err)
	}
	r, err := npz.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const name = "param/decoder.layers.3.cross.q.weight.npy"
	h := r.Header(name)
	// npyio keeps the quotes of the descr string.
	if h == nil || strings.Trim(h.Descr.Type, "'") != "<f4" || !slices.Equal(h.Descr.Shape, []int{2, 3, 4}) || h.Descr.Fortran {
		t.Fatalf("npyio header = %+v", h)
	}
	var x []float32
	if err := r.Read(name, &x); err != nil {
		t.Fatal(err)
	}
	sameArrays(t, map[string]Array{"x": {Shape: []int{24}, Data: x}},
		map[string]Array{"x": {Shape: []int{24}, Data: c.Arrays["param/decoder.layers.3.cross.q.weight"].Data}})
	var meta []uint8
	if err := r.Read("meta.json.npy", &meta); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(meta, &m); err != nil || m["format"] != FormatVersion {
		t.Fatalf("meta.json via npyio: %v, %s", err, meta)
	}
}

func TestSaveRejects(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		a    Array
		want string
	}{
		{"param/x", Array{Shape: []int{2, 2}, Data: make([]float32, 3)}, "has 3 values for shape [2 2]"},
		{"param/x", Array{Shape: []int{-1}, Data: nil}, "negative dimension"},
		{MetaName, Array{Shape: []int{1}, Data: make([]float32, 1)}, "reserved"},
		{"", Array{}, "empty array name"},
		{"a/../b", Array{}, "'..'"},
	} {
		ck := New()
		ck.Arrays[c.name] = c.a
		p := filepath.Join(dir, "bad.npz")
		err := Save(p, ck)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("Save(%q) = %v, want an error naming the file and %q", c.name, err, c.want)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("Save(%q) failed but left a file", c.name)
		}
	}
}

func modelParams(seed uint64) []*engine.Param[float32] {
	r := rng.New(seed)
	w := engine.NewParam[float32]("decoder.q.weight", 8, 4)
	b := engine.NewParam[float32]("decoder.q.bias", 8)
	b.NoDecay = true
	e := engine.NewParam[float32]("query_embed.weight", 3, 4)
	e.NoDecay = true
	optim.TorchDefault(w, b, r)
	optim.Normal(e, 0, 1, r)
	return []*engine.Param[float32]{w, b, e}
}

func trainSteps(o *optim.AdamW, ps []*engine.Param[float32], r *rng.RNG, n int) {
	for range n {
		for _, p := range ps {
			for i := range p.Grad {
				p.Grad[i] = float32(r.Normal())
			}
		}
		optim.ClipGradNorm(ps, 0.01)
		o.Step(1e-3)
	}
}

// TestResumeBitIdentical trains 3 steps, checkpoints params, AdamW state and
// the gradient RNG, resumes into fresh objects and trains 2 more steps; the
// result must equal 5 uninterrupted steps bit for bit.
func TestResumeBitIdentical(t *testing.T) {
	full := modelParams(1)
	of := optim.NewAdamW(full, optim.DefaultAdamWConfig())
	trainSteps(of, full, rng.New(9), 5)

	ps := modelParams(1)
	o := optim.NewAdamW(ps, optim.DefaultAdamWConfig())
	gr := rng.New(9)
	trainSteps(o, ps, gr, 3)
	c := New()
	c.PutParams(ParamPrefix, ps)
	c.PutAdamW(o)
	c.PutRNG("grads", gr)
	c.Meta.Step = 3
	p := filepath.Join(t.TempDir(), "resume.npz")
	if err := Save(p, c); err != nil {
		t.Fatal(err)
	}

	l, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	ps2 := modelParams(77) // different values, overwritten by GetParams
	o2 := optim.NewAdamW(ps2, optim.DefaultAdamWConfig())
	gr2 := rng.New(0)
	if err := l.GetParams(ParamPrefix, ps2); err != nil {
		t.Fatal(err)
	}
	if err := l.GetAdamW(o2); err != nil {
		t.Fatal(err)
	}
	if err := l.GetRNG("grads", gr2); err != nil {
		t.Fatal(err)
	}
	if o2.StepCount() != 3 || l.Meta.Step != 3 || l.Meta.Optimizer.Config != optim.DefaultAdamWConfig() {
		t.Fatalf("restored step %d, meta %+v", o2.StepCount(), l.Meta.Optimizer)
	}
	trainSteps(o2, ps2, gr2, 2)
	for i := range full {
		for j := range full[i].Data {
			if math.Float32bits(full[i].Data[j]) != math.Float32bits(ps2[i].Data[j]) {
				t.Fatalf("%s[%d] = %v after resume, %v uninterrupted", full[i].Name, j, ps2[i].Data[j], full[i].Data[j])
			}
		}
	}
}

func TestGetParamsErrors(t *testing.T) {
	ps := modelParams(1)
	c := New()
	c.PutParams(ParamPrefix, ps)
	c.Arrays["other/x"] = Array{Shape: []int{1}, Data: []float32{1}} // other prefix: ignored
	c.path = "/ckpts/model.npz"
	if err := c.GetParams(ParamPrefix, modelParams(2)); err != nil {
		t.Fatalf("good params: %v", err)
	}
	cases := []struct {
		name string
		edit func(c *Checkpoint)
		want error
		msg  string
	}{
		{"missing", func(c *Checkpoint) { delete(c.Arrays, "param/decoder.q.bias") },
			ErrMissing, `missing array "param/decoder.q.bias" for parameter "decoder.q.bias"`},
		{"shape", func(c *Checkpoint) {
			c.Arrays["param/decoder.q.weight"] = Array{Shape: []int{4, 8}, Data: make([]float32, 32)}
		}, ErrShape, `array "param/decoder.q.weight": shape mismatch: the file has [4 8], parameter "decoder.q.weight" has [8 4]`},
		{"unexpected", func(c *Checkpoint) {
			c.Arrays["param/decoder.k.weight"] = Array{Shape: []int{1}, Data: []float32{1}}
		}, ErrUnexpected, `"param/decoder.k.weight"`},
	}
	for _, tc := range cases {
		cc := &Checkpoint{Arrays: map[string]Array{}, path: c.path}
		for k, v := range c.Arrays {
			cc.Arrays[k] = v
		}
		tc.edit(cc)
		dst := modelParams(5)
		before := slices.Clone(dst[0].Data)
		err := cc.GetParams(ParamPrefix, dst)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: err = %v, want %v containing %q and the path", tc.name, err, tc.want, tc.msg)
		}
		if !slices.Equal(before, dst[0].Data) {
			t.Errorf("%s: GetParams changed parameters before failing", tc.name)
		}
	}
}

func TestGetAdamWErrors(t *testing.T) {
	ps := modelParams(1)
	o := optim.NewAdamW(ps, optim.DefaultAdamWConfig())
	c := New()
	if err := c.GetAdamW(o); !errors.Is(err, ErrMeta) {
		t.Errorf("no optimizer meta: err = %v, want ErrMeta", err)
	}
	c.PutAdamW(o)
	delete(c.Arrays, "adam_v/decoder.q.bias")
	if err := c.GetAdamW(o); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "adam_v/decoder.q.bias") {
		t.Errorf("missing moment: err = %v", err)
	}
	c.PutAdamW(o)
	c.Arrays["adam_m/gone.weight"] = Array{Shape: []int{1}, Data: []float32{0}}
	if err := c.GetAdamW(o); !errors.Is(err, ErrUnexpected) {
		t.Errorf("extra moment: err = %v", err)
	}
	if err := c.GetRNG("nope", rng.New(1)); !errors.Is(err, ErrMeta) {
		t.Errorf("GetRNG of a missing name: %v", err)
	}
}

func TestRNGStateJSON(t *testing.T) {
	s := RNGState{0, 1, 0xffffffffffffffff, 0x0123456789abcdef}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `["0000000000000000","0000000000000001","ffffffffffffffff","0123456789abcdef"]`
	if string(b) != want {
		t.Errorf("json %s, want %s", b, want)
	}
	var back RNGState
	if err := json.Unmarshal(b, &back); err != nil || back != s {
		t.Errorf("round trip %v, %v", back, err)
	}
	for _, bad := range []string{`[1,2,3,4]`, `["0","0","0","0"]`, `["zzzzzzzzzzzzzzzz","0000000000000000","0000000000000000","0000000000000000"]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// npyBytes builds a .npy with the given descr, shape and raw data.
func npyBytes(t testing.TB, descr string, shape []int, data []byte) []byte {
	h, err := npy.AppendHeader(nil, descr, shape)
	if err != nil {
		t.Fatal(err)
	}
	return append(h, data...)
}

func f32Bytes(xs ...float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// corruptAt returns a copy of file with one bit flipped at offset off of
// the named stored entry's data.
func corruptAt(t *testing.T, file []byte, name string, off int64) []byte {
	b := slices.Clone(file)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == name {
			start, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			b[start+off] ^= 0x10
			return b
		}
	}
	t.Fatalf("no entry %s", name)
	return nil
}

type entry struct {
	name string
	data []byte
}

func zipBytes(t testing.TB, entries ...entry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func goodMeta(t testing.TB) entry {
	return entry{"meta.json.npy", npyBytes(t, "|u1", []int{len(`{"format":"mpanalyze-checkpoint/1","step":0}`)}, []byte(`{"format":"mpanalyze-checkpoint/1","step":0}`))}
}

func savedBytes(t testing.TB) []byte {
	p := filepath.Join(t.TempDir(), "ok.npz")
	if err := Save(p, sampleCheckpoint()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadErrors(t *testing.T) {
	good := savedBytes(t)
	metaStr := func(s string) entry {
		return entry{"meta.json.npy", npyBytes(t, "|u1", []int{len(s)}, []byte(s))}
	}
	// corrupt flips one bit inside the float data of "param/vec.npy" (past
	// its 64-byte .npy header), which only the CRC-32 can notice.
	corrupt := func() []byte {
		b := slices.Clone(good)
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			if f.Name == "param/vec.npy" {
				off, err := f.DataOffset()
				if err != nil {
					t.Fatal(err)
				}
				rc, _ := f.Open()
				info, err := npy.ReadHeader(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				b[off+int64(info.DataOffset)+9] ^= 0x10
				return b
			}
		}
		t.Fatal("no param/vec.npy entry")
		return nil
	}
	cases := []struct {
		name string
		file []byte
		want error
		msg  string // must appear in the error
	}{
		{"text file", []byte("this is not a checkpoint\n"), ErrNotNPZ, "not a zip/npz file"},
		{"empty file", nil, ErrTruncated, "empty"},
		{"truncated", good[:len(good)/2], ErrTruncated, "truncated file"},
		{"truncated end record", good[:len(good)-5], ErrTruncated, "truncated file"},
		{"crc mismatch", corrupt(), ErrCorrupt, `entry "param/vec.npy": corrupt entry: CRC-32 mismatch`},
		{"crc mismatch in header", corruptAt(t, good, "param/vec.npy", 20), ErrCorrupt, `entry "param/vec.npy": corrupt entry: CRC-32 mismatch`},
		{"missing meta", zipBytes(t, entry{"param/a.npy", npyBytes(t, "<f4", []int{1}, f32Bytes(1))}), ErrNoMeta, "missing meta.json"},
		{"meta not json", zipBytes(t, metaStr(`{"format": `)), ErrMeta, "bad meta.json"},
		{"meta wrong format", zipBytes(t, metaStr(`{"format":"other/2","step":1}`)), ErrMeta, `format "other/2"`},
		{"meta unknown key", zipBytes(t, metaStr(`{"format":"mpanalyze-checkpoint/1","stepp":1}`)), ErrMeta, `unknown field "stepp"`},
		{"meta float32", zipBytes(t, entry{"meta.json.npy", npyBytes(t, "<f4", []int{1}, f32Bytes(1))}), ErrDType, "must be a 1-D uint8 array"},
		{"float64 array", zipBytes(t, goodMeta(t), entry{"param/a.npy", npyBytes(t, "<f8", []int{1}, make([]byte, 8))}), ErrDType,
			`entry "param/a.npy": wrong dtype: dtype "<f8", want float32`},
		{"big-endian array", zipBytes(t, goodMeta(t), entry{"param/a.npy", npyBytes(t, ">f4", []int{1}, make([]byte, 4))}), ErrDType, `">f4"`},
		{"fortran order", zipBytes(t, goodMeta(t), entry{"param/a.npy", bytes.Replace(npyBytes(t, "<f4", []int{2, 2}, make([]byte, 16)), []byte("False"), []byte("True "), 1)}),
			ErrDType, "Fortran"},
		{"short data", zipBytes(t, goodMeta(t), entry{"param/a.npy", npyBytes(t, "<f4", []int{3}, f32Bytes(1, 2))}), ErrCorrupt, "does not hold"},
		{"garbage npy", zipBytes(t, goodMeta(t), entry{"param/a.npy", []byte("hello world, not numpy")}), ErrCorrupt, "no \\x93NUMPY magic"},
		{"bad header dict", zipBytes(t, goodMeta(t), entry{"param/a.npy", bytes.Replace(npyBytes(t, "<f4", []int{1}, f32Bytes(1)), []byte("'shape'"), []byte("'shope'"), 1)}),
			ErrCorrupt, `unexpected key "shope"`},
		{"not npy entry", zipBytes(t, goodMeta(t), entry{"readme.txt", []byte("hi")}), ErrCorrupt, `entry "readme.txt" is not a .npy array`},
		{"duplicate entry", zipBytes(t, goodMeta(t), goodMeta(t)), ErrCorrupt, "appears twice"},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".npz")
		if err := os.WriteFile(p, tc.file, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p)
		if err == nil {
			t.Errorf("%s: Load succeeded (%d arrays)", tc.name, len(c.Arrays))
			continue
		}
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v\nwant %v, naming %s and containing %q", tc.name, err, tc.want, p, tc.msg)
		}
	}
	if _, err := Load(filepath.Join(dir, "does-not-exist.npz")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestLoadDamagedNeverPanics loads every truncation and many single-byte
// corruptions of a small checkpoint: every truncation must fail, and
// nothing may panic.
func TestLoadDamagedNeverPanics(t *testing.T) {
	good := savedBytes(t)
	for n := 0; n < len(good); n++ {
		if _, err := read(bytes.NewReader(good[:n]), int64(n)); err == nil {
			t.Fatalf("truncation to %d of %d bytes loaded without error", n, len(good))
		}
	}
	b := slices.Clone(good)
	for i := 0; i < len(b); i += 3 {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b[i] ^= x
			c, err := read(bytes.NewReader(b), int64(len(b)))
			if err == nil && len(c.Arrays) == 0 {
				t.Fatalf("byte %d ^ %#x: loaded an empty checkpoint", i, x)
			}
			b[i] ^= x
		}
	}
}

// TestLoadRandomDamage applies random overwrites, insertions, deletions
// and 32-bit field rewrites (which hit zip sizes, offsets and counts) to a
// checkpoint and loads each result: nothing may panic, and whatever loads
// must be self-consistent. The seed is fixed; raise -damage to search longer.
func TestLoadRandomDamage(t *testing.T) {
	good := savedBytes(t)
	r := rng.New(11)
	for range *damageIters {
		b := slices.Clone(good)
		for range 1 + r.IntN(3) {
			i := r.IntN(len(b))
			switch r.IntN(4) {
			case 0:
				b[i] = byte(r.Uint64())
			case 1:
				b = slices.Insert(b, i, byte(r.Uint64()))
			case 2:
				b = slices.Delete(b, i, min(len(b), i+1+r.IntN(8)))
			case 3:
				if i+4 <= len(b) {
					vals := []uint32{0, 1, 0xffffffff, 0x7fffffff, uint32(len(b)), uint32(r.Uint64())}
					binary.LittleEndian.PutUint32(b[i:], vals[r.IntN(len(vals))])
				}
			}
		}
		c, err := read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			continue
		}
		for name, a := range c.Arrays {
			n := 1
			for _, d := range a.Shape {
				n *= d
			}
			if n != len(a.Data) {
				t.Fatalf("array %q: shape %v with %d values", name, a.Shape, len(a.Data))
			}
		}
	}
}

var damageIters = flag.Int("damage", 3000, "iterations of TestLoadRandomDamage")

func FuzzLoad(f *testing.F) {
	f.Add(savedBytes(f))
	f.Add(zipBytes(f, goodMeta(f), entry{"param/a.npy", npyBytes(f, "<f4", []int{2, 1}, f32Bytes(1, 2))}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for name, a := range c.Arrays {
			n := 1
			for _, d := range a.Shape {
				n *= d
			}
			if n != len(a.Data) {
				t.Fatalf("array %q: shape %v with %d values", name, a.Shape, len(a.Data))
			}
		}
	})
}
