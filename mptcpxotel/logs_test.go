package mptcpxotel_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// logRecords is a log exporter that keeps what it is given.
type logRecords struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (l *logRecords) Export(_ context.Context, rs []sdklog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		l.records = append(l.records, r.Clone())
	}
	return nil
}
func (*logRecords) Shutdown(context.Context) error   { return nil }
func (*logRecords) ForceFlush(context.Context) error { return nil }

func (l *logRecords) named(name string) []sdklog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sdklog.Record
	for _, r := range l.records {
		if r.EventName() == name {
			out = append(out, r)
		}
	}
	return out
}

// TestLogEvents: the connection events are also log records with an
// event name, the same attributes as the span events, and the connection
// span's context; either form can be turned off.
func TestLogEvents(t *testing.T) {
	testenv.RequireMPTCP(t)
	for _, c := range []struct {
		name       string
		opts       []mptcpxotel.Option
		spans, log bool
	}{
		{"both", nil, true, true},
		{"logs only", []mptcpxotel.Option{mptcpxotel.WithoutSpanEvents()}, false, true},
		{"span events only", []mptcpxotel.Option{mptcpxotel.WithoutLogEvents()}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
			logs := &logRecords{}
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logs)))
			defer tp.Shutdown(context.Background())
			defer lp.Shutdown(context.Background())
			opts := []mptcpx.Option{mptcpx.WithTelemetry(append([]mptcpxotel.Option{
				mptcpxotel.WithTracerProvider(tp), mptcpxotel.WithLoggerProvider(lp),
				mptcpxotel.WithMeterProvider(sdkmetric.NewMeterProvider())}, c.opts...)...)}
			ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				s, err := ln.Accept()
				if err == nil {
					io.Copy(io.Discard, s)
					s.Close()
				}
			}()
			conn, err := mptcpx.Dial("tcp", ln.Addr().String(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			conn.Write([]byte("x"))
			conn.Close()
			var span sdktrace.ReadOnlySpan
			eventually(func() bool {
				for _, s := range rec.Ended() {
					if v, _ := attr(s.Attributes(), "mptcp.role"); v.AsString() == "client" {
						span = s
					}
				}
				return span != nil
			})
			if span == nil {
				t.Fatal("no client span")
			}
			if got := len(eventsNamed(span, "mptcp.subflow.added")); (got == 1) != c.spans {
				t.Errorf("%d mptcp.subflow.added span events, want them %v", got, c.spans)
			}
			var mine []sdklog.Record
			for _, r := range logs.named("mptcp.subflow.added") {
				if r.TraceID() == span.SpanContext().TraceID() {
					mine = append(mine, r)
				}
			}
			if (len(mine) == 1) != c.log {
				t.Fatalf("%d mptcp.subflow.added log records with the client span's trace id, want them %v", len(mine), c.log)
			}
			if !c.log {
				return
			}
			r := mine[0]
			if r.SpanID() != span.SpanContext().SpanID() {
				t.Errorf("log record's span id %v, want the connection span's %v", r.SpanID(), span.SpanContext().SpanID())
			}
			var kv []attribute.KeyValue
			r.WalkAttributes(func(a attribute.KeyValue) bool { kv = append(kv, a); return true })
			local, _ := net.ResolveTCPAddr("tcp", conn.LocalAddr().String())
			wantAttrs(t, "log record", kv, attribute.Int64("mptcp.subflow.id", 1),
				attribute.String("network.local.address", "127.0.0.1"), attribute.Int64("network.local.port", int64(local.Port)))
		})
	}
}

// lineHooks is a program's own hooks: they note every subflow added.
type lineHooks struct {
	conntrace.NopHooks
	mu    sync.Mutex
	added int
}

func (h *lineHooks) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, &lineConn{h: h}
}

type lineConn struct {
	conntrace.NopConnHooks
	h *lineHooks
}

func (c *lineConn) Sampled(s *conntrace.Sample) {
	c.h.mu.Lock()
	c.h.added += len(s.Added)
	c.h.mu.Unlock()
}

// TestHooksCompose: a program's hooks (WithHooks) and the OpenTelemetry
// instrumentation both follow the connection: the program logs, and the
// telemetry is exported. ConnSpanContext finds the span among them.
func TestHooksCompose(t *testing.T) {
	testenv.RequireMPTCP(t)
	e := newEnv(t)
	mine := &lineHooks{}
	ln := listen(t, e.tracer)
	accepted := acceptOne(t, ln)
	c, err := mptcpx.Dial("tcp", ln.Addr().String(), mptcpx.WithHooks(mine), mptcpx.WithHooks(e.tracer))
	if err != nil {
		t.Fatal(err)
	}
	if s := <-accepted; s != nil {
		defer s.Close()
	}
	if sc := mptcpxotel.ConnSpanContext(c); !sc.IsValid() {
		t.Error("ConnSpanContext found no span among the connection's hooks")
	}
	c.Close()
	if mine.added != 1 {
		t.Errorf("the program's hooks saw %d subflows added, want 1", mine.added)
	}
	if len(eventsNamed(e.spanOf(t, "client"), "mptcp.subflow.added")) != 1 {
		t.Error("the OpenTelemetry instrumentation recorded no mptcp.subflow.added event")
	}
}
