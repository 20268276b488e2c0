//go:build !linux

package follow

import (
	"errors"
	"net"
	"syscall"
)

// finalReading is what closing and reading found. There are no MPTCP
// statistics here: the reading only tells whether the socket was open.
type finalReading struct {
	read      bool
	abortive  bool
	noPeerFIN bool
	closeErr  error
}

// dupLocked makes no duplicate here; gone reports a socket closed
// underneath already.
func dupLocked(rc syscall.RawConn) (dup int, gone bool) {
	return -1, errors.Is(rc.Control(func(uintptr) {}), net.ErrClosed)
}

// closeAndRead reads the socket's final state, then closes tc.
func closeAndRead(tc *net.TCPConn, rc syscall.RawConn, _ int, sc *scratch) (fin finalReading) {
	fin.read = sc.reader.Read(rc, &sc.snap) == nil
	fin.closeErr = tc.Close()
	return fin
}

func (fin finalReading) finish(int) error { return fin.closeErr }

// dropReading takes the final reading of a dropped connection.
func dropReading(rc syscall.RawConn, sc *scratch) (fin finalReading) {
	fin.read = sc.reader.Read(rc, &sc.snap) == nil
	return fin
}
