//go:build !linux

package sockdiag

import (
	"fmt"
	"runtime"
	"syscall"
)

// errNotLinux is what every function returns here.
var errNotLinux = fmt.Errorf("%w: %s is not Linux", ErrUnsupported, runtime.GOOS)

// Dumper dumps the MPTCP sockets of a network namespace. Only Linux has
// them: on this operating system Open returns an error wrapping
// ErrUnsupported and no Dumper exists.
type Dumper struct{}

// Open returns an error wrapping ErrUnsupported.
func Open() (*Dumper, error) { return nil, errNotLinux }

// OpenIn returns an error wrapping ErrUnsupported.
func OpenIn(rc syscall.RawConn) (*Dumper, error) { return nil, errNotLinux }

// Dump returns an error wrapping ErrUnsupported.
func (d *Dumper) Dump(fn func(*Socket)) (int, error) { return 0, errNotLinux }

// DumpFamily returns an error wrapping ErrUnsupported.
func (d *Dumper) DumpFamily(family int, fn func(*Socket)) (int, error) { return 0, errNotLinux }

// Close does nothing.
func (d *Dumper) Close() error { return nil }

// Cookie returns an error wrapping ErrUnsupported.
func Cookie(rc syscall.RawConn) (uint64, error) { return 0, errNotLinux }
