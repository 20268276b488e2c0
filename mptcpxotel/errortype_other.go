//go:build !unix

package mptcpxotel

import "syscall"

// errnoName returns "": errno values have no portable symbolic names here,
// and the error's Go type is used instead.
func errnoName(syscall.Errno) string { return "" }
