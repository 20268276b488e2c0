//go:build !linux

package pmconfig

import (
	"errors"
	"fmt"
	"syscall"
)

// errNotLinux is what every part reports outside Linux.
var errNotLinux = fmt.Errorf("pmconfig: %w: MPTCP path managers are a Linux feature", errors.ErrUnsupported)

// Read returns a Config whose every part failed with an error wrapping
// errors.ErrUnsupported: only Linux has MPTCP path managers.
func Read() (*Config, error) {
	c := &Config{LimitsErr: errNotLinux, EndpointsErr: errNotLinux, SysctlsErr: errNotLinux}
	return c, c.err()
}

// ReadIn returns a nil Config and an error wrapping errors.ErrUnsupported.
func ReadIn(rc syscall.RawConn) (*Config, error) { return nil, errNotLinux }
