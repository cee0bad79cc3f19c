package metrics

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/mpanalyze/mpanalyze/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/coco_ap_cases.json and pq_cases.json from testdata/gen.py")

// TestReferenceCasesReproduce runs testdata/gen.py, the generator of the
// reference cases, and checks that it writes the committed files: byte for
// byte, or else number for number (reference numbers within 1e-12, the
// tolerance of the reference tests; everything else exactly), so that the
// cases and their reference numbers cannot drift from the script that makes
// them. With -update it rewrites the committed files instead.
func TestReferenceCasesReproduce(t *testing.T) {
	py := testenv.RequirePython(t, "numpy")
	out := t.TempDir()
	if *update {
		out = "testdata"
	}
	if b, err := exec.Command(py, filepath.Join("testdata", "gen.py"), "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("gen.py: %v\n%s", err, b)
	}
	if *update {
		return
	}
	for _, name := range []string{"coco_ap_cases.json", "pq_cases.json"} {
		want, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, want) {
			continue
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("gen.py's %s: %v", name, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatalf("testdata/%s: %v", name, err)
		}
		if d := jsonDiff(name, g, w); d != "" {
			t.Errorf("testdata/%s is not what testdata/gen.py writes: %s\n(rewrite it with go test ./metrics -run ReferenceCasesReproduce -update, and review the diff)", name, d)
		} else {
			t.Logf("%s: same cases and numbers within 1e-12, different bytes", name)
		}
	}
}

// jsonDiff returns the first difference between two decoded JSON values,
// or "" when they agree: numbers within 1e-12, all else exactly.
func jsonDiff(path string, got, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %T, want an object", path, got)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if d := jsonDiff(path+"."+k, g[k], w[k]); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want %d elements", path, got, len(w))
		}
		for i := range w {
			if d := jsonDiff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); d != "" {
				return d
			}
		}
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-12 {
			return fmt.Sprintf("%s: got %v, want %v", path, got, w)
		}
	default:
		if got != want {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
	}
	return ""
}
