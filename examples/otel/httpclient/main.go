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
	url := flag.String("url", "http://127.0.0.1:8080/?n=1048576", "URL to GET")
	n := flag.Int("n", 10, "number of requests; 0: until interrupted")
	every := flag.Duration("every", time.Second, "time between requests")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdown, err := otelenv.Setup(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer shutdown(context.Background())

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = mptcpx.NewDialer(nil).DialContext
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 0; (*n == 0 || i < *n) && ctx.Err() == nil; i++ {
		if err := get(ctx, client, *url); err != nil {
			log.Print(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(*every):
		}
	}
}

// get makes one request under a span of its own and reads the response.
func get(ctx context.Context, client *http.Client, url string) error {
	ctx, span := otel.Tracer("httpclient").Start(ctx, "GET")
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	log.Printf("%s, %d bytes, Mptcp %s, trace %s", resp.Status, n, resp.Header.Get("Mptcp"), span.SpanContext().TraceID())
	return err
}
