package experiments

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParseSpec: no spec text makes ParseSpec panic, and a spec it accepts
// resolves to runs whose configs pass run.Config.Validate. Specs naming
// files or non-generated datasets are skipped (the fuzzer must not open
// arbitrary paths such as /dev/stdin). Seeds: the built-in specs and
// testdata/fuzz/FuzzParseSpec.
func FuzzParseSpec(f *testing.F) {
	for _, name := range Builtins() {
		b, err := BuiltinSource(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var doc any
		if yaml.Unmarshal(b, &doc) != nil || opensFiles(doc) {
			return
		}
		s, err := ParseSpec(b, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "experiments: spec fuzz.yaml: ") {
				t.Fatalf("error does not name the spec: %v", err)
			}
			return
		}
		runs, err := s.Runs()
		if err != nil {
			t.Fatalf("ParseSpec accepted a spec whose runs do not resolve: %v", err)
		}
		for _, r := range runs {
			if err := r.Config.Validate(); err != nil {
				t.Fatalf("run %d (%s): config accepted but invalid: %v", r.Index, r.Point.Name, err)
			}
		}
	})
}

// opensFiles reports whether a decoded YAML document holds a string that
// could make the resolver read a file: a path, or a dataset kind other
// than synthetic.
func opensFiles(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.ContainsAny(x, `/\`) || x == "coco" || x == "mnist" || x == "photos"
	case []any:
		for _, e := range x {
			if opensFiles(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if opensFiles(k) || opensFiles(e) {
				return true
			}
		}
	case map[any]any:
		for k, e := range x {
			if opensFiles(k) || opensFiles(e) {
				return true
			}
		}
	}
	return false
}

// FuzzParseMetrics: no metrics.jsonl text makes ParseMetrics panic, and
// the lines it reads write back to lines that read the same. Seeds:
// testdata/fuzz/FuzzParseMetrics and a metrics.jsonl of the compare
// fixture.
func FuzzParseMetrics(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "cmd", "mpanalyze", "testdata", "compare", "tiny", "mpformer", "seed-1", "metrics.jsonl")); err == nil {
		// A stage line and the snapshot line: short inputs keep the
		// engine's minimisation of new inputs fast.
		lines := bytes.SplitAfter(b, []byte("\n"))
		f.Add(bytes.Join([][]byte{lines[0], lines[len(lines)-2]}, nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := ParseMetrics(bytes.NewReader(b), "m.jsonl")
		if err != nil {
			return
		}
		once := encodeLines(t, lines)
		again, err := ParseMetrics(bytes.NewReader(once), "again.jsonl")
		if err != nil {
			t.Fatalf("lines written from %q do not read back: %v\n%s", b, err, once)
		}
		if twice := encodeLines(t, again); !bytes.Equal(once, twice) {
			t.Fatalf("write/read/write differs:\n%s\n%s", once, twice)
		}
	})
}

func encodeLines(t *testing.T, lines []MetricLine) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			// A line read back must write again; only kinds MarshalJSON
			// does not know can fail, and UnmarshalJSON refuses those.
			t.Fatalf("line %+v does not write: %v", l, err)
		}
	}
	return buf.Bytes()
}
