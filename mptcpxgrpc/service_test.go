package mptcpxgrpc_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// interval is the sampling interval of the tests' connections: short, so
// that subflow changes show up while an RPC runs.
const interval = 50 * time.Millisecond

// seen is what a handler found about the connection of its RPC.
type seen struct {
	method   string
	conn     *mptcpx.Conn // nil: ConnFromContext found none
	mptcp    bool
	authInfo any               // the peer's AuthInfo, as grpc-go gave it
	connSpan trace.SpanContext // the connection's span, while the RPC ran
	rpcSpan  trace.SpanContext // the RPC's span (otelgrpc's), in the handler's context
}

// testServer implements grpc.testing.TestService's UnaryCall and
// StreamingOutputCall, as grpc-go's interop server does, and notes what
// each handler saw of its connection.
type testServer struct {
	testgrpc.UnimplementedTestServiceServer

	mu   sync.Mutex
	rpcs []seen
}

func (s *testServer) note(ctx context.Context, method string) seen {
	r := seen{method: method, rpcSpan: trace.SpanContextFromContext(ctx)}
	if p, ok := peer.FromContext(ctx); ok {
		r.authInfo = p.AuthInfo
	}
	if c, ok := mptcpxgrpc.ConnFromContext(ctx); ok {
		r.conn = c
		r.mptcp, _ = c.MultipathTCP()
		r.connSpan = mptcpxotel.ConnSpanContext(c)
	}
	s.mu.Lock()
	s.rpcs = append(s.rpcs, r)
	s.mu.Unlock()
	return r
}

// seen returns what the handlers saw so far.
func (s *testServer) seen() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.rpcs...)
}

// UnaryCall answers ResponseSize bytes of the payload stream, and in
// Hostname whether the request came on a Multipath TCP connection.
func (s *testServer) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	r := s.note(ctx, "UnaryCall")
	body := make([]byte, req.GetResponseSize())
	newPayload().Read(body)
	return &testgrpc.SimpleResponse{
		Payload:  &testgrpc.Payload{Body: body},
		Hostname: fmt.Sprintf("mptcp=%v", r.mptcp),
	}, nil
}

// StreamingOutputCall sends one message per ResponseParameters, of its
// size, after its interval: together, the first bytes of the payload
// stream.
func (s *testServer) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	s.note(stream.Context(), "StreamingOutputCall")
	payload := newPayload()
	for _, p := range req.GetResponseParameters() {
		if d := time.Duration(p.GetIntervalUs()) * time.Microsecond; d > 0 {
			time.Sleep(d)
		}
		body := make([]byte, p.GetSize())
		payload.Read(body)
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: body}}); err != nil {
			return err
		}
	}
	return nil
}

// newPayload returns the pseudo-random stream that every response is
// cut from, so that a client can check what it received.
func newPayload() io.Reader { return rand.NewChaCha8([32]byte{'m', 'p', 't', 'c', 'p'}) }

// propagators carries the client's RPC span to the server, so that the
// server's RPC span is its child.
var propagators = otelgrpc.WithPropagators(propagation.TraceContext{})

// serverOptions are the options of a server that hands connections to
// handlers (inner credentials) and links the RPC spans it records into tel.
func serverOptions(tel *oteltest.Telemetry, inner credentials.TransportCredentials) []grpc.ServerOption {
	return []grpc.ServerOption{
		mptcpxgrpc.Creds(inner),
		mptcpxgrpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tel.TP), otelgrpc.WithMeterProvider(tel.MP), propagators)),
	}
}

// clientOptions are the options of a client that dials with d, hands
// connections to RPCs (inner credentials) and links the RPC spans it
// records into tel.
func clientOptions(tel *oteltest.Telemetry, d *mptcpx.Dialer, inner credentials.TransportCredentials) []grpc.DialOption {
	return []grpc.DialOption{
		mptcpxgrpc.WithDialer(d),
		mptcpxgrpc.WithTransportCredentials(inner),
		mptcpxgrpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tel.TP), otelgrpc.WithMeterProvider(tel.MP), propagators)),
	}
}

// mptcpxOptions make connections record into tel and sample every
// interval.
func mptcpxOptions(tel *oteltest.Telemetry) []mptcpx.Option {
	return []mptcpx.Option{mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(tel.TP), mptcpxotel.WithMeterProvider(tel.MP)), mptcpx.WithInterval(interval)}
}

// serve runs a grpc.Server with opts and a testServer on ln until the
// test ends (or stop is called).
func serve(t testing.TB, ln net.Listener, opts ...grpc.ServerOption) (ts *testServer, stop func()) {
	t.Helper()
	srv := grpc.NewServer(opts...)
	ts = &testServer{}
	testgrpc.RegisterTestServiceServer(srv, ts)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Stop()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ts, stop
}

// listen opens a mptcpx listener on loopback recording into tel.
func listen(t testing.TB, tel *oteltest.Telemetry) net.Listener {
	t.Helper()
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpxOptions(tel)...)
	if err != nil {
		t.Fatal(err)
	}
	return ln // Serve closes it
}

// newClient returns a ClientConn to target with opts, closed when the test
// ends (or by the caller).
func newClient(t testing.TB, target string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// unary makes one UnaryCall of n bytes and checks the answer; it returns
// the peer the RPC went to.
func unary(t testing.TB, ctx context.Context, cc *grpc.ClientConn, n int32) *peer.Peer {
	t.Helper()
	var p peer.Peer
	resp, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: n}, grpc.Peer(&p))
	if err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	want := make([]byte, n)
	newPayload().Read(want)
	if string(resp.GetPayload().GetBody()) != string(want) {
		t.Fatalf("UnaryCall: %d bytes that are not the payload's first %d", len(resp.GetPayload().GetBody()), n)
	}
	return &p
}

// receiver reads a server stream and checks it against the payload stream.
type receiver struct {
	stream  grpc.ServerStreamingClient[testgrpc.StreamingOutputCallResponse]
	payload io.Reader

	mu    sync.Mutex
	bytes int64
	msgs  int
}

// receive reads the stream to its end in the background and sends the
// RPC's status (nil for OK) on the returned channel.
func (r *receiver) receive() <-chan error {
	r.payload = newPayload()
	done := make(chan error, 1)
	go func() {
		for {
			m, err := r.stream.Recv()
			if err == io.EOF {
				done <- nil
				return
			}
			if err != nil {
				done <- err
				return
			}
			body := m.GetPayload().GetBody()
			want := make([]byte, len(body))
			r.payload.Read(want)
			if string(body) != string(want) {
				done <- status.Errorf(codes.DataLoss, "message %d: %d bytes that are not the payload's", r.msgs, len(body))
				return
			}
			r.mu.Lock()
			r.bytes += int64(len(body))
			r.msgs++
			r.mu.Unlock()
		}
	}()
	return done
}

// received returns how many bytes arrived so far.
func (r *receiver) received() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// streamRequest asks for n messages of size bytes each.
func streamRequest(n int, size int32) *testgrpc.StreamingOutputCallRequest {
	req := &testgrpc.StreamingOutputCallRequest{}
	for range n {
		req.ResponseParameters = append(req.ResponseParameters, &testgrpc.ResponseParameters{Size: size})
	}
	return req
}
