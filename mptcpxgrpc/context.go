package mptcpxgrpc

import (
	"context"

	"google.golang.org/grpc/peer"

	"github.com/mptcpx/mptcpx"
)

// ConnFromContext returns the *mptcpx.Conn that carries the RPC of ctx:
//
//   - in a server handler or interceptor, or a server stream's Context,
//     when the server has NewCredentials (see Creds) and serves a mptcpx
//     listener;
//   - on the client, in a stream's Context once its Header or first
//     RecvMsg has returned (grpc-go picks the connection when the stream
//     opens), when the client has NewCredentials and dials with a mptcpx
//     Dialer (see WithDialer);
//   - in a handler of a grpc.Server served through an http.Server
//     (Server.ServeHTTP) whose ConnContext is mptcpx.ConnContext: the
//     request's connection, as mptcpx.FromContext finds it.
//
// grpc-go puts a peer.Peer in these contexts; the connection travels in
// its AuthInfo (see AuthInfo). ConnFromContext reports false when the
// context has none of these: no RPC, a connection mptcpx does not follow,
// credentials that are not NewCredentials.
func ConnFromContext(ctx context.Context) (*mptcpx.Conn, bool) {
	if p, ok := peer.FromContext(ctx); ok {
		if c, ok := ConnFromPeer(p); ok {
			return c, true
		}
	}
	return mptcpx.FromContext(ctx)
}

// ConnFromPeer returns the *mptcpx.Conn of p, whose AuthInfo the
// handshake of NewCredentials set. On the client, the grpc.Peer call
// option fills a peer.Peer when an RPC ends:
//
//	var p peer.Peer
//	resp, err := client.UnaryCall(ctx, req, grpc.Peer(&p))
//	if c, ok := mptcpxgrpc.ConnFromPeer(&p); ok { info, err := c.Info() ... }
func ConnFromPeer(p *peer.Peer) (*mptcpx.Conn, bool) {
	if p == nil {
		return nil, false
	}
	a, ok := p.AuthInfo.(AuthInfo)
	if !ok || a.Conn == nil {
		return nil, false
	}
	return a.Conn, true
}
