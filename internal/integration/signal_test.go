package integration_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestServerSignal lets the server announce its addresses on paths 1 and 2
// (signal endpoints), alone and together with client subflow endpoints: the
// client opens a subflow to each announced address, and both spans get one
// mptcp.subflow.added event per subflow, with the same pairs of addresses
// on both ends.
func TestServerSignal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		client   bool
		subflows int
	}{
		// One subflow per path: the initial one and one to each
		// announced address.
		{"signal", false, 3},
		// Also one from each client endpoint to the address dialed.
		{"signal+subflow", true, 5},
	} {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ipv6=%v", tc.name, v6), func(t *testing.T) {
				testServerSignal(t, v6, tc.client, tc.subflows)
			})
		}
	}
}

func testServerSignal(t *testing.T, v6, clientEndpoints bool, subflows int) {
	b := testbed.New(t, testbed.Config{Paths: 3, IPv6: v6, ServerSignal: true, ClientEndpoints: clientEndpoints})
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	c, s := connect(t, b, tel, ln)
	rcv := receive(s)
	snd := newSender(c, 3)
	if err := snd.send(1); err != nil {
		t.Fatal(err)
	}
	snap := waitInfo(t, c, fmt.Sprintf("%d established subflows", subflows), func(s *mptcpinfo.Snapshot) bool {
		return len(established(s)) == subflows
	})
	if snap.Info.AddAddrAccepted != 2 {
		t.Errorf("Info: add_addr_accepted = %d, want 2 (the server announced paths 1 and 2)", snap.Info.AddAddrAccepted)
	}
	if err := snd.send(1 << 20); err != nil {
		t.Fatal(err)
	}
	halfClose(t, c, snd, rcv)
	c.Close()
	s.Close()

	// Each subflow as (client address, server address), seen from both
	// ends: from each path's client address to the server's address on
	// that path (the initial subflow and one to each announced address),
	// and with client endpoints also from each of them to the address
	// dialed.
	type pair struct{ client, server netip.Addr }
	var want []pair
	for p := range 3 {
		want = append(want, pair{b.ClientAddr(p), b.ServerAddr(p)})
		if clientEndpoints && p > 0 {
			want = append(want, pair{b.ClientAddr(p), b.ServerAddr(0)})
		}
	}
	cmp := func(x, y pair) int {
		if c := x.client.Compare(y.client); c != 0 {
			return c
		}
		return x.server.Compare(y.server)
	}
	slices.SortFunc(want, cmp)
	port := target(b, ln).Port()
	var fromClient, fromServer []pair
	for _, e := range oteltest.SubflowEvents(t, tel.Span(t, roleClient), "mptcp.subflow.added") {
		fromClient = append(fromClient, pair{e.Local.Addr(), e.Peer.Addr()})
		if e.Peer.Port() != port {
			t.Errorf("client subflow %d to %s: want the listener's port %d", e.ID, e.Peer, port)
		}
	}
	for _, e := range oteltest.SubflowEvents(t, tel.Span(t, roleServer), "mptcp.subflow.added") {
		fromServer = append(fromServer, pair{e.Peer.Addr(), e.Local.Addr()})
	}
	slices.SortFunc(fromClient, cmp)
	slices.SortFunc(fromServer, cmp)
	if !slices.Equal(fromClient, want) {
		t.Errorf("mptcp.subflow.added on the client, (client, server) addresses: %v, want %v", fromClient, want)
	}
	if !slices.Equal(fromServer, want) {
		t.Errorf("mptcp.subflow.added on the server, (client, server) addresses: %v, want %v", fromServer, want)
	}
	tel.CheckClosedGauges(t)
}
