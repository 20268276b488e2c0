// Command grpcserver serves grpc.testing.TestService's UnaryCall and
// StreamingOutputCall on an MPTCP listener: mptcpx traces every connection,
// otelgrpc every RPC, and each RPC span links to its connection's span. The
// OTEL_* variables choose where they go, as for httpserver:
//
//	OTEL_SERVICE_NAME=grpcserver OTEL_TRACES_EXPORTER=otlp go run ./grpcserver -addr 127.0.0.1:50051
//
// The "mptcp" response header says whether the RPC came on a Multipath TCP
// connection. SIGINT or SIGTERM stops the server gracefully.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/examples/otel/otelenv"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer otelenv.Setup(ctx)()
	ln, err := mptcpx.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(mptcpxgrpc.Creds(insecure.NewCredentials()), mptcpxgrpc.StatsHandler(otelgrpc.NewServerHandler()))
	testgrpc.RegisterTestServiceServer(srv, server{})
	log.Printf("listening on %s", ln.Addr())
	go func() { <-ctx.Done(); srv.GracefulStop() }()
	if err := srv.Serve(ln); err != nil {
		log.Print(err)
	}
}

type server struct {
	testgrpc.UnimplementedTestServiceServer
}

// UnaryCall answers ResponseSize zero bytes.
func (server) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	grpc.SetHeader(ctx, mptcpHeader(ctx))
	return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: make([]byte, req.GetResponseSize())}}, nil
}

// StreamingOutputCall sends a message of Size zero bytes per ResponseParameters.
func (server) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	stream.SetHeader(mptcpHeader(stream.Context()))
	for _, p := range req.GetResponseParameters() {
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
			return err
		}
	}
	return nil
}

// mptcpHeader says whether the RPC of ctx came on an MPTCP connection.
func mptcpHeader(ctx context.Context) metadata.MD {
	mp := false
	if c, ok := mptcpxgrpc.ConnFromContext(ctx); ok { // the connection under the RPC
		mp, _ = c.MultipathTCP()
	}
	return metadata.Pairs("mptcp", strconv.FormatBool(mp))
}
