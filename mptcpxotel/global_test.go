package mptcpxotel_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
	lognoop "go.opentelemetry.io/otel/log/noop"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// globalProvidersRan: TestGlobalProviders ran in this process.
var globalProvidersRan atomic.Bool

// TestGlobalProviders: with no option at all, mptcpx records every
// connection through the global providers (swapping net.Dial for
// mptcpx.Dial is enough); WithoutTelemetry leaves the instrumentation out,
// and then only the program's own hooks follow the connection. The test
// replaces the global providers, so it does not run in parallel with
// others.
func TestGlobalProviders(t *testing.T) {
	testenv.RequireMPTCP(t)
	if globalProvidersRan.Swap(true) {
		// The default instrumentation is made once, and OpenTelemetry's
		// global providers hand what was made before to the first SDK
		// installed only: a second run's SDK would not see it.
		t.Skip("runs once per process (go test -count): the global providers delegate to the first SDK installed only")
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	logs := &logRecords{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logs)))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetLoggerProvider(lp)
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		otel.SetLoggerProvider(lognoop.NewLoggerProvider())
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
		lp.Shutdown(context.Background())
	})

	// dialAndClose opens one connection to a listener of package net (so that only
	// the client side is followed), writes a byte and closes it.
	ln := testenv.ListenMPTCP(t, "tcp", "")
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, s); s.Close() }()
		}
	}()
	dialAndClose := func(opts ...mptcpx.Option) *mptcpx.Conn {
		t.Helper()
		c, err := mptcpx.Dial("tcp", ln.Addr().String(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		c.Close()
		return c.(*mptcpx.Conn)
	}
	clientSpans := func() int {
		n := 0
		for _, s := range rec.Ended() {
			if v, _ := attr(s.Attributes(), "mptcp.role"); s.Name() == "mptcp.connection" && v.AsString() == "client" {
				n++
			}
		}
		return n
	}
	opened := func() int64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "mptcp.subflow.opened" {
					var n int64
					for _, p := range sum.DataPoints {
						n += p.Value
					}
					return n
				}
			}
		}
		return 0
	}

	dialAndClose()
	eventually(func() bool { return clientSpans() == 1 })
	if n := clientSpans(); n != 1 {
		t.Fatalf("with no options, %d client spans reached the global tracer provider, want 1", n)
	}
	if n := opened(); n != 1 {
		t.Errorf("with no options, the global meter provider counts %d subflows opened, want 1", n)
	}
	if n := len(logs.named("mptcp.subflow.added")); n != 1 {
		t.Errorf("with no options, %d mptcp.subflow.added log records reached the global logger provider, want 1", n)
	}

	mine := &lineHooks{}
	c := dialAndClose(mptcpx.WithoutTelemetry(), mptcpx.WithHooks(mine))
	if n := clientSpans(); n != 1 {
		t.Errorf("WithoutTelemetry: %d client spans in all, want still 1", n)
	}
	if n := opened(); n != 1 {
		t.Errorf("WithoutTelemetry: %d subflows opened in all, want still 1", n)
	}
	if n := len(logs.named("mptcp.subflow.added")); n != 1 {
		t.Errorf("WithoutTelemetry: %d mptcp.subflow.added log records in all, want still 1", n)
	}
	if mine.added != 1 {
		t.Errorf("WithoutTelemetry: the program's hooks saw %d subflows added, want 1", mine.added)
	}
	if _, multi := c.Hooks().(interface{ Unwrap() []conntrace.ConnHooks }); multi {
		t.Errorf("WithoutTelemetry: the connection is followed by several hooks (%T), want the program's alone", c.Hooks())
	}
	if c := dialAndClose(mptcpx.WithoutTelemetry()); c.Hooks() != nil {
		t.Errorf("WithoutTelemetry and no WithHooks: the connection is followed by %T", c.Hooks())
	}
}
