// Package detect turns successive readings of one connection's MPTCP state
// into what changed between them: subflows added and removed, joins that
// failed, a fallback to TCP, and exact byte deltas at the connection and
// subflow levels. It knows nothing of scheduling or hooks: the follower
// (internal/follow) hands it each reading, under the connection's lock, and
// delivers the result.
//
// The concerns live in files of their own: byte accounting (bytes.go),
// subflow identity and joins (subflows.go), matching the path manager's
// events to subflows (events.go) and the fallback's cause (fallback.go).
package detect

import (
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Detector keeps, per connection, just enough of the previous sample to say
// what changed: the last counters of every subflow by id, the peak subflow
// count, the fallback state and the connection-level byte totals counted so
// far.
type Detector struct {
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
	// PlainListener: the connection was accepted by a listener that is
	// itself plain TCP (it could not be opened as MPTCP), so a plain
	// connection is not the client's doing.
	PlainListener bool
	connKind      counterKind
	// AwaitEvents: the path manager's events about the connection are
	// received, so a join's SubflowEstablished event is worth waiting
	// for (see detectSubflows).
	AwaitEvents bool
}

// Stream is what the program did to the byte stream, which the kernel
// does not report before 6.5 but the MPTCP sequence numbers depend on: the
// DATA_FIN that ends each direction takes one sequence number, like a byte.
type Stream struct {
	FinSent bool // the program shut down its writing side (CloseWrite)
	EOFRead bool // the program read the end of the peer's stream
	Final   bool // the connection's last reading
	// Abortive: at the final reading, the close discards what is still
	// queued (SO_LINGER with a zero timeout, a reset, a dead peer), so the
	// bytes not yet sent never will be (see conntrace.Sample.Unsent).
	Abortive bool
	// NoPeerFIN: at the final reading, the socket had nothing left to read
	// and had not reached the end of the stream: the peer's DATA_FIN had
	// not arrived, so the last sequence number received is a byte.
	NoPeerFIN bool
}

// Detect compares snapshot s with the previous one and fills out with what
// changed. It reuses out's slices and allocates nothing once the Detector
// has seen the connection's largest subflow count. It may number the
// snapshot's subflows (Subflow.ID) when the kernel reports no ids.
func (d *Detector) Detect(s *mptcpinfo.Snapshot, role conntrace.Role, out *conntrace.Sample, stream Stream, events []conntrace.PathEvent) {
	d.quiet(s, role, out, events)
	d.samples++

	d.detectFallback(s, role)
	out.Fallback = d.fallback
	out.FallbackChanged = d.fallback != conntrace.FallbackNone && d.fallbackNew
	d.fallbackNew = false

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
	case countBytes:
		out.Sent, out.Received, out.Retransmitted = delta(d.connSent, s.Info.BytesSent), delta(d.connRecv, s.Info.BytesReceived), delta(d.connRtx, s.Info.BytesRetrans)
		d.connSent, d.connRecv, d.connRtx = s.Info.BytesSent, s.Info.BytesReceived, s.Info.BytesRetrans
		if stream.Final {
			out.Unsent = unsentBytes(&s.Info, s.Info.SndUna-s.Info.BytesAcked, s.Info.BytesSent, stream)
			out.Sent += queued(out, stream)
		}
	case countSequence:
		sent, recv := d.sequenceTotals(&s.Info, stream)
		if stream.Final {
			out.Unsent = unsentBytes(&s.Info, d.sndBase, sent, stream)
			sent += queued(out, stream)
		}
		out.Sent, out.Received = grow(d.connSent, sent), grow(d.connRecv, recv)
		d.connSent, d.connRecv = max(d.connSent, sent), max(d.connRecv, recv)
	}

	// The subflows, once the connection's counts are known: a subflow
	// found gone is credited from them (see creditGone).
	if s.Has(mptcpinfo.FieldSubflowList) && !s.Fallback {
		subSent, subRecv := d.detectSubflows(s, out, stream, kind == countBytes || kind == countSequence)
		if kind == countSubflows {
			out.Sent, out.Received = subSent, subRecv
		}
	} else {
		d.releaseHeld(out)
	}
	out.SubflowsMax = d.peak
}

// Unread fills out as the final sample of a connection that ended without
// a last reading (s is empty): nothing read changed, and the removals held
// back for their path events are reported, as last read.
func (d *Detector) Unread(s *mptcpinfo.Snapshot, role conntrace.Role, out *conntrace.Sample, events []conntrace.PathEvent) {
	d.quiet(s, role, out, events)
	d.releaseHeld(out)
}

// quiet fills out as a sample of s in which nothing changed: no
// subflow added or removed, no bytes, the connection's known fallback state
// and peak, keeping out's slice storage.
func (d *Detector) quiet(s *mptcpinfo.Snapshot, role conntrace.Role, out *conntrace.Sample, events []conntrace.PathEvent) {
	out.Snapshot = s
	out.Role = role
	out.First = d.samples == 0
	out.Added = out.Added[:0]
	out.Removed = out.Removed[:0]
	out.FailedJoins = out.FailedJoins[:0]
	out.PathEvents = append(out.PathEvents[:0], events...)
	out.SubflowDeltas = out.SubflowDeltas[:0]
	out.Sent, out.Received, out.Retransmitted, out.Unsent, out.UnsentDiscarded = 0, 0, 0, 0, false
	out.Fallback, out.FallbackChanged = d.fallback, false
	out.SubflowsMax = d.peak
}

// Waiting reports whether the connection's next sample must be a full
// reading because something waits on it: a join in progress at the last
// reading, a join announced by the path manager and not listed yet, or a
// join or a removal held back for its path event (holdJoin, holdRemoval).
func (d *Detector) Waiting() bool {
	if d.unmatched != nil && len(*d.unmatched) > 0 {
		return true
	}
	for i := range d.subflows {
		if st := &d.subflows[i]; st.joining || st.held > 0 && !st.reported || st.gone > 0 {
			return true
		}
	}
	return false
}

// Samples returns how many readings Detect was given.
func (d *Detector) Samples() uint32 { return d.samples }

// Fallback returns the connection's fallback state as last detected.
func (d *Detector) Fallback() conntrace.FallbackReason { return d.fallback }
