package testbed

import (
	"net/netip"
	"testing"
)

// unmap turns an IPv4-mapped IPv6 address into IPv4: the server listens on a
// dual-stack IPv6 socket, so ss shows its IPv4 connections mapped.
func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// TestKernelView parses ss on both ends of a live connection and checks that
// the two views fit together: the same subflows seen from each side, the
// join subflows carrying the server's token, the data sequence numbers of
// one side matching the other's, and the subflows' bytes adding up to the
// data sent.
func TestKernelView(t *testing.T) {
	b := New(t, Config{Paths: 3})
	ln := listenMPTCP(t, b)
	res := sink(ln)
	st := newStream(dialMPTCP(t, b, ln), 5)
	st.send(t, 1)
	client := clientConn(t, b)
	waitSubflows(t, b, client.Token, 3)
	st.send(t, 2<<20)
	// Wait until the server has acknowledged all data at the connection
	// level (DATA_ACK), which can trail the subflows' acknowledgements.
	if _, err := b.Client.WaitMPTCP(waitTimeout, func(s []MPTCPSocket) bool {
		return len(s) == 1 && s[0].SndUna == s[0].WriteSeq
	}); err != nil {
		t.Fatal(err)
	}
	// The server's view first: whatever it counts, the client had sent
	// before.
	server := onlyConn(t, b.Server)
	serverSubs := subflowsIn(t, b.Server, server.Token)
	client = onlyConn(t, b.Client)
	subs := subflowsIn(t, b.Client, client.Token)

	if unmap(server.Local) != client.Peer || client.Token == server.Token || server.Token == 0 {
		t.Errorf("client %s -> %s token %08x, server %s -> %s token %08x", client.Local, client.Peer, client.Token, server.Local, server.Peer, server.Token)
	}
	if client.WriteSeq != server.RcvNxt {
		t.Errorf("client write_seq %x, server rcv_nxt %x: want them equal once everything is acknowledged", client.WriteSeq, server.RcvNxt)
	}
	if len(subs) != 3 || len(serverSubs) != 3 || client.Subflows != 2 || server.Subflows != 2 {
		t.Errorf("ss -ti: %d subflows in the client, %d in the server; ss -Mi subflows: client %d, server %d; want 3, 3, 2, 2",
			len(subs), len(serverSubs), client.Subflows, server.Subflows)
	}
	var sent, received uint64
	for _, c := range subs {
		sent += c.BytesSent
		if c.MPTCP.LocalID != 0 && c.MPTCP.RemoteToken != server.Token {
			t.Errorf("join subflow %s: remote token %08x, want the server's %08x", c.Local, c.MPTCP.RemoteToken, server.Token)
		}
		found := false
		for _, s := range serverSubs {
			if unmap(s.Local) == c.Peer && unmap(s.Peer) == c.Local {
				found = true
				received += s.BytesReceived
				if s.BytesReceived > c.BytesSent {
					t.Errorf("subflow %s: the server received %d bytes, the client sent %d", c.Local, s.BytesReceived, c.BytesSent)
				}
			}
		}
		if !found {
			t.Errorf("client subflow %s -> %s has no server end", c.Local, c.Peer)
		}
	}
	if sent < uint64(st.n) || received < uint64(st.n) {
		t.Errorf("subflows: %d bytes sent, %d received; the connection carried %d", sent, received, st.n)
	}
	st.finish(t, res)
}

// onlyConn returns the only MPTCP connection in ns.
func onlyConn(t *testing.T, ns *NS) MPTCPSocket {
	t.Helper()
	conns, err := ns.MPTCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 {
		t.Fatalf("ss -Mi in %s: %d connections, want 1", ns, len(conns))
	}
	return conns[0]
}

// subflowsIn returns the subflows of the connection token in ns.
func subflowsIn(t *testing.T, ns *NS, token uint32) []TCPSocket {
	t.Helper()
	socks, err := ns.TCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	return SubflowsOf(socks, token)
}
