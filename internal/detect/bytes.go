package detect

import (
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// counterKind says which kernel values the connection-level deltas come from.
type counterKind uint8

const (
	countNone     counterKind = iota
	countBytes                // mptcp_info bytes_sent/received/retrans (6.5+)
	countSequence             // mptcp_info snd_una/rcv_nxt (5.16+)
	countSubflows             // the sum of the subflows' tcp_info deltas
)

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
func (d *Detector) sequenceTotals(info *mptcpinfo.Info, stream Stream) (sent, recv uint64) {
	acked := info.SndUna
	if stream.FinSent {
		if past, ok := seqDiff(info.WriteSeq-1, acked); ok && past > 0 {
			acked = info.WriteSeq - 1
		}
	}
	if n, ok := seqDiff(d.sndBase, acked); ok {
		sent = n
	}
	if n, ok := seqDiff(d.rcvBase, info.RcvNxt); ok {
		recv = n
		if recv > 0 && !(stream.Final && stream.NoPeerFIN) {
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
func unsentBytes(info *mptcpinfo.Info, base, counted uint64, stream Stream) uint64 {
	end := info.WriteSeq
	if stream.FinSent {
		end--
	}
	written, ok := seqDiff(base, end)
	if !ok {
		return 0
	}
	return grow(counted, written)
}

// queued returns what of the final sample's unsent bytes Sent counts: all of
// them after an orderly close, which the kernel goes on sending, none after
// an abortive one, which discards them (out.UnsentDiscarded).
func queued(out *conntrace.Sample, stream Stream) uint64 {
	if stream.Abortive {
		out.UnsentDiscarded = out.Unsent > 0
		return 0
	}
	return out.Unsent
}
