package mptcpx

import (
	"context"
	"net"

	"github.com/mptcpx/mptcpx/internal/connctx"
	"github.com/mptcpx/mptcpx/internal/connwrap"
)

// ConnContext returns ctx carrying c. Its signature is that of
// http.Server.ConnContext: assigned there, it puts the connection each
// request arrived on into the request's context, where FromContext finds it.
//
//	srv := &http.Server{Handler: h, ConnContext: mptcpx.ConnContext}
//	srv.Serve(ln) // ln from mptcpx.Listen or mptcpx.NewListener
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return connctx.With(ctx, c)
}

// FromContext returns the *Conn that ConnContext put in ctx, looking
// through the connections that wrap it: those that return it from a NetConn
// method (as *tls.Conn does when the server serves TLS) and those that embed
// it as a net.Conn (as golang.org/x/net/netutil.LimitListener's do). A
// handler can then read the connection's MPTCP state with Info.
// (mptcpxotel.LinkHandler finds the connection there too, to link each
// request's span to the connection's span.)
//
// It reports false for a connection mptcpx does not follow: one accepted by
// a listener that is not a mptcpx Listener and does not wrap one, or one
// that a NewListener could not follow (see Listener.Untracked).
func FromContext(ctx context.Context) (*Conn, bool) {
	mc, ok := connwrap.Find(connctx.From(ctx), func(c net.Conn) bool { _, ok := c.(*Conn); return ok }).(*Conn)
	return mc, ok
}
