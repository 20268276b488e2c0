package mptcpxotel_test

import (
	"log"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx"
	mptcpxotel "github.com/mptcpx/mptcpx/otel"
)

// An HTTP server on an MPTCP listener: each connection gets a span and
// metrics through the global OpenTelemetry providers, and each request's
// span links to its connection's span.
func Example() {
	tracer := mptcpxotel.NewTracer()
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:8080", mptcpx.WithTracer(tracer))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		ConnContext: mptcpxotel.ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, ok := mptcpxotel.ConnFromContext(r.Context()); ok {
				trace.SpanFromContext(r.Context()).AddLink(trace.Link{SpanContext: mptcpxotel.ConnSpanContext(c)})
				if mc, ok := c.(*mptcpx.Conn); ok {
					if info, err := mc.Info(); err == nil {
						log.Printf("%d subflows", len(info.Subflows))
					}
				}
			}
		}),
	}
	log.Fatal(srv.Serve(ln))
}
