package detect

import (
	"testing"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// withLoss sets the loss counters of the subflow id of s: bytes
// retransmitted, D-SACK duplicates, retransmission timeouts.
func withLoss(s *mptcpinfo.Snapshot, id uint32, retrans uint64, dsack uint32, rto uint16) *mptcpinfo.Snapshot {
	for i := range s.Subflows {
		if sf := &s.Subflows[i]; sf.ID == id {
			sf.TCPInfo.BytesRetrans, sf.TCPInfo.DSACKDups, sf.TCPInfo.TotalRTO = retrans, dsack, rto
		}
	}
	return s
}

// TestDetectSubflowLoss: a subflow's loss counters are reported as deltas
// exactly as its bytes are: all of them when it is added, the difference
// after, modulo the width of the kernel's field (total_rto is 16 bits,
// dsack_dups 32), nothing when they did not move; a subflow that
// disappeared is reported with its last retransmitted bytes, and credited
// what a reading between samples saw beyond them, once.
func TestDetectSubflowLoss(t *testing.T) {
	var d Detector
	var out conntrace.Sample
	d.Detect(withLoss(snap(1000, 0, [3]uint64{1, 1000, 0}), 1, 40, 1, 65534), conntrace.RoleClient, &out, Stream{}, nil)
	if got := out.SubflowDeltas[0]; got != (conntrace.SubflowDelta{Sent: 1000, Retransmitted: 40, Spurious: 1, Timeouts: 65534}) {
		t.Fatalf("added: %+v", got)
	}
	// The timeouts wrap around 16 bits (65534 -> 3: 5 more).
	d.Detect(withLoss(snap(3000, 0, [3]uint64{1, 3000, 0}), 1, 140, 4, 3), conntrace.RoleClient, &out, Stream{}, nil)
	if got := out.SubflowDeltas[0]; got != (conntrace.SubflowDelta{Sent: 2000, Retransmitted: 100, Spurious: 3, Timeouts: 5}) {
		t.Fatalf("delta: %+v", got)
	}
	// A D-SACK alone: no byte moved, the duplicate is still reported.
	d.Detect(withLoss(snap(3000, 0, [3]uint64{1, 3000, 0}), 1, 140, 5, 3), conntrace.RoleClient, &out, Stream{}, nil)
	if got := out.SubflowDeltas[0]; got != (conntrace.SubflowDelta{Spurious: 1}) {
		t.Fatalf("D-SACK alone: %+v", got)
	}
	d.Detect(withLoss(snap(3000, 0, [3]uint64{1, 3000, 0}), 1, 140, 5, 3), conntrace.RoleClient, &out, Stream{}, nil)
	if got := out.SubflowDeltas[0]; got != (conntrace.SubflowDelta{}) {
		t.Fatalf("nothing moved: %+v", got)
	}

	// A join, then a reading between samples, then both gone: subflow 2
	// is credited what the reading saw after its last sample; subflow 1,
	// which the reading did not list, nothing more.
	d.Detect(withLoss(withLoss(snap(4000, 0, [3]uint64{1, 3500, 0}, [3]uint64{2, 500, 0}), 1, 140, 5, 3), 2, 10, 0, 0), conntrace.RoleClient, &out, Stream{}, nil)
	if got := out.SubflowDeltas[1]; got != (conntrace.SubflowDelta{Sent: 500, Retransmitted: 10}) {
		t.Fatalf("join: %+v", got)
	}
	d.Observe(withLoss(snap(6000, 0, [3]uint64{2, 2500, 0}), 2, 310, 2, 1))
	d.Detect(snap(6000, 0), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 2 {
		t.Fatalf("removed: %+v", out.Removed)
	}
	for _, r := range out.Removed {
		switch r.ID {
		case 1:
			if r.BytesRetrans != 140 || r.Unsampled.Retransmitted|uint64(r.Unsampled.Spurious|r.Unsampled.Timeouts) != 0 {
				t.Errorf("subflow 1: %+v", r)
			}
		case 2:
			if r.BytesRetrans != 10 || r.Unsampled.Retransmitted != 300 || r.Unsampled.Spurious != 2 || r.Unsampled.Timeouts != 1 {
				t.Errorf("subflow 2: %+v", r)
			}
		}
	}
	d.Detect(snap(6000, 0), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Removed) != 0 {
		t.Fatalf("removed twice: %+v", out.Removed)
	}
}

// TestDetectSubflowLossHeldJoin: a join held back for its path event is
// reported, once it is, with every retransmission it made meanwhile.
func TestDetectSubflowLossHeldJoin(t *testing.T) {
	var d Detector
	d.AwaitEvents = true
	var out conntrace.Sample
	d.Detect(snap(100, 0, [3]uint64{1, 100, 0}), conntrace.RoleClient, &out, Stream{}, nil)
	d.Detect(withLoss(snap(200, 0, [3]uint64{1, 100, 0}, [3]uint64{2, 100, 0}), 2, 7, 0, 0), conntrace.RoleClient, &out, Stream{}, nil)
	if len(out.Added) != 0 || out.SubflowDeltas[1] != (conntrace.SubflowDelta{}) {
		t.Fatalf("held: added %v deltas %+v", out.Added, out.SubflowDeltas)
	}
	for range heldSamples {
		d.Detect(withLoss(snap(300, 0, [3]uint64{1, 100, 0}, [3]uint64{2, 200, 0}), 2, 9, 0, 1), conntrace.RoleClient, &out, Stream{}, nil)
		if len(out.Added) > 0 {
			break
		}
	}
	if len(out.Added) != 1 || out.SubflowDeltas[1] != (conntrace.SubflowDelta{Sent: 200, Retransmitted: 9, Timeouts: 1}) {
		t.Fatalf("reported: added %v deltas %+v", out.Added, out.SubflowDeltas)
	}
}
