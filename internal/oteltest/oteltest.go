// Package oteltest is the in-memory OpenTelemetry SDK the project's tests
// record into, and the helpers that read what was recorded: every span is
// sampled and kept by a SpanRecorder, metrics are read on demand through a
// ManualReader. Each test builds its own, so its metrics count its own
// connections only.
package oteltest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// Attribute values tests look for.
var (
	RoleClient  = attribute.String("mptcp.role", "client")
	RoleServer  = attribute.String("mptcp.role", "server")
	TransmitDir = attribute.String("network.io.direction", "transmit")
	ReceiveDir  = attribute.String("network.io.direction", "receive")
)

// Telemetry is an SDK that keeps everything it is given.
type Telemetry struct {
	TP     *sdktrace.TracerProvider
	MP     *sdkmetric.MeterProvider
	Rec    *tracetest.SpanRecorder
	Reader *sdkmetric.ManualReader
}

// New returns a Telemetry shut down when t ends.
func New(t testing.TB) *Telemetry {
	t.Helper()
	tel := &Telemetry{Rec: tracetest.NewSpanRecorder(), Reader: sdkmetric.NewManualReader()}
	tel.TP = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tel.Rec))
	tel.MP = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.Reader))
	t.Cleanup(func() {
		tel.TP.Shutdown(context.Background())
		tel.MP.Shutdown(context.Background())
	})
	return tel
}

// Metrics collects the metrics of the mptcpx instrumentation scope.
func (tel *Telemetry) Metrics(t testing.TB) metricdata.ScopeMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name == mptcpxotel.ScopeName {
			return sm
		}
	}
	return metricdata.ScopeMetrics{}
}

// Spans returns the ended mptcp.connection spans of role.
func (tel *Telemetry) Spans(role attribute.KeyValue) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.Rec.Ended() {
		if s.Name() != "mptcp.connection" {
			continue
		}
		if v, ok := Attr(s.Attributes(), role.Key); ok && v == role.Value {
			out = append(out, s)
		}
	}
	return out
}

// WaitSpans returns the ended mptcp.connection spans of role once there
// are at least n, or after a few seconds. Closed connections' spans may end
// a little after Close returned: a Close made while the scheduler's
// goroutine runs one of the connection's hooks leaves the end to that
// goroutine (see package conntrace).
func (tel *Telemetry) WaitSpans(role attribute.KeyValue, n int) []sdktrace.ReadOnlySpan {
	spans := tel.Spans(role)
	for deadline := time.Now().Add(5 * time.Second); len(spans) < n && time.Now().Before(deadline); spans = tel.Spans(role) {
		time.Sleep(5 * time.Millisecond)
	}
	return spans
}

// Span returns the one ended mptcp.connection span of role, waiting for it
// as WaitSpans does.
func (tel *Telemetry) Span(t testing.TB, role attribute.KeyValue) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := tel.WaitSpans(role, 1)
	if len(spans) != 1 {
		t.Fatalf("%d ended %s spans, want 1 (%d spans ended in all)", len(spans), role.Value.AsString(), len(tel.Rec.Ended()))
	}
	return spans[0]
}

