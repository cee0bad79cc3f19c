package run

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseTrainLog: no train.jsonl text makes ParseTrainLog panic, every
// error names the file and line, and a log it reads writes back to a file
// that reads to the same log (steps in order, validations in order).
// Seeds: run/testdata/train_*.jsonl and testdata/fuzz/FuzzParseTrainLog.
func FuzzParseTrainLog(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "train_*.jsonl"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// The first lines only: the engine minimises every input that
		// finds new coverage, and long inputs make that slow.
		f.Add(firstLines(b, 6))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		log, err := ParseTrainLog(bytes.NewReader(b), "train.jsonl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "run: train.jsonl:") && !strings.HasPrefix(err.Error(), "run: read train.jsonl") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		for i := 1; i < len(log.Steps); i++ {
			if log.Steps[i].Step <= log.Steps[i-1].Step {
				t.Fatalf("steps out of order: %d after %d", log.Steps[i].Step, log.Steps[i-1].Step)
			}
		}
		for i := 1; i < len(log.Evals); i++ {
			if log.Evals[i].Step <= log.Evals[i-1].Step {
				t.Fatalf("validations out of order: %d after %d", log.Evals[i].Step, log.Evals[i-1].Step)
			}
		}
		var once bytes.Buffer
		if err := log.Write(&once); err != nil {
			t.Fatal(err)
		}
		again, err := ParseTrainLog(bytes.NewReader(once.Bytes()), "again.jsonl")
		if err != nil {
			t.Fatalf("written log does not read back: %v\n%s", err, once.Bytes())
		}
		var twice bytes.Buffer
		if err := again.Write(&twice); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once.Bytes(), twice.Bytes()) {
			t.Fatalf("write/read/write differs:\n%s\n%s", once.Bytes(), twice.Bytes())
		}
	})
}

// firstLines returns the first n lines of b.
func firstLines(b []byte, n int) []byte {
	end := 0
	for ; n > 0 && end < len(b); n-- {
		i := bytes.IndexByte(b[end:], '\n')
		if i < 0 {
			return b
		}
		end += i + 1
	}
	return b[:end]
}
