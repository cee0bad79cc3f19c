package probes

import (
	"errors"
	"fmt"
)

var _ Probe = Multi(nil)

// Multi fans every call out to several probes, in order. A call fails if
// any probe fails; every probe is still called (so that all of them see the
// same stream and all are closed), and the errors are joined, each prefixed
// with the probe's position.
type Multi []Probe

func (m Multi) each(f func(p Probe) error) error {
	var errs []error
	for i, p := range m {
		if err := f(p); err != nil {
			errs = append(errs, fmt.Errorf("probes: multi[%d] (%T): %w", i, p, err))
		}
	}
	return errors.Join(errs...)
}

// Init calls Init on every probe.
func (m Multi) Init(info RunInfo) error { return m.each(func(p Probe) error { return p.Init(info) }) }

// Record calls Record on every probe.
func (m Multi) Record(st *Stage) error { return m.each(func(p Probe) error { return p.Record(st) }) }

// Close calls Close on every probe.
func (m Multi) Close() error { return m.each(func(p Probe) error { return p.Close() }) }

// Abort abandons the run: it calls Abort on the probes that have it
// (TraceWriter discards its files) and Close on the others.
func (m Multi) Abort() error { return m.each(abort) }

// Aborter is implemented by probes that can abandon a run without keeping
// its results, such as TraceWriter. TraceReader.Replay calls Abort, when the
// probe has it, instead of Close after a read error.
type Aborter interface {
	Abort() error
}

func abort(p Probe) error {
	if a, ok := p.(Aborter); ok {
		return a.Abort()
	}
	return p.Close()
}
