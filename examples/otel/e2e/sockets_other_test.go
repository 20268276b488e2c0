//go:build !linux

package e2e

import (
	"errors"
	"net/netip"
)

// boundAddrs is only implemented on Linux, where /proc lists sockets.
func boundAddrs(pid int) ([]netip.AddrPort, error) {
	return nil, errors.New("listing a process's sockets needs Linux /proc")
}
