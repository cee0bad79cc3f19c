package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpanalyze/mpanalyze/experiments/tables"
	"github.com/mpanalyze/mpanalyze/internal/browser"
)

// Bad flags are usage errors that name the flag.
func TestReportFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", compareFixture}, "-o/--out is required"},
		{[]string{"report", "-o", out}, "give experiment directories (RUN...) or --trace files"},
		{[]string{"report", compareFixture, "--trace", "x.npz", "-o", out}, "not both"},
		{[]string{"report", compareFixture, "--max-images", "0", "-o", out}, "--max-images 0"},
		{[]string{"report", compareFixture, "--snapshot", "2", "-o", out}, `--snapshot "2"`},
		{[]string{"report", compareFixture, "--columns", "nope", "-o", out}, `unknown column "nope"`},
		{[]string{"report", "testdata/no-such-dir", "-o", out}, "no-such-dir"},
		{[]string{"report", "--trace", "testdata/no-such.npz", "-o", out}, "no-such.json"},
	} {
		_, errOut, code := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed report wrote %s", out)
	}
}

// The report of the compare fixture (no traces: no viewer) holds
// compare's tables, and the browser shows the numbers compare --format
// json prints.
func TestReportMatchesCompare(t *testing.T) {
	ensureCompareFixture(t)
	out := filepath.Join(t.TempDir(), "tiny.html")
	stdout, errOut, code := runCLI(t, "report", compareFixture, "-o", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Out             string
		Bytes           int64
		Tables, Figures int
		ViewerImages    int `json:"viewer_images"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	// 4 tables (2 configurations, 2 snapshots); 6 stage curves, 2 heat
	// maps and the training curves (no trace: no mask evolution).
	if res.Out != out || res.Bytes != st.Size() || res.Tables != 4 || res.Figures != 9 || res.ViewerImages != 0 {
		t.Errorf("--json: %+v", res)
	}
	html, _ := os.ReadFile(out)
	if strings.Contains(string(html), `id="viewer"`) || strings.Contains(string(html), "<script") {
		t.Error("a report without traces has a viewer or a script")
	}
	cmp, errOut, code := runCLI(t, "compare", compareFixture, "--format", "json")
	if code != 0 {
		t.Fatalf("compare: %s", errOut)
	}
	b := browser.ForTest(t)
	p, ctx := openPage(t, b, out)
	checkTablesMatch(t, ctx, p, []byte(cmp))
}

// openPage opens a file in a new 1280×800 page; at the end of the test it
// fails on console errors and warnings and on requests other than the
// page and data: URLs.
func openPage(t *testing.T, b *browser.Browser, path string) (*browser.Page, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p, err := b.NewPage(ctx, 1280, 800)
	if err != nil {
		t.Fatal(err)
	}
	u, err := browser.FileURL(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range p.Console() {
			if c.Level == "error" || c.Level == "warning" {
				t.Errorf("console: %s", c)
			}
		}
		for _, r := range p.Requests() {
			if r != u && !strings.HasPrefix(r, "data:") {
				t.Errorf("request to %.100s", r)
			}
		}
	})
	return p, ctx
}

// pageTable is a table as the browser shows it.
type pageTable struct {
	Key    string
	Header []string
	Rows   [][]struct {
		Text    string
		HasData bool
		V, SD   string
	}
}

// checkTablesMatch checks that the page's tables are compare's JSON
// tables: the same tables, rows and columns, every number equal to the
// last bit (the page's data-v / data-sd attributes), every text cell the
// same text, and the shown text the number rounded.
func checkTablesMatch(t *testing.T, ctx context.Context, p *browser.Page, compareJSON []byte) {
	t.Helper()
	var tabs []pageTable
	err := p.Eval(ctx, `[...document.querySelectorAll("table.data")].map(t => ({
		Key: t.dataset.key,
		Header: [...t.tHead.rows[0].cells].map(c => c.textContent),
		Rows: [...t.tBodies[0].rows].map(r => [...r.cells].map(c => ({
			Text: c.textContent, HasData: c.hasAttribute("data-v"), V: c.dataset.v || "", SD: c.dataset.sd || ""})))}))`, &tabs)
	if err != nil {
		t.Fatal(err)
	}
	var cmp map[string]json.RawMessage
	if err := json.Unmarshal(compareJSON, &cmp); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range cmp {
		if k != "snapshot" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var got []string
	for _, tb := range tabs {
		got = append(got, tb.Key)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(keys, " ") {
		t.Fatalf("page tables %v, compare's %v", got, keys)
	}
	num := func(raw any, s string) bool {
		f, ok := raw.(float64)
		v, err := strconv.ParseFloat(s, 64)
		return ok && err == nil && f == v
	}
	for _, tb := range tabs {
		var rows []map[string]any
		if err := json.Unmarshal(cmp[tb.Key], &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(tb.Rows) {
			t.Errorf("%s: %d rows on the page, %d in compare's JSON", tb.Key, len(tb.Rows), len(rows))
			continue
		}
		for i, row := range tb.Rows {
			obj := rows[i]
			seen := map[string]bool{}
			for j, c := range row {
				h := tb.Header[j]
				seen[h] = true
				want, ok := obj[h]
				switch {
				case !ok:
					t.Errorf("%s row %d: compare has no %q", tb.Key, i, h)
				case c.HasData && c.V == "":
					if want != nil {
						t.Errorf("%s row %d %q: undefined on the page, %v in compare", tb.Key, i, h, want)
					}
				case c.HasData:
					if !num(want, c.V) {
						t.Errorf("%s row %d %q: %s on the page, %v in compare", tb.Key, i, h, c.V, want)
					}
					// The text shows the number: a percentage with one
					// decimal, or a count.
					x, _ := strconv.ParseFloat(c.V, 64)
					if !strings.HasPrefix(c.Text, strconv.FormatFloat(100*x, 'f', 1, 64)) && !strings.HasPrefix(c.Text, strconv.FormatFloat(x, 'f', -1, 64)) {
						t.Errorf("%s row %d %q: shows %q for %s", tb.Key, i, h, c.Text, c.V)
					}
				case c.Text == tables.Dash || c.Text == "":
					if want != nil {
						t.Errorf("%s row %d %q: %q on the page, %v in compare", tb.Key, i, h, c.Text, want)
					}
				default:
					if want != c.Text {
						t.Errorf("%s row %d %q: %q on the page, %v in compare", tb.Key, i, h, c.Text, want)
					}
				}
				if sd, ok := obj[h+" sd"]; ok {
					seen[h+" sd"] = true
					if c.SD == "" && sd != nil || c.SD != "" && !num(sd, c.SD) {
						t.Errorf("%s row %d %q: sd %q on the page, %v in compare", tb.Key, i, h, c.SD, sd)
					}
				}
			}
			for k := range obj {
				if !seen[k] {
					t.Errorf("%s row %d: compare's %q is not on the page", tb.Key, i, k)
				}
			}
		}
	}
}
