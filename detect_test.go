package mptcpx

import (
	"net/netip"
	"testing"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// snap builds a synthetic MPTCP_FULL_INFO snapshot (a 6.18 kernel) with the
// given subflows: id, bytes sent, bytes received.
func snap(connSent, connRecv uint64, subflows ...[3]uint64) *mptcpinfo.Snapshot {
	s := &mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, MPTCP: true, Protocol: mptcpinfo.IPPROTO_MPTCP,
		InfoLen: mptcpinfo.SizeofInfo, TCPInfoLen: 280, NumSubflows: len(subflows)}
	s.Info.BytesSent, s.Info.BytesReceived = connSent, connRecv
	for _, sf := range subflows {
		var x mptcpinfo.Subflow
		x.ID = uint32(sf[0])
		x.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(sf[0]), 1}), 40000)
		x.Remote = netip.MustParseAddrPort("10.9.9.9:443")
		x.TCPInfo.Bytes_sent, x.TCPInfo.Bytes_received = sf[1], sf[2]
		x.TCPInfo.Rtt = uint32(1000 * sf[0])
		s.Subflows = append(s.Subflows, x)
	}
	return s
}

func ids(s *conntrace.Sample, idx []int) []uint32 {
	var out []uint32
	for _, i := range idx {
		out = append(out, s.Snapshot.Subflows[i].ID)
	}
	return out
}

func TestDetectJoinRemoveAndNewID(t *testing.T) {
	var d detector
	var out conntrace.Sample
	d.detect(snap(100, 50, [3]uint64{1, 100, 50}), conntrace.RoleClient, &out)
	if !out.First || len(out.Added) != 1 || out.Sent != 100 || out.Received != 50 || out.SubflowDeltas[0] != (conntrace.SubflowDelta{Sent: 100, Received: 50}) {
		t.Fatalf("first: %+v", out)
	}
	// Subflow 2 joins.
	d.detect(snap(300, 80, [3]uint64{1, 200, 60}, [3]uint64{2, 100, 20}), conntrace.RoleClient, &out)
	if out.First || len(out.Added) != 1 || ids(&out, out.Added)[0] != 2 || len(out.Removed) != 0 || out.SubflowsMax != 2 {
		t.Fatalf("join: added %v removed %v", ids(&out, out.Added), out.Removed)
	}
	if out.Sent != 200 || out.Received != 30 || out.SubflowDeltas[0].Sent != 100 || out.SubflowDeltas[1].Sent != 100 {
		t.Fatalf("join deltas: %d/%d %+v", out.Sent, out.Received, out.SubflowDeltas)
	}
	// Subflow 1 goes away; the connection counters keep its bytes.
	d.detect(snap(500, 80, [3]uint64{2, 250, 20}), conntrace.RoleClient, &out)
	if len(out.Removed) != 1 || out.Removed[0].ID != 1 || out.Removed[0].BytesSent != 200 || out.Removed[0].RTT.Microseconds() != 1000 || out.Removed[0].Local != netip.MustParseAddrPort("10.0.1.1:40000") {
		t.Fatalf("removal: %+v", out.Removed)
	}
	if out.Sent != 200 || out.SubflowDeltas[0].Sent != 150 {
		t.Fatalf("removal deltas: %d %+v", out.Sent, out.SubflowDeltas)
	}
	// A new subflow with a new id (ids are never reused).
	d.detect(snap(600, 90, [3]uint64{2, 300, 20}, [3]uint64{3, 50, 10}), conntrace.RoleClient, &out)
	if got := ids(&out, out.Added); len(got) != 1 || got[0] != 3 || out.SubflowDeltas[1].Sent != 50 || out.SubflowsMax != 2 {
		t.Fatalf("new id: added %v deltas %+v", got, out.SubflowDeltas)
	}
	// Nothing changed: no events, zero deltas.
	d.detect(snap(600, 90, [3]uint64{2, 300, 20}, [3]uint64{3, 50, 10}), conntrace.RoleClient, &out)
	if len(out.Added)+len(out.Removed) != 0 || out.Sent != 0 || out.Received != 0 || out.FallbackChanged {
		t.Fatalf("steady: %+v", out)
	}
}

func TestDetectCounterReset(t *testing.T) {
	var d detector
	var out conntrace.Sample
	d.detect(snap(1000, 0, [3]uint64{1, 1000, 0}), conntrace.RoleClient, &out)
	d.detect(snap(10, 0, [3]uint64{1, 10, 0}), conntrace.RoleClient, &out)
	if out.Sent != 10 || out.SubflowDeltas[0].Sent != 10 {
		t.Fatalf("reset gave %d / %+v, want 10", out.Sent, out.SubflowDeltas)
	}
}

