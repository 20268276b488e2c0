package mptcpxotel

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// connTracer follows one connection. Its hooks are called one at a time
// (the sampler serialises a connection's samples, and Established and
// Closed come before the first and after the last), so it needs no lock.
type connTracer struct {
	t     *instrumentation
	span  trace.Span
	start time.Time
	ser   *series // where the metrics accumulate, once Established

	subflows []subflowRef // the live subflows, in the order they were added

	// What the span's end attributes report: the last values read.
	bytes       [3]uint64 // sent, received, retransmitted
	unsent      uint64    // queued when the program closed the connection
	discarded   bool      // and discarded by an abortive close
	token       uint32
	subflowsMax int32

	events, dropped int32 // span events added, and those over maxEvents

	target  string // a dialed connection's target, for its established event (report.go)
	reports uint32 // report intervals reported (report.go)

	ended atomic.Bool // the span has ended: SpanContext reports none

	recording                        bool // span.IsRecording(), which holds until End
	haveToken, haveBytes, haveUnsent bool
	role                             conntrace.Role
	fallback                         conntrace.FallbackReason
	end                              conntrace.End
	limit                            conntrace.PathsLimit // the paths' diagnosis, as last told
}

// subflowRef ties a live subflow to the series of its local address.
type subflowRef struct {
	id uint32
	as *addrSeries
}

var _ conntrace.ConnHooks = (*connTracer)(nil)

func (t *instrumentation) newConn(span trace.Span, role conntrace.Role, start time.Time) *connTracer {
	recording := span.IsRecording()
	if !recording && !span.SpanContext().IsValid() {
		// A span that records nothing and has no identity (no tracer
		// provider installed, the connection outside any trace) is not
		// worth its memory for the connection's life: Ending it does
		// nothing, and the shared no-op span says the same.
		span = noSpan
	}
	return &connTracer{t: t, span: span, recording: recording, role: role, start: start}
}

// noSpan is the no-op span, shared.
var noSpan = trace.SpanFromContext(context.Background())

// DialFailed ends the span with status Error and error.type.
func (c *connTracer) DialFailed(err error, at time.Time) {
	if c.recording {
		c.span.SetAttributes(errorType(err))
		c.span.SetStatus(codes.Error, err.Error())
	}
	c.span.End(trace.WithTimestamp(at))
}

// Established records the connection's addresses on the span, counts it in
// mptcp.connection.active.
func (c *connTracer) Established(conn net.Conn, at time.Time) {
	local, peer := addrPortOf(conn.LocalAddr()), addrPortOf(conn.RemoteAddr())
	if c.recording && c.role == conntrace.RoleClient {
		kv := make([]attribute.KeyValue, 0, 5)
		if nt, ok := networkType(peer.Addr()); ok {
			kv = append(kv, nt)
		}
		kv = appendLocal(kv, local)
		kv = appendPeer(kv, peer)
		c.span.SetAttributes(kv...)
	}
	c.ser = c.t.m.series(c.role, peer)
	c.ser.connActive.Add(1)
	c.established(at, local, peer)
}

