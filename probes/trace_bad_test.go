package probes

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rewriteNPZ rewrites the trace's archive through edit (which may change,
// drop or add entries) and fixes npz_bytes in the sidecar, so that only the
// intended defect remains.
func rewriteNPZ(t *testing.T, npz, js string, edit func(names []string, data map[string][]byte) []string) {
	t.Helper()
	zr, err := zip.OpenReader(npz)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	data := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		names = append(names, f.Name)
		data[f.Name] = b
	}
	zr.Close()
	names = edit(names, data)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		w.Write(data[n])
	}
	zw.Close()
	os.WriteFile(npz, buf.Bytes(), 0o644)
	editSidecar(t, js, func(m map[string]any) { m["npz_bytes"] = buf.Len() })
}

// editSidecar changes the sidecar's JSON document.
func editSidecar(t *testing.T, js string, edit func(m map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	os.WriteFile(js, b, 0o644)
}

func arrayList(m map[string]any) []any { return m["arrays"].([]any) }

func arrayNamed(m map[string]any, name string) map[string]any {
	for _, a := range arrayList(m) {
		if a.(map[string]any)["name"] == name {
			return a.(map[string]any)
		}
	}
	panic("no array " + name)
}

func TestTraceBadInput(t *testing.T) {
	imgs := m2f.images(8, []int{2, -1}, true)
	other := m2f
	other.Q = 6 // a trace with other shapes, same file layout
	otherImgs := other.images(8, []int{2, -1}, true)

	cases := []struct {
		name    string
		breakIt func(t *testing.T, npz, js string)
		kind    error
		at      string // the error names this file ("npz" or "json")
		msg     string // and contains this
		onRead  bool   // the error comes from reading the images
	}{
		{"sidecar missing", func(t *testing.T, npz, js string) { os.Remove(js) },
			ErrTraceSidecar, "json", "cannot read the sidecar", false},
		{"sidecar malformed", func(t *testing.T, npz, js string) {
			os.WriteFile(js, []byte(`{"format": "mpanalyze-trace", "version": 1,`), 0o644)
		},
			ErrTraceSidecar, "json", "malformed JSON", false},
		{"sidecar unknown field", func(t *testing.T, npz, js string) {
			editSidecar(t, js, func(m map[string]any) { m["extra"] = 1 })
		}, ErrTraceSidecar, "json", `unknown field "extra"`, false},
		{"unsupported version", func(t *testing.T, npz, js string) {
			editSidecar(t, js, func(m map[string]any) { m["version"] = 3 })
		}, ErrTraceVersion, "json", "version 3", false},
		{"not a trace sidecar", func(t *testing.T, npz, js string) {
			editSidecar(t, js, func(m map[string]any) { m["format"] = "mpanalyze-checkpoint/1" })
		}, ErrTraceVersion, "json", `format "mpanalyze-checkpoint/1"`, false},
		{"missing stages", func(t *testing.T, npz, js string) {
			editSidecar(t, js, func(m map[string]any) {
				run := m["run"].(map[string]any)
				run["num_stages"] = 5
				run["stage_layers"] = []int{0, 1, 2, 3, 4}
			})
		}, ErrTraceStages, "json", "img10/class_logits is <f4 [4 5 4]", false},
		{"stage_layers too short", func(t *testing.T, npz, js string) {
			editSidecar(t, js, func(m map[string]any) { m["run"].(map[string]any)["stage_layers"] = []int{0, 1, 2} })
		}, ErrTraceStages, "json", "3 entries", false},
		{"sidecar lists an unknown array", func(t *testing.T, npz, js string) {
			editSidecar(t, js, func(m map[string]any) {
				m["arrays"] = append(arrayList(m), map[string]any{"name": "img10/foo", "dtype": "<f4", "shape": []int{1}})
			})
		}, ErrTraceSidecar, "json", "unexpected array img10/foo", false},
		{"sidecar omits an array", func(t *testing.T, npz, js string) {
			editSidecar(t, js, func(m map[string]any) { m["arrays"] = arrayList(m)[1:] })
		}, ErrTraceSidecar, "json", "image 10 has no array img10/mask_logits", false},
		{"npz missing", func(t *testing.T, npz, js string) { os.Remove(npz) },
			ErrTraceMismatch, "npz", "cannot be opened", false},
		{"npz truncated", func(t *testing.T, npz, js string) {
			b, _ := os.ReadFile(npz)
			os.WriteFile(npz, b[:len(b)/2], 0o644)
		}, ErrTraceTruncated, "npz", "not a complete zip archive", false},
		{"npz of another run", func(t *testing.T, npz, js string) {
			o, _ := writeTrace(t, filepath.Join(t.TempDir(), "o"), m2f, nil, m2f.images(9, []int{1, 1}, true))
			b, _ := os.ReadFile(o)
			os.WriteFile(npz, b, 0o644)
		}, ErrTraceMismatch, "npz", "not one pair", false},
		{"array missing", func(t *testing.T, npz, js string) {
			rewriteNPZ(t, npz, js, func(names []string, _ map[string][]byte) []string {
				return without(names, "img10/gt_masks.npy")
			})
		}, ErrTraceMismatch, "npz", "img10/gt_masks: trace arrays disagree with the sidecar: missing array", false},
		{"extra array", func(t *testing.T, npz, js string) {
			rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
				data["img13/gt_masks.npy"] = data["img10/gt_masks.npy"]
				return append(names, "img13/gt_masks.npy")
			})
		}, ErrTraceMismatch, "npz", "img13/gt_masks: trace arrays disagree with the sidecar: extra array", false},
		{"shape differs", func(t *testing.T, npz, js string) {
			o, _ := writeTrace(t, filepath.Join(t.TempDir(), "o"), other, nil, otherImgs)
			b, _ := os.ReadFile(o)
			os.WriteFile(npz, b, 0o644)
			editSidecar(t, js, func(m map[string]any) { m["npz_bytes"] = len(b) })
		}, ErrTraceMismatch, "npz", "img10/mask_logits: trace arrays disagree with the sidecar: the array is <f4 [4 6 8 8], the sidecar says <f4 [4 5 8 8]", false},
		{"dtype differs", func(t *testing.T, npz, js string) {
			editSidecar(t, js, func(m map[string]any) {
				m["storage"].(map[string]any)["mask_dtype"] = "float16"
				arrayNamed(m, "img10/mask_logits")["dtype"] = "<f2"
				arrayNamed(m, "img13/mask_logits")["dtype"] = "<f2"
			})
		}, ErrTraceMismatch, "npz", "the array is <f4 [4 5 8 8], the sidecar says <f2 [4 5 8 8]", false},
		{"bad npy header", func(t *testing.T, npz, js string) {
			rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
				data["img10/unblocked.npy"] = append([]byte("NOTNPY"), data["img10/unblocked.npy"][6:]...)
				return names
			})
		}, ErrTraceCorrupt, "npz", "img10/unblocked: trace npz is corrupt: not a .npy array", false},
		{"entry too short", func(t *testing.T, npz, js string) {
			rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
				d := data["img10/class_logits.npy"]
				data["img10/class_logits.npy"] = d[:len(d)-4]
				return names
			})
		}, ErrTraceCorrupt, "npz", "entry has", false},
		{"CRC mismatch", func(t *testing.T, npz, js string) {
			b, _ := os.ReadFile(npz)
			// Flip one bit inside the first entry's data (stored, so the
			// bytes are the array's): after the 30-byte local header, the
			// name and the 128-byte .npy header.
			b[30+len("img10/mask_logits.npy")+128+10] ^= 1
			os.WriteFile(npz, b, 0o644)
		}, ErrTraceCorrupt, "npz", "img10/mask_logits: trace npz is corrupt: CRC-32 mismatch, the data is damaged (zip: checksum error)", true},
		{"class out of range", func(t *testing.T, npz, js string) {
			rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
				d := data["img10/gt_classes.npy"]
				d[len(d)-4] = 9 // last GT class := 9, K = 3
				return names
			})
		}, ErrTraceCorrupt, "npz", "GT segment 1 has class 9, want 0..2", true},
		{"duplicate match", func(t *testing.T, npz, js string) {
			rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
				d := data["img10/match.npy"]
				copy(d[len(d)-4:], d[len(d)-8:len(d)-4]) // stage 3: both segments → one query
				return names
			})
		}, ErrTraceCorrupt, "npz", "stage 3 matches GT segment 1", true},
		// Values no recorder writes (CheckValues), found where the reader
		// decodes them: the arrays' data starts after the 128-byte .npy
		// header; element 5 of the mask logits (shape [4 5 8 8]: stage 0, query 0, row 0, column 5) := NaN, element 2 of the
		// class logits := +Inf (float32, little endian).
		{"NaN in mask logits", func(t *testing.T, npz, js string) {
			rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
				copy(data["img10/mask_logits.npy"][128+4*5:], []byte{0x00, 0x00, 0xc0, 0x7f})
				return names
			})
		}, ErrTraceValue, "npz", "img10/mask_logits: trace holds a value no recorder writes: NaN at index 5 [0, 0, 0, 5] of shape [4 5 8 8]", true},
		{"+Inf in class logits", func(t *testing.T, npz, js string) {
			rewriteNPZ(t, npz, js, func(names []string, data map[string][]byte) []string {
				copy(data["img10/class_logits.npy"][128+4*2:], []byte{0x00, 0x00, 0x80, 0x7f})
				return names
			})
		}, ErrTraceValue, "npz", "img10/class_logits: trace holds a value no recorder writes: +Inf at index 2 [0, 0, 2]", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			npz, js := writeTrace(t, filepath.Join(t.TempDir(), "t"), m2f, nil, imgs)
			tc.breakIt(t, npz, js)
			r, err := OpenTrace(npz, nil)
			if tc.onRead {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				for err == nil {
					_, err = r.Next()
				}
				r.Close()
				if err == io.EOF {
					t.Fatal("read the whole trace without an error")
				}
			} else if err == nil {
				r.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %q is not %q", err, tc.kind)
			}
			file := npz
			if tc.at == "json" {
				file = js
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "probes: "+file) || !strings.Contains(msg, tc.msg) {
				t.Fatalf("error %q should start with %q and contain %q", msg, "probes: "+file, tc.msg)
			}
			t.Log(msg)
			var te *TraceError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TraceError", err)
			}
		})
	}
	// A missing file is also fs.ErrNotExist.
	_, err := OpenTrace(filepath.Join(t.TempDir(), "none"), nil)
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrTraceSidecar) {
		t.Fatalf("missing trace: %v", err)
	}
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// TestTraceNeverPanics damages a trace in many random ways (byte flips in
// the archive and the sidecar, truncations) and reads it: every outcome
// must be an error or a clean read, never a panic.
func TestTraceNeverPanics(t *testing.T) {
	mp := m2f
	mp.MP = 1
	imgs := mp.images(30, []int{2, -1}, false)
	dir := t.TempDir()
	for _, set := range []*TraceSettings{{KeepMP: true}, {Compress: true, Float16: true}} {
		npz, js := writeTrace(t, filepath.Join(dir, "src"), mp, set, imgs)
		origN, _ := os.ReadFile(npz)
		origJ, _ := os.ReadFile(js)
		rng := uint64(1)
		next := func(n int) int { // xorshift: deterministic positions
			rng ^= rng << 13
			rng ^= rng >> 7
			rng ^= rng << 17
			return int(rng % uint64(n))
		}
		for i := range 300 {
			n, j := bytes.Clone(origN), bytes.Clone(origJ)
			switch i % 4 {
			case 0, 1:
				for range 1 + i%3 {
					n[next(len(n))] ^= byte(1 << (i % 8))
				}
			case 2:
				j[next(len(j))] = "0123456789-,:{}[]\""[next(18)]
			case 3:
				n = n[:next(len(n))]
			}
			os.WriteFile(filepath.Join(dir, "bad.npz"), n, 0o644)
			os.WriteFile(filepath.Join(dir, "bad.json"), j, 0o644)
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("case %d panicked: %v", i, p)
					}
				}()
				r, err := OpenTrace(filepath.Join(dir, "bad"), nil)
				if err != nil {
					if !strings.HasPrefix(err.Error(), "probes: ") {
						t.Fatalf("case %d: %v", i, err)
					}
					return
				}
				defer r.Close()
				var ev Evaluator
				r.Replay(&ev, 0)
			}()
		}
	}
}