// Attr returns the value of key in kvs.
func Attr(kvs []attribute.KeyValue, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// Events returns the events of s named name.
func Events(s sdktrace.ReadOnlySpan, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, ev := range s.Events() {
		if ev.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// Endpoint is one end of a subflow as a span event describes it.
type Endpoint struct {
	Local, Peer netip.AddrPort
	ID          int64
}

// SubflowEvent reads the subflow id and addresses of an mptcp.subflow.added
// or mptcp.subflow.removed event; it fails t when one is missing or not an
// address.
func SubflowEvent(t testing.TB, ev sdktrace.Event) Endpoint {
	t.Helper()
	get := func(key attribute.Key) attribute.Value {
		v, ok := Attr(ev.Attributes, key)
		if !ok {
			t.Fatalf("%s event without %s: %v", ev.Name, key, ev.Attributes)
		}
		return v
	}
	addr := func(host, port attribute.Key) netip.AddrPort {
		a, err := netip.ParseAddr(get(host).AsString())
		if err != nil {
			t.Fatalf("%s event: %s: %v", ev.Name, host, err)
		}
		return netip.AddrPortFrom(a, uint16(get(port).AsInt64()))
	}
	return Endpoint{
		ID:    get("mptcp.subflow.id").AsInt64(),
		Local: addr("network.local.address", "network.local.port"),
		Peer:  addr("network.peer.address", "network.peer.port"),
	}
}

// SubflowEvents reads every event of s named name with SubflowEvent.
func SubflowEvents(t testing.TB, s sdktrace.ReadOnlySpan, name string) []Endpoint {
	t.Helper()
	var out []Endpoint
	for _, ev := range Events(s, name) {
		out = append(out, SubflowEvent(t, ev))
	}
	return out
}

// Has reports whether set holds every one of match.
func Has(set attribute.Set, match []attribute.KeyValue) bool {
	for _, m := range match {
		if v, ok := set.Value(m.Key); !ok || v != m.Value {
			return false
		}
	}
	return true
}

// IntSum returns the int64 sum name; ok is false when the metric is absent.
func IntSum(t testing.TB, sm metricdata.ScopeMetrics, name string) (metricdata.Sum[int64], bool) {
	t.Helper()
	for _, m := range sm.Metrics {
		if m.Name == name {
			d, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s: %T, want an int64 sum", name, m.Data)
			}
			return d, true
		}
	}
	return metricdata.Sum[int64]{}, false
}

// Total adds up the points of the int64 sum name whose attributes include
// every one of match; an absent metric adds up to 0.
func Total(t testing.TB, sm metricdata.ScopeMetrics, name string, match ...attribute.KeyValue) int64 {
	t.Helper()
	d, _ := IntSum(t, sm, name)
	var n int64
	for _, p := range d.DataPoints {
		if Has(p.Attributes, match) {
			n += p.Value
		}
	}
	return n
}

// ByKey adds up the points of the int64 sum name whose attributes include
// every one of match, grouped by the value of key.
func ByKey(t testing.TB, sm metricdata.ScopeMetrics, name string, key attribute.Key, match ...attribute.KeyValue) map[string]int64 {
	t.Helper()
	d, _ := IntSum(t, sm, name)
	out := map[string]int64{}
	for _, p := range d.DataPoints {
		if Has(p.Attributes, match) {
			v, _ := p.Attributes.Value(key)
			out[v.String()] += p.Value
		}
	}
	return out
}

// HistCount returns how many values the float64 histogram name recorded at
// points whose attributes include every one of match.
func HistCount(t testing.TB, sm metricdata.ScopeMetrics, name string, match ...attribute.KeyValue) uint64 {
	t.Helper()
	var n uint64
	for _, m := range sm.Metrics {
		if m.Name != name {
			continue
		}
		d, ok := m.Data.(metricdata.Histogram[float64])
		if !ok {
			t.Fatalf("%s: %T, want a float64 histogram", name, m.Data)
		}
		for _, p := range d.DataPoints {
			if Has(p.Attributes, match) {
				n += p.Count
			}
		}
	}
	return n
}

// CheckClosedGauges checks the metrics of a test whose connections are all
// closed: no connection or subflow counted as active, every subflow opened
// also closed. It first waits, a few seconds at most, until every
// mptcp.connection span that started has ended: a Close made while another
// goroutine runs one of the connection's hooks (a reader at EOF, the
// scheduler) returns before the connection's end is delivered, and that
// goroutine delivers it, gauges first, when its hook returns (see package
// conntrace). A connection that never ends fails the check.
func (tel *Telemetry) CheckClosedGauges(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); tel.openSpans() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := tel.openSpans(); n > 0 {
		t.Errorf("%d mptcp.connection spans not ended 5 s after every connection was closed", n)
	}
	sm := tel.Metrics(t)
	for _, role := range []attribute.KeyValue{RoleClient, RoleServer} {
		r := role.Value.AsString()
		if v := Total(t, sm, "mptcp.connection.active", role); v != 0 {
			t.Errorf("mptcp.connection.active{%s} = %d after every connection closed, want 0", r, v)
		}
		if v := Total(t, sm, "mptcp.subflow.active", role); v != 0 {
			t.Errorf("mptcp.subflow.active{%s} = %d after every connection closed, want 0", r, v)
		}
		opened, closed := Total(t, sm, "mptcp.subflow.opened", role), Total(t, sm, "mptcp.subflow.closed", role)
		if opened != closed {
			t.Errorf("mptcp.subflow.opened{%s} = %d, mptcp.subflow.closed = %d: want them equal after every connection closed", r, opened, closed)
		}
	}
}

// openSpans returns how many mptcp.connection spans have started and not
// ended.
func (tel *Telemetry) openSpans() int {
	n := 0
	for _, s := range tel.Rec.Started() {
		if s.Name() == "mptcp.connection" {
			n++
		}
	}
	for _, s := range tel.Rec.Ended() {
		if s.Name() == "mptcp.connection" {
			n--
		}
	}
	return n
}
