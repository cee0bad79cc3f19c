//go:build !unix

package torchref

import "time"

// processCPU is 0 where there is no rusage: the CPU figures are then NaN.
func processCPU() time.Duration { return 0 }
