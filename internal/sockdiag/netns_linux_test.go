package sockdiag

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestNamespaces: a Dumper lists the sockets of the namespace it was
// opened in and no other. A connection between the two namespaces of a
// test bed has its client end in one and its server end in the other;
// connections on the test's own loopback stay in the test's namespace.
// OpenIn reaches a socket's namespace from outside. The listener is never
// listed. With a second path, the dump sees the extra subflow join, as
// getsockopt does.
func TestNamespaces(t *testing.T) {
	testenv.CheckSockets(t)
	bed := testbed.New(t, testbed.Config{Paths: 2})
	var ln net.Listener
	err := bed.Server.Do(func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(context.Background(), "tcp", ":0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	to := netip.AddrPortFrom(bed.ServerAddr(0), uint16(ln.Addr().(*net.TCPAddr).Port))
	var c net.Conn
	err = bed.Client.Do(func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(true)
		c, err = d.Dial("tcp", to.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { s.Close() })
	client, server := newOwn(t, c.(*net.TCPConn)), newOwn(t, s.(*net.TCPConn))
	host := openPairs(t, "tcp4", "127.0.0.1:0", 2)

	var inClient, inServer *Dumper
	if err := bed.Client.Do(func() (err error) { inClient, err = Open(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inClient.Close() })
	if err := bed.Server.Do(func() (err error) { inServer, err = Open(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inServer.Close() })
	viaClient, err := OpenIn(client.rc)
	if err != nil {
		t.Fatalf("OpenIn(client end): %v", err)
	}
	t.Cleanup(func() { viaClient.Close() })
	viaHost, err := OpenIn(host[0].rc)
	if err != nil {
		t.Fatalf("OpenIn(a socket of this namespace): %v", err)
	}
	t.Cleanup(func() { viaHost.Close() })
	here := openDumper(t)

	for _, tc := range []struct {
		name string
		d    *Dumper
		want []*own // exactly these, when exact
		not  []*own
		// exact: the namespace holds nothing but want (a bed's
		// namespaces are fresh; the test's own may have other
		// processes' sockets).
		exact bool
	}{
		{"Open in the client namespace", inClient, []*own{client}, append([]*own{server}, host...), true},
		{"OpenIn the client end", viaClient, []*own{client}, append([]*own{server}, host...), true},
		{"Open in the server namespace", inServer, []*own{server}, append([]*own{client}, host...), true},
		{"Open here", here, host, []*own{client, server}, false},
		{"OpenIn a socket of this namespace", viaHost, host, []*own{client, server}, false},
	} {
		m := dumpAll(t, tc.d)
		for _, o := range tc.want {
			if m[o.cookie] == nil {
				t.Errorf("%s: %v is missing", tc.name, o.conn.LocalAddr())
			}
		}
		for _, o := range tc.not {
			if m[o.cookie] != nil {
				t.Errorf("%s: %v of another namespace is listed", tc.name, o.conn.LocalAddr())
			}
		}
		if tc.exact && len(m) != len(tc.want) {
			t.Errorf("%s: %d sockets listed, want %d (the listener must not be)", tc.name, len(m), len(tc.want))
		}
	}

	// Data makes the connection fully established; the client's endpoint
	// on path 1 then adds a subflow. The dump and getsockopt see it alike.
	go io.Copy(io.Discard, s)
	if _, err := c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	var r mptcpinfo.Reader
	var got Socket
	err = waitFor(10*time.Second, func() (bool, error) {
		m, err := tryDumpAll(inClient)
		if err != nil || m[client.cookie] == nil {
			return false, err
		}
		got = m[client.cookie].Socket
		return got.Info.ExtraSubflows == 1, nil
	})
	if err != nil {
		t.Fatalf("the dump never showed the second subflow (extra subflows %d): %v", got.Info.ExtraSubflows, err)
	}
	if want, ok := getsockoptInfo(t, &r, client); ok && want.Subflows != got.Info.ExtraSubflows {
		t.Errorf("extra subflows: %d in the dump, %d from getsockopt", got.Info.ExtraSubflows, want.Subflows)
	}
	if got.Has(mptcpinfo.FieldSubflowsTotal) && got.Info.SubflowsTotal != 2 {
		t.Errorf("subflows_total %d in the dump, want 2", got.Info.SubflowsTotal)
	}
}
