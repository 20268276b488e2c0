package pmevents

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// ifIndex returns the index of path's interface in ns.
func ifIndex(t testing.TB, ns *testbed.NS, path int) int32 {
	t.Helper()
	var idx int
	err := ns.Do(func() error {
		ifc, err := net.InterfaceByName(testbed.Iface(path))
		if err == nil {
			idx = ifc.Index
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return int32(idx)
}

// addrAttrs returns the address attributes of a (sub)flow in family v6.
func addrAttrs(v6 bool) []Attr {
	if v6 {
		return []Attr{AttrSaddr6, AttrDaddr6, AttrSport, AttrDport}
	}
	return []Attr{AttrSaddr4, AttrDaddr4, AttrSport, AttrDport}
}

// checkAttrs fails t unless r carries exactly want.
func checkAttrs(t testing.TB, r received, want ...Attr) {
	t.Helper()
	if got := set(want...); r.Attrs != got {
		t.Errorf("%v: attributes [%v], want [%v]", r, r.Attrs, got)
	}
}

// TestConnectionEvents follows one connection from the client's namespace:
// CREATED and ESTABLISHED for the initial subflow, SUB_ESTABLISHED for the
// subflow from the endpoint on path 1, SUB_CLOSED when that endpoint is
// deleted, CLOSED when the connection is closed; every event with the token
// that getsockopt(MPTCP_INFO) reports and the addresses the sockets have.
//
// With a backup endpoint, the backup attribute is set where the MP_JOIN
// with the backup bit is received (the server), not on the client that
// asked for it: the kernel reports subflow->backup, the peer's flag
// (request_bkup holds the local one).
func TestConnectionEvents(t *testing.T) {
	for _, tc := range []struct {
		v6, backup bool
	}{{false, false}, {false, true}, {true, false}} {
		t.Run(fmt.Sprintf("ipv6=%v/backup=%v", tc.v6, tc.backup), func(t *testing.T) {
			testenv.CheckSockets(t)
			testConnectionEvents(t, tc.v6, tc.backup)
		})
	}
}

func testConnectionEvents(t *testing.T, v6, backup bool) {
	bed := newBed(t, testbed.Config{Paths: 2, IPv6: v6, NoEndpoints: true})
	// The endpoint of path 1, as Bed.AddEndpoint adds it, optionally as a
	// backup path.
	endpoint := []string{"ip", "mptcp", "endpoint", "add", bed.ClientAddr(1).String(),
		"dev", testbed.Iface(1), "id", fmt.Sprint(testbed.EndpointID(1)), "subflow"}
	if backup {
		endpoint = append(endpoint, "backup")
	}
	if _, err := bed.Client.Run(endpoint...); err != nil {
		t.Fatal(err)
	}
	events := collect(t, openIn(t, bed.Client))
	serverEvents := collect(t, openIn(t, bed.Server))
	srv := serve(t, bed, v6)
	c := dial(t, bed, srv.port)
	token := tokenOf(t, c)
	if _, err := c.Write([]byte("x")); err != nil { // the join starts once data is acknowledged
		t.Fatal(err)
	}
	serverToken := tokenOf(t, srv.accept(t))
	fam := uint16(afInet)
	if v6 {
		fam = afInet6
	}
	local := addrPort(c.LocalAddr())
	remote := netip.AddrPortFrom(bed.ServerAddr(0), srv.port)
	connAttrs := append([]Attr{AttrToken, AttrFamily, AttrLocalID, AttrRemoteID}, addrAttrs(v6)...)

	for _, kind := range []Kind{Created, Established} {
		r := events.next(t, kind.String(), kindOf(kind, token))
		if r.Family != fam || r.Local != local || r.Remote != remote || r.LocalID != 0 || r.RemoteID != 0 || r.ServerSide {
			t.Errorf("%v: want family %d, %v -> %v, ids 0/0, client side", r, fam, local, remote)
		}
		// Kernels before the server-side flag (6.12 included) send
		// server_side on every connection, 0 on the client's.
		want := connAttrs
		if r.Attrs.Has(AttrServerSide) && !testenv.KernelAtLeast(6, 18) {
			want = append(slices.Clone(want), AttrServerSide)
		}
		checkAttrs(t, r, want...)
	}

	subAttrs := append(slices.Clone(connAttrs), AttrBackup, AttrIfIndex)
	wantIf := ifIndex(t, bed.Client, 1)
	sub := events.next(t, "SUB_ESTABLISHED", kindOf(SubEstablished, token))
	if sub.Family != fam || sub.Local.Addr() != bed.ClientAddr(1) || sub.Remote != remote ||
		sub.LocalID != uint8(testbed.EndpointID(1)) || sub.RemoteID != 0 || sub.Backup || sub.IfIndex != wantIf {
		t.Errorf("%v: want %v -> %v, ids %d/0, backup false (the server did not ask for it), if_idx %d",
			sub, bed.ClientAddr(1), remote, testbed.EndpointID(1), wantIf)
	}
	checkAttrs(t, sub, subAttrs...)
	peer := serverEvents.next(t, "SUB_ESTABLISHED on the server", kindOf(SubEstablished, serverToken))
	if peer.Backup != backup || peer.Local != sub.Remote || peer.Remote != sub.Local {
		t.Errorf("server: %v: want backup %v, the subflow of %v", peer, backup, sub)
	}

	if err := bed.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	closed := events.next(t, "SUB_CLOSED", kindOf(SubClosed, token))
	// The same subflow, closed by the path manager: no error, no reset
	// option (the peer did not reset it).
	want := sub.Event
	want.Kind = SubClosed
	if closed.Event != want {
		t.Errorf("%v: want the subflow of %v", closed, sub)
	}

	c.Close()
	r := events.next(t, "CLOSED", kindOf(Closed, token))
	checkAttrs(t, r, AttrToken)
	for _, r := range events.drain(100 * time.Millisecond) {
		t.Errorf("unexpected event after CLOSED: %v", r)
	}
}

// addrPort returns a net.Addr of a TCP socket as an AddrPort.
func addrPort(a net.Addr) netip.AddrPort { return a.(*net.TCPAddr).AddrPort() }

// TestServerSideEvents follows a connection from the server's namespace:
// LISTENER_CREATED when the application listens, CREATED and ESTABLISHED
// marked server side, SUB_ESTABLISHED for the client's join, SUB_PRIORITY
// when the client makes that subflow a backup (it sends MP_PRIO; the event
// is raised where MP_PRIO is received), LISTENER_CLOSED when the listening
// socket is closed.
func TestServerSideEvents(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 2})
	events := collect(t, openIn(t, bed.Server))
	srv := serve(t, bed, false)
	// Listener events came with Linux 6.2.
	listenerEvents := testenv.KernelAtLeast(6, 2)
	if listenerEvents {
		r := events.next(t, "LISTENER_CREATED", func(e *Event) bool { return e.Kind == ListenerCreated })
		if r.Family != afInet || r.Local != netip.AddrPortFrom(netip.IPv4Unspecified(), srv.port) {
			t.Errorf("%v: want family 2, 0.0.0.0:%d", r, srv.port)
		}
		checkAttrs(t, r, AttrFamily, AttrSaddr4, AttrSport)
	}

	c := dial(t, bed, srv.port)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	s := srv.accept(t)
	token := tokenOf(t, s)
	local := netip.AddrPortFrom(bed.ServerAddr(0), srv.port)
	remote := addrPort(c.LocalAddr())
	for _, kind := range []Kind{Created, Established} {
		r := events.next(t, kind.String(), kindOf(kind, token))
		if !r.ServerSide || r.Local != local || r.Remote != remote {
			t.Errorf("%v: want server side, %v -> %v", r, local, remote)
		}
		// Since 6.18 the kernel also says it in the flags attribute (and
		// sends server_side only on the server's side).
		want := append([]Attr{AttrToken, AttrFamily, AttrLocalID, AttrRemoteID, AttrServerSide}, addrAttrs(false)...)
		if testenv.KernelAtLeast(6, 18) || r.Attrs.Has(AttrFlags) {
			want = append(want, AttrFlags)
			if r.Flags != FlagServerSide {
				t.Errorf("%v: flags %#x, want %#x", r, r.Flags, FlagServerSide)
			}
		}
		checkAttrs(t, r, want...)
	}

	sub := events.next(t, "SUB_ESTABLISHED", kindOf(SubEstablished, token))
	if sub.Local != local || sub.Remote.Addr() != bed.ClientAddr(1) || sub.LocalID != 0 ||
		sub.RemoteID != uint8(testbed.EndpointID(1)) || sub.Backup {
		t.Errorf("%v: want %v -> %v, ids 0/%d, not backup", sub, local, bed.ClientAddr(1), testbed.EndpointID(1))
	}
	// The server's subflow sockets are not bound to a device: no if_idx.
	checkAttrs(t, sub, append([]Attr{AttrToken, AttrFamily, AttrLocalID, AttrRemoteID, AttrBackup}, addrAttrs(false)...)...)

	if _, err := bed.Client.Run("ip", "mptcp", "endpoint", "change", "id", fmt.Sprint(testbed.EndpointID(1)), "backup"); err != nil {
		t.Fatal(err)
	}
	prio := events.next(t, "SUB_PRIORITY", kindOf(SubPriority, token))
	want := sub.Event
	want.Kind, want.Backup = SubPriority, true
	if prio.Event != want {
		t.Errorf("%v: want the subflow of %v, now backup", prio, sub)
	}

	srv.close()
	if listenerEvents {
		r := events.next(t, "LISTENER_CLOSED", func(e *Event) bool { return e.Kind == ListenerClosed })
		if r.Local != netip.AddrPortFrom(netip.IPv4Unspecified(), srv.port) {
			t.Errorf("%v: want 0.0.0.0:%d", r, srv.port)
		}
	}
}

// TestMappedAddresses connects over IPv4 to a dual-stack listener: the
// server's connection is an IPv6 socket, and its events say so: family
// AF_INET6 and IPv4-mapped addresses, as the kernel sends them.
func TestMappedAddresses(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 1})
	events := collect(t, openIn(t, bed.Server))
	srv := serveOn(t, bed, "tcp")
	c := dial(t, bed, srv.port)
	token := tokenOf(t, srv.accept(t))
	r := events.next(t, "CREATED", kindOf(Created, token))
	mapped := func(a netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr().As16()), a.Port())
	}
	local, remote := netip.AddrPortFrom(bed.ServerAddr(0), srv.port), addrPort(c.LocalAddr())
	if r.Family != afInet6 || r.Local != mapped(local) || r.Remote != mapped(remote) {
		t.Errorf("%v: want family 10, %v -> %v", r, mapped(local), mapped(remote))
	}
	if r.Local.Addr().Unmap() != local.Addr() {
		t.Errorf("%v: Unmap gives %v, want %v", r, r.Local.Addr().Unmap(), local.Addr())
	}
}

