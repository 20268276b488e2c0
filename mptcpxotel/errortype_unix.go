//go:build unix

package mptcpxotel

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// errnoName returns the symbolic name of e, such as "ECONNREFUSED".
func errnoName(e syscall.Errno) string { return unix.ErrnoName(e) }
