//go:build unix

package experiments

import (
	"errors"
	"os"
	"syscall"
)

// flockExclusive takes an exclusive flock without waiting. On NFS, Linux
// carries flock over as a byte-range lock that the server arbitrates, so
// it holds across nodes; Lustre needs the flock mount option, and where
// locks are not supported the run goes ahead unlocked.
func flockExclusive(f *os.File) error {
	return flockErr(syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
}

// flockProbe reports whether another process holds the lock: it takes a
// shared lock without waiting and drops it at once.
func flockProbe(f *os.File) (bool, error) {
	err := flockErr(syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB))
	if errors.Is(err, errLockBusy) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}

func flockErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return errLockBusy
	case errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EINVAL):
		return errLockUnsupported
	}
	return err
}

// SignalExitCode is the exit status a shell reports for a process ended
// by sig (128 + its number), for callers that end the process after
// Runner.Interrupted.
func SignalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
