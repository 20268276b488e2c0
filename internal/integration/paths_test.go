package integration_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestPaths sends data over beds of 2 and 3 paths, IPv4 and IPv6, with path 0
// rate-limited so that the kernel's scheduler spreads the data over the
// others too. Both ends are mptcpx connections. The client's span gets one
// mptcp.subflow.added event per path, from the client's address on that
// path to the address dialed; the server's span the same subflows seen from
// the other end. mptcp.subflow.io shows bytes on more than one local address
// and adds up to at least the connection's mptcp.io, which counts exactly
// the bytes written.
func TestPaths(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, paths := range []int{2, 3} {
			t.Run(fmt.Sprintf("ipv6=%v/paths=%d", v6, paths), func(t *testing.T) {
				testPaths(t, paths, v6)
			})
		}
	}
}

func testPaths(t *testing.T, paths int, v6 bool) {
	b := testbed.New(t, testbed.Config{Paths: paths, IPv6: v6, RateLimit: map[int]string{0: "20mbit"}})
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	c, s := connect(t, b, tel, ln)
	rcv := receive(s)
	snd := newSender(c, 1)
	// The path manager adds subflows once the connection is fully
	// established, which takes the first data.
	if err := snd.send(1); err != nil {
		t.Fatal(err)
	}
	waitInfo(t, c, fmt.Sprintf("%d established subflows", paths), func(s *mptcpinfo.Snapshot) bool {
		return len(established(s)) == paths
	})
	const size = 8 << 20
	if err := snd.send(size); err != nil {
		t.Fatal(err)
	}
	halfClose(t, c, snd, rcv)
	c.Close()
	s.Close()

	to := target(b, ln)
	clientAddrs := make([]netip.Addr, paths)
	for p := range paths {
		clientAddrs[p] = b.ClientAddr(p)
	}

	// The client's view: one subflow per path, each from that path's
	// address to the address dialed, the first from the connection's own
	// local address.
	cs, ss := tel.Span(t, roleClient), tel.Span(t, roleServer)
	added := oteltest.SubflowEvents(t, cs, "mptcp.subflow.added")
	var locals []netip.Addr
	var ids []int64
	for _, e := range added {
		locals = append(locals, e.Local.Addr())
		ids = append(ids, e.ID)
		if e.Peer != to {
			t.Errorf("client subflow %d: %s -> %s, want the peer %s (the address dialed)", e.ID, e.Local, e.Peer, to)
		}
	}
	slices.SortFunc(locals, netip.Addr.Compare)
	if !slices.Equal(locals, clientAddrs) {
		t.Errorf("client subflows from %v, want one from each path's address %v", locals, clientAddrs)
	}
	slices.Sort(ids)
	if len(ids) != len(slices.Compact(slices.Clone(ids))) {
		t.Errorf("client subflow ids %v are not distinct", ids)
	}
	if len(added) > 0 && added[0].Local != addrPort(c.LocalAddr()) {
		t.Errorf("first client subflow from %s, the connection's local address is %s", added[0].Local, c.LocalAddr())
	}
	if rm := oteltest.Events(cs, "mptcp.subflow.removed"); len(rm) != 0 {
		t.Errorf("client span: %d mptcp.subflow.removed events, want none: %v", len(rm), rm)
	}
	if v, _ := oteltest.Attr(cs.Attributes(), "mptcp.subflows.max"); v.AsInt64() != int64(paths) {
		t.Errorf("client span: mptcp.subflows.max = %s, want %d", v.String(), paths)
	}

	// The server's view: the same subflows, ends swapped.
	type pair struct{ a, b netip.AddrPort }
	var fromClient, fromServer []pair
	for _, e := range added {
		fromClient = append(fromClient, pair{e.Local, e.Peer})
	}
	for _, e := range oteltest.SubflowEvents(t, ss, "mptcp.subflow.added") {
		fromServer = append(fromServer, pair{e.Peer, e.Local})
	}
	cmp := func(x, y pair) int {
		if c := x.a.Compare(y.a); c != 0 {
			return c
		}
		return x.b.Compare(y.b)
	}
	slices.SortFunc(fromClient, cmp)
	slices.SortFunc(fromServer, cmp)
	if !slices.Equal(fromClient, fromServer) {
		t.Errorf("subflows (client end, server end) as the client saw them: %v; as the server saw them: %v", fromClient, fromServer)
	}

	// Metrics: bytes per local address, adding up.
	sm := tel.Metrics(t)
	perAddr := oteltest.ByKey(t, sm, "mptcp.subflow.io", "network.local.address", roleClient, transmitDir)
	t.Logf("client mptcp.subflow.io transmit by local address: %v", perAddr)
	var subSent int64
	used := 0
	for a, n := range perAddr {
		subSent += n
		if ip, err := netip.ParseAddr(a); err != nil || !slices.Contains(clientAddrs, ip) {
			t.Errorf("mptcp.subflow.io{client} at local address %q, not an address of the client", a)
		}
		if n >= size/100 {
			used++
		}
	}
	if used < 2 {
		t.Errorf("mptcp.subflow.io{client,transmit}: %v; want at least two local addresses with 1%% of the %d bytes or more", perAddr, size)
	}
	if conn := oteltest.Total(t, sm, "mptcp.io", roleClient, transmitDir); !exactIO(conn, snd.sent()) || subSent < conn {
		t.Errorf("client transmit: mptcp.io = %d (wrote %d), subflows' mptcp.subflow.io = %d: want mptcp.io exact and the subflows at least as much", conn, snd.sent(), subSent)
	}
	subRecv := oteltest.Total(t, sm, "mptcp.subflow.io", roleServer, receiveDir)
	if conn := oteltest.Total(t, sm, "mptcp.io", roleServer, receiveDir); !exactIO(conn, snd.sent()) || subRecv < conn {
		t.Errorf("server receive: mptcp.io = %d (sent %d), subflows' mptcp.subflow.io = %d: want mptcp.io exact and the subflows at least as much", conn, snd.sent(), subRecv)
	}
	for _, role := range []attribute.KeyValue{roleClient, roleServer} {
		if v := oteltest.Total(t, sm, "mptcp.subflow.opened", role); v != int64(paths) {
			t.Errorf("mptcp.subflow.opened{%s} = %d, want %d", role.Value.AsString(), v, paths)
		}
	}
	tel.CheckClosedGauges(t)
}

// exactIO says whether mptcp.io counted want bytes. Exact on every kernel:
// before 6.5 mptcp.io comes from the MPTCP sequence numbers, where a
// DATA_FIN takes one, and the library leaves it out when the program's calls
// say where it is (the client shut down its side with CloseWrite, the server
// read to the end of the stream), as these tests' do.
func exactIO(got, want int64) bool { return got == want }