// Sampled turns one sample into span events and metric updates. In steady
// state (no subflow added or removed, no fallback) it allocates nothing.
func (c *connTracer) Sampled(s *conntrace.Sample) {
	ser, snap := c.ser, s.Snapshot
	if ser == nil || snap == nil {
		return
	}
	if s.Sent != 0 {
		ser.sent.Add(s.Sent)
	}
	if s.Received != 0 {
		ser.received.Add(s.Received)
	}
	if s.Retransmitted != 0 {
		ser.retrans.Add(s.Retransmitted)
	}
	for _, i := range s.Added {
		c.subflowAdded(s, &snap.Subflows[i])
	}
	for k := range s.PathEvents {
		c.pathEvent(&s.PathEvents[k])
	}
	for k := range s.Removed {
		c.subflowRemoved(s, &s.Removed[k])
	}
	for k := range s.FailedJoins {
		c.joinFailed(s, &s.FailedJoins[k])
	}
	if s.FallbackChanged {
		ser.fallbacks[s.Fallback].Add(1)
		if c.wantEvents() {
			c.emit(eventFallback, s.Time, []attribute.KeyValue{keyFallbackReason.String(s.Fallback.String())})
		}
	}
	if s.PathsChanged {
		c.pathsChanged(s)
	}

	rtt := snap.Has(mptcpinfo.FieldTCPInfo) && c.t.m.rtt.Enabled(background)
	timeouts := hasTimeouts(snap)
	for i, d := range s.SubflowDeltas {
		sf := &snap.Subflows[i]
		as := c.addrSeries(sf.ID)
		if as == nil {
			continue
		}
		if d.Sent != 0 {
			as.sent.Add(d.Sent)
		}
		if d.Received != 0 {
			as.received.Add(d.Received)
		}
		as.health.add(&d, timeouts)
		// tcp_info's RTT only moves when data does: one value per
		// subflow per sample in which it carried some.
		if rtt && sf.TCPInfo.RTT > 0 && d.Sent|d.Received != 0 {
			c.t.m.rtt.Record(background, sf.RTT().Seconds(), as.rttOpt...)
		}
	}

	c.fallback, c.subflowsMax = s.Fallback, int32(s.SubflowsMax)
	if snap.InfoLen > 0 && snap.MPTCP && snap.Info.Token != 0 {
		// The kernel zeroes the token when the connection is torn down (a
		// reset, say): keep the one it had.
		c.token, c.haveToken = snap.Info.Token, true
	}
	if snap.Has(mptcpinfo.FieldBytes) {
		c.bytes = [3]uint64{snap.Info.BytesSent, snap.Info.BytesReceived, snap.Info.BytesRetrans}
		c.haveBytes = true
	}
	if s.Final {
		c.end = s.End
		c.unsent, c.haveUnsent = s.Unsent, snap.InfoLen > 0 && snap.MPTCP
		c.discarded = s.UnsentDiscarded
	}
	if s.Report {
		c.report(s)
	}
}

// wantEvents reports whether an event would be recorded anywhere: on the
// span, or as a log record (only when the logger's provider takes them; a
// program without a log SDK pays nothing).
func (c *connTracer) wantEvents() bool {
	return c.recording && c.t.spanEvents || c.t.logger != nil && c.t.logger.Enabled(background, c.t.eventEnabled)
}

// emit records one connection event: as a span event (at most maxEvents of
// them), and as a log record with the event's name (OTEP 4430: events as
// log records), the same attributes, and the connection span's context, so
// that a backend ties it to the span.
func (c *connTracer) emit(name string, at time.Time, kv []attribute.KeyValue) {
	c.emitBody(name, at, kv, "")
}

// emitBody is emit with a body for the log record (the event in words);
// "" for none. The span event has no body: its attributes say it all.
func (c *connTracer) emitBody(name string, at time.Time, kv []attribute.KeyValue, body string) {
	if c.recording && c.t.spanEvents && c.event() {
		c.span.AddEvent(name, trace.WithTimestamp(at), trace.WithAttributes(kv...))
	}
	if c.t.logger != nil {
		c.logEvent(name, at, &c.t.eventEnabled, kv, body)
	}
}

// event reports whether the span takes one more event, and counts those it
// does not take.
func (c *connTracer) event() bool {
	if c.events >= maxEvents {
		c.dropped++
		return false
	}
	c.events++
	return true
}

func (c *connTracer) subflowAdded(s *conntrace.Sample, sf *mptcpinfo.Subflow) {
	c.addSubflow(s, sf.ID, sf.Local, sf.Remote)
}

