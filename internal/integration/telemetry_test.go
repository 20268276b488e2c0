package integration_test

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

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testbed"
	mptcpxotel "github.com/mptcpx/mptcpx/otel"
)

// interval is the sampling interval of the tests' connections: short, so
// that subflow changes show up quickly and periodic samples happen while
// data flows.
const interval = 50 * time.Millisecond

// Attribute values the tests look for.
var (
	roleClient  = attribute.String("mptcp.role", "client")
	roleServer  = attribute.String("mptcp.role", "server")
	transmitDir = attribute.String("network.io.direction", "transmit")
	receiveDir  = attribute.String("network.io.direction", "receive")
)

// telemetry is an in-memory OpenTelemetry SDK: every span is sampled and
// kept by a SpanRecorder, metrics are read on demand through a ManualReader.
// Each test has its own, so its metrics count its connections only.
type telemetry struct {
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	rec    *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	tel := &telemetry{rec: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tel.rec))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		tel.tp.Shutdown(context.Background())
		tel.mp.Shutdown(context.Background())
	})
	return tel
}

// options returns the options that make a Dialer or Listener record into
// tel and sample every interval.
func (tel *telemetry) options() []mptcpx.Option {
	return []mptcpx.Option{
		mptcpx.WithTracerProvider(tel.tp),
		mptcpx.WithMeterProvider(tel.mp),
		mptcpx.WithInterval(interval),
	}
}

// metrics collects the metrics of the mptcpx instrumentation scope.
func (tel *telemetry) metrics(t testing.TB) metricdata.ScopeMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name == mptcpxotel.ScopeName {
			return sm
		}
	}
	return metricdata.ScopeMetrics{}
}

// spans returns the ended mptcp.connection spans of role.
func (tel *telemetry) spans(role attribute.KeyValue) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.rec.Ended() {
		if s.Name() != "mptcp.connection" {
			continue
		}
		if v, ok := attr(s.Attributes(), role.Key); ok && v == role.Value {
			out = append(out, s)
		}
	}
	return out
}

// span returns the one ended mptcp.connection span of role.
func (tel *telemetry) span(t testing.TB, role attribute.KeyValue) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := tel.spans(role)
	if len(spans) != 1 {
		t.Fatalf("%d ended %s spans, want 1 (%d spans ended in all)", len(spans), role.Value.AsString(), len(tel.rec.Ended()))
	}
	return spans[0]
}

// attr returns the value of key in kvs.
func attr(kvs []attribute.KeyValue, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// events returns the events of s named name.
func events(s sdktrace.ReadOnlySpan, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, ev := range s.Events() {
		if ev.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// endpoint is one end of a subflow as a span event describes it.
type endpoint struct {
	Local, Peer netip.AddrPort
	ID          int64
}

// subflowEvent reads the subflow id and addresses of an mptcp.subflow.added
// or mptcp.subflow.removed event; it fails t when one is missing or not an
// address.
func subflowEvent(t testing.TB, ev sdktrace.Event) endpoint {
	t.Helper()
	get := func(key attribute.Key) attribute.Value {
		v, ok := attr(ev.Attributes, key)
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
	return endpoint{
		ID:    get("mptcp.subflow.id").AsInt64(),
		Local: addr("network.local.address", "network.local.port"),
		Peer:  addr("network.peer.address", "network.peer.port"),
	}
}

// subflowEvents reads every event of s named name with subflowEvent.
func subflowEvents(t testing.TB, s sdktrace.ReadOnlySpan, name string) []endpoint {
	t.Helper()
	var out []endpoint
	for _, ev := range events(s, name) {
		out = append(out, subflowEvent(t, ev))
	}
	return out
}

// has reports whether set holds every one of match.
func has(set attribute.Set, match []attribute.KeyValue) bool {
	for _, m := range match {
		if v, ok := set.Value(m.Key); !ok || v != m.Value {
			return false
		}
	}
	return true
}

// intSum returns the int64 sum name; ok is false when the metric is absent.
func intSum(t testing.TB, sm metricdata.ScopeMetrics, name string) (metricdata.Sum[int64], bool) {
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

// total adds up the points of the int64 sum name whose attributes include
// every one of match; an absent metric adds up to 0.
func total(t testing.TB, sm metricdata.ScopeMetrics, name string, match ...attribute.KeyValue) int64 {
	t.Helper()
	d, _ := intSum(t, sm, name)
	var n int64
	for _, p := range d.DataPoints {
		if has(p.Attributes, match) {
			n += p.Value
		}
	}
	return n
}

// byKey adds up the points of the int64 sum name whose attributes include
// every one of match, grouped by the value of key.
func byKey(t testing.TB, sm metricdata.ScopeMetrics, name string, key attribute.Key, match ...attribute.KeyValue) map[string]int64 {
	t.Helper()
	d, _ := intSum(t, sm, name)
	out := map[string]int64{}
	for _, p := range d.DataPoints {
		if has(p.Attributes, match) {
			v, _ := p.Attributes.Value(key)
			out[v.String()] += p.Value
		}
	}
	return out
}

// histCount returns how many values the float64 histogram name recorded at
// points whose attributes include every one of match.
func histCount(t testing.TB, sm metricdata.ScopeMetrics, name string, match ...attribute.KeyValue) uint64 {
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
			if has(p.Attributes, match) {
				n += p.Count
			}
		}
	}
	return n
}

// checkClosedGauges checks the metrics of a test whose connections are all
// closed: no connection or subflow counted as active, every subflow opened
// also closed.
func checkClosedGauges(t testing.TB, sm metricdata.ScopeMetrics) {
	t.Helper()
	for _, role := range []attribute.KeyValue{roleClient, roleServer} {
		r := role.Value.AsString()
		if v := total(t, sm, "mptcp.connection.active", role); v != 0 {
			t.Errorf("mptcp.connection.active{%s} = %d after every connection closed, want 0", r, v)
		}
		if v := total(t, sm, "mptcp.subflow.active", role); v != 0 {
			t.Errorf("mptcp.subflow.active{%s} = %d after every connection closed, want 0", r, v)
		}
		opened, closed := total(t, sm, "mptcp.subflow.opened", role), total(t, sm, "mptcp.subflow.closed", role)
		if opened != closed {
			t.Errorf("mptcp.subflow.opened{%s} = %d, mptcp.subflow.closed = %d: want them equal after every connection closed", r, opened, closed)
		}
	}
}

// waitSubflowsActive waits until mptcp.subflow.active counts client
// subflows on the client side and server on the server side: until the
// sampler, not just the kernel, has seen them. It returns how long that
// took.
func (tel *telemetry) waitSubflowsActive(t testing.TB, client, server int64) time.Duration {
	t.Helper()
	start := time.Now()
	var got [2]int64
	err := testbed.WaitFor(waitTimeout, func() (bool, error) {
		sm := tel.metrics(t)
		got = [2]int64{total(t, sm, "mptcp.subflow.active", roleClient), total(t, sm, "mptcp.subflow.active", roleServer)}
		return got == [2]int64{client, server}, nil
	})
	if err != nil {
		t.Fatalf("mptcp.subflow.active = %d on the client side, %d on the server side, want %d and %d: %v", got[0], got[1], client, server, err)
	}
	return time.Since(start)
}
