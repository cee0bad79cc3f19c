package tables

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
)

// Named is a table with the key it has in a JSON document.
type Named struct {
	Key   string
	Table Table
}

// WriteSet writes several tables in one format: text and Markdown one after
// the other with a blank line between; CSV each after a "# <title>" line;
// JSON one indented object holding the fields of extra and each table
// (rendered as Render's JSON) under its key.
func WriteSet(w io.Writer, set []Named, format string, extra map[string]any) error {
	if format == "json" {
		obj := map[string]any{}
		maps.Copy(obj, extra)
		for _, t := range set {
			var b bytes.Buffer
			if err := t.Table.Render(&b, "json"); err != nil {
				return err
			}
			obj[t.Key] = json.RawMessage(bytes.TrimSpace(b.Bytes()))
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(obj)
	}
	if !slices.Contains(Formats, format) {
		return fmt.Errorf("tables: unknown format %q", format)
	}
	for i, t := range set {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if format == "csv" {
			if _, err := fmt.Fprintf(w, "# %s\n", t.Table.Title); err != nil {
				return err
			}
		}
		if err := t.Table.Render(w, format); err != nil {
			return err
		}
	}
	return nil
}
