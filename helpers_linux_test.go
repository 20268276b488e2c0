package mptcpx_test

import (
	"syscall"
	"testing"
)

// socketProtocol returns the protocol the socket behind rc was opened with
// (SO_PROTOCOL): 262 for IPPROTO_MPTCP.
func socketProtocol(t *testing.T, rc syscall.RawConn) int {
	t.Helper()
	var proto int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		proto, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return proto
}
