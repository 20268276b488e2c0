package mptcpinfo

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testbed"
)

// TestMultipathSubflows reads a three-path connection with every rung this
// kernel has: all subflows listed with the addresses of their paths, from a
// Reader that starts with room for one subflow and must grow, and the split
// rung's positional matching gives the same subflows as MPTCP_FULL_INFO.
func TestMultipathSubflows(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "ipv4"
		if v6 {
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testMultipath(t, v6)
		})
	}
}

func testMultipath(t *testing.T, v6 bool) {
	bed := testbed.New(t, testbed.Config{Paths: 3, IPv6: v6})
	var ln net.Listener
	if err := bed.Server.Do(func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(context.Background(), "tcp", net.JoinHostPort(bed.ServerAddr(0).String(), "0"))
		return err
	}); err != nil {
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
	var c net.Conn
	if err := bed.Client.Do(func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(true)
		c, err = d.Dial("tcp", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Extra subflows come once data has been exchanged; a joining one is
	// listed from its SYN on (state SYN_SENT), so the test waits for the
	// three to be established.
	c.Write([]byte("hello"))
	io.ReadFull(c, make([]byte, 5))
	rc, _ := c.(*net.TCPConn).SyscallConn()

	methods := methodsHere()
	var s Snapshot
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := &Reader{Method: methods[0]}
		r.growFull(1)
		r.growSplit(1)
		if err := r.Read(rc, &s); err != nil {
			t.Fatal(err)
		}
		if len(s.Subflows) == 3 && allEstablished(&s) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.NumSubflows != 3 || len(s.Subflows) != 3 {
		t.Fatalf("%v: %d subflows (%d listed), want 3", s.Method, s.NumSubflows, len(s.Subflows))
	}
	paths := map[string]bool{}
	for i, sf := range s.Subflows {
		if s.Has(FieldSubflowID) && sf.ID != uint32(i+1) {
			t.Errorf("subflow %d has id %d", i, sf.ID)
		}
		paths[sf.Local.Addr().Unmap().String()] = true
		if sf.State() != 1 {
			t.Errorf("subflow %d state %d", i, sf.State())
		}
	}
	for p := range 3 {
		if !paths[bed.ClientAddr(p).String()] {
			t.Errorf("no subflow from %v: %v", bed.ClientAddr(p), paths)
		}
	}
	if len(methods) < 2 {
		return
	}
	var split Snapshot
	if err := (&Reader{Method: MethodSplit}).Read(rc, &split); err != nil {
		t.Fatal(err)
	}
	if len(split.Subflows) != 3 {
		t.Fatalf("split rung: %d subflows", len(split.Subflows))
	}
	for i := range split.Subflows {
		f, sp := s.Subflows[i], split.Subflows[i]
		if f.Local != sp.Local || f.Remote != sp.Remote || f.BytesAcked() != sp.BytesAcked() {
			t.Errorf("subflow %d: full %v->%v acked %d, split %v->%v acked %d", i, f.Local, f.Remote, f.BytesAcked(), sp.Local, sp.Remote, sp.BytesAcked())
		}
	}
}

// allEstablished reports whether every listed subflow is in TCP state
// ESTABLISHED (1).
func allEstablished(s *Snapshot) bool {
	for _, sf := range s.Subflows {
		if sf.State() != 1 {
			return false
		}
	}
	return true
}
