//go:build !linux

package mptcpinfo

import "syscall"

// Reader reads MPTCP statistics. On this operating system it has none: Read
// returns ErrNotSupported.
type Reader struct{ _ noCopy }

// Read returns ErrNotSupported and leaves s as it was.
func (r *Reader) Read(rc syscall.RawConn, s *Snapshot) error { return ErrNotSupported }

// ReadInfo returns ErrNotSupported and leaves s as it was.
func (r *Reader) ReadInfo(rc syscall.RawConn, s *Snapshot) error { return ErrNotSupported }

// KernelMethod returns MethodNone: no MPTCP statistics here.
func KernelMethod() Method { return MethodNone }

// Available returns false: no MPTCP here.
func Available() bool { return false }