func TestDetectFallback(t *testing.T) {
	// Fallback at the handshake.
	var d detector
	var out conntrace.Sample
	fb := &mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, Fallback: true, Protocol: mptcpinfo.IPPROTO_MPTCP}
	d.detect(fb, conntrace.RoleClient, &out)
	if out.Fallback != conntrace.FallbackNotNegotiated || !out.FallbackChanged || out.Sent != 0 {
		t.Fatalf("handshake fallback: %+v", out)
	}
	d.detect(fb, conntrace.RoleClient, &out)
	if out.FallbackChanged || out.Fallback != conntrace.FallbackNotNegotiated {
		t.Fatalf("fallback reported twice: %+v", out)
	}
	// Later in the connection: the subflow is removed from MPTCP's view.
	d = detector{}
	d.detect(snap(10, 10, [3]uint64{1, 10, 10}), conntrace.RoleClient, &out)
	d.detect(fb, conntrace.RoleClient, &out)
	if out.Fallback != conntrace.FallbackMidConnection || !out.FallbackChanged {
		t.Fatalf("mid-connection fallback: %+v", out)
	}
	// Accepted from a plain TCP client; dialed without local MPTCP.
	plain := &mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, Protocol: 6}
	d = detector{}
	d.detect(plain, conntrace.RoleServer, &out)
	if out.Fallback != conntrace.FallbackNotNegotiated {
		t.Fatalf("server side of a plain client: %v", out.Fallback)
	}
	d = detector{}
	d.detect(plain, conntrace.RoleClient, &out)
	if out.Fallback != conntrace.FallbackUnavailable {
		t.Fatalf("client without MPTCP: %v", out.Fallback)
	}
	// A host that cannot open MPTCP sockets at all: plain TCP everywhere,
	// and no fallback on either side.
	for _, role := range []conntrace.Role{conntrace.RoleClient, conntrace.RoleServer} {
		d = detector{noMPTCP: true}
		d.detect(&mptcpinfo.Snapshot{Method: mptcpinfo.MethodProtocol, Protocol: 6}, role, &out)
		if out.Fallback != conntrace.FallbackNone || out.FallbackChanged {
			t.Fatalf("%v without MPTCP on the host: %v", role, out.Fallback)
		}
	}
	// An old kernel (SO_PROTOCOL only) never reports a fallback for an
	// MPTCP socket.
	d = detector{}
	d.detect(&mptcpinfo.Snapshot{Method: mptcpinfo.MethodProtocol, MPTCP: true, Protocol: mptcpinfo.IPPROTO_MPTCP}, conntrace.RoleClient, &out)
	if out.Fallback != conntrace.FallbackNone {
		t.Fatalf("old kernel: %v", out.Fallback)
	}
}

// A 5.16 to 6.4 kernel: no ids, no byte counters: the detector numbers
// subflows by address and counts from sequence numbers.
func TestDetectWithoutIDsOrByteCounters(t *testing.T) {
	split := func(una, nxt uint64, subflows ...[3]uint64) *mptcpinfo.Snapshot {
		s := snap(0, 0, subflows...)
		s.Method, s.InfoLen, s.TCPInfoLen = mptcpinfo.MethodSplit, 48, 240
		s.Info.SndUna, s.Info.RcvNxt = una, nxt
		for i := range s.Subflows {
			s.Subflows[i].ID = 0
		}
		return s
	}
	var d detector
	var out conntrace.Sample
	d.detect(split(1<<40, 5<<40, [3]uint64{1, 0, 0}), conntrace.RoleClient, &out)
	if out.Sent != 0 || out.Received != 0 || out.Snapshot.Subflows[0].ID != 1 {
		t.Fatalf("first: sent %d id %d", out.Sent, out.Snapshot.Subflows[0].ID)
	}
	d.detect(split(1<<40+700, 5<<40+300, [3]uint64{1, 700, 300}, [3]uint64{2, 0, 0}), conntrace.RoleClient, &out)
	if out.Sent != 700 || out.Received != 300 || out.Snapshot.Subflows[0].ID != 1 || out.Snapshot.Subflows[1].ID != 2 || len(out.Added) != 1 {
		t.Fatalf("second: %d/%d ids %d,%d added %v", out.Sent, out.Received, out.Snapshot.Subflows[0].ID, out.Snapshot.Subflows[1].ID, out.Added)
	}
	// The first subflow leaves; the second keeps its number.
	d.detect(split(1<<40+900, 5<<40+300, [3]uint64{2, 200, 0}), conntrace.RoleClient, &out)
	if out.Snapshot.Subflows[0].ID != 2 || len(out.Removed) != 1 || out.Removed[0].ID != 1 || out.Sent != 200 {
		t.Fatalf("third: id %d removed %+v sent %d", out.Snapshot.Subflows[0].ID, out.Removed, out.Sent)
	}
}

func TestDetectAllocs(t *testing.T) {
	var d detector
	var out conntrace.Sample
	a := snap(100, 50, [3]uint64{1, 100, 50}, [3]uint64{2, 10, 5})
	b := snap(200, 60, [3]uint64{1, 150, 55}, [3]uint64{2, 60, 10})
	d.detect(a, conntrace.RoleClient, &out)
	d.detect(b, conntrace.RoleClient, &out)
	if n := testing.AllocsPerRun(100, func() {
		d.detect(a, conntrace.RoleClient, &out)
		d.detect(b, conntrace.RoleClient, &out)
	}); n != 0 {
		t.Fatalf("%v allocations per detection", n)
	}
}

// After shutdown the kernel may list a placeholder with id 0: it is neither
// a new subflow nor a reason to zero the real ones' counters.
func TestDetectIgnoresIDZeroPlaceholder(t *testing.T) {
	var d detector
	var out conntrace.Sample
	d.detect(snap(100, 50, [3]uint64{1, 100, 50}), conntrace.RoleServer, &out)
	d.detect(snap(100, 50, [3]uint64{1, 100, 50}, [3]uint64{0, 0, 0}), conntrace.RoleServer, &out)
	if len(out.Added) != 0 || len(out.Removed) != 0 || len(out.Snapshot.Subflows) != 1 || len(out.SubflowDeltas) != 1 {
		t.Fatalf("placeholder beside subflow 1: added %v removed %v", out.Added, out.Removed)
	}
	d.detect(snap(100, 50, [3]uint64{0, 0, 0}), conntrace.RoleServer, &out)
	if len(out.Added) != 0 || len(out.Removed) != 1 || out.Removed[0].ID != 1 || out.Removed[0].BytesSent != 100 || out.Sent != 0 {
		t.Fatalf("placeholder alone: added %v removed %+v sent %d", out.Added, out.Removed, out.Sent)
	}
}
