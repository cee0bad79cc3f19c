package version

import (
	"runtime/debug"
	"sync"
)

// Version is the mpanalyze release. Builds may override it with
// -ldflags "-X github.com/mpanalyze/mpanalyze/internal/version.Version=…".
var Version = "0.1.0-dev"

var (
	once sync.Once
	rev  string
)

// Revision is the VCS revision the binary was built from (with "+dirty"
// for a modified tree), or "" when the build has no VCS information (go
// test, go run of a file list).
func Revision() string {
	once.Do(func() {
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			return
		}
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" && dirty {
			rev += "+dirty"
		}
	})
	return rev
}

// String is Version plus the revision when known.
func String() string {
	if r := Revision(); r != "" {
		return Version + " (" + r + ")"
	}
	return Version
}
