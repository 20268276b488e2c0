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
	// back its report, waiting for the path manager's event about it.
	held uint8
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
func (d *Detector) detectSubflows(s *mptcpinfo.Snapshot, out *conntrace.Sample, final bool, events []conntrace.PathEvent) (sent, recv uint64) {
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
			st.state, st.synRetrans = sf.State(), sf.TCPInfo.TotalRetrans
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
	kept := d.subflows[:0]
	for _, st := range d.subflows {
		switch {
		case st.seen:
			kept = append(kept, st)
		case st.joining:
			out.FailedJoins = append(out.FailedJoins, st.failedJoin())
		default:
			unsampled := conntrace.SubflowDelta{Sent: grow(st.sent, st.seenSent), Received: grow(st.recv, st.seenRecv)}
			st.seenHealth.addSince(st.health, &unsampled)
			out.Removed = append(out.Removed, conntrace.RemovedSubflow{
				ID: st.id, Local: st.local.addrPort(), Remote: st.remote.addrPort(),
				BytesSent: st.sent, BytesReceived: st.recv, BytesRetrans: st.health.retrans,
				RTT:       time.Duration(st.rttMicros) * time.Microsecond,
				Unsampled: unsampled,
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
		if !st.seen && st.local == endpointOf(sf.Local) && st.remote == endpointOf(sf.Remote) {
			return st.id
		}
	}
	d.nextID++
	return d.nextID
}
