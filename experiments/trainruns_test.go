package experiments

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mpanalyze/mpanalyze/run"
)

// TestIsExperimentPath: an experiment is recognised from the moment its
// experiment.json is written (a sweep whose runs are all still queued, as
// `compare` sees it while polling), and a plain train run is not one.
func TestIsExperimentPath(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join("queued", ExperimentFile))
	write(filepath.Join("done", "m2f", "seed-1", ManifestFile))
	write(filepath.Join("plain", run.ConfigFile))
	for _, c := range []struct {
		path string
		want bool
	}{{"queued", true}, {"done", true}, {"plain", false}, {"missing", false}} {
		if got := IsExperimentPath(filepath.Join(dir, c.path)); got != c.want {
			t.Errorf("IsExperimentPath(%s) = %v, want %v", c.path, got, c.want)
		}
	}
}
