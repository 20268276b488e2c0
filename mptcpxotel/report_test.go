package mptcpxotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testenv"

	"go.opentelemetry.io/otel/attribute"
	lognoop "go.opentelemetry.io/otel/log/noop"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// dropEvent is a log processor that takes every record but those of one
// event name, as a program's filter would.
type dropEvent struct {
	sdklog.Processor
	name string
}

func (p dropEvent) Enabled(ctx context.Context, param sdklog.EnabledParameters) bool {
	return param.EventName != p.name && p.Processor.Enabled(ctx, param)
}

// logEnv is an env with a log SDK that keeps every record.
func logEnv(t *testing.T, opts ...mptcpxotel.Option) (*env, *logRecords) {
	t.Helper()
	logs := &logRecords{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logs)))
	t.Cleanup(func() { lp.Shutdown(context.Background()) })
	return newEnv(t, append([]mptcpxotel.Option{mptcpxotel.WithLoggerProvider(lp)}, opts...)...), logs
}

// recordAttrs returns the attributes of a log record.
func recordAttrs(r sdklog.Record) []attribute.KeyValue {
	var kv []attribute.KeyValue
	r.WalkAttributes(func(a attribute.KeyValue) bool { kv = append(kv, a); return true })
	return kv
}

// TestEstablishedEvent: once a connection is established, a log record
// mptcp.connection.established with the span's start attributes, tied to
// the span; no span event.
func TestEstablishedEvent(t *testing.T) {
	e, logs := logEnv(t)
	ct := dial(t, e.tracer, "10.0.0.1:5000", "10.0.0.2:443")
	ct.Closed(t0.Add(time.Second))
	span := e.spanOf(t, "client")
	rs := logs.named("mptcp.connection.established")
	if len(rs) != 1 {
		t.Fatalf("%d mptcp.connection.established records, want 1", len(rs))
	}
	r := rs[0]
	if r.TraceID() != span.SpanContext().TraceID() || r.SpanID() != span.SpanContext().SpanID() || !r.Timestamp().Equal(t0) {
		t.Errorf("record of trace %v span %v at %v; want the connection span's %v %v at %v",
			r.TraceID(), r.SpanID(), r.Timestamp(), span.SpanContext().TraceID(), span.SpanContext().SpanID(), t0)
	}
	kv := recordAttrs(r)
	want := []attribute.KeyValue{
		attribute.String("network.transport", "tcp"), attribute.String("mptcp.role", "client"),
		attribute.String("network.type", "ipv4"),
		attribute.String("server.address", "10.0.0.2"), attribute.Int64("server.port", 443),
		attribute.String("network.local.address", "10.0.0.1"), attribute.Int64("network.local.port", 5000),
		attribute.String("network.peer.address", "10.0.0.2"), attribute.Int64("network.peer.port", 443),
	}
	wantAttrs(t, "mptcp.connection.established", kv, want...)
	if len(kv) != len(want) {
		t.Errorf("mptcp.connection.established has %d attributes, want %d: %v", len(kv), len(want), kv)
	}
	// The span's attributes: the same, as they were at the start and when
	// established.
	wantAttrs(t, "span", span.Attributes(), want...)
	if n := len(eventsNamed(span, "mptcp.connection.established")); n != 0 {
		t.Errorf("%d mptcp.connection.established span events, want none (a log record only)", n)
	}

	// The server's side.
	tr := e.tracer.Accepted(&fakeConn{local: tcpAddr("10.0.0.2:443"), remote: tcpAddr("10.0.0.1:5000")}, t0)
	tr.Established(&fakeConn{local: tcpAddr("10.0.0.2:443"), remote: tcpAddr("10.0.0.1:5000")}, t0)
	tr.Closed(t0)
	rs = logs.named("mptcp.connection.established")
	if len(rs) != 2 {
		t.Fatalf("%d mptcp.connection.established records, want 2", len(rs))
	}
	wantAttrs(t, "mptcp.connection.established (server)", recordAttrs(rs[1]),
		attribute.String("mptcp.role", "server"), attribute.String("network.type", "ipv4"),
		attribute.String("server.address", "10.0.0.2"), attribute.Int64("server.port", 443),
		attribute.String("network.local.address", "10.0.0.2"), attribute.String("network.peer.address", "10.0.0.1"))
}

