//go:build !linux

package mibstat

import (
	"errors"
	"fmt"
	"syscall"
)

// errNotLinux is what Open reports outside Linux.
var errNotLinux = fmt.Errorf("mibstat: %w: MPTCP counters are a Linux feature", errors.ErrUnsupported)

// Reader reads MPTCP counters. Only Linux has them: Open fails and no
// Reader exists on this operating system.
type Reader struct{}

// Open returns an error wrapping errors.ErrUnsupported.
func Open() (*Reader, error) { return nil, errNotLinux }

// OpenIn returns an error wrapping errors.ErrUnsupported.
func OpenIn(rc syscall.RawConn) (*Reader, error) { return nil, errNotLinux }

// Read returns an error wrapping errors.ErrUnsupported.
func (r *Reader) Read(s *Snapshot) error { return errNotLinux }

// Close does nothing.
func (r *Reader) Close() error { return nil }
