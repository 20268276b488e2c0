//go:build !linux

package pmevents

import "time"

// Listener receives MPTCP path-manager events. Only Linux has them: on
// this operating system Open returns ErrUnsupported and no Listener exists.
type Listener struct{}

// Open returns ErrUnsupported: only Linux has MPTCP path-manager events.
func Open() (*Listener, error) { return nil, ErrUnsupported }

// Probe returns ErrUnsupported.
func Probe() error { return ErrUnsupported }

// Receive returns ErrUnsupported.
func (l *Listener) Receive(fn func(*Event)) error { return ErrUnsupported }

// Close does nothing.
func (l *Listener) Close() error { return nil }

// Stats returns zero counters.
func (l *Listener) Stats() Stats { return Stats{} }

// SetReadBuffer returns ErrUnsupported.
func (l *Listener) SetReadBuffer(bytes int) error { return ErrUnsupported }

// ReadBuffer returns ErrUnsupported.
func (l *Listener) ReadBuffer() (int, error) { return 0, ErrUnsupported }

// SetReadDeadline returns ErrUnsupported.
func (l *Listener) SetReadDeadline(t time.Time) error { return ErrUnsupported }

// SetKinds returns ErrUnsupported.
func (l *Listener) SetKinds(kinds ...Kind) error { return ErrUnsupported }
