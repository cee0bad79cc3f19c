package layout

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// Citations of the repository's own documentation: "docs/papers.md" or
// "docs/papers.md#mask-pilots" anywhere (Go comments, specs, Markdown
// links such as ../docs/papers.md#…), and relative links between the pages
// of docs/.
var (
	docCitation  = regexp.MustCompile(`docs/([A-Za-z0-9_.-]+\.md)(#[A-Za-z0-9_-]+)?`)
	markdownLink = regexp.MustCompile(`\]\(([A-Za-z0-9_.-]+\.md)?(#[A-Za-z0-9_-]+)?\)`)
	// Sources that are not in the repository: the briefs the docs were
	// written from, and their section numbers.
	outsideSource = regexp.MustCompile(`shared/reference|go-deps\.md|papers\.md\s*§|(^|[^/\w.-])(papers|data-sources)\.md`)
)

// citedFiles are the files whose text is checked.
var citedFiles = map[string]bool{".go": true, ".md": true, ".yaml": true, ".yml": true, ".py": true}

// citationProblems walks the module at root and returns every citation of
// docs/ that names a missing page or anchor, and every citation of a
// source outside the repository, as "file:line: problem", sorted.
func citationProblems(root string) ([]string, error) {
	anchors := map[string]map[string]bool{} // page (relative to docs/) → anchors
	pageAnchors := func(page string) (map[string]bool, bool) {
		if a, ok := anchors[page]; ok {
			return a, a != nil
		}
		b, err := os.ReadFile(filepath.Join(root, "docs", page))
		if err != nil {
			anchors[page] = nil
			return nil, false
		}
		anchors[page] = headingAnchors(b)
		return anchors[page], true
	}
	check := func(page, anchor string) string {
		a, ok := pageAnchors(page)
		switch {
		case !ok:
			return fmt.Sprintf("docs/%s does not exist", page)
		case anchor != "" && !a[anchor[1:]]:
			return fmt.Sprintf("docs/%s has no section %s", page, anchor)
		}
		return ""
	}
	var bad []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "fuzz") {
				return filepath.SkipDir
			}
			return nil
		}
		if !citedFiles[filepath.Ext(path)] || strings.HasSuffix(path, "citations_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		inDocs := strings.HasPrefix(rel, "docs/") && !strings.Contains(rel[len("docs/"):], "/")
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			report := func(msg string) { bad = append(bad, fmt.Sprintf("%s:%d: %s", rel, n, msg)) }
			for _, m := range docCitation.FindAllStringSubmatch(line, -1) {
				if msg := check(m[1], m[2]); msg != "" {
					report(msg)
				}
			}
			if inDocs {
				for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
					page := m[1]
					if page == "" {
						page = filepath.Base(rel)
					}
					if m[1] == "" && m[2] == "" {
						continue
					}
					if msg := check(page, m[2]); msg != "" {
						report(msg)
					}
				}
				continue // the pages name their siblings without docs/
			}
			if m := outsideSource.FindString(line); m != "" {
				name := strings.TrimLeftFunc(m, func(r rune) bool { return !unicode.IsLetter(r) })
				report(fmt.Sprintf("cites %q, which is not in the repository (cite docs/ instead)", name))
			}
		}
		return sc.Err()
	})
	sort.Strings(bad)
	return bad, err
}

// headingAnchors returns the anchors GitHub gives the Markdown headings of
// b: lower case, letters, digits, '-' and '_' kept, spaces turned into '-',
// everything else dropped; a repeated anchor gets -1, -2, ….
func headingAnchors(b []byte) map[string]bool {
	out := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		text := strings.TrimLeft(line, "#")
		if fenced || len(text) == len(line) || len(line)-len(text) > 6 || !strings.HasPrefix(text, " ") {
			continue
		}
		var s strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				s.WriteRune(r)
			case r == ' ':
				s.WriteByte('-')
			}
		}
		a := s.String()
		for i := 1; out[a]; i++ {
			a = fmt.Sprintf("%s-%d", s.String(), i)
		}
		out[a] = true
	}
	return out
}

// TestDocCitations: every citation of docs/ resolves to a page and, when
// it names one, a section; nothing cites the briefs outside the repository
// that the docs were written from.
func TestDocCitations(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "docs", "papers.md")); err != nil {
		t.Fatalf("docs/papers.md not found under %s: %v", root, err)
	}
	bad, err := citationProblems(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// The check must catch each kind of broken citation.
func TestDocCitationsCatchProblems(t *testing.T) {
	dir := t.TempDir()
	for path, src := range map[string]string{
		"docs/papers.md":     "# Title\n\n## Mask pilots\n\nSee [the loss](#losses) and [data](data-sources.md#mnist).\n\n```\n## Not a heading\n```\n",
		"docs/other.md":      "# Other\n\n## MNIST\n\n## MNIST\n",
		"model/ok.go":        "package model\n\n// docs/papers.md#mask-pilots and docs/other.md#mnist-1, docs/other.md.\n",
		"model/bad.go":       "package model\n\n// (docs/papers.md#masked-attention) (docs/gone.md) (papers.md §5.4)\n",
		"data/x_test.go":     "package data\n\n// from shared/reference/data-sources.md\n",
		"specs/a.yaml":       "# see go-deps.md and docs/papers.md#not-a-heading\n",
		"notebooks/n.md":     "[x](../docs/papers.md#mask-pilots) and [y](../docs/papers.md#nope)\n",
		"README.md":          "cites data-sources.md bare\n",
		"docs/sub/ignored.x": "docs/nothing.md\n",
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := citationProblems(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`README.md:1: cites "data-sources.md", which is not in the repository (cite docs/ instead)`,
		`data/x_test.go:3: cites "shared/reference", which is not in the repository (cite docs/ instead)`,
		`docs/papers.md:5: docs/data-sources.md does not exist`,
		`docs/papers.md:5: docs/papers.md has no section #losses`,
		`model/bad.go:3: cites "papers.md", which is not in the repository (cite docs/ instead)`,
		`model/bad.go:3: docs/gone.md does not exist`,
		`model/bad.go:3: docs/papers.md has no section #masked-attention`,
		`notebooks/n.md:1: docs/papers.md has no section #nope`,
		`specs/a.yaml:1: cites "go-deps.md", which is not in the repository (cite docs/ instead)`,
		`specs/a.yaml:1: docs/papers.md has no section #not-a-heading`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
