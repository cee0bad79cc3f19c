package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Python is the interpreter of the reference implementation: Debian's,
// whose python3-torch, python3-numpy and python3-scipy packages the
// reference needs (a pyenv or venv python on PATH usually lacks them).
const Python = "/usr/bin/python3"

// RequireTorchEnv makes a missing Python module a failure instead of a
// skip.
const RequireTorchEnv = "MPANALYZE_REQUIRE_TORCH"

var (
	mu     sync.Mutex
	probed = map[string]error{}
)

// RequirePython returns the reference interpreter when it imports every
// module (e.g. "torch", "numpy", "scipy"). Otherwise it skips the test, or
// fails it when MPANALYZE_REQUIRE_TORCH is set. The import check runs once
// per module set and process.
func RequirePython(t testing.TB, modules ...string) string {
	t.Helper()
	key := strings.Join(modules, ",")
	mu.Lock()
	err, ok := probed[key]
	if !ok {
		code := "import sys"
		if len(modules) > 0 {
			code = "import " + strings.Join(modules, ", ")
		}
		if out, e := exec.Command(Python, "-c", code).CombinedOutput(); e != nil {
			err = fmt.Errorf("%s cannot %q (%v: %s); apt-get install python3-torch python3-numpy python3-scipy", Python, code, e, strings.TrimSpace(string(out)))
		}
		probed[key] = err
	}
	mu.Unlock()
	if err != nil {
		if os.Getenv(RequireTorchEnv) != "" {
			t.Fatalf("Python reference required (%s is set): %v", RequireTorchEnv, err)
		}
		t.Skipf("Python reference unavailable: %v", err)
	}
	return Python
}

// CPUTime is the CPU time (user + system) the process has used so far, for
// benchmarks that report CPU ms next to wall time: on a shared machine it
// moves far less with the load than wall time does.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
