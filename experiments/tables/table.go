package tables

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/mpanalyze/mpanalyze/internal/jsonnum"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Number is the raw value behind a table cell.
type Number struct {
	// Value is the number (a fraction, a count, …); NaN means undefined.
	Value float64
	// SD is the sample standard deviation of the N values Value is the
	// mean of; NaN when N < 2 or Value is not a mean.
	SD float64
	// N is the number of values averaged (seeds), 0 for a plain number.
	N int
}

// Plain returns a Number that is not a mean.
func Plain(v float64) *Number { return &Number{Value: v, SD: math.NaN()} }

// Table is a titled table with notes. Rows hold the cells as text and
// Markdown show them; Values, when non-nil, holds the raw numbers that CSV
// and JSON write instead.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
	// Values is nil or has the shape of Rows: Values[i][j] is the number
	// behind Rows[i][j], or nil for a text cell.
	Values [][]*Number
	// Keys, when set (one per column), name the columns in CSV and JSON
	// instead of Header (machine names such as "consecutive_iou"); an sd
	// companion column is then "<key>_sd".
	Keys  []string
	Notes []string
}

// Formats lists the formats Render accepts.
var Formats = []string{"text", "markdown", "csv", "json"}

// Render writes the table in format:
//
//   - "text": the title, a box-drawing table and the notes;
//   - "markdown": the title in bold, a GitHub table and the notes;
//   - "csv": a header line and the rows, numbers raw (the title and notes
//     are left out);
//   - "json": an array of one object per row, keyed by the header, numbers
//     as JSON numbers (null for NaN).
//
// In CSV and JSON a column that holds a mean over several seeds is followed
// by "<header> sd", and a cell without a number that reads Dash (or is
// empty in a column of numbers) is an empty field or null. Columns with numbers are right-aligned in text and
// Markdown. It panics if a row or Values does not match the header.
func (t *Table) Render(w io.Writer, format string) error {
	t.check()
	switch format {
	case "text", "markdown":
		return t.renderBox(w, format == "markdown")
	case "csv":
		return t.renderCSV(w)
	case "json":
		return t.renderJSON(w)
	}
	return fmt.Errorf("tables: unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

func (t *Table) check() {
	if len(t.Header) == 0 {
		panic("tables: table without header")
	}
	for i, r := range t.Rows {
		if len(r) != len(t.Header) {
			panic(fmt.Sprintf("tables: row %d has %d cells, the header %d", i, len(r), len(t.Header)))
		}
	}
	if t.Keys != nil && len(t.Keys) != len(t.Header) {
		panic(fmt.Sprintf("tables: %d keys for %d columns", len(t.Keys), len(t.Header)))
	}
	if t.Values != nil {
		if len(t.Values) != len(t.Rows) {
			panic(fmt.Sprintf("tables: %d rows of values for %d rows", len(t.Values), len(t.Rows)))
		}
		for i, r := range t.Values {
			if len(r) != len(t.Header) {
				panic(fmt.Sprintf("tables: values row %d has %d cells, the header %d", i, len(r), len(t.Header)))
			}
		}
	}
}

func (t *Table) value(i, j int) *Number {
	if t.Values == nil {
		return nil
	}
	return t.Values[i][j]
}

// numeric reports whether column j holds numbers, and whether any of them
// is a mean over several values (so the column gets an sd companion).
func (t *Table) numeric(j int) (num, spread bool) {
	for i := range t.Rows {
		if v := t.value(i, j); v != nil {
			num = true
			spread = spread || v.N >= 2
		}
	}
	return num, spread
}

func (t *Table) renderBox(w io.Writer, markdown bool) error {
	align := make(tw.Alignment, len(t.Header))
	for j := range t.Header {
		align[j] = tw.AlignLeft
		if num, _ := t.numeric(j); num {
			align[j] = tw.AlignRight
		}
	}
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	}
	if markdown {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	var buf bytes.Buffer
	if t.Title != "" {
		if markdown {
			fmt.Fprintf(&buf, "**%s**\n\n", t.Title)
		} else {
			fmt.Fprintf(&buf, "%s\n", t.Title)
		}
	}
	tab := tablewriter.NewTable(&buf, opts...)
	tab.Header(t.Header)
	if err := tab.Bulk(t.Rows); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	if err := tab.Render(); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	if len(t.Notes) > 0 {
		buf.WriteString("\n")
		for _, n := range t.Notes {
			if markdown {
				fmt.Fprintf(&buf, "%s\n\n", n)
			} else {
				fmt.Fprintf(&buf, "%s\n", n)
			}
		}
	}
	out := buf.Bytes()
	if markdown {
		out = append(bytes.TrimRight(out, "\n"), '\n')
	}
	_, err := w.Write(out)
	return err
}

// columns returns the CSV/JSON columns: each header, then "<header> sd"
// after columns with a spread, as (column, sd?) pairs.
func (t *Table) columns() (names []string, src []int, sd []bool) {
	for j, h := range t.Header {
		suffix := " sd"
		if t.Keys != nil {
			h, suffix = t.Keys[j], "_sd"
		}
		names, src, sd = append(names, h), append(src, j), append(sd, false)
		if _, spread := t.numeric(j); spread {
			names, src, sd = append(names, h+suffix), append(src, j), append(sd, true)
		}
	}
	return names, src, sd
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func (t *Table) renderCSV(w io.Writer) error {
	names, src, sd := t.columns()
	cw := csv.NewWriter(w)
	if err := cw.Write(names); err != nil {
		return err
	}
	for i, row := range t.Rows {
		rec := make([]string, len(names))
		for k, j := range src {
			v := t.value(i, j)
			switch {
			case v == nil && sd[k]:
				rec[k] = ""
			case v == nil && row[j] == Dash:
				rec[k] = ""
			case v == nil:
				rec[k] = row[j]
			default:
				x := v.Value
				if sd[k] {
					x = v.SD
				}
				if !math.IsNaN(x) && !math.IsInf(x, 0) {
					rec[k] = formatFloat(x)
				}
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func (t *Table) renderJSON(w io.Writer) error {
	names, src, sd := t.columns()
	keys := make([][]byte, len(names))
	for k, n := range names {
		keys[k] = jsonString(n)
	}
	num := make([]bool, len(t.Header))
	for j := range t.Header {
		num[j], _ = t.numeric(j)
	}
	var buf bytes.Buffer
	buf.WriteString("[")
	for i, row := range t.Rows {
		if i > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n  {")
		for k, j := range src {
			if k > 0 {
				buf.WriteString(", ")
			}
			buf.Write(keys[k])
			buf.WriteString(": ")
			v := t.value(i, j)
			switch {
			case v == nil && (sd[k] || row[j] == Dash || num[j] && row[j] == ""):
				buf.WriteString("null") // no number in a numeric column
			case v == nil:
				buf.Write(jsonString(row[j]))
			default:
				x := v.Value
				if sd[k] {
					x = v.SD
				}
				buf.Write(jsonnum.Append(nil, x))
			}
		}
		buf.WriteString("}")
	}
	if len(t.Rows) > 0 {
		buf.WriteString("\n")
	}
	buf.WriteString("]\n")
	_, err := w.Write(buf.Bytes())
	return err
}

// jsonString encodes s as a JSON string without HTML escaping, so that
// "IoU→final" and "<" stay readable.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimRight(b.Bytes(), "\n")
}
