package detect

import (
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// subflowState is what the Detector remembers of one subflow.
type subflowState struct {
	local, remote endpoint
	sent, recv    uint64
	// Counters read after the last sample by observe, not yet delivered:
	// what the subflow carried by then, should it be gone at the next one.
	seenSent, seenRecv uint64
	// The loss counters last reported, and as last read (health.go).
	health, seenHealth health
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
	// back its report, waiting for the path manager's event about it; gone
	// those that found it no longer listed and held back its removal, and
	// closed is set once its SubflowClosed event came (holdRemoval).
	held, gone uint8
	closed     bool
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

// tcpClose is the TCP state of a subflow the kernel closed.
const tcpClose = 7

// stillJoining reports whether sf, read now, is a join st followed: one
// the kernel has not completed, or one it gave up (no answer to its SYNs,
// a reset) that it still lists. The kernel closes such a subflow (CLOSE)
// at once, and takes it off the connection's list later, on the
// connection's worker, where it sends its SubflowClosed event: a reading
// in between must not take the closed join for an established subflow.
// The state it was last read joining in is kept.
func (st *subflowState) stillJoining(sf *mptcpinfo.Subflow) bool {
	return joining(sf) || st.joining && !st.reported && sf.State() == tcpClose
}

// refusedJoin reports whether sf, a subflow no reading listed before, is a
// join given up before any reading saw it joining (a reset answered its
// SYN at once): closed, with no round-trip time measured (an established
// subflow has the handshake's) and nothing carried, in a connection whose
// first subflow was reported. It is a failed join in SYN_SENT, the state it
// failed in, not a subflow added and removed.
func (d *Detector) refusedJoin(sf *mptcpinfo.Subflow) bool {
	return sf.State() == tcpClose && sf.TCPInfo.RTT == 0 && sf.BytesSent() == 0 && sf.BytesReceived() == 0 && d.anyReported()
}

// detectSubflows matches the snapshot's subflows with the previous ones by
// id, reports those added and removed, and returns the bytes all of them
// carried since the previous sample.
//
// A subflow is added once it is established. A join the kernel has not
// completed (SYN_SENT: the peer has not answered; SYN_RECV) is not a path
// yet: it is followed, but reported only if it never completes, as a failed
// join, when it disappears or when the connection ends. An established
// join may also wait a few samples for its path event (see holdJoin), and
// so may a removal (see holdRemoval). With credit, the connection-level
// counts in out are exact, and a subflow found gone is credited from them
// (see creditGone).
func (d *Detector) detectSubflows(s *mptcpinfo.Snapshot, out *conntrace.Sample, stream Stream, credit bool) (sent, recv uint64) {
	final := stream.Final
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
		refused := j < 0 && d.refusedJoin(sf)
		if j < 0 {
			d.subflows = append(d.subflows, subflowState{id: sf.ID})
			j = len(d.subflows) - 1
		}
		st := &d.subflows[j]
		st.seen, st.gone, st.local, st.remote = true, 0, endpointOf(sf.Local), endpointOf(sf.Remote)
		if st.joining = refused || st.stillJoining(sf); st.joining {
			switch {
			case joining(sf):
				st.state, st.synRetrans = sf.State(), sf.TCPInfo.TotalRetrans
			case refused:
				st.state, st.synRetrans = tcpSynSent, sf.TCPInfo.TotalRetrans
			}
			out.SubflowDeltas = append(out.SubflowDeltas, conntrace.SubflowDelta{})
			if final {
				out.FailedJoins = append(out.FailedJoins, st.failedJoin())
			}
			continue
		}
		cs, cr, h := sf.BytesSent(), sf.BytesReceived(), healthOf(sf)
		if !st.reported && !final && d.holdJoin(st, out) {
			// Reported at a later sample, with everything it carried.
			st.seenSent, st.seenRecv, st.seenHealth = cs, cr, h
			out.SubflowDeltas = append(out.SubflowDeltas, conntrace.SubflowDelta{})
			continue
		}
		established++
		var ds conntrace.SubflowDelta
		if !st.reported {
			st.reported = true
			out.Added = append(out.Added, i)
			ds = conntrace.SubflowDelta{Sent: cs, Received: cr}
			h.addSince(health{}, &ds)
		} else {
			ds = conntrace.SubflowDelta{Sent: delta(st.sent, cs), Received: delta(st.recv, cr)}
			h.addSince(st.health, &ds)
		}
		st.sent, st.recv, st.rttMicros, st.health = cs, cr, sf.TCPInfo.RTT, h
		st.seenSent, st.seenRecv, st.seenHealth = cs, cr, h
		out.SubflowDeltas = append(out.SubflowDeltas, ds)
		sent += ds.Sent
		recv += ds.Received
	}
	d.matchEvents(out)
	gone := 0
	for i := range d.subflows {
		if st := &d.subflows[i]; !st.seen && !st.joining && st.gone == 0 {
			gone++
		}
	}
	kept := d.subflows[:0]
	for _, st := range d.subflows {
		switch {
		case st.seen:
			kept = append(kept, st)
		case st.joining:
			out.FailedJoins = append(out.FailedJoins, st.failedJoin())
		default:
			if st.gone == 0 && gone == 1 && credit {
				st.creditGone(out, sent, recv)
			}
			st.gone = min(st.gone+1, heldSamples+1)
			if d.holdRemoval(&st, stream) {
				kept = append(kept, st)
				continue
			}
			out.Removed = append(out.Removed, st.removed())
		}
	}
	d.subflows = kept
	d.peak = max(d.peak, established)
	return sent, recv
}

// holdRemoval reports whether the removal of st, a subflow the reading no
// longer lists, waits for a later sample. The kernel sends a subflow's
// SubflowClosed event, with the error that closed it, before it takes the
// subflow off the connection's list (both under the connection's lock),
// but the watcher receives the event and hands it over on a goroutine of
// its own: a reading taken in between finds the subflow gone without its
// cause. When the connection's events are received, the removal of a
// subflow reported added waits for that event, for at most heldSamples
// samples (it may have been lost), and the sample the event brings reports
// it. Nothing waits at the connection's last reading, nor once it is
// shutting down (the program shut down its side or read the peer's end):
// the kernel sends SubflowClosed only while the connection is established.
func (d *Detector) holdRemoval(st *subflowState, stream Stream) bool {
	return d.AwaitEvents && st.reported && !st.closed && st.gone <= heldSamples &&
		!stream.Final && !stream.FinSent && !stream.EOFRead
}

// removed describes st, gone, as last read.
func (st *subflowState) removed() conntrace.RemovedSubflow {
	unsampled := conntrace.SubflowDelta{Sent: grow(st.sent, st.seenSent), Received: grow(st.recv, st.seenRecv)}
	st.seenHealth.addSince(st.health, &unsampled)
	return conntrace.RemovedSubflow{
		ID: st.id, Local: st.local.addrPort(), Remote: st.remote.addrPort(),
		BytesSent: st.sent, BytesReceived: st.recv, BytesRetrans: st.health.retrans,
		RTT:       time.Duration(st.rttMicros) * time.Microsecond,
		Unsampled: unsampled,
		New:       !st.reported,
		Error:     syscall.Errno(st.closeErr), Reset: st.reset, ResetReason: uint32(st.resetReason), ResetFlags: uint32(st.resetFlags),
	}
}

// releaseHeld reports the removals held back for their events, when no
// reading that lists subflows will come to report them: the connection
// ended without a last reading, or the kernel no longer lists its subflows
// (a fallback).
func (d *Detector) releaseHeld(out *conntrace.Sample) {
	kept := d.subflows[:0]
	for _, st := range d.subflows {
		if st.gone > 0 {
			out.Removed = append(out.Removed, st.removed())
			continue
		}
		kept = append(kept, st)
	}
	d.subflows = kept
}

// creditGone gives st, the one subflow the reading found gone, the bytes
// the connection-level counters in out prove it carried after its last
// reading: what the connection sent and received since the previous
// sample, beyond sent and recv, what the remaining subflows carried (which
// counts their retransmissions too, so the credit is a lower bound). It
// is given at the sample that found the subflow gone, whose window is the
// one it carried them in, and only when no reading between samples saw it
// carry more (Observe). With several subflows gone at once, only their sum
// is known, and nothing is credited.
func (st *subflowState) creditGone(out *conntrace.Sample, sent, recv uint64) {
	if st.seenSent != st.sent || st.seenRecv != st.recv || st.seenHealth != st.health {
		return
	}
	onWire := out.Sent // what went on a subflow: not the queued bytes Sent counts
	if !out.UnsentDiscarded {
		onWire = grow(out.Unsent, out.Sent)
	}
	st.seenSent += grow(sent, onWire)
	st.seenRecv += grow(recv, out.Received)
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
func (d *Detector) holdJoin(st *subflowState, out *conntrace.Sample) bool {
	if !d.AwaitEvents || st.held >= heldSamples || !d.anyReported() {
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
func (d *Detector) anyReported() bool {
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

// observe notes the subflows of a reading taken between samples, without
// reporting anything: the kernel frees subflows once both sides have shut
// the connection down, and a subflow gone by the next sample is then
// reported with what it carried until this reading (seenSent and seenRecv),
// and, if no sample ever saw it, as added and removed at once
// (RemovedSubflow.New).
func (d *Detector) Observe(s *mptcpinfo.Snapshot) {
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
			if (kernelIDs && st.id == sf.ID) || (!kernelIDs && st.gone == 0 && st.local == endpointOf(sf.Local) && st.remote == endpointOf(sf.Remote)) {
				j = k
				break
			}
		}
		if j >= 0 && d.subflows[j].stillJoining(sf) || j < 0 && d.refusedJoin(sf) {
			continue // a join given up: it carried nothing
		}
		if j < 0 {
			id := sf.ID
			if !kernelIDs {
				d.nextID++
				id = d.nextID
			}
			d.subflows = append(d.subflows, subflowState{id: id, local: endpointOf(sf.Local), remote: endpointOf(sf.Remote), rttMicros: sf.TCPInfo.RTT})
			j = len(d.subflows) - 1
		}
		st := &d.subflows[j]
		st.joining = false
		st.seenSent, st.seenRecv = max(st.seenSent, sf.BytesSent()), max(st.seenRecv, sf.BytesReceived())
		st.seenHealth = healthOf(sf) // a later reading than any before
	}
}

func (d *Detector) find(id uint32) int {
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
func (d *Detector) idByAddress(sf *mptcpinfo.Subflow) uint32 {
	for i := range d.subflows {
		st := &d.subflows[i]
		if !st.seen && st.gone == 0 && st.local == endpointOf(sf.Local) && st.remote == endpointOf(sf.Remote) {
			return st.id
		}
	}
	d.nextID++
	return d.nextID
}
