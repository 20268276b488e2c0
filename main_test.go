package mptcpx_test

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the run if the tests leave goroutines (the scheduler's
// goroutine must return once the last connection is closed) or file
// descriptors behind. The test binary is also the peer process of the
// many-connection benchmarks (testenv.IdlePeer) and their measured
// processes (BenchmarkProcessCPU).
func TestMain(m *testing.M) {
	if spec := os.Getenv(cpuChildEnv); spec != "" {
		runCPUChild(spec)
		return
	}
	testenv.RunWithoutLeaks(m, follow.Settle)
}

// plainListen returns a TCP listener that does not accept MPTCP (net.Listen
// does, by default, since Go 1.24).
func plainListen(t testing.TB) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// plainDial dials address in plain TCP, whatever GODEBUG says.
func plainDial(t testing.TB, address string) *net.TCPConn {
	t.Helper()
	var d net.Dialer
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// pair returns the two ends of one loopback MPTCP connection: the client
// from mptcpx.Dial, the server from an mptcpx.Listener. Both are closed
// when t ends.
func pair(t testing.TB) (client, server *mptcpx.Conn) {
	t.Helper()
	testenv.RequireMPTCP(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		accepted <- c
	}()
	c, err := mptcpx.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var s net.Conn
	select {
	case s = <-accepted:
	case err := <-errc:
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c.(*mptcpx.Conn), s.(*mptcpx.Conn)
}
