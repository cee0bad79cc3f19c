package browser

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RequireEnv names the environment variable that turns a missing browser
// from a skipped test into a failure (CI sets it to 1).
const RequireEnv = "MPANALYZE_REQUIRE_BROWSER"

// ArtifactsEnv names the directory where tests save what a person should
// look at (screenshots); unset, they go to the test's temporary directory.
const ArtifactsEnv = "MPANALYZE_ARTIFACTS"

// ForTest launches a browser for t and closes it when t ends. Without a
// Chromium the test is skipped, or fails when $MPANALYZE_REQUIRE_BROWSER is
// 1.
func ForTest(t testing.TB) *Browser {
	t.Helper()
	path, err := Find()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v (%s=1)", err, RequireEnv)
		}
		t.Skip(err)
	}
	b, err := Launch(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// ArtifactPath returns where test t saves a file called name:
// $MPANALYZE_ARTIFACTS/<test name>/name when that is set, else a file in
// the test's temporary directory.
func ArtifactPath(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	dir = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}
