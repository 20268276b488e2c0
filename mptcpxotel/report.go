package mptcpxotel

import (
	"fmt"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// A connection's life in the logs.
//
// The connection span is exported when the connection closes: a gRPC
// channel or a keep-alive connection that lives for hours is invisible in a
// trace backend until then. Two log-based events tie the connection to its
// span while it lives, for logs backends (VictoriaLogs, Loki, ...):
//
//   - mptcp.connection.established, once the connection exists, with the
//     span's start attributes;
//   - mptcp.connection.report, every report interval (WithReportInterval,
//     a minute by default), with the connection's cumulative counters and
//     each path's.
//
// They are log records only, not span events: the span's own start and end
// say what the first would, and a span that lives for hours would collect
// a report every interval until its 128 events were spent.
//
// Reports cost a full reading of the connection per interval (the engine's
// conntrace.Reporter), paid only by connections whose logger takes them:
// with the global no-op logger, or one whose provider is not enabled for
// mptcp.connection.report when the connection is established, nothing is
// read, built or emitted. At the default interval the reading replaces the
// full reading the engine takes of an idle connection every 64 samples
// anyway.

// DefaultReportInterval is the report interval when WithReportInterval is
// not given: a logs backend shows a live connection within a minute, and
// each connection adds one record a minute (167 a second for 10,000
// connections), and no more readings of an idle connection than the
// engine's own check every 64 s at the default sampling interval.
const DefaultReportInterval = time.Minute

// MinReportInterval is the shortest report interval: a shorter positive
// one given to WithReportInterval is raised to it.
const MinReportInterval = time.Second

// WithReportInterval sets how often each live connection is reported, as
// an mptcp.connection.report log record (see the package documentation):
// at the first sample at or after each interval since the connection was
// established, so the sampling interval (mptcpx.WithInterval) rounds it up.
// The default is DefaultReportInterval; zero or a negative value turns the
// reports off; a positive value below MinReportInterval is raised to it.
// Reports need a log SDK (WithLoggerProvider, or the global provider), and
// come only for connections established while its logger was enabled for
// them.
func WithReportInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		switch {
		case d <= 0:
			c.reportInterval = -1
		default:
			c.reportInterval = max(d, MinReportInterval)
		}
	})
}

// initReports sets the report interval and the parameters the logger is
// asked about the two events.
func (t *instrumentation) initReports(cfg config) {
	switch {
	case cfg.reportInterval == 0:
		t.report = DefaultReportInterval
	case cfg.reportInterval > 0:
		t.report = cfg.reportInterval
	}
	t.establishedEnabled = log.EnabledParameters{Severity: log.SeverityInfo, EventName: eventEstablished}
	t.reportEnabled = log.EnabledParameters{Severity: log.SeverityInfo, EventName: eventReport}
}

// ReportPeriod is asked once, when the connection is established: the
// report interval when the logger takes reports now, else zero, so that a
// program without a log SDK pays nothing.
func (c *connTracer) ReportPeriod() time.Duration {
	if c.t.report <= 0 || !c.logEnabled(&c.t.reportEnabled) {
		return 0
	}
	return c.t.report
}

var _ conntrace.Reporter = (*connTracer)(nil)

// logEnabled reports whether the logger takes the records p describes:
// asked before they are built.
func (c *connTracer) logEnabled(p *log.EnabledParameters) bool {
	return c.t.logger != nil && c.t.logger.Enabled(background, *p)
}

// logEvent emits a log record of the event, with the connection span's
// context, and body as its body ("" for none); the logger is not nil. emit
// adds the span event twin; the established and report records have none.
func (c *connTracer) logEvent(name string, at time.Time, p *log.EnabledParameters, kv []attribute.KeyValue, body string) {
	ctx := trace.ContextWithSpanContext(background, c.span.SpanContext())
	if !c.t.logger.Enabled(ctx, *p) {
		return
	}
	var r log.Record
	r.SetEventName(name)
	r.SetTimestamp(at)
	r.SetObservedTimestamp(time.Now())
	r.SetSeverity(log.SeverityInfo)
	if body != "" {
		r.SetBody(attribute.StringValue(body))
	}
	r.AddAttributes(kv...)
	c.t.logger.Emit(ctx, r)
}

