//go:build !unix

package experiments

import "os"

// Without flock the run goes ahead unlocked (see runlock_unix.go).
func flockExclusive(f *os.File) error     { return errLockUnsupported }
func flockProbe(f *os.File) (bool, error) { return false, errLockUnsupported }

// SignalExitCode is 1 where signals have no numbers.
func SignalExitCode(sig os.Signal) int { return 1 }
