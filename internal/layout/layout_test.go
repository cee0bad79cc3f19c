package layout

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/mpanalyze/mpanalyze"

// forbidden maps a room (a package path relative to the module, with its
// sub-packages) to the rooms it must not import. The README's Layout
// section states the same rules.
var forbidden = map[string][]string{
	"model":              {"metrics", "probes", "run", "experiments", "plots", "cmd", "notebooks", "report"},
	"metrics":            {"data", "model", "probes", "run", "experiments", "plots", "cmd", "notebooks", "report"},
	"probes":             {"model", "run", "experiments", "plots", "cmd", "notebooks", "report"},
	"plots":              {"model", "run", "experiments", "cmd", "notebooks", "report"},
	"experiments/tables": {"model", "run", "plots", "cmd", "notebooks", "report"},
	"data":               {"model", "run", "probes", "metrics", "experiments", "plots", "cmd", "notebooks", "report"},
	"run":                {"experiments", "plots", "cmd", "notebooks", "report"},
	// shared vocabulary: leaves that every room may import
	"mask":     {"data", "model", "run", "probes", "metrics", "experiments", "plots", "cmd", "notebooks", "matcher", "report"},
	"matcher":  {"data", "model", "run", "probes", "metrics", "experiments", "plots", "cmd", "notebooks", "mask", "report"},
	"internal": {"data", "model", "run", "probes", "metrics", "experiments", "plots", "cmd", "notebooks", "mask", "matcher", "report"},
}

// under reports whether pkg is room or one of its sub-packages.
func under(pkg, room string) bool { return pkg == room || strings.HasPrefix(pkg, room+"/") }

// roomOf returns the most specific room of forbidden that holds pkg.
func roomOf(pkg string) string {
	best := ""
	for room := range forbidden {
		if under(pkg, room) && len(room) > len(best) {
			best = room
		}
	}
	return best
}

// imports returns, for every package directory of the module, the module
// packages its non-test files import.
func imports(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if out[pkg] == nil {
			out[pkg] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, module+"/"); ok {
				out[pkg][rest] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportArrows(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	all := imports(t, root)
	if len(all["model"]) == 0 || len(all["run"]) == 0 {
		t.Fatalf("found no imports of model or run under %s: the walk is broken", root)
	}
	for _, b := range violations(all) {
		t.Errorf("import against the house rules: %s", b)
	}
}

// violations lists the imports of all that break the rules, sorted, as
// "pkg → imported".
func violations(all map[string]map[string]bool) []string {
	var bad []string
	for pkg, imps := range all {
		room := roomOf(pkg)
		for imp := range imps {
			for _, no := range forbidden[room] {
				if under(imp, no) && !under(imp, room) {
					bad = append(bad, pkg+" → "+imp)
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// The check must catch an arrow when one appears.
func TestImportArrowsCatchesViolation(t *testing.T) {
	dir := t.TempDir()
	for path, src := range map[string]string{
		"go.mod":            "module " + module + "\n",
		"model/m.go":        "package model\nimport _ \"" + module + "/metrics\"\n",
		"metrics/m.go":      "package metrics\n",
		"run/r.go":          "package run\nimport _ \"" + module + "/model\"\n",
		"model/engine/e.go": "package engine\nimport _ \"" + module + "/probes\"\n",
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := violations(imports(t, dir))
	if strings.Join(bad, ", ") != "model → metrics, model/engine → probes" {
		t.Fatalf("violations found: %v", bad)
	}
}
