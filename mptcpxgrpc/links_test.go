package mptcpxgrpc_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
)

// TestFilteredRPC checks that an RPC that otelgrpc's filter leaves
// untraced gives no link to any span: not to the caller's span that its
// context holds on the client, nor to the propagated one on the server.
// The handler still finds its connection.
func TestFilteredRPC(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	notUnary := otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool {
		return info.FullMethodName != "/grpc.testing.TestService/UnaryCall"
	})
	ln := listen(t, tel)
	ts, stop := serve(t, ln, mptcpxgrpc.Creds(insecure.NewCredentials()),
		mptcpxgrpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tel.TP), propagators, notUnary)))
	cc := newClient(t, ln.Addr().String(),
		mptcpxgrpc.WithDialer(mptcpx.NewDialer(nil, mptcpxOptions(tel)...)),
		mptcpxgrpc.WithTransportCredentials(insecure.NewCredentials()),
		mptcpxgrpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tel.TP), propagators, notUnary)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx, caller := tel.TP.Tracer("test").Start(ctx, "caller")
	unary(t, ctx, cc, 10)
	caller.End()
	if ts.seen()[0].conn == nil {
		t.Error("server: no connection in the handler's context")
	}
	cc.Close()
	stop()
	waitConnSpans(t, tel, oteltest.RoleServer, 1)
	for _, s := range tel.Rec.Ended() {
		if s.Name() == unarySpan {
			t.Errorf("filtered RPC traced: %s span %v", s.SpanKind(), s.SpanContext())
		}
		if len(s.Links()) > 0 {
			t.Errorf("span %s (%v) has links %v, want none", s.Name(), s.SpanKind(), links(s))
		}
	}
}

// TestSpanLinksOrder checks that SpanLinks links the span of the handler
// it wraps, not the span of a stats handler that runs before it, on both
// sides. (otelgrpc reads its span back from the context at the end of the
// RPC, so no handler that starts spans may run after it.)
func TestSpanLinksOrder(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	ln := listen(t, tel)
	tracer := tel.TP.Tracer("other")
	_, stop := serve(t, ln, append([]grpc.ServerOption{grpc.StatsHandler(&otherHandler{tracer, trace.SpanKindServer})},
		serverOptions(tel, insecure.NewCredentials())...)...)
	cc := newClient(t, ln.Addr().String(), append([]grpc.DialOption{grpc.WithStatsHandler(&otherHandler{tracer, trace.SpanKindClient})},
		clientOptions(tel, mptcpx.NewDialer(nil, mptcpxOptions(tel)...), insecure.NewCredentials())...)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unary(t, ctx, cc, 10)
	cc.Close()
	stop()
	serverConns := waitConnSpans(t, tel, oteltest.RoleServer, 1)
	clientConns := waitConnSpans(t, tel, oteltest.RoleClient, 1)
	checkLinked(t, "server", waitRPCSpans(t, tel, unarySpan, trace.SpanKindServer, 1), serverConns)
	checkLinked(t, "client", waitRPCSpans(t, tel, unarySpan, trace.SpanKindClient, 1), clientConns)
	for _, kind := range []trace.SpanKind{trace.SpanKindServer, trace.SpanKindClient} {
		if s := waitRPCSpans(t, tel, "other", kind, 1)[0]; len(s.Links()) != 0 {
			t.Errorf("%v: the other handler's span has links %v, want none", kind, links(s))
		}
	}
}

// otherHandler is a stats handler that traces every RPC with a span of its
// own, named "other".
type otherHandler struct {
	tracer trace.Tracer
	kind   trace.SpanKind
}

type otherKey struct{}

func (h *otherHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	ctx, span := h.tracer.Start(ctx, "other", trace.WithSpanKind(h.kind))
	return context.WithValue(ctx, otherKey{}, span)
}

func (h *otherHandler) HandleRPC(ctx context.Context, rs stats.RPCStats) {
	if _, end := rs.(*stats.End); end {
		ctx.Value(otherKey{}).(trace.Span).End()
	}
}

func (*otherHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (*otherHandler) HandleConn(context.Context, stats.ConnStats) {}
