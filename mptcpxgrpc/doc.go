// Package mptcpxgrpc runs grpc-go over Multipath TCP connections of
// mptcpx, and ties every RPC to the connection that carried it.
//
// It is a module of its own (github.com/mptcpx/mptcpx/mptcpxgrpc), so that
// grpc-go stays out of the library's go.mod; its name, mptcpxgrpc, lets a
// program import it next to google.golang.org/grpc without renaming either.
//
// grpc-go's HTTP/2 connections live long and carry many RPCs, often
// concurrently: the case where a connection that survives the loss of a
// path pays off most. grpc-go already accepts any listener and any dialer,
// so a server can Serve a mptcpx listener and a client can dial with a
// mptcpx Dialer, but an RPC then sees only the addresses of its peer. This
// package adds the missing link, in three pieces:
//
//   - NewCredentials wraps transport credentials (TLS, or insecure): their
//     handshake is the one place where grpc-go shows the raw connection, and
//     the wrapper puts the *mptcpx.Conn in the peer's AuthInfo, next to the
//     wrapped AuthInfo (see AuthInfo). Creds and WithTransportCredentials
//     install it.
//   - ConnFromContext gives a handler (and a client stream) the
//     *mptcpx.Conn of its RPC: its MPTCP state (Info, MultipathTCP) and its
//     span.
//   - SpanLinks wraps the stats handler that traces RPCs (otelgrpc's) and
//     links each RPC span to the mptcp.connection span of its connection,
//     on the server and on the client. StatsHandler and WithStatsHandler
//     install it.
//
// WithDialer makes a ClientConn dial with a mptcpx Dialer.
//
// A server:
//
//	srv := grpc.NewServer(
//		mptcpxgrpc.Creds(insecure.NewCredentials()),
//		mptcpxgrpc.StatsHandler(otelgrpc.NewServerHandler()),
//	)
//	pb.RegisterEchoServer(srv, echo{})
//	ln, err := mptcpx.Listen("tcp", ":50051")
//	err = srv.Serve(ln)
//
// and in a handler:
//
//	if c, ok := mptcpxgrpc.ConnFromContext(ctx); ok {
//		mp, _ := c.MultipathTCP() // and c.Info(): every subflow, now
//	}
//
// A client:
//
//	cc, err := grpc.NewClient("127.0.0.1:50051",
//		mptcpxgrpc.WithDialer(mptcpx.NewDialer(nil)),
//		mptcpxgrpc.WithTransportCredentials(insecure.NewCredentials()),
//		mptcpxgrpc.WithStatsHandler(otelgrpc.NewClientHandler()),
//	)
package mptcpxgrpc