// established emits mptcp.connection.established, with the attributes the
// span had at its start and got when the connection was established.
func (c *connTracer) established(at time.Time, local, peer netip.AddrPort) {
	if !c.logEnabled(&c.t.establishedEnabled) {
		return
	}
	kv := make([]attribute.KeyValue, 0, 10)
	kv = append(kv, semconv.NetworkTransportTCP, keyRole.String(c.role.String()))
	typeOf := peer
	if c.role == conntrace.RoleClient {
		kv = appendServer(kv, c.target)
	} else {
		typeOf = local
		if local.Addr().IsValid() {
			kv = append(kv, semconv.ServerAddress(local.Addr().String()), semconv.ServerPort(int(local.Port())))
		}
	}
	if !hasKey(kv, semconv.NetworkTypeKey) {
		if nt, ok := networkType(typeOf.Addr()); ok {
			kv = append(kv, nt)
		}
	}
	kv = appendLocal(kv, local)
	kv = appendPeer(kv, peer)
	c.logEvent(eventEstablished, at, &c.t.establishedEnabled, kv, "")
}

func hasKey(kv []attribute.KeyValue, key attribute.Key) bool {
	for _, a := range kv {
		if a.Key == key {
			return true
		}
	}
	return false
}

// report emits mptcp.connection.report for a sample the engine read in
// full for a report, when one of this instrumentation's intervals has
// passed since the connection began (hooks combined with it may ask for
// reports more often).
func (c *connTracer) report(s *conntrace.Sample) {
	if c.t.report <= 0 {
		return
	}
	// The engine counts periods from the connection's establishment and
	// may take a sample a sixteenth of the sampling interval early: a
	// sixteenth of a period of slack covers both.
	n := uint32((s.Time.Sub(c.start) + c.t.report/16) / c.t.report)
	if n <= c.reports {
		return
	}
	c.reports = n
	if !c.logEnabled(&c.t.reportEnabled) {
		return
	}
	c.logEvent(eventReport, s.Time, &c.t.reportEnabled, c.reportAttributes(s.Snapshot), "")
}

// reportAttributes returns the attributes of a report: the connection's
// cumulative counters as last read, and each live subflow's from snap.
func (c *connTracer) reportAttributes(snap *mptcpinfo.Snapshot) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 11)
	kv = append(kv, keyRole.String(c.role.String()), keyFallback.Bool(c.fallback != conntrace.FallbackNone))
	if c.fallback != conntrace.FallbackNone {
		kv = append(kv, keyFallbackReason.String(c.fallback.String()))
	}
	if c.haveToken {
		kv = append(kv, keyToken.String(fmt.Sprintf("%08x", c.token)))
	}
	if c.haveBytes {
		kv = append(kv, keyBytesSent.Int64(clampInt64(c.bytes[0])),
			keyBytesReceived.Int64(clampInt64(c.bytes[1])),
			keyBytesRetrans.Int64(clampInt64(c.bytes[2])))
	}
	kv = append(kv, keySubflowsMax.Int(int(c.subflowsMax)))
	if c.fallback != conntrace.FallbackNone {
		return kv
	}
	timeouts := hasTimeouts(snap)
	list := make([]attribute.Value, 0, len(c.subflows))
	for _, ref := range c.subflows {
		sf := subflowByID(snap, ref.id)
		if sf == nil {
			continue
		}
		ti := &sf.TCPInfo
		m := make([]attribute.KeyValue, 0, 12)
		m = append(m, keySubflowID.Int64(int64(sf.ID)))
		m = appendLocal(m, unmap(sf.Local))
		m = appendPeer(m, unmap(sf.Remote))
		m = append(m, keySubflowSent.Int64(clampInt64(ti.BytesSent)),
			keySubflowRecv.Int64(clampInt64(ti.BytesReceived)),
			keySubflowRetrans.Int64(clampInt64(ti.BytesRetrans)),
			keySubflowSpurious.Int64(int64(ti.DSACKDups)),
			keySubflowRTT.Float64(sf.RTT().Seconds()))
		if timeouts {
			m = append(m, keySubflowTimeouts.Int64(int64(ti.TotalRTO)))
		}
		m = ref.as.backup.attrs(m)
		list = append(list, attribute.MapValue(m...))
	}
	return append(kv, keySubflowsActive.Int(len(list)), attribute.KeyValue{Key: keySubflowsList, Value: attribute.SliceValue(list...)})
}

// subflowByID returns the subflow id of snap, nil when it lists none.
func subflowByID(snap *mptcpinfo.Snapshot, id uint32) *mptcpinfo.Subflow {
	for i := range snap.Subflows {
		if snap.Subflows[i].ID == id {
			return &snap.Subflows[i]
		}
	}
	return nil
}
