package mptcpxgrpc

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"

	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// SpanLinks returns a stats.Handler that does everything h does and links
// the span h starts for each RPC to the mptcp.connection span of the
// connection that carries the RPC, so that a trace view leads from a slow
// RPC to the subflows and path changes of its connection. h is the handler
// that traces RPCs, typically otelgrpc.NewServerHandler() on a server and
// otelgrpc.NewClientHandler() on a client; install the result with
// grpc.StatsHandler or grpc.WithStatsHandler, or with StatsHandler and
// WithStatsHandler of this package.
//
// grpc-go calls a stats handler's TagRPC when an RPC starts (on a server
// before any interceptor; on a client for each attempt, inside the
// interceptors) and hands the context it returns to every later event of
// the RPC and to the handler; otelgrpc starts the RPC's span there.
// SpanLinks calls h.TagRPC, takes the span it started (the span in the
// returned context, if it is not the one that was already there: an RPC
// that h's filter leaves out gets no link), and adds the link
// (trace.Span.AddLink) once the connection is known:
//
//   - on a server, at the RPC's first event (stats.InHeader, which grpc-go
//     reports right after TagRPC): the connection is the one the request
//     arrived on, found with ConnFromContext;
//   - on a client, at stats.OutHeader, which grpc-go reports when the RPC's
//     stream has been opened on a connection and before its first message
//     is sent. grpc-go traces each attempt of an RPC (retries, transparent
//     retries) as an RPC of its own, with a span of its own: each attempt's
//     span links to the connection that attempt went out on. An RPC that
//     never got a connection (it failed while connecting, or its deadline
//     passed first) has no link.
//
// The connection must be a *mptcpx.Conn whose handshake ran through
// NewCredentials (see Creds and WithTransportCredentials), or, on a
// grpc.Server served through an http.Server, the connection that
// mptcpx.ConnContext put in the request's context; and its mptcp.connection
// span must record (mptcpxotel.ConnSpanContext). Otherwise no link is added
// and the RPC is traced as h alone traces it. The link has no attributes.
// The connection span does not link back: a connection may carry millions
// of RPCs.
//
// otelgrpc reads its span back from the context at the end of the RPC:
// install stats handlers that start spans of their own before it, not
// after.
//
// SpanLinks(nil) returns a stats.Handler that does nothing: with no
// handler that starts RPC spans, there is nothing to link.
func SpanLinks(h stats.Handler) stats.Handler {
	if h == nil {
		return nopHandler{}
	}
	return &linkHandler{inner: h}
}

// nopHandler is SpanLinks(nil).
type nopHandler struct{}

func (nopHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (nopHandler) HandleRPC(context.Context, stats.RPCStats)                         {}
func (nopHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (nopHandler) HandleConn(context.Context, stats.ConnStats)                       {}

// linkHandler is the stats.Handler of SpanLinks.
type linkHandler struct {
	inner stats.Handler
}

// rpcKey is the context key of an RPC's rpcLink.
type rpcKey struct{}

// rpcLink is what the handler keeps for one RPC (one attempt, on a
// client): the span to link, and whether the link is settled.
type rpcLink struct {
	span    trace.Span
	settled atomic.Bool // a link was added, or there is none to add
}

// TagRPC calls the wrapped TagRPC and notes the span it started.
func (h *linkHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	before := trace.SpanContextFromContext(ctx)
	ctx = h.inner.TagRPC(ctx, info)
	span := trace.SpanFromContext(ctx)
	if sc := span.SpanContext(); !sc.IsValid() || sc.Equal(before) || !span.IsRecording() {
		return ctx
	}
	return context.WithValue(ctx, rpcKey{}, &rpcLink{span: span})
}

// HandleRPC adds the link at the event where the RPC's connection is known,
// then passes every event on to the wrapped handler. Other events (a
// message sent or received, the end) cost a type switch.
func (h *linkHandler) HandleRPC(ctx context.Context, rs stats.RPCStats) {
	switch rs.(type) {
	case *stats.InHeader, *stats.Begin:
		if !rs.IsClient() {
			linkServer(ctx)
		}
	case *stats.OutHeader:
		if rs.IsClient() {
			linkClient(ctx)
		}
	}
	h.inner.HandleRPC(ctx, rs)
}

// linkServer links a server RPC's span to the connection the request came
// on: the peer that grpc-go put in the connection's context, or, for a
// grpc.Server behind an http.Server, the connection of mptcpx.ConnContext.
func linkServer(ctx context.Context) {
	l, ok := ctx.Value(rpcKey{}).(*rpcLink)
	if !ok || l.settled.Swap(true) {
		return
	}
	if c, ok := ConnFromContext(ctx); ok {
		addLink(l.span, mptcpxotel.ConnSpanContext(c))
	}
}

// linkClient links a client RPC attempt's span to the connection its
// stream opened on. grpc-go reports OutHeader with the stream's context, in
// which the transport put its peer.Peer; only that peer counts, not a
// mptcpx.ConnContext of the caller (an RPC made from inside an HTTP
// handler carries that handler's connection).
func linkClient(ctx context.Context) {
	l, ok := ctx.Value(rpcKey{}).(*rpcLink)
	if !ok || l.settled.Swap(true) {
		return
	}
	p, _ := peer.FromContext(ctx)
	if c, ok := ConnFromPeer(p); ok {
		addLink(l.span, mptcpxotel.ConnSpanContext(c))
	}
}

func addLink(span trace.Span, conn trace.SpanContext) {
	if conn.IsValid() {
		span.AddLink(trace.Link{SpanContext: conn})
	}
}

// TagConn passes the connection's tag on to the wrapped handler.
func (h *linkHandler) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	return h.inner.TagConn(ctx, info)
}

// HandleConn passes the connection's events on to the wrapped handler.
func (h *linkHandler) HandleConn(ctx context.Context, cs stats.ConnStats) {
	h.inner.HandleConn(ctx, cs)
}
