package mptcpxgrpc_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// TestRoundRobin spreads RPCs over two servers with grpc-go's round_robin
// balancer: one ClientConn, two MPTCP connections. Each RPC span links to
// the connection its RPC went out on, the one grpc.Peer reports, on the
// client and on the server that answered.
func TestRoundRobin(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	var addrs []resolver.Address
	var stops []func()
	for range 2 {
		ln := listen(t, tel)
		_, stop := serve(t, ln, serverOptions(tel, insecure.NewCredentials())...)
		addrs = append(addrs, resolver.Address{Addr: ln.Addr().String()})
		stops = append(stops, stop)
	}
	r := manual.NewBuilderWithScheme("mptcpxtest")
	r.InitialState(resolver.State{Addresses: addrs})
	opts := append(clientOptions(tel, mptcpx.NewDialer(nil, mptcpxOptions(tel)...), insecure.NewCredentials()),
		grpc.WithResolvers(r), grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`))
	cc := newClient(t, r.Scheme()+":///two", opts...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Each RPC under a span of its own, to find its client span by.
	type call struct {
		parent trace.SpanContext
		conn   trace.SpanContext // of the connection grpc.Peer reported
		server string
	}
	var calls []call
	used := map[string]bool{}
	for i := 0; len(used) < 2 || i < 10; i++ {
		if i == 100 {
			t.Fatalf("100 RPCs went to %d servers, want 2", len(used))
		}
		ctx, span := tel.TP.Tracer("test").Start(ctx, "call")
		p := unary(t, ctx, cc, 10)
		span.End()
		c, ok := mptcpxgrpc.ConnFromPeer(p)
		if !ok || c.RemoteAddr().String() != p.Addr.String() {
			t.Fatalf("RPC to %v: connection %v (%v)", p.Addr, c, ok)
		}
		calls = append(calls, call{span.SpanContext(), mptcpxotel.ConnSpanContext(c), p.Addr.String()})
		used[p.Addr.String()] = true
	}
	cc.Close()
	for _, stop := range stops {
		stop()
	}
	clientConns := waitConnSpans(t, tel, oteltest.RoleClient, 2)
	serverConns := waitConnSpans(t, tel, oteltest.RoleServer, 2)
	clientSpans := waitRPCSpans(t, tel, unarySpan, trace.SpanKindClient, len(calls))
	serverSpans := waitRPCSpans(t, tel, unarySpan, trace.SpanKindServer, len(calls))
	for _, c := range calls {
		rpc := childOf(clientSpans, c.parent)
		if rpc == nil {
			t.Fatalf("no client RPC span under %v", c.parent)
		}
		to := checkLinked(t, "client", []sdktrace.ReadOnlySpan{rpc}, clientConns)[0]
		if !clientConns[to].SpanContext().Equal(c.conn) {
			t.Errorf("RPC to %s: span linked to connection span %v, grpc.Peer's connection has %v", c.server, clientConns[to].SpanContext(), c.conn)
		}
		srv := childOf(serverSpans, rpc.SpanContext())
		if srv == nil {
			t.Fatalf("no server RPC span under client span %v", rpc.SpanContext())
		}
		to = checkLinked(t, "server", []sdktrace.ReadOnlySpan{srv}, serverConns)[0]
		if local := localAddr(serverConns[to]); local != c.server {
			t.Errorf("RPC to %s: server span linked to a connection accepted on %s", c.server, local)
		}
	}
}

// TestReconnect restarts the server between two RPCs: grpc-go dials again
// through mptcpx, and the second RPC's spans link to the new connection.
func TestReconnect(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	ln := listen(t, tel)
	addr := ln.Addr().String()
	_, stop := serve(t, ln, serverOptions(tel, insecure.NewCredentials())...)
	cc := newClient(t, addr, clientOptions(tel, mptcpx.NewDialer(nil, mptcpxOptions(tel)...), insecure.NewCredentials())...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, _ := mptcpxgrpc.ConnFromPeer(unary(t, ctx, cc, 10))
	stop()

	ln, err := mptcpx.Listen("tcp", addr, mptcpxOptions(tel)...)
	if err != nil {
		t.Fatal(err)
	}
	_, stop = serve(t, ln, serverOptions(tel, insecure.NewCredentials())...)
	var p *peerAndErr
	for range 100 { // until grpc-go notices the first connection is gone
		p = tryUnary(ctx, cc)
		if p.err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.err != nil {
		t.Fatalf("UnaryCall after the restart: %v", p.err)
	}
	second, ok := mptcpxgrpc.ConnFromPeer(p.peer)
	if !ok || second == first {
		t.Fatalf("after the restart: connection %p (%v), before %p: want a new one", second, ok, first)
	}
	cc.Close()
	stop()
	clientConns := waitConnSpans(t, tel, oteltest.RoleClient, 2)
	// The RPCs that failed while grpc-go noticed have spans too: with no
	// link when they got no connection, with one to the old connection
	// when their stream opened on it before it went.
	var good []sdktrace.ReadOnlySpan
	failed, failedLinked := 0, 0
	for _, s := range rpcSpans(tel, unarySpan, trace.SpanKindClient) {
		if s.Status().Code == otelcodes.Error {
			failed++
			if len(s.Links()) > 0 {
				failedLinked++
				checkLinked(t, "failed RPC", []sdktrace.ReadOnlySpan{s}, clientConns)
			}
			continue
		}
		good = append(good, s)
	}
	t.Logf("%d RPCs failed while the connection was being replaced, %d of them linked to the old one", failed, failedLinked)
	if len(good) != 2 {
		t.Fatalf("%d successful RPC spans, want 2", len(good))
	}
	to := checkLinked(t, "client", good, clientConns)
	if to[0] == to[1] {
		t.Errorf("both RPC spans link to one connection span, want one each")
	}
}

type peerAndErr struct {
	peer *peer.Peer
	err  error
}

// tryUnary makes one small UnaryCall, failing fast.
func tryUnary(ctx context.Context, cc *grpc.ClientConn) *peerAndErr {
	var p peer.Peer
	_, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseSize: 1}, grpc.Peer(&p))
	return &peerAndErr{&p, err}
}

// TestServeHTTP serves a grpc.Server through an http.Server (HTTP/2
// without TLS) whose ConnContext is mptcpx.ConnContext: handlers find
// their connection through the request's context, and server RPC spans
// link to it.
func TestServeHTTP(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	gs := grpc.NewServer(mptcpxgrpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tel.TP))))
	ts := &testServer{}
	testgrpc.RegisterTestServiceServer(gs, ts)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: gs, ConnContext: mptcpx.ConnContext, Protocols: &protocols}
	ln := listen(t, tel)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	defer func() {
		hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("http.Server.Serve: %v", err)
		}
		gs.Stop()
	}()
	cc := newClient(t, ln.Addr().String(), clientOptions(tel, mptcpx.NewDialer(nil, mptcpxOptions(tel)...), insecure.NewCredentials())...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unary(t, ctx, cc, 10)
	if r := ts.seen()[0]; r.conn == nil || !r.mptcp {
		t.Fatalf("handler behind http.Server: connection %v, MultipathTCP %v", r.conn, r.mptcp)
	}
	cc.Close()
	serverConns := waitConnSpans(t, tel, oteltest.RoleServer, 1)
	checkLinked(t, "server", waitRPCSpans(t, tel, unarySpan, trace.SpanKindServer, 1), serverConns)
}

// TestUnixTarget checks that a unix target fails with a message that says
// why.
func TestUnixTarget(t *testing.T) {
	cc := newClient(t, "unix:///nonexistent/socket", mptcpxgrpc.WithDialer(nil), mptcpxgrpc.WithTransportCredentials(insecure.NewCredentials()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "Multipath TCP needs a TCP address") {
		t.Errorf("UnaryCall to a unix target: %v; want Unavailable, saying why", err)
	}
}

// childOf returns the span among spans whose parent is parent.
func childOf(spans []sdktrace.ReadOnlySpan, parent trace.SpanContext) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Parent().SpanID() == parent.SpanID() && s.Parent().TraceID() == parent.TraceID() {
			return s
		}
	}
	return nil
}

// localAddr returns the local address and port of a connection span.
func localAddr(s sdktrace.ReadOnlySpan) string {
	host, _ := oteltest.Attr(s.Attributes(), "network.local.address")
	port, _ := oteltest.Attr(s.Attributes(), "network.local.port")
	return net.JoinHostPort(host.AsString(), strconv.FormatInt(port.AsInt64(), 10))
}
