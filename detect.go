package mptcpx

import (
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// detector keeps, per connection, just enough of the previous sample to say
// what changed: the last counters of every subflow by id, the peak subflow
// count, the fallback state and the connection-level byte totals counted so
// far.
type detector struct {
	subflows []subflowState
	// SubflowEstablished events whose subflow no reading listed yet (the
	// kernel may announce a join before getsockopt lists it), with the
	// number of samples since; see matchEvents. Made with the first event.
	unmatched *[]pendingEvent

	// Connection-level byte totals counted so far, and where they come
	// from. With countSequence they count from the first reading, whose
	// sequence numbers are kept as baselines.
	sndBase, rcvBase            uint64
	connSent, connRecv, connRtx uint64

	peak    int
	nextID  uint32 // last id handed out when the kernel reports none
	samples uint32

	fallback    conntrace.FallbackReason
	fallbackNew bool // set by the sample that first saw the fallback
	sawMPTCP    bool
	// plainListener: the connection was accepted by a listener that is
	// itself plain TCP (it could not be opened as MPTCP), so a plain
	// connection is not the client's doing.
	plainListener bool
	connKind      counterKind
	// awaitEvents: the path manager's events about the connection are
	// received, so a join's SubflowEstablished event is worth waiting
	// for (see detectSubflows).
	awaitEvents bool
}

// subflowState is what the detector remembers of one subflow.
type subflowState struct {
	local, remote endpoint
	sent, recv    uint64
	// Counters read after the last sample by observe, not yet delivered:
	// what the subflow carried by then, should it be gone at the next one.
	seenSent, seenRecv uint64
	id                 uint32
	rttMicros          uint32
	synRetrans         uint32 // while joining
	state              uint8  // while joining
	seen               bool   // marked while matching a new sample
	joining            bool   // not established yet (see detectSubflows)
	reported           bool   // reported added (Sample.Added)
	// What the path manager said when the subflow closed (SubflowClosed),
	// reported when it is removed: the socket error (an 8-bit errno, as the
	// event carries it) and the peer's MP_TCPRST reason and flags.
	closeErr                uint8
	reset                   bool
	resetReason, resetFlags uint8
	// held counts the samples that found the subflow established and held
	// back its report, waiting for the path manager's event about it.
	held uint8
}

// counterKind says which kernel values the connection-level deltas come from.
type counterKind uint8

const (
	countNone     counterKind = iota
	countBytes                // mptcp_info bytes_sent/received/retrans (6.5+)
	countSequence             // mptcp_info snd_una/rcv_nxt (5.16+)
	countSubflows             // the sum of the subflows' tcp_info deltas
)

// streamState is what the program did to the byte stream, which the kernel
// does not report before 6.5 but the MPTCP sequence numbers depend on: the
// DATA_FIN that ends each direction takes one sequence number, like a byte.
type streamState struct {
	finSent bool // the program shut down its writing side (CloseWrite)
	eofRead bool // the program read the end of the peer's stream
	final   bool // the connection's last reading
}

// delta returns cur-prev for a counter that starts at zero with what it
// counts. A counter that went backwards was reset: everything it counts now
// is new.
func delta(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// seqDiff returns to-from for two MPTCP sequence numbers, which are 64-bit
// and wrap around: modulo 2^64. ok is false when to lies before from (the
// difference would be negative), which a live connection's sequence
// numbers never do.
func seqDiff(from, to uint64) (d uint64, ok bool) {
	d = to - from
	return d, d < 1<<63
}

// grow returns how far total moved past counted, or 0 when it did not.
func grow(counted, total uint64) uint64 {
	if total > counted {
		return total - counted
	}
	return 0
}

// detect compares snapshot s with the previous one and fills out with what
// changed. It reuses out's slices and allocates nothing once the detector
// has seen the connection's largest subflow count. It may number the
// snapshot's subflows (Subflow.ID) when the kernel reports no ids.
func (d *detector) detect(s *mptcpinfo.Snapshot, role conntrace.Role, out *conntrace.Sample, stream streamState, events []conntrace.PathEvent) {
	d.quietSample(s, role, out, events)
	d.samples++

	d.detectFallback(s, role)
	out.Fallback = d.fallback
	out.FallbackChanged = d.fallback != conntrace.FallbackNone && d.fallbackNew
	d.fallbackNew = false

	var subSent, subRecv uint64
	if s.Has(mptcpinfo.FieldSubflowList) && !s.Fallback {
		subSent, subRecv = d.detectSubflows(s, out, stream.final, events)
	}
	out.SubflowsMax = d.peak

	kind := countNone
	switch {
	case s.Has(mptcpinfo.FieldBytes) && !s.Fallback:
		kind = countBytes
	case s.InfoLen > 0 && !s.Fallback:
		kind = countSequence
	case s.Has(mptcpinfo.FieldSubflowList) && !s.Fallback:
		kind = countSubflows
	}
	if kind != d.connKind {
		// The first reading, or the kernel answers differently now (a
		// fallback): start over from this reading. Byte counters start at
		// zero with the connection, so their first reading is all of it;
		// sequence numbers start at a random point and give a baseline.
		d.connKind, d.connSent, d.connRecv, d.connRtx = kind, 0, 0, 0
		d.sndBase, d.rcvBase = s.Info.SndUna, s.Info.RcvNxt
	}
	switch kind {
	case countSubflows:
		out.Sent, out.Received = subSent, subRecv
	case countBytes:
		out.Sent, out.Received, out.Retransmitted = delta(d.connSent, s.Info.BytesSent), delta(d.connRecv, s.Info.BytesReceived), delta(d.connRtx, s.Info.BytesRetrans)
		d.connSent, d.connRecv, d.connRtx = s.Info.BytesSent, s.Info.BytesReceived, s.Info.BytesRetrans
		if stream.final {
			out.Unsent = unsentBytes(&s.Info, s.Info.SndUna-s.Info.BytesAcked, s.Info.BytesSent, stream)
			out.Sent += out.Unsent
		}
	case countSequence:
		sent, recv := d.sequenceTotals(&s.Info, stream)
		if stream.final {
			out.Unsent = unsentBytes(&s.Info, d.sndBase, sent, stream)
			sent += out.Unsent
		}
		out.Sent, out.Received = grow(d.connSent, sent), grow(d.connRecv, recv)
		d.connSent, d.connRecv = max(d.connSent, sent), max(d.connRecv, recv)
	}
	if kind == countBytes || kind == countSequence {
		creditRemoved(out)
	}
}

// sequenceTotals returns the bytes acknowledged by the peer and received
// from it since the first reading, from the MPTCP sequence numbers (Linux
// 5.16 to 6.4, whose mptcp_info has no byte counters).
//
// The DATA_FIN that closes a direction takes one sequence number. Sent: once
// the program shut down its writing side, the last sequence number written
// (write_seq-1) is the DATA_FIN, and is left out. Received: the kernel does
// not say whether the peer's DATA_FIN arrived, so the last sequence number
// received is held back until the final reading, and counted then only when
// the program did not read the end of the stream. A DATA_FIN is counted as
// a byte only when the program shut the connection down through NetConn or
// closed it without reading to the end.
func (d *detector) sequenceTotals(info *mptcpinfo.Info, stream streamState) (sent, recv uint64) {
	acked := info.SndUna
	if stream.finSent {
		if past, ok := seqDiff(info.WriteSeq-1, acked); ok && past > 0 {
			acked = info.WriteSeq - 1
		}
	}
	if n, ok := seqDiff(d.sndBase, acked); ok {
		sent = n
	}
	if n, ok := seqDiff(d.rcvBase, info.RcvNxt); ok {
		recv = n
		if recv > 0 && (!stream.final || stream.eofRead) {
			recv--
		}
	}
	return sent, recv
}

// unsentBytes returns, at a connection's final reading, the bytes the
// program wrote that the kernel had not yet counted as sent: those still
// queued when the program closed the connection, which the kernel goes on
// sending after Close. written counts from base, the sequence number of the
// connection's first byte (snd_una - bytes_acked with 6.5's counters, the
// first reading's snd_una before), to write_seq, less the DATA_FIN when the
// program shut down its writing side; counted is what was counted from base.
func unsentBytes(info *mptcpinfo.Info, base, counted uint64, stream streamState) uint64 {
	end := info.WriteSeq
	if stream.finSent {
		end--
	}
	written, ok := seqDiff(base, end)
	if !ok {
		return 0
	}
	return grow(counted, written)
}

// quietSample fills out as a sample of s in which nothing changed: no
// subflow added or removed, no bytes, the connection's known fallback state
// and peak, keeping out's slice storage.
func (d *detector) quietSample(s *mptcpinfo.Snapshot, role conntrace.Role, out *conntrace.Sample, events []conntrace.PathEvent) {
	out.Snapshot = s
	out.Role = role
	out.First = d.samples == 0
	out.Added = out.Added[:0]
	out.Removed = out.Removed[:0]
	out.FailedJoins = out.FailedJoins[:0]
	out.PathEvents = append(out.PathEvents[:0], events...)
	out.SubflowDeltas = out.SubflowDeltas[:0]
	out.Sent, out.Received, out.Retransmitted, out.Unsent = 0, 0, 0, 0
	out.Fallback, out.FallbackChanged = d.fallback, false
	out.SubflowsMax = d.peak
}

// detectFallback notes when the connection is plain TCP, and why, from the
// socket itself. Once set, the reason stays: a connection never goes back to
// MPTCP.
//
// A socket opened as MPTCP that answers like plain TCP fell back: at the
// handshake (the peer did not answer in MPTCP) or later. A socket that is
// plain TCP from the start was never MPTCP: a dialed one although mptcpx
// asked for MPTCP, because this host could not open an MPTCP socket then
// (no MPTCP in the kernel, or net.mptcp.enabled=0 in the socket's network
// namespace), or, when it can, because the MPTCP dial failed and net
// dialed again in plain TCP; an accepted one because the client did not ask
// for MPTCP, or, when the listener itself is plain TCP, because the host
// could not open an MPTCP listener.
func (d *detector) detectFallback(s *mptcpinfo.Snapshot, role conntrace.Role) {
	if s.MPTCP {
		d.sawMPTCP = true
	}
	if d.fallback != conntrace.FallbackNone || s.Method == mptcpinfo.MethodNone {
		return
	}
	r := conntrace.FallbackNone
	switch {
	case s.MPTCP || s.Protocol == 0:
		// MPTCP, or nothing known about the socket.
	case s.Fallback && d.sawMPTCP:
		r = conntrace.FallbackMidConnection
	case s.Fallback:
		r = conntrace.FallbackNotNegotiated
	case s.Protocol == mptcpinfo.IPPROTO_MPTCP:
		// Opened as MPTCP on a kernel that cannot say more (before 5.16,
		// every SOL_MPTCP option fails): not known to have fallen back.
	case role == conntrace.RoleServer && !d.plainListener:
		r = conntrace.FallbackNotNegotiated
	case role == conntrace.RoleClient && mptcpSocketOpens():
		// This host opens MPTCP sockets, yet the dialed one is plain: the
		// MPTCP attempt failed (refused, or timed out on a path that
		// drops MPTCP SYNs) and the net package dialed again in plain TCP,
		// as it does after any error of an MPTCP dial.
		r = conntrace.FallbackNotNegotiated
	default:
		r = conntrace.FallbackUnavailable
	}
	if r != conntrace.FallbackNone {
		d.fallback, d.fallbackNew = r, true
	}
}

// TCP states (tcp_info.state) of a subflow that is not established yet: an
// MP_JOIN in progress.
const (
	tcpSynSent = 2
	tcpSynRecv = 3
)

// joining reports whether sf is a join the kernel has not completed.
func joining(sf *mptcpinfo.Subflow) bool {
	st := sf.State()
	return st == tcpSynSent || st == tcpSynRecv
}

// detectSubflows matches the snapshot's subflows with the previous ones by
// id, reports those added and removed, and returns the bytes all of them
// carried since the previous sample.
//
// A subflow is added once it is established. A join the kernel has not
// completed (SYN_SENT: the peer has not answered; SYN_RECV) is not a path
// yet: it is followed, but reported only if it never completes, as a failed
// join, when it disappears or when the connection ends. An established
// join may also wait a few samples for its path event (see holdJoin).
func (d *detector) detectSubflows(s *mptcpinfo.Snapshot, out *conntrace.Sample, final bool, events []conntrace.PathEvent) (sent, recv uint64) {
	kernelIDs := s.Has(mptcpinfo.FieldSubflowID)
	for i := range d.subflows {
		d.subflows[i].seen = false
	}
	established := 0
	for i := range s.Subflows {
		sf := &s.Subflows[i]
		if kernelIDs {
			d.nextID = max(d.nextID, sf.ID)
		} else {
			sf.ID = d.idByAddress(sf)
		}
		j := d.find(sf.ID)
		if j < 0 {
			d.subflows = append(d.subflows, subflowState{id: sf.ID})
			j = len(d.subflows) - 1
		}
		st := &d.subflows[j]
		st.seen, st.local, st.remote = true, endpointOf(sf.Local), endpointOf(sf.Remote)
		if st.joining = joining(sf); st.joining {
			st.state, st.synRetrans = sf.State(), sf.TCPInfo.Total_retrans
			out.SubflowDeltas = append(out.SubflowDeltas, conntrace.SubflowDelta{})
			if final {
				out.FailedJoins = append(out.FailedJoins, st.failedJoin())
			}
			continue
		}
		cs, cr := sf.BytesSent(), sf.BytesReceived()
		if !st.reported && !final && d.holdJoin(st, out) {
			// Reported at a later sample, with everything it carried.
			st.seenSent, st.seenRecv = cs, cr
			out.SubflowDeltas = append(out.SubflowDeltas, conntrace.SubflowDelta{})
			continue
		}
		established++
		var ds conntrace.SubflowDelta
		if !st.reported {
			st.reported = true
			out.Added = append(out.Added, i)
			ds = conntrace.SubflowDelta{Sent: cs, Received: cr}
		} else {
			ds = conntrace.SubflowDelta{Sent: delta(st.sent, cs), Received: delta(st.recv, cr)}
		}
		st.sent, st.recv, st.rttMicros = cs, cr, sf.TCPInfo.Rtt
		st.seenSent, st.seenRecv = cs, cr
		out.SubflowDeltas = append(out.SubflowDeltas, ds)
		sent += ds.Sent
		recv += ds.Received
	}
	d.matchEvents(out)
	kept := d.subflows[:0]
	for _, st := range d.subflows {
		switch {
		case st.seen:
			kept = append(kept, st)
		case st.joining:
			out.FailedJoins = append(out.FailedJoins, st.failedJoin())
		default:
			out.Removed = append(out.Removed, conntrace.RemovedSubflow{
				ID: st.id, Local: st.local.addrPort(), Remote: st.remote.addrPort(),
				BytesSent: st.sent, BytesReceived: st.recv,
				RTT:       time.Duration(st.rttMicros) * time.Microsecond,
				Unsampled: conntrace.SubflowDelta{Sent: grow(st.sent, st.seenSent), Received: grow(st.recv, st.seenRecv)},
				New:       !st.reported,
				Error:     syscall.Errno(st.closeErr), Reset: st.reset, ResetReason: uint32(st.resetReason), ResetFlags: uint32(st.resetFlags),
			})
		}
	}
	d.subflows = kept
	d.peak = max(d.peak, established)
	return sent, recv
}

// holdJoin reports whether the report of st, an established subflow not
// reported yet, waits for a later sample. A join's SubflowEstablished
// event says what only the path manager knows (the interface, the backup
// flag), and comes milliseconds after the kernel lists the subflow as
// established at most; a reading taken in between (an event about something
// else, a periodic sample) would report the subflow without it. When the
// connection's events are received, such a join waits for its event, for at
// most heldSamples samples (the event may have been lost). The connection's
// first subflow has no such event: it is never held.
func (d *detector) holdJoin(st *subflowState, out *conntrace.Sample) bool {
	if !d.awaitEvents || st.held >= heldSamples || !d.anyReported() {
		return false
	}
	for _, e := range out.PathEvents {
		if e.Kind == conntrace.SubflowEstablished && st.local == endpointOf(e.Local) && st.remote == endpointOf(e.Remote) {
			return false
		}
	}
	if d.unmatchedIndex(st.local, st.remote) >= 0 {
		return false
	}
	st.held++
	return true
}

// heldSamples is how many samples a join's report waits for its event.
const heldSamples = 3

// anyReported reports whether a subflow of the connection was reported
// added: whether a subflow seen now is a join rather than the first.
func (d *detector) anyReported() bool {
	for i := range d.subflows {
		if d.subflows[i].reported {
			return true
		}
	}
	return false
}

// failedJoin describes a join that never completed, as last read.
func (st *subflowState) failedJoin() conntrace.FailedJoin {
	return conntrace.FailedJoin{ID: st.id, Local: st.local.addrPort(), Remote: st.remote.addrPort(), State: st.state, SynRetransmits: st.synRetrans}
}

// pendingEvent is a SubflowEstablished event waiting for its subflow.
type pendingEvent struct {
	e       conntrace.PathEvent
	samples uint8
}

// maxUnmatched bounds the SubflowEstablished events kept waiting for their
// subflow, and unmatchedSamples how many samples one waits.
const (
	maxUnmatched     = 8
	unmatchedSamples = 4
)

// matchEvents ties the path manager's subflow events in out.PathEvents to
// the subflows they are about, by their ends, and numbers them
// (PathEvent.SubflowID). What a SubflowClosed event says is kept for the
// subflow's removal.
//
// The kernel may announce an established join before getsockopt lists it
// (a joining subflow waits on a list of its own until the connection's
// next pass under its lock), so a SubflowEstablished event whose subflow
// the reading does not list waits for a later sample, which carries it in
// its PathEvents once the subflow shows. If instead a SubflowClosed event
// comes for the same ends, the subflow came and went unseen: it is
// followed from the events alone, to be reported added and removed
// (RemovedSubflow.New), numbered as the kernel numbers subflows, next in
// order.
func (d *detector) matchEvents(out *conntrace.Sample) {
	if len(out.PathEvents) == 0 && d.unmatched == nil {
		return
	}
	if d.unmatched == nil {
		d.unmatched = new([]pendingEvent)
	}
	// Joins announced earlier whose subflow shows now.
	waiting := *d.unmatched
	kept := waiting[:0]
	for _, p := range waiting {
		if j := d.findEnds(p.e.Local, p.e.Remote); j >= 0 {
			p.e.SubflowID = d.subflows[j].id
			out.PathEvents = append(out.PathEvents, p.e)
			continue
		}
		if p.samples++; p.samples < unmatchedSamples {
			kept = append(kept, p)
		}
	}
	*d.unmatched = kept
	for k := range out.PathEvents {
		e := &out.PathEvents[k]
		if e.SubflowID != 0 || (e.Kind != conntrace.SubflowEstablished && e.Kind != conntrace.SubflowClosed && e.Kind != conntrace.SubflowPriority) {
			continue
		}
		j := d.findEnds(e.Local, e.Remote)
		if j < 0 && e.Kind == conntrace.SubflowEstablished {
			if len(*d.unmatched) < maxUnmatched {
				*d.unmatched = append(*d.unmatched, pendingEvent{e: *e})
			}
			continue
		}
		if j < 0 && e.Kind == conntrace.SubflowClosed && d.takeUnmatched(e.Local, e.Remote) {
			d.nextID++
			d.subflows = append(d.subflows, subflowState{id: d.nextID, local: endpointOf(e.Local), remote: endpointOf(e.Remote)})
			j = len(d.subflows) - 1
		}
		if j < 0 {
			continue
		}
		st := &d.subflows[j]
		e.SubflowID = st.id
		if e.Kind == conntrace.SubflowClosed {
			st.closeErr, st.reset, st.resetReason, st.resetFlags = uint8(e.Error), e.Reset, uint8(e.ResetReason), uint8(e.ResetFlags)
		}
	}
}

// takeUnmatched removes the waiting SubflowEstablished event with these
// ends, reporting whether there was one.
func (d *detector) takeUnmatched(local, remote netip.AddrPort) bool {
	i := d.unmatchedIndex(endpointOf(local), endpointOf(remote))
	if i >= 0 {
		*d.unmatched = slices.Delete(*d.unmatched, i, i+1)
	}
	return i >= 0
}

// unmatchedIndex returns the index of the waiting SubflowEstablished event
// with these ends, -1 if none.
func (d *detector) unmatchedIndex(local, remote endpoint) int {
	if d.unmatched == nil {
		return -1
	}
	return slices.IndexFunc(*d.unmatched, func(p pendingEvent) bool {
		return endpointOf(p.e.Local) == local && endpointOf(p.e.Remote) == remote
	})
}

// findEnds returns the index of the subflow with these ends, -1 if none.
// IPv4-mapped addresses match their IPv4 form.
func (d *detector) findEnds(local, remote netip.AddrPort) int {
	for i := range d.subflows {
		st := &d.subflows[i]
		if st.local == endpointOf(local) && st.remote == endpointOf(remote) {
			return i
		}
	}
	return -1
}

// endpoint is one end of a subflow as the detector keeps it: a
// netip.AddrPort in 20 bytes rather than 32, with an IPv4-mapped address
// kept as the IPv4 address it is (what the events and the telemetry use),
// and no IPv6 zone (the kernel's answers carry none).
type endpoint struct {
	ip   [16]byte
	port uint16
	v4   bool
}

func endpointOf(ap netip.AddrPort) endpoint {
	a := ap.Addr().Unmap()
	return endpoint{ip: a.As16(), port: ap.Port(), v4: a.Is4()}
}

func (e endpoint) addrPort() netip.AddrPort {
	if e == (endpoint{}) {
		return netip.AddrPort{}
	}
	a := netip.AddrFrom16(e.ip)
	if e.v4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, e.port)
}

// observe notes the subflows of a reading taken between samples, without
// reporting anything: the kernel frees subflows once both sides have shut
// the connection down, and a subflow gone by the next sample is then
// reported with what it carried until this reading (seenSent and seenRecv),
// and, if no sample ever saw it, as added and removed at once
// (RemovedSubflow.New).
func (d *detector) observe(s *mptcpinfo.Snapshot) {
	if !s.Has(mptcpinfo.FieldSubflowList) || s.Fallback {
		return
	}
	kernelIDs := s.Has(mptcpinfo.FieldSubflowID)
	for i := range s.Subflows {
		sf := &s.Subflows[i]
		if joining(sf) {
			continue
		}
		j := -1
		for k := range d.subflows {
			st := &d.subflows[k]
			if (kernelIDs && st.id == sf.ID) || (!kernelIDs && st.local == endpointOf(sf.Local) && st.remote == endpointOf(sf.Remote)) {
				j = k
				break
			}
		}
		if j < 0 {
			id := sf.ID
			if !kernelIDs {
				d.nextID++
				id = d.nextID
			}
			d.subflows = append(d.subflows, subflowState{id: id, local: endpointOf(sf.Local), remote: endpointOf(sf.Remote), rttMicros: sf.TCPInfo.Rtt})
			j = len(d.subflows) - 1
		}
		st := &d.subflows[j]
		st.joining = false
		st.seenSent, st.seenRecv = max(st.seenSent, sf.BytesSent()), max(st.seenRecv, sf.BytesReceived())
	}
}

// creditRemoved gives the one subflow that disappeared in this sample the
// bytes the connection-level counters prove it carried after its last
// reading: what the connection sent and received since the previous sample,
// beyond what the remaining subflows carried (which counts their
// retransmissions too, so the credit is a lower bound). With several
// subflows gone at once, only their sum is known, and nothing is credited.
func creditRemoved(out *conntrace.Sample) {
	if len(out.Removed) != 1 || out.Removed[0].Unsampled != (conntrace.SubflowDelta{}) {
		return
	}
	var sent, recv uint64
	for _, d := range out.SubflowDeltas {
		sent += d.Sent
		recv += d.Received
	}
	out.Removed[0].Unsampled = conntrace.SubflowDelta{
		Sent:     grow(sent, grow(out.Unsent, out.Sent)), // Unsent never went on a subflow
		Received: grow(recv, out.Received),
	}
}

// joinPending reports whether a join was in progress at the last reading,
// or announced by the path manager and not listed yet.
func (d *detector) joinPending() bool {
	if d.unmatched != nil && len(*d.unmatched) > 0 {
		return true
	}
	for i := range d.subflows {
		if st := &d.subflows[i]; st.joining || st.held > 0 && !st.reported {
			return true
		}
	}
	return false
}

func (d *detector) find(id uint32) int {
	for i := range d.subflows {
		if d.subflows[i].id == id {
			return i
		}
	}
	return -1
}

// idByAddress numbers subflows on kernels that report no ids: a subflow
// keeps the id of the unmatched previous subflow with the same addresses,
// and a new one gets the next id, as the kernel itself numbers them.
func (d *detector) idByAddress(sf *mptcpinfo.Subflow) uint32 {
	for i := range d.subflows {
		st := &d.subflows[i]
		if !st.seen && st.local == endpointOf(sf.Local) && st.remote == endpointOf(sf.Remote) {
			return st.id
		}
	}
	d.nextID++
	return d.nextID
}
