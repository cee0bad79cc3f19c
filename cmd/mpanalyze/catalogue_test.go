package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/model/ckpt"
	"github.com/mpanalyze/mpanalyze/probes"
	"github.com/mpanalyze/mpanalyze/run"
)

// catalogueRow is one row of the README's error catalogue.
type catalogueRow struct {
	cause   string
	args    []string // nil: a row checked by a special case
	example string
	want    []string // fragments stderr must contain
	code    int
}

// readCatalogue parses the table of the README's "Errors and exit codes"
// section: | cause | `mpanalyze ARGS` | `message` | exit |.
func readCatalogue(t *testing.T) []catalogueRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Errors and exit codes\n")
	if !ok {
		t.Fatal("README.md has no '## Errors and exit codes' section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	code := regexp.MustCompile("`([^`]*)`")
	var rows []catalogueRow
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| cause") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 4 {
			t.Fatalf("catalogue row with %d cells: %s", len(cells), line)
		}
		r := catalogueRow{cause: cells[0], example: cells[1]}
		if m := code.FindStringSubmatch(cells[1]); m != nil {
			f := strings.Fields(m[1])
			if len(f) == 0 || f[0] != "mpanalyze" {
				t.Fatalf("example %q does not start with mpanalyze", m[1])
			}
			r.args = f[1:]
		}
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			r.want = append(r.want, m[1])
		}
		if r.code, err = strconv.Atoi(cells[3]); err != nil || len(r.want) == 0 {
			t.Fatalf("bad catalogue row: %s", line)
		}
		rows = append(rows, r)
	}
	if len(rows) < 40 {
		t.Fatalf("only %d catalogue rows", len(rows))
	}
	return rows
}

// TestErrorCatalogue runs every row of the README's error catalogue: the
// example exits with the code given and its stderr holds the message.
func TestErrorCatalogue(t *testing.T) {
	rows := readCatalogue(t)
	fixture := catalogueFixture(t)
	t.Chdir(fixture)
	for _, r := range rows {
		t.Run(r.cause, func(t *testing.T) {
			var out, errOut string
			var code int
			switch {
			case r.args != nil:
				out, errOut, code = runCLI(t, r.args...)
			case strings.Contains(r.example, "panic"):
				out, errOut, code = runPanicking(t)
			default:
				t.Fatalf("row %q: no way to run %q", r.cause, r.example)
			}
			if code != r.code {
				t.Errorf("%s: exit %d, want %d\nstderr: %s", r.example, code, r.code, errOut)
			}
			for _, w := range r.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("%s: stderr lacks %q:\n%s", r.example, w, errOut)
				}
			}
			if r.code != 0 {
				// One error line; other lines may only be progress
				// lines and an internal error's hint.
				for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
					if !strings.HasPrefix(l, "mpanalyze: ") && !progressLine.MatchString(l) && !strings.HasPrefix(l, "(set MPANALYZE_DEBUG=1") {
						t.Errorf("%s: stderr line %q is neither the error nor progress", r.example, l)
					}
				}
				if n := strings.Count("\n"+errOut, "\nmpanalyze: "); n != 1 {
					t.Errorf("%s: %d error lines:\n%s", r.example, n, errOut)
				}
				if out != "" {
					t.Errorf("%s: a failure printed to stdout: %q", r.example, out)
				}
			}
		})
	}
}

// progressLine matches a progress bar line ("mask2former 1/3 …").
var progressLine = regexp.MustCompile(`^[\w-]+ \d+/\d+ `)

// runPanicking runs a hidden command that panics, as a bug would.
func runPanicking(t *testing.T) (string, string, int) {
	saved := commands
	t.Cleanup(func() { commands = saved })
	commands = append(append([]func(*streams) *cobra.Command(nil), saved...), func(*streams) *cobra.Command {
		return &cobra.Command{Use: "crash", Hidden: true, RunE: func(*cobra.Command, []string) error {
			var m map[string]int
			//lint:ignore SA5000 a deliberate bug: a nil map write panics
			m["x"]++
			return nil
		}}
	})
	t.Setenv("MPANALYZE_DEBUG", "")
	return runCLI(t, "crash")
}

// catalogueFixture builds the directory the catalogue's examples run in.
func catalogueFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	at := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	write := func(path string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(path string) []byte {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// A finished tiny run and its trace.
	done := at("runs", "done")
	args := append([]string{"train", "--out", done, "--steps", "2", "--ckpt-every", "2", "--n", "8", "--val-n", "2", "--eval-images", "2"}, tinyModel...)
	if _, errOut, code := runCLI(t, args...); code != 0 {
		t.Fatalf("fixture run: %s", errOut)
	}
	latest := filepath.Join(done, run.LatestCkpt)
	if _, errOut, code := runCLI(t, "probe", "--checkpoint", latest, "--out", at("traces", "done")); code != 0 {
		t.Fatalf("fixture trace: %s", errOut)
	}
	npz, side := probes.TracePaths(at("traces", "done"))
	tb := read(npz)
	write(at("traces", "cut.npz"), tb[:len(tb)/2])
	write(at("traces", "cut.json"), read(side))

	// Damaged copies of the checkpoint.
	good := read(latest)
	write(at("ckpt", "cut.npz"), good[:len(good)*2/3])
	end := bytes.Clone(good)
	end[len(end)-22] ^= 0x20 // the end record's signature
	write(at("ckpt", "end.npz"), end)
	write(at("ckpt", "renamed.npz"), flipInName(t, good, "param/"))
	write(at("ckpt", "flipped.npz"), flipInData(t, good))
	f, err := ckpt.Load(latest)
	if err != nil {
		t.Fatal(err)
	}
	name := firstParam(f)
	f.Arrays[name].Data[7] = float32(math.NaN())
	if err := ckpt.Save(at("ckpt", "nan.npz"), f); err != nil {
		t.Fatal(err)
	}
	f.Arrays[name].Data[7] = 0
	var mc map[string]any
	if err := json.Unmarshal(f.Meta.Model, &mc); err != nil {
		t.Fatal(err)
	}
	mc["queries"] = 9
	f.Meta.Model, _ = json.Marshal(mc)
	if err := ckpt.Save(at("ckpt", "other.npz"), f); err != nil {
		t.Fatal(err)
	}
	write(at("notes.txt"), []byte("not a checkpoint\n"))
	write(at("preds", "empty.json"), nil)
	if err := os.MkdirAll(at("empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(at("norun", run.ConfigFile), read(filepath.Join(done, run.ConfigFile)))

	// Runs with a damaged train.jsonl and an out-of-range run.json.
	for _, r := range []string{"badlog", "badcfg", "nocfg"} {
		for _, f := range []string{run.ConfigFile, run.LogFile, run.LatestCkpt} {
			write(at("runs", r, f), read(filepath.Join(done, f)))
		}
	}
	if err := os.Remove(at("runs", "nocfg", run.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(read(filepath.Join(done, run.LogFile))), "\n")
	lines[1] = "{\"event\":\"step\",\"step\":1,\"loss\n"
	write(at("runs", "badlog", run.LogFile), []byte(strings.Join(lines, "")))
	rc, err := run.ReadConfig(done)
	if err != nil {
		t.Fatal(err)
	}
	rc.Train.Schedule.BaseLR = -1
	b, _ := json.MarshalIndent(rc, "", "  ")
	write(at("runs", "badcfg", run.ConfigFile), b)

	// Experiment specs.
	spec := "name: x\nbase: {steps: 10}\ngrid:\n  - name: a\n    set: {%s}\nseeds: [1]\n"
	write(at("specs", "bad-lr.yaml"), fmt.Appendf(nil, spec, "schedule.base_lr: -1"))
	write(at("specs", "typo.yaml"), fmt.Appendf(nil, spec, "arch: mpformer, mp.noize: point"))
	write(at("specs", "nan.yaml"), []byte("name: x\nbase: {steps: 10, set: {clip_norm: .nan}}\ngrid:\n  - name: a\nseeds: [1]\n"))

	// The COCO fixture.
	abs, err := filepath.Abs(crowdFixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, at("coco")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// firstParam is the name of a parameter array with at least 8 values.
func firstParam(f *ckpt.Checkpoint) string {
	best := ""
	for name, a := range f.Arrays {
		if strings.HasPrefix(name, ckpt.ParamPrefix) && len(a.Data) >= 8 && len(a.Shape) == 4 && (best == "" || name < best) {
			best = name
		}
	}
	return best
}

// flipInName changes one letter of the first entry name with the prefix
// in the zip's central directory (where archive/zip reads names).
func flipInName(t *testing.T, b []byte, prefix string) []byte {
	t.Helper()
	out := bytes.Clone(b)
	dir := int(binary.LittleEndian.Uint32(out[len(out)-6:]))
	i := bytes.Index(out[dir:], []byte("PK\x01\x02"+"")) + dir
	for i >= dir && i+46 < len(out) {
		n := int(binary.LittleEndian.Uint16(out[i+28:]))
		name := out[i+46 : i+46+n]
		if bytes.HasPrefix(name, []byte(prefix)) {
			name[len(prefix)+1] ^= 0x20 // a letter's case
			return out
		}
		i += 46 + n + int(binary.LittleEndian.Uint16(out[i+30:])) + int(binary.LittleEndian.Uint16(out[i+32:]))
	}
	t.Fatalf("no entry %s* in the central directory", prefix)
	return nil
}

// flipInData flips a bit in the middle of the largest entry's data.
func flipInData(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var big *zip.File
	for _, f := range zr.File {
		if big == nil || f.UncompressedSize64 > big.UncompressedSize64 {
			big = f
		}
	}
	off, err := big.DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Clone(b)
	out[off+int64(big.UncompressedSize64)/2] ^= 0x04
	return out
}
