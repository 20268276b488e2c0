// Command httpserver is an HTTP server on an MPTCP listener: mptcpx traces
// every connection it accepts and records its metrics, otelhttp traces
// every request, and each request's span links to the mptcp.connection
// span of the connection it came on (mptcpxotel.LinkHandler). The standard
// OTEL_* environment variables choose where the telemetry goes, for
// example:
//
//	OTEL_SERVICE_NAME=httpserver OTEL_TRACES_EXPORTER=otlp \
//	OTEL_METRICS_EXPORTER=prometheus OTEL_EXPORTER_PROMETHEUS_PORT=9464 \
//	go run ./httpserver -addr 127.0.0.1:8080
//
// GET /?n=N answers N random bytes; the Mptcp response header says whether
// the request came on a Multipath TCP connection. Each connection is in the
// logs from its start (mptcp.connection.established) and every -report
// while it lives (mptcp.connection.report), its span when it closes. SIGINT or SIGTERM stops
// the server gracefully and flushes the telemetry.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/examples/otel/otelenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	report := flag.Duration("report", mptcpxotel.DefaultReportInterval, "how often each live connection is reported to the logs (mptcp.connection.report); 0: never")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdown := otelenv.Setup(ctx)
	defer shutdown()

	ln, err := mptcpx.Listen("tcp", *addr, mptcpx.WithTelemetry(mptcpxotel.WithReportInterval(*report)))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	srv := &http.Server{
		// otelhttp starts each request's span; LinkHandler, inside it,
		// links that span to the span of the request's connection, which
		// ConnContext puts in the request's context.
		Handler:     otelhttp.NewHandler(mptcpxotel.LinkHandler(http.HandlerFunc(serve)), "httpserver"),
		ConnContext: mptcpx.ConnContext,
	}
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}

// serve answers n random bytes, n from the query.
func serve(w http.ResponseWriter, r *http.Request) {
	if c, ok := mptcpx.FromContext(r.Context()); ok {
		mp, _ := c.MultipathTCP()
		w.Header().Set("Mptcp", strconv.FormatBool(mp))
	}
	n, _ := strconv.ParseInt(r.FormValue("n"), 10, 64)
	w.Header().Set("Content-Length", strconv.FormatInt(max(n, 0), 10))
	io.CopyN(w, rand.Reader, n)
}
