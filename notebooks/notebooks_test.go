package notebooks

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the rendered notebooks (*.md) and their figures (*_files/)")

// TestNotebooks runs every notebook and compares its Markdown with the
// committed file. Training is deterministic but its floating point is only
// pinned on one architecture: elsewhere (not amd64) the committed numbers
// may differ in the last digits, so the test then checks everything but the
// cell outputs.
func TestNotebooks(t *testing.T) {
	for _, e := range All {
		t.Run(e.Name, func(t *testing.T) {
			figDir := t.TempDir()
			if *update {
				figDir = e.Name + "_files"
				if err := os.RemoveAll(figDir); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			got, err := Run(e, t.TempDir(), figDir)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 60*time.Second {
				t.Errorf("%s took %s; notebooks must stay under a minute", e.Name, d.Round(time.Second))
			}
			path := e.Name + ".md"
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./notebooks -update)", err)
			}
			if runtime.GOARCH != "amd64" {
				got, want = stripOutputs(got), stripOutputs(want)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: the notebook's code, prose or results changed; run go test ./notebooks -update and review the diff\n%s", path, firstDiff(string(got), string(want)))
			}
			// Every figure the notebook links is committed.
			for _, m := range regexp.MustCompile(`\]\(([^)]+_files/[^)]+)\)`).FindAllStringSubmatch(string(want), -1) {
				if _, err := os.Stat(m[1]); err != nil {
					t.Errorf("linked figure: %v", err)
				}
				if _, err := os.Stat(filepath.Join(figDir, filepath.Base(m[1]))); err != nil {
					t.Errorf("the notebook no longer writes %s", m[1])
				}
			}
		})
	}
}

// stripOutputs drops the ```text blocks (cell outputs).
func stripOutputs(b []byte) []byte {
	return regexp.MustCompile("(?s)```text\n.*?\n```").ReplaceAll(b, []byte("```text\n```"))
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  got:  %s\n  want: %s", i+1, a, b)
		}
	}
	return ""
}

func TestCellSource(t *testing.T) {
	nb := &Notebook{Name: "t", Title: "T", Dir: t.TempDir()}
	x := 0
	nb.Text(`
		Some *prose*.`)
	nb.Cell(func(w io.Writer) error {
		x = 41 + 1
		_, err := w.Write([]byte("hello\n"))
		return err
	})
	if err := nb.Err(); err != nil {
		t.Fatal(err)
	}
	want := "Some *prose*.\n\n```go\nx = 41 + 1\n_, err := w.Write([]byte(\"hello\\n\"))\nreturn err\n```\n\n```text\nhello\n```\n"
	if got := string(nb.Markdown()); !strings.HasSuffix(got, want) || x != 42 {
		t.Errorf("markdown:\n%s\nwant suffix:\n%s", got, want)
	}
	nb.Cell(func(w io.Writer) error { return os.ErrNotExist })
	if nb.Err() == nil || !strings.Contains(nb.Err().Error(), "notebook t") {
		t.Errorf("failing cell: %v", nb.Err())
	}
}
