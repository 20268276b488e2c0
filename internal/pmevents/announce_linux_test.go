package pmevents

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestAnnouncedRemoved lets the server announce its path-1 address (a
// signal endpoint): the client sees ANNOUNCED with the address id, the
// address and the connection's port (the endpoint has no port of its
// own), then SUB_ESTABLISHED to that address. Deleting the endpoint makes
// the server send RM_ADDR: the client sees REMOVED with the same id, then
// SUB_CLOSED for the subflow.
func TestAnnouncedRemoved(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ipv6=%v", v6), func(t *testing.T) {
			testenv.CheckSockets(t)
			testAnnouncedRemoved(t, v6)
		})
	}
}

func testAnnouncedRemoved(t *testing.T, v6 bool) {
	bed := newBed(t, testbed.Config{Paths: 2, IPv6: v6, ServerSignal: true})
	events := collect(t, openIn(t, bed.Client))
	srv := serve(t, bed, v6)
	c := dial(t, bed, srv.port)
	token := tokenOf(t, c)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	id := uint8(testbed.EndpointID(1))
	announced := netip.AddrPortFrom(bed.ServerAddr(1), srv.port)

	r := events.next(t, "ANNOUNCED", kindOf(Announced, token))
	if r.RemoteID != id || r.Remote != announced {
		t.Errorf("%v: want id %d, %v", r, id, announced)
	}
	// No family attribute, although the uAPI header lists one:
	// mptcp_event_addr_announced puts only the address.
	daddr := AttrDaddr4
	if v6 {
		daddr = AttrDaddr6
	}
	checkAttrs(t, r, AttrToken, AttrRemoteID, daddr, AttrDport)

	sub := events.next(t, "SUB_ESTABLISHED", kindOf(SubEstablished, token))
	if sub.Remote != announced || sub.RemoteID != id || sub.Local.Addr() != bed.ClientAddr(1) {
		t.Errorf("%v: want %v -> %v, remote id %d", sub, bed.ClientAddr(1), announced, id)
	}

	if err := bed.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	r = events.next(t, "REMOVED", kindOf(Removed, token))
	if r.RemoteID != id {
		t.Errorf("%v: want id %d", r, id)
	}
	checkAttrs(t, r, AttrToken, AttrRemoteID)
	closed := events.next(t, "SUB_CLOSED", kindOf(SubClosed, token))
	want := sub.Event
	want.Kind = SubClosed
	if closed.Event != want {
		t.Errorf("%v: want the subflow of %v", closed, sub)
	}
}
