package mptcpxotel

import (
	"context"
	"net"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

// connKey is the context key of ConnContext.
type connKey struct{}

// ConnContext returns ctx carrying c. Its signature is that of
// http.Server.ConnContext: assigned there, it puts the connection each
// request arrived on into the request's context, where ConnFromContext
// finds it:
//
//	srv := &http.Server{Handler: h, ConnContext: mptcpxotel.ConnContext}
//	srv.Serve(ln) // ln from mptcpx.Listen
//
// c is what the listener returned: a *mptcpx.Conn, or a *tls.Conn around
// one when the server serves TLS (its NetConn method returns the
// *mptcpx.Conn).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// ConnFromContext returns the connection ConnContext put in ctx.
//
// In a handler, the request's span can link to the connection's span:
//
//	if c, ok := mptcpxotel.ConnFromContext(r.Context()); ok {
//		trace.SpanFromContext(r.Context()).AddLink(trace.Link{SpanContext: mptcpxotel.ConnSpanContext(c)})
//	}
func ConnFromContext(ctx context.Context) (net.Conn, bool) {
	c, ok := ctx.Value(connKey{}).(net.Conn)
	return c, ok && c != nil
}

// spans maps every live connection whose span records to its span context.
var spans sync.Map // net.Conn -> trace.SpanContext

// ConnSpanContext returns the span context of c's mptcp.connection span,
// while c is open. c may be a connection that wraps the traced one and
// returns it from a NetConn method (as *tls.Conn does). The span context is
// invalid when c is not traced, is closed, or its span does not record.
func ConnSpanContext(c net.Conn) trace.SpanContext {
	for range 8 { // a bounded walk down NetConn: wrappers do not nest deeper
		if c == nil {
			break
		}
		if sc, ok := spans.Load(c); ok {
			return sc.(trace.SpanContext)
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	return trace.SpanContext{}
}
