package mptcpx

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// plainTCPListener reports whether ln is known to be a plain TCP socket:
// one whose SO_PROTOCOL is IPPROTO_TCP. net.ListenConfig asked for MPTCP
// opens a plain TCP listener when the kernel cannot open an MPTCP one (no
// MPTCP, or net.mptcp.enabled=0 in the namespace), and every connection it
// accepts is then plain TCP. A listener that is not a socket, or whose
// protocol cannot be read, is not known to be plain.
func plainTCPListener(ln net.Listener) bool {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	proto, perr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		proto, perr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
	}); err != nil || perr != nil {
		return false
	}
	return proto == unix.IPPROTO_TCP
}
