package mptcpxgrpc

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/stats"
)

// Creds returns a grpc.ServerOption that sets NewCredentials(inner) as the
// server's transport credentials: grpc.Creds(NewCredentials(inner)).
// Serve the server on a mptcpx listener:
//
//	srv := grpc.NewServer(
//		mptcpxgrpc.Creds(insecure.NewCredentials()), // or credentials.NewTLS(cfg)
//		mptcpxgrpc.StatsHandler(otelgrpc.NewServerHandler()),
//	)
//	ln, err := mptcpx.Listen("tcp", ":50051", mptcpx.WithInterval(time.Second))
//	err = srv.Serve(ln)
func Creds(inner credentials.TransportCredentials) grpc.ServerOption {
	return grpc.Creds(NewCredentials(inner))
}

// WithTransportCredentials returns a grpc.DialOption that sets
// NewCredentials(inner) as the ClientConn's transport credentials:
// grpc.WithTransportCredentials(NewCredentials(inner)). Dial with a mptcpx
// Dialer:
//
//	cc, err := grpc.NewClient("dns:///api.example.net:50051",
//		mptcpxgrpc.WithDialer(mptcpx.NewDialer(nil)),
//		mptcpxgrpc.WithTransportCredentials(credentials.NewTLS(cfg)),
//		mptcpxgrpc.WithStatsHandler(otelgrpc.NewClientHandler()),
//	)
func WithTransportCredentials(inner credentials.TransportCredentials) grpc.DialOption {
	return grpc.WithTransportCredentials(NewCredentials(inner))
}

// StatsHandler returns a grpc.ServerOption that installs SpanLinks(h):
// grpc.StatsHandler(SpanLinks(h)).
func StatsHandler(h stats.Handler) grpc.ServerOption {
	return grpc.StatsHandler(SpanLinks(h))
}

// WithStatsHandler returns a grpc.DialOption that installs SpanLinks(h):
// grpc.WithStatsHandler(SpanLinks(h)).
func WithStatsHandler(h stats.Handler) grpc.DialOption {
	return grpc.WithStatsHandler(SpanLinks(h))
}
