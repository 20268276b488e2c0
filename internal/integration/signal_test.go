package integration_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestServerSignal lets the server announce its addresses on paths 1 and 2
// (signal endpoints), alone and together with client subflow endpoints: the
// client opens subflows to the announced addresses, and both spans get an
// mptcp.subflow.added event for every subflow, the announced addresses among
// the server's ends.
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

	port := target(b, ln).Port()
	added := subflowEvents(t, tel.span(t, roleClient), "mptcp.subflow.added")
	serverAdded := subflowEvents(t, tel.span(t, roleServer), "mptcp.subflow.added")
	if len(added) != subflows || len(serverAdded) != subflows {
		t.Fatalf("%d mptcp.subflow.added events on the client, %d on the server, want %d each: %v; %v", len(added), len(serverAdded), subflows, added, serverAdded)
	}
	var peers, serverLocals []netip.Addr
	for _, e := range added {
		peers = append(peers, e.Peer.Addr())
		if e.Peer.Port() != port {
			t.Errorf("client subflow %d to %s: want the listener's port %d", e.ID, e.Peer, port)
		}
	}
	for _, e := range serverAdded {
		serverLocals = append(serverLocals, e.Local.Addr())
	}
	for p := range 3 {
		if !slices.Contains(peers, b.ServerAddr(p)) {
			t.Errorf("no client subflow to the server's path %d address %s; subflows to %v", p, b.ServerAddr(p), peers)
		}
		if !slices.Contains(serverLocals, b.ServerAddr(p)) {
			t.Errorf("no server subflow on its path %d address %s; subflows on %v", p, b.ServerAddr(p), serverLocals)
		}
	}
	if clientEndpoints {
		var locals []netip.Addr
		for _, e := range added {
			locals = append(locals, e.Local.Addr())
		}
		for p := range 3 {
			if !slices.Contains(locals, b.ClientAddr(p)) {
				t.Errorf("no client subflow from its path %d address %s; subflows from %v", p, b.ClientAddr(p), locals)
			}
		}
	}
	checkClosedGauges(t, tel.metrics(t))
}