// TestReportSynthetic: the instrumentation asks for reports at its
// interval, and emits mptcp.connection.report for each interval passed
// (samples with Report set more often, for other hooks, are left alone),
// with the connection's counters and each live subflow's; not as span
// events.
func TestReportSynthetic(t *testing.T) {
	const interval = 30 * time.Second
	e, logs := logEnv(t, mptcpxotel.WithReportInterval(interval))
	ct := dial(t, e.tracer, "127.0.0.1:5000", "127.0.0.1:443")
	r, ok := ct.(conntrace.Reporter)
	if !ok {
		t.Fatal("the instrumentation's ConnHooks is not a conntrace.Reporter")
	}
	if p := r.ReportPeriod(); p != interval {
		t.Fatalf("ReportPeriod() = %v, want %v", p, interval)
	}
	s := newSynth()
	s.snap.Info.Token = 0xdeadbeef
	s.snap.Subflows = []mptcpinfo.Subflow{subflow(1, "127.0.0.1:5000", 2*time.Millisecond), subflow(2, "127.0.0.2:6000", 4*time.Millisecond)}
	s.snap.Subflows[1].TCPInfo.BytesSent, s.snap.Subflows[1].TCPInfo.BytesRetrans, s.snap.Subflows[1].TCPInfo.TotalRTO, s.snap.Subflows[1].TCPInfo.DSACKDups = 5000, 300, 2, 1
	sm := s.next()
	sm.Added = append(sm.Added, 0, 1)
	sm.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowEstablished, SubflowID: 2, HasBackup: true, Backup: true,
		Local: s.snap.Subflows[1].Local, Remote: s.snap.Subflows[1].Remote}}
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{}, conntrace.SubflowDelta{Sent: 5000})
	sm.SubflowsMax = 2
	ct.Sampled(sm)
	s.snap.Info.BytesSent, s.snap.Info.BytesReceived, s.snap.Info.BytesRetrans = 5000, 70, 9

	report := func(after time.Duration) {
		sm := s.next()
		sm.PathEvents = nil
		sm.Time = t0.Add(after)
		sm.Report = true
		sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{}, conntrace.SubflowDelta{})
		ct.Sampled(sm)
	}
	report(interval - 100*time.Millisecond) // a sample a little early: the first report
	report(interval + 10*time.Second)       // reports asked by other hooks: none of ours
	report(2*interval - time.Second)        // within a sixteenth of the interval: the second
	report(2*interval + 20*time.Second)
	ct.Closed(t0.Add(3 * interval))

	rs := logs.named("mptcp.connection.report")
	if len(rs) != 2 {
		t.Fatalf("%d mptcp.connection.report records, want 2", len(rs))
	}
	span := e.spanOf(t, "client")
	if n := len(eventsNamed(span, "mptcp.connection.report")); n != 0 {
		t.Errorf("%d mptcp.connection.report span events, want none", n)
	}
	for i, r := range rs {
		if r.SpanID() != span.SpanContext().SpanID() || r.TraceID() != span.SpanContext().TraceID() {
			t.Errorf("report %d: not tied to the connection span", i)
		}
	}
	if want := t0.Add(2*interval - time.Second); !rs[1].Timestamp().Equal(want) {
		t.Errorf("second report at %v, want %v", rs[1].Timestamp(), want)
	}
	kv := recordAttrs(rs[0])
	wantAttrs(t, "mptcp.connection.report", kv,
		attribute.String("mptcp.role", "client"),
		attribute.String("mptcp.token", "deadbeef"),
		attribute.Bool("mptcp.fallback", false),
		attribute.Int64("mptcp.bytes.sent", 5000),
		attribute.Int64("mptcp.bytes.received", 70),
		attribute.Int64("mptcp.bytes.retransmitted", 9),
		attribute.Int64("mptcp.subflows.active", 2),
		attribute.Int64("mptcp.subflows.max", 2))
	list, ok := attr(kv, "mptcp.subflows.list")
	if !ok || len(list.AsSlice()) != 2 {
		t.Fatalf("mptcp.subflows.list = %v, want two subflows", list)
	}
	first, second := list.AsSlice()[0].AsMap(), list.AsSlice()[1].AsMap()
	wantAttrs(t, "subflow 1", first,
		attribute.Int64("mptcp.subflow.id", 1),
		attribute.String("network.local.address", "127.0.0.1"), attribute.Int64("network.local.port", 5000),
		attribute.String("network.peer.address", "127.0.0.1"), attribute.Int64("network.peer.port", 443),
		attribute.Float64("mptcp.subflow.rtt", 0.002),
		attribute.Int64("mptcp.subflow.bytes.retransmitted", 0))
	if _, ok := attr(first, "mptcp.subflow.backup"); ok {
		t.Error("subflow 1 has mptcp.subflow.backup: no path event said it")
	}
	wantAttrs(t, "subflow 2", second,
		attribute.Int64("mptcp.subflow.id", 2),
		attribute.String("network.local.address", "127.0.0.2"),
		attribute.Int64("mptcp.subflow.bytes.sent", 5000),
		attribute.Int64("mptcp.subflow.bytes.received", 0),
		attribute.Int64("mptcp.subflow.bytes.retransmitted", 300),
		attribute.Int64("mptcp.subflow.timeouts", 2),
		attribute.Int64("mptcp.subflow.spurious_retransmissions", 1),
		attribute.Bool("mptcp.subflow.backup", true))
}

