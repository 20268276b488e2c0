// Command httpclient makes HTTP requests over MPTCP connections that mptcpx
// dials and traces. otelhttp gives each request a span, which links to the
// mptcp.connection span of the connection that carried the request
// (mptcpxotel.LinkTransport), the first request's and those sent on the
// kept-alive connection alike; the connection's span is the child of the
// span of the request it was dialed for. The standard OTEL_* environment
// variables choose where spans and metrics go, for example:
//
//	OTEL_SERVICE_NAME=httpclient OTEL_TRACES_EXPORTER=otlp \
//	go run ./httpclient -url 'http://127.0.0.1:8080/?n=1048576' -n 10
//
// It logs one line per response. The kept-alive connection is in the logs
// from its start and every -report while it lives (mptcp.connection.report).
// After -n requests, or on SIGINT or SIGTERM, it closes its connections,
// which ends their spans, and flushes.
package main

import (
	"context"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/examples/otel/otelenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080/?n=1048576", "URL to GET")
	n := flag.Int("n", 10, "number of requests; 0: until interrupted")
	every := flag.Duration("every", time.Second, "time between requests")
	report := flag.Duration("report", mptcpxotel.DefaultReportInterval, "how often each live connection is reported to the logs (mptcp.connection.report); 0: never")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdown := otelenv.Setup(ctx)
	defer shutdown()
	req, err := http.NewRequest(http.MethodGet, *target, nil)
	if err != nil {
		log.Fatal(err)
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = mptcpx.NewDialer(nil, mptcpx.WithTelemetry(mptcpxotel.WithReportInterval(*report))).DialContext
	// otelhttp starts each request's span; LinkTransport, inside it, links
	// that span to the span of the connection the request goes over.
	client := &http.Client{Transport: otelhttp.NewTransport(mptcpxotel.LinkTransport(tr))}
	// Closing the idle connections ends their spans before shutdown
	// flushes them. otelhttp's Transport does not pass
	// client.CloseIdleConnections on: close them with tr.
	defer tr.CloseIdleConnections()
	for i := 0; (*n == 0 || i < *n) && ctx.Err() == nil; i++ {
		resp, err := client.Do(req.WithContext(ctx))
		if err == nil {
			got, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close() // ends the request's span
			// The request the transport sent carries the request's span.
			tid := trace.SpanContextFromContext(resp.Request.Context()).TraceID()
			log.Printf("%s, %d bytes, Mptcp %s, trace %s", resp.Status, got, resp.Header.Get("Mptcp"), tid)
		} else {
			log.Print(err)
		}
		time.Sleep(*every)
	}
}
