// Command grpcclient calls grpcserver over a Multipath TCP connection that
// mptcpx dials and traces. Every round, under a span, it makes a UnaryCall
// and a StreamingOutputCall of 8 messages; otelgrpc traces each RPC, and
// each RPC span links to the connection's span. The OTEL_* variables choose
// where spans and metrics go, as for httpclient:
//
//	OTEL_SERVICE_NAME=grpcclient OTEL_TRACES_EXPORTER=otlp go run ./grpcclient -addr 127.0.0.1:50051 -n 10
//
// It logs one line per round. After -n rounds, or on SIGINT or SIGTERM, it
// closes its connection, which ends its span, and flushes.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/examples/otel/otelenv"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "grpcserver's address")
	n := flag.Int("n", 10, "number of rounds; 0: until interrupted")
	every := flag.Duration("every", time.Second, "time between rounds")
	size := flag.Int("size", 64<<10, "bytes per streamed message")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer otelenv.Setup(ctx)()
	cc, err := grpc.NewClient(*addr, mptcpxgrpc.WithDialer(mptcpx.NewDialer(nil)),
		mptcpxgrpc.WithTransportCredentials(insecure.NewCredentials()),
		mptcpxgrpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close() // ends the connection span before the deferred Setup flushes it
	client := testgrpc.NewTestServiceClient(cc)
	for i := 0; (*n == 0 || i < *n) && ctx.Err() == nil; i++ {
		ctx, span := otel.Tracer("grpcclient").Start(ctx, "round")
		var md metadata.MD // the server's header
		_, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: 1024}, grpc.Header(&md))
		got, mptcp, err2 := stream(ctx, client, *size)
		if err := errors.Join(err, err2); err != nil {
			log.Printf("round: %v", err)
		} else {
			log.Printf("round OK, %d bytes streamed, mptcp %v (client) %s (server), trace %s",
				got, mptcp, strings.Join(md.Get("mptcp"), ","), span.SpanContext().TraceID())
		}
		span.End()
		time.Sleep(*every)
	}
}

// stream makes a StreamingOutputCall of 8 messages of size bytes and
// returns the bytes received and whether its connection is MPTCP.
func stream(ctx context.Context, client testgrpc.TestServiceClient, size int) (n int, mptcp bool, err error) {
	req := &testgrpc.StreamingOutputCallRequest{}
	for range 8 {
		req.ResponseParameters = append(req.ResponseParameters, &testgrpc.ResponseParameters{Size: int32(size)})
	}
	s, err := client.StreamingOutputCall(ctx, req)
	if err != nil {
		return 0, false, err
	}
	for {
		m, err := s.Recv()
		if err == io.EOF {
			break
		} else if err != nil {
			return n, false, err
		}
		n += len(m.GetPayload().GetBody())
	}
	if c, ok := mptcpxgrpc.ConnFromContext(s.Context()); ok { // the client's end of the connection
		mptcp, _ = c.MultipathTCP()
	}
	return n, mptcp, nil
}
