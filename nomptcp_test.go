package mptcpx_test

import (
	"io"
	"testing"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestWithoutMPTCP: on a kernel without MPTCP, mptcpx connections still work
// as plain TCP, say so, take their samples, and report on both sides, once,
// that they are plain TCP because this host cannot open MPTCP sockets.
func TestWithoutMPTCP(t *testing.T) {
	testenv.RequireNoMPTCP(t)
	if mptcpinfo.Available() {
		t.Fatal("mptcpinfo.Available() on a kernel that opens no MPTCP socket")
	}
	rec := &recorder{}
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithHooks(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := mptcpx.NewDialer(nil, mptcpx.WithHooks(rec)).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	mc := c.(*mptcpx.Conn)
	if ok, _ := mc.MultipathTCP(); ok {
		t.Error("MultipathTCP() true without MPTCP in the kernel")
	}
	msg := []byte("plain TCP still works")
	c.Write(msg)
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	s, err := mc.Info()
	if err != nil {
		t.Fatal(err)
	}
	if s.MPTCP || s.Fallback || len(s.Subflows) != 0 {
		t.Errorf("Info: MPTCP %v fallback %v subflows %d", s.MPTCP, s.Fallback, len(s.Subflows))
	}
	c.Close()
	for _, cr := range rec.all() {
		_, _, finals := cr.totals()
		cr.mu.Lock()
		reported := 0
		for _, smp := range cr.samples {
			if smp.fallback != conntrace.FallbackUnavailable {
				t.Errorf("%v: fallback %v, want %v on a kernel without MPTCP", cr.role, smp.fallback, conntrace.FallbackUnavailable)
			}
			if smp.fallbackNew {
				reported++
			}
		}
		if reported != 1 {
			t.Errorf("%v: the fallback reported %d times, want once", cr.role, reported)
		}
		if cr.role == conntrace.RoleClient && finals != 1 {
			t.Errorf("client: %d final samples", finals)
		}
		cr.mu.Unlock()
	}
}
