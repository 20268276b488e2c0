package detect

import (
	"net/netip"
	"slices"

	"github.com/mptcpx/mptcpx/conntrace"
)

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
// subflow's removal, which may have waited for it (holdRemoval).
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
func (d *Detector) matchEvents(out *conntrace.Sample) {
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
		if j := d.findEnds(p.e.Local, p.e.Remote, false); j >= 0 {
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
		j := d.findEnds(e.Local, e.Remote, e.Kind == conntrace.SubflowClosed)
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
			st.closed = true
			st.closeErr, st.reset, st.resetReason, st.resetFlags = uint8(e.Error), e.Reset, uint8(e.ResetReason), uint8(e.ResetFlags)
		}
	}
}

// takeUnmatched removes the waiting SubflowEstablished event with these
// ends, reporting whether there was one.
func (d *Detector) takeUnmatched(local, remote netip.AddrPort) bool {
	i := d.unmatchedIndex(endpointOf(local), endpointOf(remote))
	if i >= 0 {
		*d.unmatched = slices.Delete(*d.unmatched, i, i+1)
	}
	return i >= 0
}

// unmatchedIndex returns the index of the waiting SubflowEstablished event
// with these ends, -1 if none.
func (d *Detector) unmatchedIndex(local, remote endpoint) int {
	if d.unmatched == nil {
		return -1
	}
	return slices.IndexFunc(*d.unmatched, func(p pendingEvent) bool {
		return endpointOf(p.e.Local) == local && endpointOf(p.e.Remote) == remote
	})
}

// findEnds returns the index of the subflow with these ends, -1 if none.
// IPv4-mapped addresses match their IPv4 form. A subflow gone and held
// back for its SubflowClosed event (holdRemoval) matches only closed, the
// event it waits for, and before any other: a new subflow may have taken
// the same ends meanwhile.
func (d *Detector) findEnds(local, remote netip.AddrPort, closed bool) int {
	j := -1
	for i := range d.subflows {
		st := &d.subflows[i]
		if st.local != endpointOf(local) || st.remote != endpointOf(remote) {
			continue
		}
		switch {
		case st.gone > 0 && closed && !st.closed:
			return i
		case st.gone == 0 && j < 0:
			j = i
		}
	}
	return j
}
