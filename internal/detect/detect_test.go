package detect

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"

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
		x.TCPInfo.BytesSent, x.TCPInfo.BytesReceived = sf[1], sf[2]
		x.TCPInfo.RTT = uint32(1000 * sf[0])
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
	var d Detector
	var out conntrace.Sample
	d.Detect(snap(100, 50, [3]uint64{1, 100, 50}), conntrace.RoleClient, &out, Stream{}, nil)
	if !out.First || len(out.Added) != 1 || out.Sent != 100 || out.Received != 50 || out.SubflowDeltas[0] != (conntrace.SubflowDelta{Sent: 100, Received: 50}) {
		t.Fatalf("first: %+v", out)
	}
	// Subflow 2 joins.
	d.Detect(snap(300, 80, [3]uint64{1, 200, 60}, [3]uint64{2, 100, 20}), conntrace.RoleClient, &out, Stream{}, nil)
	if out.First || len(out.Added) != 1 || ids(&out, out.Added)[0] != 2 || len(out.Removed) != 0 || out.SubflowsMax != 2 {
		t.Fatalf("join: added %v removed %v", ids(&out, out.Added), out.Removed)
	}
	if out.Sent != 200 || out.Received != 30 || out.SubflowDeltas[0].Sent != 100 || out.SubflowDeltas[1].Sent != 100 {
		t.Fatalf("join deltas: %d/%d %+v", out.Sent, out.Received, out.SubflowDeltas)
	}
	// Subflow 1 goes away; the connection counters keep its bytes.
	d.Detect(snap(500, 80, [3]uint64{2, 250, 20}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 1 || out.Removed[0].ID != 1 || out.Removed[0].BytesSent != 200 || out.Removed[0].RTT.Microseconds() != 1000 || out.Removed[0].Local != netip.MustParseAddrPort("10.0.1.1:40000") {
		t.Fatalf("removal: %+v", out.Removed)
	}
	if out.Sent != 200 || out.SubflowDeltas[0].Sent != 150 {
		t.Fatalf("removal deltas: %d %+v", out.Sent, out.SubflowDeltas)
	}
	// A new subflow with a new id (ids are never reused).
	d.Detect(snap(600, 90, [3]uint64{2, 300, 20}, [3]uint64{3, 50, 10}), conntrace.RoleClient, &out, Stream{}, nil)
	if got := ids(&out, out.Added); len(got) != 1 || got[0] != 3 || out.SubflowDeltas[1].Sent != 50 || out.SubflowsMax != 2 {
		t.Fatalf("new id: added %v deltas %+v", got, out.SubflowDeltas)
	}
	// Nothing changed: no events, zero deltas.
	d.Detect(snap(600, 90, [3]uint64{2, 300, 20}, [3]uint64{3, 50, 10}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Added)+len(out.Removed) != 0 || out.Sent != 0 || out.Received != 0 || out.FallbackChanged {
		t.Fatalf("steady: %+v", out)
	}
}

func TestDetectCounterReset(t *testing.T) {
	var d Detector
	var out conntrace.Sample
	d.Detect(snap(1000, 0, [3]uint64{1, 1000, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(snap(10, 0, [3]uint64{1, 10, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 10 || out.SubflowDeltas[0].Sent != 10 {
		t.Fatalf("reset gave %d / %+v, want 10", out.Sent, out.SubflowDeltas)
	}
}

func TestDetectFallback(t *testing.T) {
	// Fallback at the handshake.
	var d Detector
	var out conntrace.Sample
	fb := &mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, Fallback: true, Protocol: mptcpinfo.IPPROTO_MPTCP}
	d.Detect(fb, conntrace.RoleClient, &out, Stream{}, nil)
	if out.Fallback != conntrace.FallbackNotNegotiated || !out.FallbackChanged || out.Sent != 0 {
		t.Fatalf("handshake fallback: %+v", out)
	}
	d.Detect(fb, conntrace.RoleClient, &out, Stream{}, nil)
	if out.FallbackChanged || out.Fallback != conntrace.FallbackNotNegotiated {
		t.Fatalf("fallback reported twice: %+v", out)
	}
	// Later in the connection: the subflow is removed from MPTCP's view.
	d = Detector{}
	d.Detect(snap(10, 10, [3]uint64{1, 10, 10}), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(fb, conntrace.RoleClient, &out, Stream{}, nil)
	if out.Fallback != conntrace.FallbackMidConnection || !out.FallbackChanged {
		t.Fatalf("mid-connection fallback: %+v", out)
	}
	// Accepted from a plain TCP client; dialed without local MPTCP.
	defer func(f func() bool) { MPTCPSocketOpens = f }(MPTCPSocketOpens)
	MPTCPSocketOpens = func() bool { return false }
	plain := &mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, Protocol: 6}
	d = Detector{}
	d.Detect(plain, conntrace.RoleServer, &out, Stream{}, nil)
	if out.Fallback != conntrace.FallbackNotNegotiated {
		t.Fatalf("server side of a plain client: %v", out.Fallback)
	}
	d = Detector{}
	d.Detect(plain, conntrace.RoleClient, &out, Stream{}, nil)
	if out.Fallback != conntrace.FallbackUnavailable {
		t.Fatalf("client without MPTCP: %v", out.Fallback)
	}
	// A dialed plain socket on a host that opens MPTCP sockets: the MPTCP
	// dial failed and net dialed again in plain TCP.
	MPTCPSocketOpens = func() bool { return true }
	d = Detector{}
	d.Detect(plain, conntrace.RoleClient, &out, Stream{}, nil)
	if out.Fallback != conntrace.FallbackNotNegotiated {
		t.Fatalf("client whose MPTCP dial failed: %v", out.Fallback)
	}
	MPTCPSocketOpens = func() bool { return false }
	// A host that cannot open MPTCP sockets (no MPTCP in the kernel, as
	// Debian's 5.10, or net.mptcp.enabled=0): plain sockets on both sides,
	// the listener plain too. Both are fallbacks for want of MPTCP, on
	// every rung of the ladder.
	for _, m := range []mptcpinfo.Method{mptcpinfo.MethodProtocol, mptcpinfo.MethodSplit, mptcpinfo.MethodFullInfo} {
		for _, role := range []conntrace.Role{conntrace.RoleClient, conntrace.RoleServer} {
			d = Detector{PlainListener: role == conntrace.RoleServer}
			d.Detect(&mptcpinfo.Snapshot{Method: m, Protocol: 6}, role, &out, Stream{}, nil)
			if out.Fallback != conntrace.FallbackUnavailable || !out.FallbackChanged {
				t.Fatalf("%v %v without MPTCP on the host: %v", m, role, out.Fallback)
			}
		}
	}
	// A socket nothing could be read of is no fallback.
	d = Detector{}
	d.Detect(&mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo}, conntrace.RoleClient, &out, Stream{}, nil)
	if out.Fallback != conntrace.FallbackNone {
		t.Fatalf("nothing read: %v", out.Fallback)
	}
	// An old kernel (SO_PROTOCOL only) never reports a fallback for an
	// MPTCP socket.
	d = Detector{}
	d.Detect(&mptcpinfo.Snapshot{Method: mptcpinfo.MethodProtocol, MPTCP: true, Protocol: mptcpinfo.IPPROTO_MPTCP}, conntrace.RoleClient, &out, Stream{}, nil)
	if out.Fallback != conntrace.FallbackNone {
		t.Fatalf("old kernel: %v", out.Fallback)
	}
}

// A 5.16 to 6.4 kernel: no ids, no byte counters: the Detector numbers
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
	var d Detector
	var out conntrace.Sample
	d.Detect(split(1<<40, 5<<40, [3]uint64{1, 0, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 0 || out.Received != 0 || out.Snapshot.Subflows[0].ID != 1 {
		t.Fatalf("first: sent %d id %d", out.Sent, out.Snapshot.Subflows[0].ID)
	}
	d.Detect(split(1<<40+700, 5<<40+300, [3]uint64{1, 700, 300}, [3]uint64{2, 0, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	// The last sequence number received is held back (it may be the DATA_FIN).
	if out.Sent != 700 || out.Received != 299 || out.Snapshot.Subflows[0].ID != 1 || out.Snapshot.Subflows[1].ID != 2 || len(out.Added) != 1 {
		t.Fatalf("second: %d/%d ids %d,%d added %v", out.Sent, out.Received, out.Snapshot.Subflows[0].ID, out.Snapshot.Subflows[1].ID, out.Added)
	}
	// The first subflow leaves; the second keeps its number.
	d.Detect(split(1<<40+900, 5<<40+300, [3]uint64{2, 200, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Snapshot.Subflows[0].ID != 2 || len(out.Removed) != 1 || out.Removed[0].ID != 1 || out.Sent != 200 {
		t.Fatalf("third: id %d removed %+v sent %d", out.Snapshot.Subflows[0].ID, out.Removed, out.Sent)
	}
}

func TestDetectAllocs(t *testing.T) {
	var d Detector
	var out conntrace.Sample
	a := snap(100, 50, [3]uint64{1, 100, 50}, [3]uint64{2, 10, 5})
	b := snap(200, 60, [3]uint64{1, 150, 55}, [3]uint64{2, 60, 10})
	d.Detect(a, conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(b, conntrace.RoleClient, &out, Stream{}, nil)
	if n := testenv.SteadyAllocs(100, func() {
		d.Detect(a, conntrace.RoleClient, &out, Stream{}, nil)
		d.Detect(b, conntrace.RoleClient, &out, Stream{}, nil)
	}); n != 0 {
		t.Fatalf("%v allocations per detection", n)
	}
}

// seqSnap is a 5.16 to 6.4 reading: sequence numbers, no byte counters.
func seqSnap(write, una, nxt uint64) *mptcpinfo.Snapshot {
	s := snap(0, 0, [3]uint64{1, 0, 0})
	s.Method, s.InfoLen, s.TCPInfoLen = mptcpinfo.MethodSplit, 48, 232
	s.Subflows[0].ID = 0
	s.Info.WriteSeq, s.Info.SndUna, s.Info.RcvNxt = write, una, nxt
	return s
}

// Sequence numbers wrap around 2^64: the deltas across the wrap are exact.
func TestDetectSequenceWrap(t *testing.T) {
	var d Detector
	var out conntrace.Sample
	base := uint64(1<<64 - 100)
	d.Detect(seqSnap(base, base, base), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(seqSnap(base+1000, base+1000, base+1001), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 1000 || out.Received != 1000 {
		t.Fatalf("across the wrap: sent %d received %d, want 1000 and 1000", out.Sent, out.Received)
	}
}

// A sequence number that steps back gives no negative or huge delta, and
// nothing is counted twice when it comes forward again.
func TestDetectSequenceStepsBack(t *testing.T) {
	var d Detector
	var out conntrace.Sample
	d.Detect(seqSnap(5000, 5000, 9000), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(seqSnap(6000, 6000, 9501), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 1000 || out.Received != 500 {
		t.Fatalf("forward: %d/%d", out.Sent, out.Received)
	}
	d.Detect(seqSnap(5500, 5500, 9001), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 0 || out.Received != 0 {
		t.Fatalf("stepped back: sent %d received %d, want 0", out.Sent, out.Received)
	}
	d.Detect(seqSnap(4000, 4000, 8000), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 0 || out.Received != 0 {
		t.Fatalf("before the baseline: sent %d received %d, want 0", out.Sent, out.Received)
	}
	d.Detect(seqSnap(6200, 6200, 9701), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 200 || out.Received != 200 {
		t.Fatalf("forward again: sent %d received %d, want 200 and 200", out.Sent, out.Received)
	}
	// Byte counters (6.5+) that go backwards were reset: what they count
	// now is new, and never negative.
	var b Detector
	b.Detect(snap(1000, 1000, [3]uint64{1, 1000, 1000}), conntrace.RoleClient, &out, Stream{}, nil)
	b.Detect(snap(10, 20, [3]uint64{1, 10, 20}), conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 10 || out.Received != 20 || out.SubflowDeltas[0] != (conntrace.SubflowDelta{Sent: 10, Received: 20}) {
		t.Fatalf("reset: %d/%d %+v", out.Sent, out.Received, out.SubflowDeltas)
	}
}

// The DATA_FIN takes one sequence number in each direction; it is not a
// byte of data where the program's calls say where it is.
func TestDetectDataFIN(t *testing.T) {
	const wrote, got = 8388609, 4096
	for _, tc := range []struct {
		name             string
		stream           Stream
		finAcked         bool
		wantSent, wantRx uint64
	}{
		{"both ends shut down", Stream{FinSent: true, EOFRead: true, Final: true}, true, wrote, got},
		{"end read, not shut down", Stream{EOFRead: true, Final: true}, false, wrote, got},
		// Closed without reading to the end: the kernel cannot tell the
		// peer's DATA_FIN from a byte, and the last sequence number is
		// left out: never a byte more than the peer wrote.
		{"end not read", Stream{Final: true}, false, wrote, got},
		// The socket showed nothing left to read and no end of stream:
		// the last sequence number is a byte (the peer's DATA_FIN had not
		// come; here rcv_nxt counts got+1 bytes, none a DATA_FIN).
		{"no DATA_FIN arrived", Stream{Final: true, NoPeerFIN: true}, false, wrote, got + 1},
	} {
		var d Detector
		var out conntrace.Sample
		d.Detect(seqSnap(100, 100, 7000), conntrace.RoleClient, &out, Stream{}, nil)
		var sent, recv uint64
		// Mid-connection: the peer's DATA_FIN has arrived, the program has
		// not read it yet.
		d.Detect(seqSnap(100+wrote, 100+wrote, 7000+got+1), conntrace.RoleClient, &out, Stream{}, nil)
		sent, recv = sent+out.Sent, recv+out.Received
		write := uint64(100 + wrote)
		if tc.stream.FinSent {
			write++
		}
		una := write
		d.Detect(seqSnap(write, una, 7000+got+1), conntrace.RoleClient, &out, tc.stream, nil)
		sent, recv = sent+out.Sent, recv+out.Received
		if sent != tc.wantSent || recv != tc.wantRx || out.Unsent != 0 {
			t.Errorf("%s: sent %d received %d unsent %d, want %d and %d", tc.name, sent, recv, out.Unsent, tc.wantSent, tc.wantRx)
		}
	}
}

// At the final reading, bytes the program wrote that the kernel had not sent
// yet are counted, once, and reported as Unsent.
func TestDetectUnsentAtClose(t *testing.T) {
	const wrote = 4_000_000
	// 6.5+: bytes_sent says 81,869 went out, 50,000 were acknowledged.
	var d Detector
	var out conntrace.Sample
	first := snap(0, 0, [3]uint64{1, 0, 0})
	first.Info.WriteSeq, first.Info.SndUna = 1000, 1000
	d.Detect(first, conntrace.RoleClient, &out, Stream{}, nil)
	last := snap(81_869, 0, [3]uint64{1, 81_869, 0})
	last.Info.WriteSeq, last.Info.SndUna, last.Info.BytesAcked = 1000+wrote, 1000+50_000, 50_000
	d.Detect(last, conntrace.RoleClient, &out, Stream{Final: true}, nil)
	if out.Sent != wrote || out.Unsent != wrote-81_869 {
		t.Errorf("6.5+: sent %d unsent %d, want %d and %d", out.Sent, out.Unsent, wrote, wrote-81_869)
	}
	// Not Final: only what the kernel sent.
	d = Detector{}
	d.Detect(first, conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(last, conntrace.RoleClient, &out, Stream{}, nil)
	if out.Sent != 81_869 || out.Unsent != 0 {
		t.Errorf("6.5+, mid-connection: sent %d unsent %d", out.Sent, out.Unsent)
	}
	// 5.16 to 6.4: snd_una says what the peer acknowledged; the DATA_FIN
	// the program queued with CloseWrite is not a byte.
	d = Detector{}
	d.Detect(seqSnap(1000, 1000, 0), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(seqSnap(1000+wrote+1, 1000+50_000, 0), conntrace.RoleClient, &out, Stream{FinSent: true, Final: true}, nil)
	if out.Sent != wrote || out.Unsent != wrote-50_000 {
		t.Errorf("5.16-6.4: sent %d unsent %d, want %d and %d", out.Sent, out.Unsent, wrote, wrote-50_000)
	}
}

// After an abortive close the kernel discards the queued bytes: they are
// reported as unsent and discarded, never as sent, and a subflow gone in
// the same sample is not credited with them.
func TestDetectAbortiveClose(t *testing.T) {
	const wrote = 4_000_000
	var d Detector
	var out conntrace.Sample
	first := snap(0, 0, [3]uint64{1, 0, 0}, [3]uint64{2, 0, 0})
	first.Info.WriteSeq, first.Info.SndUna = 1000, 1000
	d.Detect(first, conntrace.RoleClient, &out, Stream{}, nil)
	last := snap(81_869, 0, [3]uint64{1, 81_869, 0})
	last.Info.WriteSeq, last.Info.SndUna, last.Info.BytesAcked = 1000+wrote, 1000+50_000, 50_000
	d.Detect(last, conntrace.RoleClient, &out, Stream{Final: true, Abortive: true}, nil)
	if out.Sent != 81_869 || out.Unsent != wrote-81_869 || !out.UnsentDiscarded {
		t.Errorf("6.5+: sent %d unsent %d discarded %v, want %d, %d and true", out.Sent, out.Unsent, out.UnsentDiscarded, 81_869, wrote-81_869)
	}
	if len(out.Removed) != 1 || out.Removed[0].Unsampled.Sent != 0 {
		t.Errorf("removed subflow credited with %+v, want nothing: what the connection sent went on the subflow that remains", out.Removed)
	}
	// 5.16 to 6.4.
	d = Detector{}
	d.Detect(seqSnap(1000, 1000, 0), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(seqSnap(1000+wrote, 1000+50_000, 0), conntrace.RoleClient, &out, Stream{Final: true, Abortive: true}, nil)
	if out.Sent != 50_000 || out.Unsent != wrote-50_000 || !out.UnsentDiscarded {
		t.Errorf("5.16-6.4: sent %d unsent %d discarded %v, want %d, %d and true", out.Sent, out.Unsent, out.UnsentDiscarded, 50_000, wrote-50_000)
	}
	// Nothing queued: nothing discarded.
	d = Detector{}
	d.Detect(seqSnap(1000, 1000, 0), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(seqSnap(1000+wrote, 1000+wrote, 0), conntrace.RoleClient, &out, Stream{Final: true, Abortive: true}, nil)
	if out.Sent != wrote || out.Unsent != 0 || out.UnsentDiscarded {
		t.Errorf("all sent: sent %d unsent %d discarded %v", out.Sent, out.Unsent, out.UnsentDiscarded)
	}
}

// A join in progress is not a path: added once established; one that
// disappears before is a failed join; one still pending at the end too.
func TestDetectJoins(t *testing.T) {
	synSent := func(s *mptcpinfo.Snapshot, i int, retrans uint32) *mptcpinfo.Snapshot {
		s.Subflows[i].TCPInfo.State = tcpSynSent
		s.Subflows[i].TCPInfo.RTT = 0
		s.Subflows[i].TCPInfo.TotalRetrans = retrans
		return s
	}
	var d Detector
	var out conntrace.Sample
	d.Detect(synSent(snap(100, 0, [3]uint64{1, 100, 0}, [3]uint64{2, 0, 0}), 1, 0), conntrace.RoleClient, &out, Stream{}, nil)
	if got := ids(&out, out.Added); len(got) != 1 || got[0] != 1 || out.SubflowsMax != 1 || len(out.SubflowDeltas) != 2 {
		t.Fatalf("join pending: added %v, max %d", got, out.SubflowsMax)
	}
	d.Detect(snap(300, 0, [3]uint64{1, 200, 0}, [3]uint64{2, 100, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if got := ids(&out, out.Added); len(got) != 1 || got[0] != 2 || out.SubflowsMax != 2 || out.SubflowDeltas[1].Sent != 100 {
		t.Fatalf("join completed: added %v, max %d, deltas %+v", got, out.SubflowsMax, out.SubflowDeltas)
	}
	// A third that never completes.
	d.Detect(synSent(snap(300, 0, [3]uint64{1, 200, 0}, [3]uint64{2, 100, 0}, [3]uint64{3, 0, 0}), 2, 1), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(synSent(snap(300, 0, [3]uint64{1, 200, 0}, [3]uint64{2, 100, 0}, [3]uint64{3, 0, 0}), 2, 2), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Added) != 0 || len(out.FailedJoins) != 0 {
		t.Fatalf("pending: added %v failed %v", out.Added, out.FailedJoins)
	}
	d.Detect(snap(300, 0, [3]uint64{1, 200, 0}, [3]uint64{2, 100, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 0 || len(out.FailedJoins) != 1 || out.FailedJoins[0].ID != 3 || out.FailedJoins[0].SynRetransmits != 2 || out.FailedJoins[0].State != tcpSynSent {
		t.Fatalf("given up: removed %v failed %+v", out.Removed, out.FailedJoins)
	}
	// Pending when the connection ends.
	d.Detect(synSent(snap(300, 0, [3]uint64{1, 200, 0}, [3]uint64{2, 100, 0}, [3]uint64{4, 0, 0}), 2, 0), conntrace.RoleClient, &out, Stream{Final: true}, nil)
	if len(out.FailedJoins) != 1 || out.FailedJoins[0].ID != 4 {
		t.Fatalf("pending at the end: %+v", out.FailedJoins)
	}
}

// A join the kernel gave up is closed at once and taken off the list later
// (on the connection's worker): read in between, in CLOSE, it is still the
// failed join it was, reported once it is gone or the connection ends,
// never as a subflow added and removed.
func TestDetectJoinGivenUpStillListed(t *testing.T) {
	withJoin := func(state uint8, retrans uint32) *mptcpinfo.Snapshot {
		s := snap(300, 0, [3]uint64{1, 200, 0}, [3]uint64{3, 0, 0})
		s.Subflows[1].TCPInfo.State, s.Subflows[1].TCPInfo.RTT, s.Subflows[1].TCPInfo.TotalRetrans = state, 0, retrans
		return s
	}
	for _, final := range []bool{false, true} {
		d := Detector{AwaitEvents: true}
		var out conntrace.Sample
		d.Detect(withJoin(tcpSynSent, 2), conntrace.RoleClient, &out, Stream{}, nil)
		d.Observe(withJoin(tcpClose, 3))
		d.Detect(withJoin(tcpClose, 3), conntrace.RoleClient, &out, Stream{Final: final}, nil)
		if len(out.Added)+len(out.Removed) != 0 || out.SubflowsMax != 1 {
			t.Fatalf("final %v: closed and still listed: added %v, removed %+v, max %d", final, out.Added, out.Removed, out.SubflowsMax)
		}
		if !final {
			if len(out.FailedJoins) != 0 {
				t.Fatalf("still listed: failed %+v", out.FailedJoins)
			}
			for range heldSamples + 1 {
				d.Detect(snap(300, 0, [3]uint64{1, 200, 0}), conntrace.RoleClient, &out, Stream{}, nil)
				if len(out.Added)+len(out.Removed) != 0 || len(out.FailedJoins) != 0 {
					break
				}
			}
		}
		if len(out.Added)+len(out.Removed) != 0 || len(out.FailedJoins) != 1 || out.FailedJoins[0].ID != 3 || out.FailedJoins[0].State != tcpSynSent {
			t.Fatalf("final %v: gone: added %v, removed %+v, failed %+v", final, out.Added, out.Removed, out.FailedJoins)
		}
	}
}

// A join refused at once (a reset answered its SYN) may be read first
// closed, never joining: with no round-trip time and nothing carried, it
// is a failed join in SYN_SENT; a subflow that was established (its
// handshake's round-trip time) and closed between two samples is still
// added and removed.
func TestDetectJoinRefusedBeforeAnyReading(t *testing.T) {
	closed := func(rtt uint32) *mptcpinfo.Snapshot {
		s := snap(300, 0, [3]uint64{1, 200, 0}, [3]uint64{3, 0, 0})
		s.Subflows[1].TCPInfo.State, s.Subflows[1].TCPInfo.RTT = tcpClose, rtt
		return s
	}
	d := Detector{AwaitEvents: true}
	var out conntrace.Sample
	d.Detect(snap(100, 0, [3]uint64{1, 100, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(closed(0), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Added)+len(out.Removed)+len(out.FailedJoins) != 0 {
		t.Fatalf("refused, still listed: added %v, removed %+v, failed %+v", out.Added, out.Removed, out.FailedJoins)
	}
	d.Detect(snap(300, 0, [3]uint64{1, 200, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Added)+len(out.Removed) != 0 || len(out.FailedJoins) != 1 || out.FailedJoins[0].ID != 3 || out.FailedJoins[0].State != tcpSynSent {
		t.Fatalf("refused, gone: added %v, removed %+v, failed %+v", out.Added, out.Removed, out.FailedJoins)
	}

	d = Detector{}
	d.Detect(snap(100, 0, [3]uint64{1, 100, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(closed(3000), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(snap(300, 0, [3]uint64{1, 200, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.FailedJoins) != 0 || len(out.Removed) != 1 || out.Removed[0].ID != 3 {
		t.Fatalf("established and closed: removed %+v, failed %+v", out.Removed, out.FailedJoins)
	}
}

// The one subflow gone since the previous sample is credited what the
// connection-level counters prove it carried after its last reading; with
// two gone, nothing is (only their sum is known).
func TestDetectCreditsRemovedSubflow(t *testing.T) {
	var d Detector
	var out conntrace.Sample
	d.Detect(snap(1000, 100, [3]uint64{1, 500, 50}, [3]uint64{2, 500, 50}), conntrace.RoleClient, &out, Stream{}, nil)
	// Subflow 1 carried 3000 more and went; subflow 2 carried 1000.
	d.Detect(snap(5000, 400, [3]uint64{2, 1500, 150}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 1 || out.Removed[0].Unsampled != (conntrace.SubflowDelta{Sent: 3000, Received: 200}) {
		t.Fatalf("one gone: %+v", out.Removed)
	}
	d = Detector{}
	d.Detect(snap(1000, 0, [3]uint64{1, 500, 0}, [3]uint64{2, 500, 0}, [3]uint64{3, 0, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(snap(5000, 0, [3]uint64{3, 1000, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 2 || out.Removed[0].Unsampled != (conntrace.SubflowDelta{}) || out.Removed[1].Unsampled != (conntrace.SubflowDelta{}) {
		t.Fatalf("two gone: %+v", out.Removed)
	}
}

// A reading between samples (observe) keeps what each subflow carried: one
// gone by the next sample is reported with those counters, one that no
// sample saw is reported added and removed at once.
func TestDetectObserve(t *testing.T) {
	var d Detector
	var out conntrace.Sample
	d.Detect(snap(100, 0, [3]uint64{1, 100, 0}), conntrace.RoleServer, &out, Stream{}, nil)
	d.Observe(snap(5000, 0, [3]uint64{1, 3000, 0}, [3]uint64{2, 2000, 0}))
	d.Detect(snap(5000, 0), conntrace.RoleServer, &out, Stream{}, nil)
	if len(out.Removed) != 2 {
		t.Fatalf("removed %+v", out.Removed)
	}
	r1, r2 := out.Removed[0], out.Removed[1]
	if r1.ID != 1 || r1.New || r1.BytesSent != 100 || r1.Unsampled.Sent != 2900 {
		t.Errorf("subflow 1: %+v", r1)
	}
	if r2.ID != 2 || !r2.New || r2.BytesSent != 0 || r2.Unsampled.Sent != 2000 {
		t.Errorf("subflow 2, seen only between samples: %+v", r2)
	}
	// Still there at the next sample: an ordinary delta, reported added.
	d = Detector{}
	d.Detect(snap(100, 0, [3]uint64{1, 100, 0}), conntrace.RoleServer, &out, Stream{}, nil)
	d.Observe(snap(5000, 0, [3]uint64{1, 3000, 0}, [3]uint64{2, 2000, 0}))
	d.Detect(snap(6000, 0, [3]uint64{1, 3500, 0}, [3]uint64{2, 2500, 0}), conntrace.RoleServer, &out, Stream{}, nil)
	if got := ids(&out, out.Added); len(got) != 1 || got[0] != 2 || out.SubflowDeltas[0].Sent != 3400 || out.SubflowDeltas[1].Sent != 2500 || len(out.Removed) != 0 {
		t.Errorf("both still there: added %v deltas %+v removed %+v", got, out.SubflowDeltas, out.Removed)
	}
}

// With the path manager's events received, an established join is
// reported with its SubflowEstablished event (which says what only the
// path manager knows), waiting for it a few samples at most; the first
// subflow, which has no such event, never waits, and the join's bytes are
// all reported once it is.
func TestDetectJoinWaitsForItsEvent(t *testing.T) {
	d := Detector{AwaitEvents: true}
	var out conntrace.Sample
	d.Detect(snap(100, 0, [3]uint64{1, 100, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Added) != 1 {
		t.Fatalf("first subflow: added %v", ids(&out, out.Added))
	}
	two := func(sent uint64) *mptcpinfo.Snapshot {
		return snap(100+sent, 0, [3]uint64{1, 100, 0}, [3]uint64{2, sent, 0})
	}
	d.Detect(two(10), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Added) != 0 || out.SubflowDeltas[1] != (conntrace.SubflowDelta{}) || out.SubflowsMax != 1 || !d.Waiting() {
		t.Fatalf("join listed before its event: added %v, deltas %+v, max %d", ids(&out, out.Added), out.SubflowDeltas, out.SubflowsMax)
	}
	s := two(30)
	ev := conntrace.PathEvent{Kind: conntrace.SubflowEstablished, Local: s.Subflows[1].Local, Remote: s.Subflows[1].Remote, Interface: "eth1"}
	d.Detect(s, conntrace.RoleClient, &out, Stream{}, []conntrace.PathEvent{ev})
	if got := ids(&out, out.Added); len(got) != 1 || got[0] != 2 || out.SubflowDeltas[1].Sent != 30 || len(out.PathEvents) != 1 || out.PathEvents[0].SubflowID != 2 || out.SubflowsMax != 2 {
		t.Fatalf("with its event: added %v, deltas %+v, events %+v", got, out.SubflowDeltas, out.PathEvents)
	}
	// An event that never comes: the join is reported after heldSamples.
	s = snap(200, 0, [3]uint64{1, 100, 0}, [3]uint64{2, 30, 0}, [3]uint64{3, 70, 0})
	for range heldSamples {
		d.Detect(s, conntrace.RoleClient, &out, Stream{}, nil)
		if len(out.Added) != 0 {
			t.Fatalf("held join reported early: %v", ids(&out, out.Added))
		}
	}
	d.Detect(s, conntrace.RoleClient, &out, Stream{}, nil)
	if got := ids(&out, out.Added); len(got) != 1 || got[0] != 3 || out.SubflowDeltas[2].Sent != 70 {
		t.Fatalf("event lost: added %v, deltas %+v", got, out.SubflowDeltas)
	}
	// Gone while held: reported added and removed, with its bytes.
	d.Detect(snap(300, 0, [3]uint64{1, 100, 0}, [3]uint64{2, 30, 0}, [3]uint64{3, 70, 0}, [3]uint64{4, 60, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(snap(300, 0, [3]uint64{1, 100, 0}, [3]uint64{2, 30, 0}, [3]uint64{3, 70, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 1 || out.Removed[0].ID != 4 || !out.Removed[0].New || out.Removed[0].Unsampled.Sent != 60 {
		t.Fatalf("gone while held: %+v", out.Removed)
	}
	// Without events nothing waits.
	d = Detector{}
	d.Detect(snap(100, 0, [3]uint64{1, 100, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(two(10), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Added) != 1 {
		t.Fatalf("polling only: added %v", ids(&out, out.Added))
	}
}

// With the path manager's events received, a subflow a reading no longer
// lists waits for its SubflowClosed event (a few samples at most), so that
// its removal carries the error that closed it: the kernel sends the event
// before it takes the subflow off the list, but the watcher hands it over
// on its own goroutine, and a sample taken in between found the subflow gone
// without its cause (a kill with `ss -K` reported with no error, seen once
// in the 6.12 VM). The bytes the connection proves the subflow carried after
// its last reading are credited from the sample that found it gone. Once
// the connection is shutting down, or at its last reading, nothing waits:
// the kernel sends no such event then.
func TestDetectRemovalWaitsForItsEvent(t *testing.T) {
	var d Detector
	var out conntrace.Sample
	d.Detect(snap(1000, 0, [3]uint64{1, 500, 0}, [3]uint64{2, 500, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.AwaitEvents = true
	// Subflow 2 carried 200 more and went; subflow 1 carried 100.
	one := snap(1300, 0, [3]uint64{1, 600, 0})
	d.Detect(one, conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 0 || !d.Waiting() {
		t.Fatalf("removal reported before its event: %+v (waiting %v)", out.Removed, d.Waiting())
	}
	closed := conntrace.PathEvent{Kind: conntrace.SubflowClosed, Local: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 2, 1}), 40000),
		Remote: netip.MustParseAddrPort("10.9.9.9:443"), Error: syscall.ECONNABORTED}
	d.Detect(snap(1400, 0, [3]uint64{1, 700, 0}), conntrace.RoleClient, &out, Stream{}, []conntrace.PathEvent{closed})
	if len(out.Removed) != 1 || out.Removed[0].ID != 2 || out.Removed[0].Error != syscall.ECONNABORTED || out.Removed[0].BytesSent != 500 ||
		out.Removed[0].Unsampled != (conntrace.SubflowDelta{Sent: 200}) || len(out.PathEvents) != 1 || out.PathEvents[0].SubflowID != 2 || d.Waiting() {
		t.Fatalf("with its event: removed %+v, events %+v, waiting %v", out.Removed, out.PathEvents, d.Waiting())
	}
	// An event that never comes: the removal is reported after
	// heldSamples, without a cause.
	join := conntrace.PathEvent{Kind: conntrace.SubflowEstablished, Local: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 3, 1}), 40000),
		Remote: netip.MustParseAddrPort("10.9.9.9:443")}
	d.Detect(snap(1500, 0, [3]uint64{1, 700, 0}, [3]uint64{3, 100, 0}), conntrace.RoleClient, &out, Stream{}, []conntrace.PathEvent{join})
	if got := ids(&out, out.Added); len(got) != 1 || got[0] != 3 {
		t.Fatalf("join with its event: added %v", got)
	}
	for range heldSamples {
		d.Detect(snap(1500, 0, [3]uint64{1, 700, 0}), conntrace.RoleClient, &out, Stream{}, nil)
		if len(out.Removed) != 0 {
			t.Fatalf("held removal reported early: %+v", out.Removed)
		}
	}
	d.Detect(snap(1500, 0, [3]uint64{1, 700, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 1 || out.Removed[0].ID != 3 || out.Removed[0].Error != 0 || d.Waiting() {
		t.Fatalf("event lost: removed %+v, waiting %v", out.Removed, d.Waiting())
	}
	// Shutting down, or the last reading: reported at once.
	for _, stream := range []Stream{{FinSent: true}, {EOFRead: true}, {Final: true}} {
		var d Detector
		d.Detect(snap(1000, 0, [3]uint64{1, 500, 0}, [3]uint64{2, 500, 0}), conntrace.RoleClient, &out, Stream{}, nil)
		d.AwaitEvents = true
		d.Detect(snap(1000, 0, [3]uint64{1, 500, 0}), conntrace.RoleClient, &out, stream, nil)
		if len(out.Removed) != 1 || out.Removed[0].ID != 2 {
			t.Errorf("%+v: removed %+v", stream, out.Removed)
		}
	}
}

// A removal held back for its event is neither taken over by a new subflow
// with the same ends (kernels that number no subflows match them by their
// ends) nor lost when no reading lists subflows again: the connection ends
// without a last reading (Unread), or falls back to TCP.
func TestDetectHeldRemovalKeepsItsOwn(t *testing.T) {
	split := func(subflows ...[3]uint64) *mptcpinfo.Snapshot {
		s := snap(0, 0, subflows...)
		s.Method, s.InfoLen, s.TCPInfoLen = mptcpinfo.MethodSplit, 48, 240
		for i := range s.Subflows {
			s.Subflows[i].ID = 0
		}
		return s
	}
	var d Detector
	var out conntrace.Sample
	d.Detect(split([3]uint64{1, 0, 0}, [3]uint64{2, 0, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.AwaitEvents = true
	d.Detect(split([3]uint64{1, 10, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 0 {
		t.Fatalf("removal not held: %+v", out.Removed)
	}
	// A new subflow on the same ends, with its event, and the old one's.
	again := split([3]uint64{1, 10, 0}, [3]uint64{2, 5, 0})
	ends := again.Subflows[1]
	established := conntrace.PathEvent{Kind: conntrace.SubflowEstablished, Local: ends.Local, Remote: ends.Remote}
	closed := conntrace.PathEvent{Kind: conntrace.SubflowClosed, Local: ends.Local, Remote: ends.Remote, Error: syscall.ECONNRESET}
	d.Detect(again, conntrace.RoleClient, &out, Stream{}, []conntrace.PathEvent{closed, established})
	if len(out.Removed) != 1 || out.Removed[0].ID != 2 || out.Removed[0].Error != syscall.ECONNRESET ||
		len(out.Added) != 1 || out.Snapshot.Subflows[1].ID != 3 || out.SubflowDeltas[1].Sent != 5 || d.Waiting() {
		t.Fatalf("same ends again: removed %+v, added %v (ids %d, %d), deltas %+v", out.Removed, out.Added,
			out.Snapshot.Subflows[0].ID, out.Snapshot.Subflows[1].ID, out.SubflowDeltas)
	}
	if len(out.PathEvents) != 2 || out.PathEvents[0].SubflowID != 2 || out.PathEvents[1].SubflowID != 3 {
		t.Fatalf("events matched to %+v", out.PathEvents)
	}

	for _, end := range []string{"unread", "fallback"} {
		var d Detector
		d.Detect(snap(1000, 0, [3]uint64{1, 500, 0}, [3]uint64{2, 500, 0}), conntrace.RoleClient, &out, Stream{}, nil)
		d.AwaitEvents = true
		d.Detect(snap(1000, 0, [3]uint64{1, 500, 0}), conntrace.RoleClient, &out, Stream{}, nil)
		if len(out.Removed) != 0 || !d.Waiting() {
			t.Fatalf("%s: removal not held: %+v", end, out.Removed)
		}
		if end == "unread" {
			d.Unread(&mptcpinfo.Snapshot{}, conntrace.RoleClient, &out, nil)
		} else {
			d.Detect(&mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, Fallback: true, Protocol: mptcpinfo.IPPROTO_MPTCP}, conntrace.RoleClient, &out, Stream{}, nil)
		}
		if len(out.Removed) != 1 || out.Removed[0].ID != 2 || out.Removed[0].BytesSent != 500 || d.Waiting() {
			t.Errorf("%s: removed %+v, waiting %v", end, out.Removed, d.Waiting())
		}
	}
}
