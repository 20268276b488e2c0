package mptcpx

import (
	"net/netip"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// detector keeps, per connection, just enough of the previous sample to say
// what changed: the last counters of every subflow by id, the peak subflow
// count, the fallback state and the previous connection-level counters.
type detector struct {
	subflows []subflowState
	nextID   uint32 // last id handed out when the kernel reports none
	peak     int

	// noMPTCP: this host cannot open MPTCP sockets at all (kernel without
	// MPTCP, or net.mptcp.enabled=0 when first probed): every connection
	// is plain TCP by necessity, and none is a fallback.
	noMPTCP bool

	fallback    conntrace.FallbackReason
	fallbackNew bool // set by the sample that first saw the fallback
	sawMPTCP    bool
	samples     uint32

	// Previous connection-level counters and where they came from.
	connKind                    counterKind
	connSent, connRecv, connRtx uint64
}

// subflowState is what the detector remembers of one subflow.
type subflowState struct {
	id            uint32
	seen          bool // marked while matching a new sample
	local, remote netip.AddrPort
	sent, recv    uint64
	rttMicros     uint32
}

// counterKind says which kernel values the connection-level deltas come from.
type counterKind uint8

const (
	countNone     counterKind = iota
	countBytes                // mptcp_info bytes_sent/received/retrans (6.5+)
	countSequence             // mptcp_info snd_una/rcv_nxt (5.16+)
	countSubflows             // the sum of the subflows' tcp_info deltas
)

// delta returns cur-prev for a monotonic counter. A counter that went
// backwards was reset: everything it counts now is new.
func delta(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// detect compares snapshot s with the previous one and fills out with what
// changed. It reuses out's slices and allocates nothing once the detector
// has seen the connection's largest subflow count. It may number the
// snapshot's subflows (Subflow.ID) when the kernel reports no ids.
func (d *detector) detect(s *mptcpinfo.Snapshot, role conntrace.Role, out *conntrace.Sample) {
	d.unchanged(s, role, out)
	d.samples++

	d.detectFallback(s, role)
	out.Fallback = d.fallback
	out.FallbackChanged = d.fallback != conntrace.FallbackNone && d.fallbackNew
	d.fallbackNew = false

	var subSent, subRecv uint64
	if s.Has(mptcpinfo.FieldSubflowList) && !s.Fallback {
		subSent, subRecv = d.detectSubflows(s, out)
	}
	out.SubflowsMax = d.peak

	kind := countNone
	var sent, recv, rtx uint64
	switch {
	case s.Has(mptcpinfo.FieldBytes) && !s.Fallback:
		kind, sent, recv, rtx = countBytes, s.Info.BytesSent, s.Info.BytesReceived, s.Info.BytesRetrans
	case s.InfoLen > 0 && !s.Fallback:
		kind, sent, recv = countSequence, s.Info.SndUna, s.Info.RcvNxt
	case s.Has(mptcpinfo.FieldSubflowList) && !s.Fallback:
		kind = countSubflows
	}
	switch {
	case kind == countSubflows:
		out.Sent, out.Received = subSent, subRecv
	case kind != countNone && kind == d.connKind:
		out.Sent, out.Received, out.Retransmitted = delta(d.connSent, sent), delta(d.connRecv, recv), delta(d.connRtx, rtx)
	case kind == countBytes:
		// Byte counters start at zero with the connection: the first
		// reading is all of it.
		out.Sent, out.Received, out.Retransmitted = sent, recv, rtx
	}
	// Sequence numbers start at a random point: the first reading is only
	// a baseline.
	d.connKind, d.connSent, d.connRecv, d.connRtx = kind, sent, recv, rtx
}

// unchanged fills out as a sample of s in which nothing changed: no
// subflow added or removed, no bytes, the connection's known fallback state
// and peak, keeping out's slice storage.
func (d *detector) unchanged(s *mptcpinfo.Snapshot, role conntrace.Role, out *conntrace.Sample) {
	out.Snapshot = s
	out.Role = role
	out.First = d.samples == 0
	out.Added = out.Added[:0]
	out.Removed = out.Removed[:0]
	out.SubflowDeltas = out.SubflowDeltas[:0]
	out.Sent, out.Received, out.Retransmitted = 0, 0, 0
	out.Fallback, out.FallbackChanged = d.fallback, false
	out.SubflowsMax = d.peak
}

// detectFallback notes when the connection is plain TCP, and why. Once set,
// the reason stays: a connection never goes back to MPTCP.
func (d *detector) detectFallback(s *mptcpinfo.Snapshot, role conntrace.Role) {
	if s.MPTCP {
		d.sawMPTCP = true
	}
	if d.fallback != conntrace.FallbackNone || s.Method == mptcpinfo.MethodNone || d.noMPTCP {
		return
	}
	r := conntrace.FallbackNone
	switch {
	case s.Fallback && d.sawMPTCP:
		r = conntrace.FallbackMidConnection
	case s.Fallback:
		r = conntrace.FallbackNotNegotiated
	case !s.MPTCP && role == conntrace.RoleServer:
		// Accepted as a plain TCP socket: the client did not ask for
		// MPTCP (or the listener was not an MPTCP one).
		r = conntrace.FallbackNotNegotiated
	case !s.MPTCP:
		// Dialed with MPTCP requested, yet the socket is plain TCP: the
		// local kernel could not open an MPTCP socket this time (MPTCP
		// was disabled after this process first probed it).
		r = conntrace.FallbackUnavailable
	}
	if r != conntrace.FallbackNone {
		d.fallback, d.fallbackNew = r, true
	}
}

// detectSubflows matches the snapshot's subflows with the previous ones by
// id, reports those added and removed, and returns the bytes all of them
// carried since the previous sample.
func (d *detector) detectSubflows(s *mptcpinfo.Snapshot, out *conntrace.Sample) (sent, recv uint64) {
	kernelIDs := s.Has(mptcpinfo.FieldSubflowID)
	if kernelIDs {
		dropPlaceholders(s)
	}
	for i := range d.subflows {
		d.subflows[i].seen = false
	}
	for i := range s.Subflows {
		sf := &s.Subflows[i]
		if kernelIDs {
			d.nextID = max(d.nextID, sf.ID)
		} else {
			sf.ID = d.idByAddress(sf)
		}
		cs, cr := sf.BytesSent(), sf.BytesReceived()
		var ds conntrace.SubflowDelta
		j := d.find(sf.ID)
		if j < 0 {
			d.subflows = append(d.subflows, subflowState{id: sf.ID})
			j = len(d.subflows) - 1
			out.Added = append(out.Added, i)
			ds = conntrace.SubflowDelta{Sent: cs, Received: cr}
		} else {
			st := &d.subflows[j]
			ds = conntrace.SubflowDelta{Sent: delta(st.sent, cs), Received: delta(st.recv, cr)}
		}
		st := &d.subflows[j]
		st.seen, st.local, st.remote = true, sf.Local, sf.Remote
		st.sent, st.recv, st.rttMicros = cs, cr, sf.TCPInfo.Rtt
		out.SubflowDeltas = append(out.SubflowDeltas, ds)
		sent += ds.Sent
		recv += ds.Received
	}
	kept := d.subflows[:0]
	for _, st := range d.subflows {
		if st.seen {
			kept = append(kept, st)
			continue
		}
		out.Removed = append(out.Removed, conntrace.RemovedSubflow{
			ID: st.id, Local: st.local, Remote: st.remote,
			BytesSent: st.sent, BytesReceived: st.recv,
			RTT: time.Duration(st.rttMicros) * time.Microsecond,
		})
	}
	d.subflows = kept
	d.peak = max(d.peak, len(s.Subflows))
	return sent, recv
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
		if !st.seen && st.local == sf.Local && st.remote == sf.Remote {
			return st.id
		}
	}
	d.nextID++
	return d.nextID
}

// dropPlaceholders removes from s the entries that are not subflows. Once
// both directions of a connection are shut down, the kernel may list, in
// place of the real subflows, one entry in CLOSE state with id 0, no remote
// port and a zeroed tcp_info. Ids start at 1, so id 0 is never a subflow:
// taking it for one would report a subflow added and the real ones removed
// with zeroed counters.
func dropPlaceholders(s *mptcpinfo.Snapshot) {
	kept := s.Subflows[:0]
	for _, sf := range s.Subflows {
		if sf.ID != 0 {
			kept = append(kept, sf)
		}
	}
	s.Subflows = kept
}
