//go:build race

package gemm

// The race detector makes sync.Pool drop items at random.
const raceEnabled = true
