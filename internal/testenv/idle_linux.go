package testenv

import (
	"fmt"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// RaiseFileLimit raises the soft limit of open files to need, or skips tb
// when the hard limit is lower.
func RaiseFileLimit(tb testing.TB, need uint64) {
	tb.Helper()
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	if lim.Cur < need {
		lim.Cur = min(max(lim.Cur, need), lim.Max)
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		if lim.Cur < need {
			Skip(tb, fmt.Sprintf("needs %d file descriptors, the limit is %d", need, lim.Max))
		}
	}
}

// IdleConns opens n idle MPTCP connections to an IdlePeer on loopback with
// net.Dialer and returns the client ends, closed when tb ends.
func IdleConns(tb testing.TB, n int) []*net.TCPConn {
	tb.Helper()
	RaiseFileLimit(tb, uint64(n+256))
	addr := IdlePeer(tb)
	var d net.Dialer
	d.SetMultipathTCP(true)
	clients := make([]*net.TCPConn, 0, n)
	tb.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		clients = append(clients, c.(*net.TCPConn))
	}
	return clients
}
