package mptcpxotel

import (
	"net"
	"net/http"
	"net/http/httptrace"

	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx/internal/connctx"
)

// LinkHandler returns an http.Handler that links each request's span to
// the mptcp.connection span of the connection the request arrived on, then
// calls h, so that a trace view leads from a slow request to the subflows
// and path changes of its connection. Place it inside the handler that
// starts request spans (otelhttp.NewHandler, or otelhttp.NewMiddleware's),
// which puts its span in the request's context before calling what it
// wraps; the http.Server needs mptcpx.ConnContext:
//
//	srv := &http.Server{
//		ConnContext: mptcpx.ConnContext,
//		Handler:     otelhttp.NewHandler(mptcpxotel.LinkHandler(mux), "server"),
//	}
//	err := srv.Serve(ln) // ln from mptcpx.Listen, or mptcpx.NewListener, or tls.NewListener around either
//
// For each request, before h runs, LinkHandler takes the span of the
// request's context (trace.SpanFromContext) and the connection that
// mptcpx.ConnContext put in that context, and adds a link without
// attributes (trace.Span.AddLink) from the span to the connection's span
// (ConnSpanContext): every request that a keep-alive HTTP/1.1 connection
// carries, and every stream of an HTTP/2 connection (over TLS, or
// unencrypted), links to the span of the same connection. A link without
// attributes says only "this request went over that connection"; the
// connection span holds the rest and does not link back, since a
// connection may carry any number of requests.
//
// No link is added, and h serves the request as it would without
// LinkHandler, when the span in the request's context does not record
// (LinkHandler placed outside otelhttp.NewHandler, where there is no
// request span yet; a request otelhttp's filter leaves out; a span the
// sampler dropped), when the request's context holds no connection (no
// ConnContext: mptcpx.ConnContext), or when ConnSpanContext finds no span:
// a connection that is not a *mptcpx.Conn and wraps none (a listener that
// is not mptcpx's), or whose mptcp.connection span does not record (see
// mptcpx.WithoutTelemetry and the tracer provider). Placed twice, it links
// twice.
//
// h gets the ResponseWriter and the request that LinkHandler got, with
// every interface of the ResponseWriter (http.Flusher, http.Hijacker, ...):
// LinkHandler allocates nothing of its own; the link costs what AddLink
// costs. A nil h is http.DefaultServeMux, as for http.Server.
func LinkHandler(h http.Handler) http.Handler {
	if h == nil {
		h = http.DefaultServeMux
	}
	return linkHandler{h}
}

// linkHandler is the handler of LinkHandler.
type linkHandler struct{ h http.Handler }

func (l linkHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		linkConn(span, connctx.From(ctx))
	}
	l.h.ServeHTTP(w, r)
}

// LinkTransport returns an http.RoundTripper that sends each request
// through rt and links the request's span to the mptcp.connection span of
// the connection that carried it, so that a trace view leads from a slow
// request to the subflows and path changes of its connection. Place it
// inside the RoundTripper that starts request spans (otelhttp.NewTransport),
// which puts its span in the request's context before calling what it
// wraps; rt, or a RoundTripper it wraps, is an *http.Transport that dials
// with an mptcpx Dialer:
//
//	tr := http.DefaultTransport.(*http.Transport).Clone()
//	tr.DialContext = mptcpx.NewDialer(nil).DialContext
//	client := &http.Client{Transport: otelhttp.NewTransport(mptcpxotel.LinkTransport(tr))}
//
// For each request whose context holds a span that records
// (trace.SpanFromContext), RoundTrip adds to the request's context an
// httptrace.ClientTrace whose GotConn hook adds a link without attributes
// (trace.Span.AddLink) from that span to the span of the connection the
// transport got for the request (ConnSpanContext): one it dialed, or a
// keep-alive one from its idle pool, whose span began with an earlier
// request's dial; in HTTP/2, the connection on which the request's stream
// opens, shared with other requests. A request that the transport retries
// on another connection links to each. A link without attributes says only
// "this request went over that connection"; the connection span holds the
// rest and does not link back. (A connection's span is the child of the
// span in its dial's context: the request that made the transport dial,
// which the transport may then send over another connection. The parent
// says who opened a connection, the links which requests it carried.)
//
// The ClientTrace composes with one already in the request's context
// (httptrace.WithClientTrace): the hooks of both run. RoundTrip passes the
// request to rt with that context (http.Request.WithContext), changes
// nothing else, and returns rt's response and error as they are.
//
// LinkTransport links the span in the request's context when its
// RoundTrip is called, whichever span that is: placed outside
// otelhttp.NewTransport, or for a request otelhttp's filter leaves out,
// the caller's span, if any, gets the link instead of a request span. No
// link is added when that span does not record, when rt does not report
// GotConn (it reaches no *http.Transport, or fails before it has a
// connection), or when ConnSpanContext finds no span for the connection:
// one that is not a *mptcpx.Conn and wraps none (the transport's
// DialContext is not an mptcpx Dialer's), or whose mptcp.connection span
// does not record.
//
// For a request whose span records, the link costs four small allocations
// (the ClientTrace and its hook, the context, the request's shallow copy)
// besides what AddLink costs, and nothing per byte; other requests pass
// straight through. The returned RoundTripper has rt's
// CloseIdleConnections, which http.Client.CloseIdleConnections calls; but
// otelhttp's Transport has none, so a client behind it closes its idle
// connections, and ends their spans, with rt's. A nil rt is
// http.DefaultTransport, as for http.Client.
func LinkTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return linkTransport{rt}
}

// linkTransport is the RoundTripper of LinkTransport.
type linkTransport struct{ rt http.RoundTripper }

func (t linkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return t.rt.RoundTrip(req)
	}
	ct := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { linkConn(span, info.Conn) },
	}
	return t.rt.RoundTrip(req.WithContext(httptrace.WithClientTrace(ctx, ct)))
}

// CloseIdleConnections closes rt's idle connections, if rt has a
// CloseIdleConnections method, as http.Client.CloseIdleConnections does.
func (t linkTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// linkConn links span to the mptcp.connection span of c, if c has one
// that records.
func linkConn(span trace.Span, c net.Conn) {
	if sc := ConnSpanContext(c); sc.IsValid() {
		span.AddLink(trace.Link{SpanContext: sc})
	}
}
