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
	subs := waitAcked(t, b, client.Token, st.n)
	if len(subs) != 3 {
		t.Fatalf("ss -ti: %d subflows, want 3", len(subs))
	}

	serverConns, err := b.Server.MPTCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	if len(serverConns) != 1 {
		t.Fatalf("ss -Mi in the server: %d connections, want 1", len(serverConns))
	}
	server := serverConns[0]
	if unmap(server.Local) != client.Peer || client.Token == server.Token || server.Token == 0 {
		t.Errorf("client %s -> %s token %08x, server %s -> %s token %08x", client.Local, client.Peer, client.Token, server.Local, server.Peer, server.Token)
	}
	client = clientConn(t, b)
	if client.WriteSeq != client.SndUna || client.WriteSeq != server.RcvNxt {
		t.Errorf("client write_seq %x snd_una %x, server rcv_nxt %x: want all equal once everything is acknowledged", client.WriteSeq, client.SndUna, server.RcvNxt)
	}
	if client.Subflows != len(subs)-1 || server.Subflows != len(subs)-1 {
		t.Errorf("ss -Mi subflows: client %d, server %d; ss -ti shows %d subflows", client.Subflows, server.Subflows, len(subs))
	}

	serverSocks, err := b.Server.TCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	serverSubs := SubflowsOf(serverSocks, server.Token)
	if len(serverSubs) != len(subs) {
		t.Fatalf("the server sees %d subflows, the client %d", len(serverSubs), len(subs))
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
