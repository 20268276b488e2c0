package testenv

import (
	"context"
	"net"
	"testing"
)

// ListenMPTCP listens on address (of network "tcp", "tcp4" or "tcp6"), or
// on 127.0.0.1:0 when address is empty, with MPTCP asked for as
// net.ListenConfig.SetMultipathTCP asks, and closes the listener when t
// ends. It skips t where MPTCP is not available (RequireMPTCP).
func ListenMPTCP(t testing.TB, network, address string) *net.TCPListener {
	t.Helper()
	RequireMPTCP(t)
	if address == "" {
		address = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// LoopbackMPTCP returns both ends of a connection over 127.0.0.1, each end
// opened with MPTCP asked for, closed when t ends. It skips t where MPTCP
// is not available.
func LoopbackMPTCP(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln := ListenMPTCP(t, "tcp", "")
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, _ := ln.AcceptTCP() // nil on error
		accepted <- c
	}()
	var d net.Dialer
	d.SetMultipathTCP(true)
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-accepted
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := <-accepted
	if s == nil {
		t.Fatal("testenv: accepting the loopback connection failed")
	}
	t.Cleanup(func() { s.Close() })
	return c.(*net.TCPConn), s
}
