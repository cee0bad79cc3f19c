package engine

import (
	"os"
	"testing"
)

// TestMain runs every test with allocRaw's buffers full of NaN
// (poisonRaw), so an operation that reads scratch it has not written —
// a padding column, a slack past the last plane, a result it meant to
// overwrite — fails its test instead of passing on a fresh pool's zeros.
func TestMain(m *testing.M) {
	poisonRaw = true
	os.Exit(m.Run())
}
