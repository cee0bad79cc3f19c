// Package version holds the tool version recorded in checkpoints, traces
// and run manifests.
package version
