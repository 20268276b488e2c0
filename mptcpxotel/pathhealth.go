package mptcpxotel

import (
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Per-path health: which path is bad.
//
// mptcp.subflow.io says which path carried the bytes; these counters say
// which one loses them, from each subflow's tcp_info, on the per-path
// series (mptcp.role, network.local.address, and mptcp.subflow.backup
// where the path events told it):
//
//   - mptcp.subflow.retransmitted (tcp_info.bytes_retrans): the bytes TCP
//     sent again on the path. Its ratio to the path's transmitted bytes is
//     the loss a user compares between paths. The connection's own
//     mptcp.retransmitted counts something else: MPTCP's re-injections,
//     the data the connection sent again at its level (often on another
//     subflow) after its own retransmission timer fired, which no
//     subflow's counter includes. Every byte a subflow sends is one of
//     three: new data (mptcp.io), an MPTCP re-injection
//     (mptcp.retransmitted), or a TCP retransmission on the subflow (this
//     counter), so that over the subflows transmitted minus retransmitted
//     adds up to mptcp.io plus mptcp.retransmitted (bytes re-sent after a
//     subflow failed over, which neither level counts, aside).
//   - mptcp.subflow.timeouts (tcp_info.total_rto, Linux 6.7+): the
//     retransmission timeouts, the severe kind of loss: one that fast
//     recovery could not repair (a lost retransmission, a lost tail), or a
//     path that stopped answering; each stalls the subflow for at least the
//     minimum retransmission timeout (200 ms by default). Not reported where the kernel does not count them.
//   - mptcp.subflow.spurious_retransmissions (tcp_info.dsack_dups): the
//     segments the peer reported receiving twice (D-SACK): retransmissions
//     that were not needed. A path whose retransmissions are mostly
//     spurious reorders or delays packets; it does not lose them.
//
// Left out, and why: tcp_info's lost, retrans, unacked and sacked are the
// state of the moment (segments in flight), not counters, and a sample a
// second misses what happens between; total_retrans counts the same
// retransmissions as bytes_retrans in segments, whose size varies with the
// path's MSS and offloads; reord_seen and rcv_ooopack count reordering seen
// (as a sender, and as a receiver, where the count also grows with every
// packet queued behind a loss): harmless in themselves, and where they cost
// retransmissions those show as spurious; total_rto_recoveries and
// total_rto_time follow the timeouts.
//
// A subflow's series follow its backup flag: a SubflowPriority event moves
// the subflow to the series of its new flag, where its later counts go.
// The series are bounded by the host: at most three per local address
// (flag unknown, false, true) and role (and peer, with
// WithPeerAttributes).

// backupState is what the path events said of a subflow's backup flag.
type backupState uint8

const (
	backupUnknown backupState = iota // no path event carried it
	backupOff
	backupOn
)

// backupFlag returns the state of a flag the path events carried.
func backupFlag(backup bool) backupState {
	if backup {
		return backupOn
	}
	return backupOff
}

// attrs appends mptcp.subflow.backup when the flag is known.
func (b backupState) attrs(kv []attribute.KeyValue) []attribute.KeyValue {
	if b == backupUnknown {
		return kv
	}
	return append(kv, keySubflowBackup.Bool(b == backupOn))
}

// establishedBackup returns the backup flag of subflow id that its
// SubflowEstablished event in s carried, if any.
func establishedBackup(s *conntrace.Sample, id uint32) backupState {
	if e := findPathEvent(s, conntrace.SubflowEstablished, id); e != nil && e.HasBackup {
		return backupFlag(e.Backup)
	}
	return backupUnknown
}

// priorityChanged moves a live subflow whose backup flag changed (a
// SubflowPriority event) to the series of its new flag.
func (c *connTracer) priorityChanged(e *conntrace.PathEvent) {
	if e.Kind != conntrace.SubflowPriority || !e.HasBackup {
		return
	}
	for i := range c.subflows {
		if ref := &c.subflows[i]; ref.id == e.SubflowID {
			if b := backupFlag(e.Backup); ref.as.backup != b {
				ref.as = c.ser.path(ref.as.addr, b)
			}
			return
		}
	}
}

// healthMeters are the instruments of per-path health.
type healthMeters struct {
	retrans, timeouts, spurious metric.Int64ObservableCounter
}

func newHealthMeters(meter metric.Meter) healthMeters {
	var h healthMeters
	h.retrans = check(meter.Int64ObservableCounter(metricSubRetrans, metric.WithUnit("By"),
		metric.WithDescription("Bytes each subflow retransmitted (TCP's retransmissions on the path, tcp_info.bytes_retrans), by local address: which path loses.")))
	h.timeouts = check(meter.Int64ObservableCounter(metricSubTimeouts, metric.WithUnit("{timeout}"),
		metric.WithDescription("Retransmission timeouts of each subflow (tcp_info.total_rto, Linux 6.7+), by local address: losses fast recovery did not repair, or a path that stopped answering.")))
	h.spurious = check(meter.Int64ObservableCounter(metricSubSpurious, metric.WithUnit("{segment}"),
		metric.WithDescription("Segments each subflow retransmitted that the peer had received already (D-SACK, tcp_info.dsack_dups), by local address: a path that reorders or delays, not one that loses.")))
	for _, c := range []*metric.Int64ObservableCounter{&h.retrans, &h.timeouts, &h.spurious} {
		if *c == nil {
			*c = noop.Int64ObservableCounter{}
		}
	}
	return h
}

// instruments returns the instruments for the metrics callback.
func (h *healthMeters) instruments() []metric.Observable {
	return []metric.Observable{h.retrans, h.timeouts, h.spurious}
}

// pathHealth accumulates the loss counters of the subflows of one series.
type pathHealth struct {
	retrans            atomic.Uint64
	timeouts, spurious atomic.Int64
	// timeoutsKnown: a kernel that counts timeouts (6.7+) reported some
	// subflow of the series; until then the series has no timeouts to
	// report, rather than a zero that would read "none".
	timeoutsKnown atomic.Bool
}

// add counts what a subflow's delta says; timeouts tells whether the
// snapshot it came from has tcp_info.total_rto.
func (p *pathHealth) add(d *conntrace.SubflowDelta, timeouts bool) {
	if d.Retransmitted != 0 {
		p.retrans.Add(d.Retransmitted)
	}
	if d.Spurious != 0 {
		p.spurious.Add(int64(d.Spurious))
	}
	if timeouts {
		if !p.timeoutsKnown.Load() {
			p.timeoutsKnown.Store(true)
		}
		if d.Timeouts != 0 {
			p.timeouts.Add(int64(d.Timeouts))
		}
	}
}

// hasTimeouts reports whether s's tcp_info counts retransmission timeouts.
func hasTimeouts(s *mptcpinfo.Snapshot) bool { return s.Has(mptcpinfo.FieldTCPTotalRTO) }

// observe reports the series' counters with the attribute set opt.
func (p *pathHealth) observe(h *healthMeters, o metric.Observer, opt []metric.ObserveOption) {
	o.ObserveInt64(h.retrans, clampInt64(p.retrans.Load()), opt...)
	o.ObserveInt64(h.spurious, p.spurious.Load(), opt...)
	if p.timeoutsKnown.Load() {
		o.ObserveInt64(h.timeouts, p.timeouts.Load(), opt...)
	}
}
