package probes

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is. Every error the package returns starts
// with "probes:" and wraps one of them (file errors also wrap the os error,
// so errors.Is(err, fs.ErrNotExist) works for a missing file).
var (
	// ErrRunInfo: RunInfo.Check failed (Init was given unusable run info).
	ErrRunInfo = errors.New("bad run info")
	// ErrStage: Record got a stage that disagrees with the run info or its
	// own slices, or arrived out of order, or Close came mid-image.
	ErrStage = errors.New("bad stage")
	// ErrClosed: the probe was used after Close.
	ErrClosed = errors.New("probe is closed")

	// ErrTraceSidecar: the sidecar JSON is missing, malformed or
	// inconsistent with itself (unknown array, wrong field values).
	ErrTraceSidecar = errors.New("bad trace sidecar")
	// ErrTraceVersion: the sidecar's format or version is not one this
	// package reads.
	ErrTraceVersion = errors.New("unsupported trace format version")
	// ErrTraceMismatch: the .npz disagrees with its sidecar: an array
	// missing or extra, another dtype or shape, another file size.
	ErrTraceMismatch = errors.New("trace arrays disagree with the sidecar")
	// ErrTraceStages: an image has fewer (or more) stages than the run,
	// or the stage_layers list does not cover every stage.
	ErrTraceStages = errors.New("trace is missing stages")
	// ErrTraceTruncated: the .npz is not a complete zip archive (its
	// central directory is missing), typically a file cut short.
	ErrTraceTruncated = errors.New("trace npz is truncated")
	// ErrTraceCorrupt: an entry of the .npz cannot be decoded: bad .npy
	// header, short or oversized data, CRC-32 mismatch, bad compression,
	// or values the format forbids (a class index out of range).
	ErrTraceCorrupt = errors.New("trace npz is corrupt")
)

// TraceError is the error returned for a bad trace. It names the file, the
// array when there is one, and what is wrong; errors.Is matches Kind (one of
// the ErrTrace sentinels) and the underlying cause.
type TraceError struct {
	Path  string // the .npz or .json file
	Entry string // the array name ("img3/mask_logits"), or ""
	Kind  error  // ErrTraceSidecar, ErrTraceMismatch, …
	Msg   string // what was found, and what was expected
	Err   error  // the underlying cause, or nil
}

func (e *TraceError) Error() string {
	s := "probes: " + e.Path
	if e.Entry != "" {
		s += ": " + e.Entry
	}
	s += ": " + e.Kind.Error()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause.
func (e *TraceError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func traceErr(path, entry string, kind error, cause error, format string, a ...any) *TraceError {
	return &TraceError{Path: path, Entry: entry, Kind: kind, Msg: fmt.Sprintf(format, a...), Err: cause}
}

// stageErr reports a bad stage.
func stageErr(st *Stage, format string, a ...any) error {
	return fmt.Errorf("probes: image %d stage %d: %w: %s", st.Image, st.Stage, ErrStage, fmt.Sprintf(format, a...))
}
