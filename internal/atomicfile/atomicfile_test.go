package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesAndFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	if err := WriteBytes(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "one" {
		t.Fatalf("content after failed write = %q, want the old %q", b, "one")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary file left behind: %v", ents)
	}
	if err := WriteBytes(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("got %q", b)
	}
}

func TestWriteMissingDir(t *testing.T) {
	if err := WriteBytes(filepath.Join(t.TempDir(), "no", "f"), nil); err == nil {
		t.Fatal("want error for a missing directory")
	}
}

func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	created, err := WriteNew(p, []byte("first"))
	if err != nil || !created {
		t.Fatalf("first WriteNew: created %v, %v", created, err)
	}
	created, err = WriteNew(p, []byte("second"))
	if err != nil || created {
		t.Fatalf("second WriteNew: created %v, %v", created, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "first" {
		t.Fatalf("content %q, want the first writer's", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
	if _, err := WriteNew(filepath.Join(dir, "no", "f"), nil); err == nil {
		t.Fatal("want an error for a missing directory")
	}
}

// TestWriteNewRace: of many goroutines creating one file at once, exactly
// one creates it and every reader sees a whole file.
func TestWriteNewRace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	const n = 16
	results := make(chan bool, n)
	for i := range n {
		go func() {
			c, err := WriteNew(p, []byte{byte('a' + i), byte('a' + i)})
			if err != nil {
				t.Error(err)
			}
			results <- c
		}()
	}
	created := 0
	for range n {
		if <-results {
			created++
		}
	}
	b, _ := os.ReadFile(p)
	if created != 1 || len(b) != 2 || b[0] != b[1] {
		t.Fatalf("%d creators, content %q", created, b)
	}
}
