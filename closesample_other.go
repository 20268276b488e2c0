//go:build !linux

package mptcpx

import (
	"errors"
	"net"
	"syscall"
)

// closeAndRead closes the socket behind tc and rc for Close, and reads its
// final state into sc.snap first. There are no MPTCP statistics here: the
// reading only tells whether the socket was still open.
func closeAndRead(tc *net.TCPConn, rc syscall.RawConn, sc *scratch) (read, gone bool, closeErr error) {
	if err := rc.Control(func(uintptr) {}); errors.Is(err, net.ErrClosed) {
		return false, true, tc.Close()
	}
	read = sc.reader.Read(rc, &sc.snap) == nil
	return read, false, tc.Close()
}
