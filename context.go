package mptcpx

import (
	"context"
	"net"
)

// connKey is the context key of ConnContext.
type connKey struct{}

// ConnContext returns ctx carrying c. Its signature is that of
// http.Server.ConnContext: assigned there, it puts the connection each
// request arrived on into the request's context, where FromContext finds it.
//
//	srv := &http.Server{Handler: h, ConnContext: mptcpx.ConnContext}
//	srv.Serve(ln) // ln from mptcpx.Listen or mptcpx.NewListener
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// FromContext returns the *Conn that ConnContext put in ctx, looking
// through connections that wrap it and return it from a NetConn method (as
// *tls.Conn does when the server serves TLS). A handler can then read the
// connection's MPTCP state with Info, or link its request span to the
// connection's span with SpanContext.
func FromContext(ctx context.Context) (*Conn, bool) {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	for range 8 { // wrappers do not nest deeper
		switch v := c.(type) {
		case *Conn:
			return v, true
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil, false
		}
	}
	return nil, false
}
