package notebooks

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	update = flag.Bool("update", false, "rewrite the rendered notebooks (*.md) and their figures (*_files/)")
	strict = flag.Bool("strict", false, "fail also when only the numbers in cell outputs differ, whatever GEMM kernel rendered them")
)

// TestNotebooks runs every notebook and compares its Markdown with the
// committed file. Code, prose and the shape of every output must match
// exactly. The numbers must match exactly too — tolerance zero — when the
// run uses the GEMM kernel the committed file names in its provenance
// line (the CI machines have AVX-512 and use the kernel the notebooks are
// rendered with): training is bit-reproducible for a kernel, so a
// different number means the code changed what it computes and the
// notebook must be re-rendered. With another kernel (an AVX2-only
// machine, -tags purego) the arithmetic differs in the last bits and a
// tiny model amplifies that, so numbers only log; -strict makes them fail
// there too. The provenance line itself (revision, kernel) is not
// compared. Run go test ./notebooks -update to refresh.
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
			t.Logf("%s rendered in %s", e.Name, time.Since(start).Round(time.Second))
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
			kernelGot, kernelWant := Kernel(got), Kernel(want)
			sameKernel := kernelGot == kernelWant
			got, want = provenanceRE.ReplaceAll(got, nil), provenanceRE.ReplaceAll(want, nil)
			switch {
			case bytes.Equal(got, want):
			case !*strict && !sameKernel && bytes.Equal(maskNumbers(got), maskNumbers(want)):
				t.Logf("%s: rendered with another GEMM kernel (%s) than the committed file (%s), and the numbers differ\n%s", path, kernelGot, kernelWant, firstDiff(string(got), string(want)))
			case bytes.Equal(maskNumbers(got), maskNumbers(want)):
				t.Errorf("%s is stale: its numbers differ from what the code computes with the same GEMM kernel; run go test ./notebooks -update and review the diff\n%s", path, firstDiff(string(got), string(want)))
			default:
				t.Errorf("%s is stale: the notebook's code, prose or outputs changed; run go test ./notebooks -update and review the diff\n%s", path, firstDiff(string(maskNumbers(got)), string(maskNumbers(want))))
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

// maskNumbers replaces, inside the cell outputs (```text blocks), every
// number by "#" and every run of spaces or horizontal box lines by one
// space, so that outputs compare by their shape. The direction words of a
// verdict ("MP-Former higher", "lower", "no clear difference") follow the numbers
// and are masked too: a tiny model's verdict may flip with any change to
// the arithmetic.
func maskNumbers(b []byte) []byte {
	num := regexp.MustCompile(`[0-9][0-9.]*`)
	space := regexp.MustCompile(`[ ─]+`)
	dir := regexp.MustCompile(`NOT above: below by|above by|[A-Za-z-]+ higher|[A-Za-z-]+ lower|no clear difference`)
	return regexp.MustCompile("(?s)```text\n.*?\n```").ReplaceAllFunc(b, func(block []byte) []byte {
		block = dir.ReplaceAll(block, []byte("±"))
		return space.ReplaceAll(num.ReplaceAll(block, []byte("#")), []byte(" "))
	})
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

func TestMaskNumbers(t *testing.T) {
	a := "x 1.5\n```text\n│ 9.8 │ 12 │\nstep 30\n```\nprose 2\n"
	b := "x 1.5\n```text\n│ 10.25 │ 7 │\nstep 31\n```\nprose 2\n"
	c := "x 1.5\n```text\n│ 10.25 │ 7 │\nstage 31\n```\nprose 2\n"
	d := "x 1.6\n```text\n│ 9.8 │ 12 │\nstep 30\n```\nprose 2\n"
	if !bytes.Equal(maskNumbers([]byte(a)), maskNumbers([]byte(b))) {
		t.Errorf("numbers in outputs should not count:\n%s\n%s", maskNumbers([]byte(a)), maskNumbers([]byte(b)))
	}
	if bytes.Equal(maskNumbers([]byte(a)), maskNumbers([]byte(c))) {
		t.Errorf("a word changed in an output")
	}
	if bytes.Equal(maskNumbers([]byte(a)), maskNumbers([]byte(d))) {
		t.Errorf("a number outside the outputs changed")
	}
}
