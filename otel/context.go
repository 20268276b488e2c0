package mptcpxotel

import (
	"net"

	"go.opentelemetry.io/otel/trace"
)

// ConnSpanContext returns the span context of c's mptcp.connection span,
// while c is open. c is a *mptcpx.Conn, or a connection that wraps one and
// returns it from a NetConn method (as *tls.Conn does). The span context is
// invalid when c is not traced by a Tracer, is closed, or its span does not
// record. In an http.Server handler, with mptcpx.ConnContext installed:
//
//	if c, ok := mptcpx.FromContext(r.Context()); ok {
//		trace.SpanFromContext(r.Context()).AddLink(trace.Link{SpanContext: mptcpxotel.ConnSpanContext(c)})
//	}
func ConnSpanContext(c net.Conn) trace.SpanContext {
	for range 8 { // a bounded walk down NetConn: wrappers do not nest deeper
		if c == nil {
			break
		}
		if sc, ok := c.(interface{ SpanContext() trace.SpanContext }); ok {
			return sc.SpanContext()
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	return trace.SpanContext{}
}