// TestReportPeriod: the period the instrumentation asks the engine for:
// its interval (the default, or the option's, raised to the minimum), and
// none when reports are off or no logger takes them (no log SDK, the log
// events off, a provider that filters the event out).
func TestReportPeriod(t *testing.T) {
	logs := &logRecords{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logs)))
	filtered := sdklog.NewLoggerProvider(sdklog.WithProcessor(dropEvent{sdklog.NewSimpleProcessor(logs), "mptcp.connection.report"}))
	defer lp.Shutdown(context.Background())
	defer filtered.Shutdown(context.Background())
	for _, c := range []struct {
		name string
		opts []mptcpxotel.Option
		want time.Duration
	}{
		{"default", []mptcpxotel.Option{mptcpxotel.WithLoggerProvider(lp)}, mptcpxotel.DefaultReportInterval},
		{"set", []mptcpxotel.Option{mptcpxotel.WithLoggerProvider(lp), mptcpxotel.WithReportInterval(15 * time.Second)}, 15 * time.Second},
		{"raised to the minimum", []mptcpxotel.Option{mptcpxotel.WithLoggerProvider(lp), mptcpxotel.WithReportInterval(time.Millisecond)}, mptcpxotel.MinReportInterval},
		{"zero: off", []mptcpxotel.Option{mptcpxotel.WithLoggerProvider(lp), mptcpxotel.WithReportInterval(0)}, 0},
		{"negative: off", []mptcpxotel.Option{mptcpxotel.WithLoggerProvider(lp), mptcpxotel.WithReportInterval(-time.Second)}, 0},
		{"no log SDK", []mptcpxotel.Option{mptcpxotel.WithLoggerProvider(lognoop.NewLoggerProvider())}, 0},
		{"log events off", []mptcpxotel.Option{mptcpxotel.WithLoggerProvider(lp), mptcpxotel.WithoutLogEvents()}, 0},
		{"filtered out", []mptcpxotel.Option{mptcpxotel.WithLoggerProvider(filtered)}, 0},
	} {
		e := newEnv(t, c.opts...)
		ct := dial(t, e.tracer, "127.0.0.1:5000", "127.0.0.1:443")
		if got := ct.(conntrace.Reporter).ReportPeriod(); got != c.want {
			t.Errorf("%s: ReportPeriod() = %v, want %v", c.name, got, c.want)
		}
		ct.Closed(t0)
	}
	// The filter let the established event through.
	if n := len(logs.named("mptcp.connection.established")); n != 6 {
		t.Errorf("%d mptcp.connection.established records, want 6", n)
	}
}

// TestReportsWithoutLogSDK: with the global providers and no log SDK
// installed (no test of this package installs global ones), a connection
// asks for no report, and a sample marked as one (asked by other hooks)
// costs nothing more than any other.
func TestReportsWithoutLogSDK(t *testing.T) {
	ct, sm := steady(t, mptcpxotel.NewTracer())
	if p := ct.(conntrace.Reporter).ReportPeriod(); p != 0 {
		t.Errorf("ReportPeriod() = %v with the global no-op logger, want 0", p)
	}
	sm.Report = true
	n := 0
	if a := testenv.SteadyAllocs(1000, func() {
		n++
		sm.Time = t0.Add(time.Duration(n) * time.Hour)
		ct.Sampled(sm)
	}); a != 0 {
		t.Errorf("%v allocations per report sample, want 0", a)
	}
	ct.Closed(t0.Add(time.Second))
}