func (c *connTracer) addSubflow(s *conntrace.Sample, id uint32, local, remote netip.AddrPort) {
	as := c.ser.path(local.Addr().Unmap(), establishedBackup(s, id))
	c.subflows = append(c.subflows, subflowRef{id: id, as: as})
	c.ser.subActive.Add(1)
	c.ser.subOpened.Add(1)
	if c.wantEvents() {
		kv := make([]attribute.KeyValue, 0, 7)
		kv = append(kv, keySubflowID.Int64(int64(id)))
		kv = appendLocal(kv, unmap(local))
		kv = appendPeer(kv, unmap(remote))
		// What the path manager said when it was established.
		if e := findPathEvent(s, conntrace.SubflowEstablished, id); e != nil {
			if e.HasBackup {
				kv = append(kv, keySubflowBackup.Bool(e.Backup))
			}
			if e.Interface != "" {
				kv = append(kv, semconv.NetworkInterfaceName(e.Interface))
			}
		}
		c.emit(eventSubflowAdded, s.Time, kv)
	}
}

// pathEvent records what only the path manager's events tell: a subflow's
// new priority and the peer's address announcements.
func (c *connTracer) pathEvent(e *conntrace.PathEvent) {
	c.priorityChanged(e)
	if !c.wantEvents() {
		return
	}
	var name string
	kv := make([]attribute.KeyValue, 0, 3)
	switch e.Kind {
	case conntrace.SubflowPriority:
		if !e.HasBackup || e.SubflowID == 0 {
			return
		}
		name = eventPriority
		kv = append(kv, keySubflowID.Int64(int64(e.SubflowID)), keySubflowBackup.Bool(e.Backup))
	case conntrace.AddressAnnounced:
		name = eventAddrAnnounced
		kv = append(kv, keyAddressID.Int(int(e.AddressID)))
		kv = appendPeer(kv, unmap(e.Remote))
	case conntrace.AddressRemoved:
		name = eventAddrRemoved
		kv = append(kv, keyAddressID.Int(int(e.AddressID)))
	default:
		return
	}
	c.emit(name, e.Time, kv)
}

// findPathEvent returns the sample's path event of kind about subflow id.
func findPathEvent(s *conntrace.Sample, kind conntrace.PathEventKind, id uint32) *conntrace.PathEvent {
	for k := range s.PathEvents {
		if e := &s.PathEvents[k]; e.Kind == kind && e.SubflowID == id {
			return e
		}
	}
	return nil
}

// resetReasonName names an MP_TCPRST reason code (RFC 8684, 3.6).
func resetReasonName(code uint32) string { return conntrace.ResetReasonName(code) }

func (c *connTracer) subflowRemoved(s *conntrace.Sample, r *conntrace.RemovedSubflow) {
	if r.New {
		// It came and went between two samples: added first.
		c.addSubflow(s, r.ID, r.Local, r.Remote)
	}
	for i := range c.subflows {
		if c.subflows[i].id == r.ID {
			as := c.subflows[i].as
			as.sent.Add(r.Unsampled.Sent)
			as.received.Add(r.Unsampled.Received)
			as.health.add(&r.Unsampled, hasTimeouts(s.Snapshot))
			c.subflows = append(c.subflows[:i], c.subflows[i+1:]...)
			c.ser.subActive.Add(-1)
			c.ser.subClosed.Add(1)
			break
		}
	}
	if c.wantEvents() {
		kv := make([]attribute.KeyValue, 0, 12)
		kv = append(kv, keySubflowID.Int64(int64(r.ID)),
			keySubflowSent.Int64(clampInt64(r.BytesSent+r.Unsampled.Sent)),
			keySubflowRecv.Int64(clampInt64(r.BytesReceived+r.Unsampled.Received)),
			keySubflowRetrans.Int64(clampInt64(r.BytesRetrans+r.Unsampled.Retransmitted)),
			keySubflowRTT.Float64(r.RTT.Seconds()))
		kv = appendLocal(kv, unmap(r.Local))
		kv = appendPeer(kv, unmap(r.Remote))
		// What the path manager said when it closed.
		if r.Error != 0 {
			kv = append(kv, semconv.ErrorTypeKey.String(errnoName(r.Error)))
		}
		if r.Reset {
			kv = append(kv, keyResetReason.String(resetReasonName(r.ResetReason)), keyResetFlags.Int64(int64(r.ResetFlags)))
		}
		c.emit(eventSubflowRemoved, s.Time, kv)
	}
}

