package engine

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs every test with allocRaw's buffers full of NaN
// (poisonRaw), so an operation that reads scratch it has not written —
// a padding column, a slack past the last plane, a result it meant to
// overwrite — fails its test instead of passing on a fresh pool's zeros.
// A run with -test.bench leaves the buffers alone: filling every one with
// NaN would be timed with the benchmarks.
func TestMain(m *testing.M) {
	flag.Parse()
	poisonRaw = flag.Lookup("test.bench").Value.String() == ""
	os.Exit(m.Run())
}