// TestSubClosedLatency measures how long after `ip mptcp endpoint delete`
// the SUB_CLOSED event is received, over 20 deletions of the same path's
// endpoint (re-added after each). It logs the figures; it fails only when
// an event does not come at all.
func TestSubClosedLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("20 endpoint deletions take a few seconds")
	}
	bed := newBed(t, testbed.Config{Paths: 2})
	events := collect(t, openIn(t, bed.Client))
	srv := serve(t, bed, false)
	c := dial(t, bed, srv.port)
	token := tokenOf(t, c)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	const trials = 20
	var sinceReturn, sinceStart []time.Duration
	for range trials {
		events.next(t, "SUB_ESTABLISHED", kindOf(SubEstablished, token))
		start := time.Now()
		if err := bed.DeleteEndpoint(1); err != nil {
			t.Fatal(err)
		}
		returned := time.Now()
		r := events.next(t, "SUB_CLOSED", kindOf(SubClosed, token))
		sinceReturn = append(sinceReturn, r.at.Sub(returned))
		sinceStart = append(sinceStart, r.at.Sub(start))
		if err := bed.AddEndpoint(1); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		name string
		v    []time.Duration
	}{{"after `ip mptcp endpoint delete` returned", sinceReturn}, {"after it was started", sinceStart}} {
		slices.Sort(d.v)
		t.Logf("SUB_CLOSED received %s, %d trials: min %v, median %v, max %v",
			d.name, len(d.v), d.v[0], d.v[len(d.v)/2], d.v[len(d.v)-1])
	}
}
