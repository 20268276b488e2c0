package mptcpxotel_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// TestMain fails the run if the tests leave goroutines (the sampler's
// goroutine must return once the last connection is closed) or file
// descriptors behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m, follow.Settle) }

// interval is the sampling interval of the tests' connections: short, so
// that periodic samples happen while data flows.
const interval = 10 * time.Millisecond

// env is an OpenTelemetry SDK that keeps every span (tracetest.SpanRecorder,
// every span sampled) and whose metrics are read on demand (ManualReader),
// with a Tracer recording into it.
type env struct {
	tp     *sdktrace.TracerProvider
	rec    *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tracer *mptcpxotel.Tracer
}

func newEnv(t testing.TB, opts ...mptcpxotel.Option) *env {
	t.Helper()
	e := &env{rec: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(e.rec))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	t.Cleanup(func() {
		e.tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	e.tracer = mptcpxotel.NewTracer(append([]mptcpxotel.Option{
		mptcpxotel.WithTracerProvider(e.tp), mptcpxotel.WithMeterProvider(mp)}, opts...)...)
	return e
}

// collect reads the metrics of the scope of this package.
func (e *env) collect(t testing.TB) metricdata.ScopeMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name == mptcpxotel.ScopeName {
			if sm.Scope.Version != mptcpxotel.Version {
				t.Errorf("scope version %q, want %q", sm.Scope.Version, mptcpxotel.Version)
			}
			return sm
		}
	}
	return metricdata.ScopeMetrics{}
}

// spans returns the ended mptcp.connection spans.
func (e *env) spans(t testing.TB) []sdktrace.ReadOnlySpan {
	t.Helper()
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.rec.Ended() {
		if s.Name() == "mptcp.connection" {
			if s.InstrumentationScope().Name != mptcpxotel.ScopeName || s.InstrumentationScope().Version != mptcpxotel.Version {
				t.Errorf("span scope %+v", s.InstrumentationScope())
			}
			out = append(out, s)
		}
	}
	return out
}

// eventually polls cond until it holds or a few seconds passed, and
// returns its last answer. The span of a connection may end a little after
// its Close returned: a Close made while the scheduler's goroutine runs one
// of the connection's hooks leaves the end to that goroutine (see package
// conntrace).
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// spanOf returns the one connection span of role. It waits a while for
// it: a Close made while the scheduler's goroutine runs one of the
// connection's hooks returns before that goroutine ends the span (see
// package conntrace).
func (e *env) spanOf(t testing.TB, role string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		for _, s := range e.spans(t) {
			if v, _ := attr(s.Attributes(), "mptcp.role"); v.AsString() == role {
				if found != nil {
					t.Fatalf("more than one %s span", role)
				}
				found = s
			}
		}
		if found != nil || time.Now().After(deadline) {
			break
		}
	}
	if found == nil {
		t.Fatalf("no ended %s span among %d spans", role, len(e.rec.Ended()))
	}
	return found
}

// attr returns the value of key in kvs.
func attr(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// wantAttrs checks that kvs holds every one of want, with its value.
func wantAttrs(t testing.TB, what string, kvs []attribute.KeyValue, want ...attribute.KeyValue) {
	t.Helper()
	for _, w := range want {
		got, ok := attr(kvs, string(w.Key))
		switch {
		case !ok:
			t.Errorf("%s: no attribute %s (want %s)", what, w.Key, w.Value.String())
		case got != w.Value:
			t.Errorf("%s: %s = %s (%s), want %s (%s)", what, w.Key, got.String(), got.Type(), w.Value.String(), w.Value.Type())
		}
	}
}

// noAttrs checks that kvs holds none of keys.
func noAttrs(t testing.TB, what string, kvs []attribute.KeyValue, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if v, ok := attr(kvs, k); ok {
			t.Errorf("%s: unexpected %s = %s", what, k, v.String())
		}
	}
}

// listen returns an mptcpx listener on loopback traced by tr.
func listen(t testing.TB, tr *mptcpxotel.Tracer) net.Listener {
	t.Helper()
	testenv.RequireMPTCP(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithoutTelemetry(), mptcpx.WithHooks(tr), mptcpx.WithInterval(interval))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptOne accepts one connection in the background.
func acceptOne(t testing.TB, ln net.Listener) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

// dialer returns an mptcpx dialer traced by tr.
func dialer(tr *mptcpxotel.Tracer) *mptcpx.Dialer {
	return mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry(), mptcpx.WithHooks(tr), mptcpx.WithInterval(interval))
}

func addrPort(t testing.TB, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
