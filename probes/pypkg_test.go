package probes

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mpanalyze/mpanalyze/metrics"
)

// TestPythonPackage runs the Python package's tests (python/tests: the
// detectron2, MP-Former and HF adapters on tiny models built to the real
// interfaces, with a batch of three images of different sizes) and then
// analyses the traces they wrote with the Go reader: every per-stage
// figure equals the one tests/reference.py computed in numpy from the raw
// model outputs (the image's cells sliced out, the GT coverage counted,
// the matchings solved by scipy, the attention masks the decoder used).
func TestPythonPackage(t *testing.T) {
	t.Parallel()
	needPython(t, "numpy, torch, scipy")
	out := t.TempDir()
	cmd := exec.Command(python, "-m", "unittest", "discover", "-s", "tests")
	cmd.Dir = packageDir
	cmd.Env = append(os.Environ(), "MPANALYZE_PYTEST_OUT="+out, "PYTHONDONTWRITEBYTECODE=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python3 -m unittest (in %s): %v\n%s", packageDir, err, b)
	}
	refs, err := filepath.Glob(filepath.Join(out, "*.ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ref := range refs {
		names = append(names, strings.TrimSuffix(filepath.Base(ref), ".ref.json"))
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "detectron2,hf,mpformer" {
		t.Fatalf("the Python tests left references of %v, want detectron2, hf, mpformer", names)
	}
	for _, name := range names {
		base := filepath.Join(out, name)
		b, err := os.ReadFile(base + ".ref.json")
		if err != nil {
			t.Fatal(err)
		}
		var ref struct {
			What    string                `json:"what"`
			Figures map[string][]*float64 `json:"figures"`
		}
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatalf("%s.ref.json: %v", name, err)
		}
		r, err := OpenTrace(base, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Analyze(0, 2)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Images != 3 || rep.Run.Matching != MatchingRecorded {
			t.Fatalf("%s: %d images, matching %q", ref.What, rep.Images, rep.Run.Matching)
		}
		if len(ref.Figures) < 9 {
			t.Fatalf("%s: only %d reference figures", ref.What, len(ref.Figures))
		}
		for key, want := range ref.Figures {
			got := metrics.MustFigure(key).Series(rep.Figures(), metrics.FinalMatched)
			if len(got) != len(want) {
				t.Fatalf("%s: %s has %d values, numpy %d", ref.What, key, len(got), len(want))
			}
			for s, w := range want {
				if w == nil {
					if !math.IsNaN(got[s]) {
						t.Errorf("%s: %s[%d] = %v, numpy: undefined", ref.What, key, s, got[s])
					}
					continue
				}
				if math.Abs(got[s]-*w) > 1e-12 {
					t.Errorf("%s: %s[%d] = %v, numpy %v", ref.What, key, s, got[s], *w)
				}
			}
		}
	}
}

// TestPythonPackageInstalls installs the package from a copy of python/
// with pip, offline (--no-index --no-build-isolation: Debian's
// python3-setuptools builds it), and records a trace with the installed
// command line, which the Go reader opens.
func TestPythonPackageInstalls(t *testing.T) {
	t.Parallel()
	needPython(t, "numpy, torch, setuptools, pip") // setuptools first: pip then leaves distutils alone
	dir := t.TempDir()
	src, target := filepath.Join(dir, "src"), filepath.Join(dir, "site")
	if err := os.CopyFS(src, os.DirFS(packageDir)); err != nil {
		t.Fatal(err)
	}
	install := exec.Command(python, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", "--no-deps",
		"--disable-pip-version-check", "--target", target, src)
	install.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("pip install: %v\n%s", err, b)
	}
	trace := filepath.Join(dir, "demo")
	run := exec.Command(python, "-c", `import sys, mpanalyze_trace, mpanalyze_trace.cli as cli
print(mpanalyze_trace.__file__)
cli.main(["demo", sys.argv[1], "--compact", "--images", "2"])`, trace)
	run.Dir = dir // not python/: the import must find the installed copy
	run.Env = append(os.Environ(), "PYTHONPATH="+target, "PYTHONDONTWRITEBYTECODE=1")
	b, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("installed package: %v\n%s", err, b)
	}
	if !strings.HasPrefix(string(b), filepath.Join(target, "mpanalyze_trace")) {
		t.Fatalf("imported %s, want the installed copy under %s", strings.SplitN(string(b), "\n", 2)[0], target)
	}
	if _, err := os.Stat(filepath.Join(target, "bin", "mpanalyze-trace")); err != nil {
		t.Errorf("no mpanalyze-trace script: %v", err)
	}
	r, err := OpenTrace(trace, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	side := r.Sidecar()
	if r.Len() != 2 || !side.Storage.Compact() {
		t.Fatalf("%d images, storage %+v", r.Len(), side.Storage)
	}
}
