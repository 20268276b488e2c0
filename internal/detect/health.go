package detect

import (
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// health is what the detector keeps of a subflow's loss counters, from its
// tcp_info, to report their deltas as SubflowDelta's Retransmitted,
// Timeouts and Spurious, exactly as it does bytes: all of them for an added
// subflow, the difference for one seen before, what a reading between
// samples found for one that disappeared.
//
// The kernel keeps them for the subflow's whole life and never resets them;
// total_rto is 16 bits wide and dsack_dups 32, so their deltas are taken
// modulo their width. A kernel whose tcp_info ends before a field (total_rto
// came with Linux 6.7; bytes_retrans and dsack_dups with 4.19, before any
// kernel that lists subflows) leaves it zero: its delta is zero.
type health struct {
	retrans  uint64 // tcp_info.bytes_retrans
	spurious uint32 // tcp_info.dsack_dups
	timeouts uint16 // tcp_info.total_rto
}

// healthOf returns the loss counters of sf.
func healthOf(sf *mptcpinfo.Subflow) health {
	return health{retrans: sf.TCPInfo.BytesRetrans, spurious: sf.TCPInfo.DSACKDups, timeouts: sf.TCPInfo.TotalRTO}
}

// addSince adds to d what moved from prev to h.
func (h health) addSince(prev health, d *conntrace.SubflowDelta) {
	d.Retransmitted += delta(prev.retrans, h.retrans)
	d.Spurious += h.spurious - prev.spurious
	d.Timeouts += uint32(h.timeouts - prev.timeouts)
}