// joinFailed reports a join that never completed: counted by local
// address, and a span event with what the kernel last said of it.
func (c *connTracer) joinFailed(s *conntrace.Sample, f *conntrace.FailedJoin) {
	c.ser.addr(f.Local.Addr().Unmap()).joinFails.Add(1)
	if c.wantEvents() {
		kv := make([]attribute.KeyValue, 0, 7)
		kv = append(kv, keySubflowID.Int64(int64(f.ID)),
			keySubflowState.String(tcpStateName(f.State)),
			keySynRetransmits.Int64(int64(f.SynRetransmits)))
		kv = appendLocal(kv, unmap(f.Local))
		kv = appendPeer(kv, unmap(f.Remote))
		c.emit(eventJoinFailed, s.Time, kv)
	}
}

// tcpStateName names a join's TCP state as ss(8) does.
func tcpStateName(state uint8) string {
	switch state {
	case 2:
		return "SYN-SENT"
	case 3:
		return "SYN-RECV"
	}
	return strconv.Itoa(int(state))
}

// addrSeries returns the series of the live subflow id.
func (c *connTracer) addrSeries(id uint32) *addrSeries {
	for i := range c.subflows {
		if c.subflows[i].id == id {
			return c.subflows[i].as
		}
	}
	return nil
}

// Closed counts the subflows still open as closed, records the duration,
// sets the span's end attributes and ends it.
func (c *connTracer) Closed(at time.Time) {
	fallback := c.fallback != conntrace.FallbackNone
	if ser := c.ser; ser != nil {
		if c.limit != conntrace.PathsLimitNone {
			ser.limited[c.limit].Add(-1)
			ser.limitedClosed[c.limit].Add(1)
		}
		n := int64(len(c.subflows))
		ser.subActive.Add(-n)
		ser.subClosed.Add(n)
		ser.connActive.Add(-1)
		if c.t.m.duration.Enabled(background) {
			fb := 0
			if fallback {
				fb = 1
			}
			c.t.m.duration.Record(background, at.Sub(c.start).Seconds(), ser.durationOpt[fb]...)
		}
		c.t.m.release(ser)
		c.subflows = nil
	}
	c.ended.Store(true)
	if c.recording {
		kv := make([]attribute.KeyValue, 0, 9)
		kv = append(kv, keyFallback.Bool(fallback), keySubflowsMax.Int(int(c.subflowsMax)))
		if c.haveToken {
			kv = append(kv, keyToken.String(fmt.Sprintf("%08x", c.token)))
		}
		if c.haveBytes {
			kv = append(kv, keyBytesSent.Int64(clampInt64(c.bytes[0])),
				keyBytesReceived.Int64(clampInt64(c.bytes[1])),
				keyBytesRetrans.Int64(clampInt64(c.bytes[2])))
		}
		if c.haveUnsent {
			kv = append(kv, keyBytesUnsent.Int64(clampInt64(c.unsent)))
			if c.discarded {
				kv = append(kv, keyBytesDiscarded.Int64(clampInt64(c.unsent)))
			}
		}
		if c.end != conntrace.EndNone {
			kv = append(kv, keyCloseReason.String(c.end.String()))
		}
		if c.dropped > 0 {
			kv = append(kv, keyEventsDropped.Int(int(c.dropped)))
		}
		c.span.SetAttributes(kv...)
	}
	c.span.End(trace.WithTimestamp(at))
}

// SpanContext returns the context of the connection's mptcp.connection span
// while the connection is open and the span records; an invalid one
// otherwise. ConnSpanContext asks it, from any goroutine.
func (c *connTracer) SpanContext() trace.SpanContext {
	if !c.recording || c.ended.Load() {
		return trace.SpanContext{}
	}
	return c.span.SpanContext()
}
