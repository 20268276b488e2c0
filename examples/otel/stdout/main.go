// Command stdout prints everything mptcpx records for one MPTCP connection
// on loopback, with OpenTelemetry's stdout exporters: the mptcp.connection
// spans of both ends with their events, the same events as log records,
// and the mptcp.* metrics.
//
//	cd examples/otel && go run ./stdout
//
// The SDK set-up is the one README.md shows; any program that installs it
// gets the same output for its own connections.
package main

import (
	"context"
	"errors"
	"io"
	"log"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mptcpx/mptcpx"
)

func main() {
	spans, err1 := stdouttrace.New(stdouttrace.WithPrettyPrint())
	logs, err2 := stdoutlog.New(stdoutlog.WithPrettyPrint())
	metrics, err3 := stdoutmetric.New(stdoutmetric.WithPrettyPrint())
	if err := errors.Join(err1, err2, err3); err != nil {
		log.Fatal(err)
	}
	// Spans are printed as their connections close, log records as the
	// events happen, metrics every minute and when the program ends.
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))
	otel.SetLoggerProvider(sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logs))))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics)))
	otel.SetMeterProvider(mp)
	defer mp.Shutdown(context.Background())

	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			log.Print(err)
			return
		}
		io.Copy(io.Discard, c) // until the client closes
		c.Close()
	}()

	c, err := mptcpx.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		log.Fatal(err)
	}
	c.Close()
	<-done
}
