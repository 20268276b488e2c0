package mptcpxotel

import (
	"net"

	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/connwrap"
)

// ConnSpanContext returns the span context of c's mptcp.connection span,
// while c is open. c is a *mptcpx.Conn, or a connection that wraps one (a
// *tls.Conn, a connection-limiting listener's). The span context is invalid
// when this package's instrumentation does not follow c, when c is closed, or when its
// span does not record. LinkHandler and LinkTransport link HTTP request
// spans to it; elsewhere, for example in a handler with
// mptcpx.ConnContext installed, a span links to it with:
//
//	if c, ok := mptcpx.FromContext(ctx); ok {
//		span.AddLink(trace.Link{SpanContext: mptcpxotel.ConnSpanContext(c)})
//	}
func ConnSpanContext(c net.Conn) trace.SpanContext {
	type hooked interface{ Hooks() conntrace.ConnHooks }
	h, ok := connwrap.Find(c, func(c net.Conn) bool { _, ok := c.(hooked); return ok }).(hooked)
	if !ok {
		return trace.SpanContext{}
	}
	return spanContextOf(h.Hooks())
}

// spanContextOf returns the first valid span context among this package's
// per-connection states in hooks (several instrumentations of this package
// may follow one connection, as in its tests: the first may be on providers
// that do not record).
func spanContextOf(hooks conntrace.ConnHooks) trace.SpanContext {
	switch h := hooks.(type) {
	case *connTracer:
		return h.SpanContext()
	case interface{ Unwrap() []conntrace.ConnHooks }:
		for _, inner := range h.Unwrap() {
			if sc := spanContextOf(inner); sc.IsValid() {
				return sc
			}
		}
	}
	return trace.SpanContext{}
}
