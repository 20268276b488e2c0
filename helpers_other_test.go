//go:build !linux

package mptcpx_test

import (
	"syscall"
	"testing"
)

// socketProtocol is Linux-only: elsewhere the test skips.
func socketProtocol(t *testing.T, rc syscall.RawConn) int {
	t.Helper()
	t.Skip("SO_PROTOCOL is Linux-only")
	return 0
}
