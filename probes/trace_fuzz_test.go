package probes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzOpenTrace: no trace (.npz and sidecar JSON) makes OpenTrace or a
// replay into the Evaluator panic, and every error names a file of the
// trace. Seeds: a two-image Mask2Former trace, float32 and float16.
func FuzzOpenTrace(f *testing.F) {
	for _, set := range []*TraceSettings{nil, {Float16: true}} {
		dir := f.TempDir()
		npz, js := writeTrace(f, filepath.Join(dir, "t"), m2f, set, m2f.images(1, []int{2, 0}, true))
		a, err := os.ReadFile(npz)
		if err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(js)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a, b)
	}
	f.Fuzz(func(t *testing.T, npz, sidecar []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "t")
		if err := os.WriteFile(path+".npz", npz, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".json", sidecar, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenTrace(path, nil)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error names no trace file: %v", err)
			}
			return
		}
		defer r.Close()
		var ev Evaluator
		if err := r.Replay(&ev, 0); err != nil {
			return
		}
		ev.Report()
	})
}
