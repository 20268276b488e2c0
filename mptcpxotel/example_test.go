package mptcpxotel_test

import (
	"log"
	"net/http"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// An HTTP server on an MPTCP listener: each connection gets a span, events
// and metrics through the global OpenTelemetry providers (mptcpx installs
// this package's instrumentation by default), and each request's span
// links to its connection's span.
func Example() {
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		ConnContext: mptcpx.ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, ok := mptcpx.FromContext(r.Context()); ok {
				trace.SpanFromContext(r.Context()).AddLink(trace.Link{SpanContext: mptcpxotel.ConnSpanContext(c)})
				if info, err := c.Info(); err == nil {
					log.Printf("%d subflows", len(info.Subflows))
				}
			}
		}),
	}
	log.Fatal(srv.Serve(ln))
}

// Telemetry through providers of the program's own rather than the global
// ones, with the events as log records only.
func Example_providers() {
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider()
	lp := sdklog.NewLoggerProvider()
	c, err := mptcpx.Dial("tcp", "127.0.0.1:8080", mptcpx.WithTelemetry(
		mptcpxotel.WithTracerProvider(tp),
		mptcpxotel.WithMeterProvider(mp),
		mptcpxotel.WithLoggerProvider(lp),
		mptcpxotel.WithoutSpanEvents(),
	))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}
