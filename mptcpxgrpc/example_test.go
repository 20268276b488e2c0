package mptcpxgrpc_test

import (
	"context"
	"log"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/peer"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
)

// A server on a mptcpx listener: handlers reach the connection of their
// RPC, and otelgrpc's RPC spans link to the connection spans.
func ExampleCreds() {
	srv := grpc.NewServer(
		mptcpxgrpc.Creds(insecure.NewCredentials()), // or credentials.NewTLS(cfg)
		mptcpxgrpc.StatsHandler(otelgrpc.NewServerHandler()),
	)
	testgrpc.RegisterTestServiceServer(srv, &testServer{})
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithInterval(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
}

// A client that dials with mptcpx, and finds the connection an RPC went
// out on.
func ExampleWithDialer() {
	cc, err := grpc.NewClient("127.0.0.1:50051",
		mptcpxgrpc.WithDialer(mptcpx.NewDialer(nil, mptcpx.WithInterval(time.Second))),
		mptcpxgrpc.WithTransportCredentials(insecure.NewCredentials()),
		mptcpxgrpc.WithStatsHandler(otelgrpc.NewClientHandler()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	var p peer.Peer
	_, err = testgrpc.NewTestServiceClient(cc).UnaryCall(context.Background(), &testgrpc.SimpleRequest{}, grpc.Peer(&p))
	if c, ok := mptcpxgrpc.ConnFromPeer(&p); ok && err == nil {
		info, _ := c.Info()
		log.Printf("%d subflows", len(info.Subflows))
	}
}

// In a handler, the connection of the RPC.
func ExampleConnFromContext() {
	handler := func(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
		if c, ok := mptcpxgrpc.ConnFromContext(ctx); ok {
			if mp, _ := c.MultipathTCP(); !mp {
				log.Printf("%v: plain TCP (%v)", c.RemoteAddr(), c.FallbackReason())
			}
		}
		return &testgrpc.SimpleResponse{}, nil
	}
	_ = handler
}
