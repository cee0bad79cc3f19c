// Package crashpoint lets crash-consistency tests kill the process at a
// chosen point of its work, as kill -9 would: during a checkpoint write
// (after part of the file is on disk, or before the finished temporary
// file is renamed), or during a validation.
//
// Set MPANALYZE_CRASH_AT to "point@n" (several separated by commas): the
// process kills itself with SIGKILL the n-th time (from 1) it reaches
// Hit(point). Without the variable Hit does nothing but one atomic load.
// Points in use:
//
//	partial:<file>         an atomic write of <file> (base name) has put its first bytes in the temporary file
//	before-rename:<file>   the temporary file of <file> is complete and synced, not yet renamed
//	eval                   a validation is about to score its next chunk of images
package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Env is the environment variable that arms the points.
const Env = "MPANALYZE_CRASH_AT"

var (
	armed  atomic.Bool
	once   sync.Once
	mu     sync.Mutex
	counts map[string]int
	at     map[string]int
)

func init() { armed.Store(os.Getenv(Env) != "") }

// Hit counts a visit of point and kills the process when the count is the
// one armed for it.
func Hit(point string) {
	if !armed.Load() {
		return
	}
	once.Do(parse)
	mu.Lock()
	counts[point]++
	kill := at[point] == counts[point]
	mu.Unlock()
	if kill {
		p, err := os.FindProcess(os.Getpid())
		if err == nil {
			p.Kill() // SIGKILL on Unix: no deferred function, no flush
		}
		select {} // wait for the signal
	}
}

func parse() {
	counts, at = map[string]int{}, map[string]int{}
	for _, spec := range strings.Split(os.Getenv(Env), ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(spec), "@")
		if k, err := strconv.Atoi(n); ok && err == nil && k > 0 {
			at[name] = k
		}
	}
}
