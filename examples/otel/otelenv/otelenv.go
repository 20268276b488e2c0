// Package otelenv sets up the OpenTelemetry SDK the way the standard OTEL_*
// environment variables describe, as any instrumented program would: it is
// not specific to mptcpx. autoexport picks the span exporter from
// OTEL_TRACES_EXPORTER (otlp by default, console, none), the metric reader
// from OTEL_METRICS_EXPORTER (otlp by default, prometheus, console, none)
// and the log exporter from OTEL_LOGS_EXPORTER (otlp by default, console,
// none): mptcpx emits its connection events as log records too.
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the program. Trace
// context travels between programs in W3C traceparent headers (the default
// of OTEL_PROPAGATORS), so that a gRPC server's RPC spans are children of
// its client's.
package otelenv

import (
	"context"
	"errors"
	"log"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Setup installs global tracer, meter and logger providers that export through the
// exporters the environment names; mptcpx records through the global
// providers unless told otherwise. When the environment names an exporter
// that cannot be set up, Setup logs why and exits, as fits an example.
//
// The returned function flushes what is still buffered and stops the
// exporters (for the prometheus exporter, its HTTP server): call it before
// the program exits, after the last connection is closed, so that the
// connection spans are sent.
func Setup(ctx context.Context) (shutdown func()) {
	spans, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		log.Fatal(err)
	}
	metrics, err := autoexport.NewMetricReader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	logs, err := autoexport.NewLogExporter(ctx)
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(logs)))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetLoggerProvider(lp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return func() {
		ctx := context.Background()
		if err := errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx), lp.Shutdown(ctx)); err != nil {
			log.Print(err)
		}
	}
}
