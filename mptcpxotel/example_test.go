package mptcpxotel_test

import (
	"context"
	"io"
	"log"
	"net/http"

	"go.opentelemetry.io/otel"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// An HTTP server on an MPTCP listener: each connection gets a span, events
// and metrics through the global OpenTelemetry providers (mptcpx installs
// this package's instrumentation by default), each request's span links to
// its connection's span, and handlers read their connection's MPTCP state.
func Example() {
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if c, ok := mptcpx.FromContext(r.Context()); ok {
			if info, err := c.Info(); err == nil {
				log.Printf("%d subflows", len(info.Subflows))
			}
		}
	})
	srv := &http.Server{
		ConnContext: mptcpx.ConnContext,
		Handler:     otelhttp.NewHandler(mptcpxotel.LinkHandler(mux), "server"),
	}
	log.Fatal(srv.Serve(ln))
}

// An HTTP server whose request spans link to the spans of their
// connections, in HTTP/1.1 and unencrypted HTTP/2 (h2c) on the same
// listener; over TLS, serve tls.NewListener(ln, cfg) instead.
func ExampleLinkHandler() {
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		ConnContext: mptcpx.ConnContext,
		Handler:     otelhttp.NewHandler(mptcpxotel.LinkHandler(http.FileServer(http.Dir("."))), "files"),
		Protocols:   &protocols,
	}
	log.Fatal(srv.Serve(ln))
}

// An HTTP client whose request spans link to the spans of the connections
// that carried them, pooled keep-alive connections included.
func ExampleLinkTransport() {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = mptcpx.NewDialer(nil).DialContext
	client := &http.Client{Transport: otelhttp.NewTransport(mptcpxotel.LinkTransport(tr))}
	defer tr.CloseIdleConnections() // ends the connections' spans (otelhttp's Transport does not pass the client's on)

	ctx, span := otel.Tracer("example").Start(context.Background(), "fetch")
	defer span.End()
	for range 2 { // the second request reuses the first one's connection
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:8080/", nil)
		if err != nil {
			log.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// otelhttp stands in the examples for package
// go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp, which
// starts a span for each request its handler serves and its transport
// sends, and puts it in the request's context for what it wraps. This
// module does not depend on it; a program imports it instead.
var otelhttp = struct {
	NewHandler   func(h http.Handler, operation string) http.Handler
	NewTransport func(rt http.RoundTripper) http.RoundTripper
}{
	NewHandler: func(h http.Handler, operation string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, span := otel.Tracer("otelhttp").Start(r.Context(), operation, trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	},
	NewTransport: func(rt http.RoundTripper) http.RoundTripper { return roundTripper{rt} },
}

// roundTripper is the stand-in of otelhttp's Transport.
type roundTripper struct{ rt http.RoundTripper }

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := otel.Tracer("otelhttp").Start(r.Context(), r.Method, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	return t.rt.RoundTrip(r.WithContext(ctx))
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

// A span of the program's own links to the mptcp.connection span of the
// connection its request came on (what LinkHandler does for otelhttp's
// request spans).
func ExampleConnSpanContext() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		ctx, span := otel.Tracer("app").Start(r.Context(), "work")
		defer span.End()
		if c, ok := mptcpx.FromContext(ctx); ok { // with mptcpx.ConnContext in the http.Server
			span.AddLink(trace.Link{SpanContext: mptcpxotel.ConnSpanContext(c)})
		}
		io.WriteString(w, "done")
	}
	srv := &http.Server{ConnContext: mptcpx.ConnContext, Handler: http.HandlerFunc(handler)}
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.Serve(ln))
}
