// Command httpclient makes HTTP requests over MPTCP connections that mptcpx
// dials and traces. Each request has a span, and the connection dialed for
// it is traced as that span's child. The standard OTEL_* environment
// variables choose where spans and metrics go, for example:
//
//	OTEL_SERVICE_NAME=httpclient OTEL_TRACES_EXPORTER=otlp \
//	go run ./httpclient -url 'http://127.0.0.1:8080/?n=1048576' -n 10
//
// It logs one line per response. After -n requests, or on SIGINT or
// SIGTERM, it closes its connections, which ends their spans, and flushes.
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

	"go.opentelemetry.io/otel"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/examples/otel/otelenv"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080/?n=1048576", "URL to GET")
	n := flag.Int("n", 10, "number of requests; 0: until interrupted")
	every := flag.Duration("every", time.Second, "time between requests")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdown := otelenv.Setup(ctx)
	defer shutdown()
	req, err := http.NewRequest(http.MethodGet, *target, nil)
	if err != nil {
		log.Fatal(err)
	}

	client := &http.Client{Transport: &http.Transport{DialContext: mptcpx.NewDialer(nil).DialContext}}
	defer client.CloseIdleConnections() // ends the connection spans before shutdown flushes them
	for i := 0; (*n == 0 || i < *n) && ctx.Err() == nil; i++ {
		ctx, span := otel.Tracer("httpclient").Start(ctx, "GET") // the connection's parent
		resp, err := client.Do(req.WithContext(ctx))
		if err == nil {
			got, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			log.Printf("%s, %d bytes, Mptcp %s, trace %s", resp.Status, got, resp.Header.Get("Mptcp"), span.SpanContext().TraceID())
		} else {
			log.Print(err)
		}
		span.End()
		time.Sleep(*every)
	}
}
