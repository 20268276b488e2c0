package mptcpxgrpc_test

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx/internal/oteltest"
)

// Names of the RPC spans otelgrpc records for grpc.testing.TestService.
const (
	unarySpan  = "grpc.testing.TestService/UnaryCall"
	streamSpan = "grpc.testing.TestService/StreamingOutputCall"
)

// rpcSpans returns the ended spans named name of kind (server or client).
func rpcSpans(tel *oteltest.Telemetry, name string, kind trace.SpanKind) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.Rec.Ended() {
		if s.Name() == name && s.SpanKind() == kind {
			out = append(out, s)
		}
	}
	return out
}

// waitRPCSpans waits until n spans named name of kind have ended (a
// server reports the end of an RPC after its response is on the way, so
// the client may have it first) and returns them.
func waitRPCSpans(t testing.TB, tel *oteltest.Telemetry, name string, kind trace.SpanKind, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	var spans []sdktrace.ReadOnlySpan
	err := waitFor(10*time.Second, func() bool {
		spans = rpcSpans(tel, name, kind)
		return len(spans) >= n
	})
	if err != nil || len(spans) != n {
		t.Fatalf("%d ended %v spans %s, want %d", len(spans), kind, name, n)
	}
	return spans
}

// waitConnSpans waits until n connection spans of role have ended (the
// server side closes its connections shortly after the client), and
// returns them.
func waitConnSpans(t testing.TB, tel *oteltest.Telemetry, role attribute.KeyValue, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	var spans []sdktrace.ReadOnlySpan
	err := waitFor(10*time.Second, func() bool {
		spans = tel.Spans(role)
		return len(spans) >= n
	})
	if err != nil || len(spans) != n {
		t.Fatalf("%d ended %s connection spans, want %d", len(spans), role.Value.AsString(), n)
	}
	return spans
}

// links returns the span contexts s links to.
func links(s sdktrace.ReadOnlySpan) []trace.SpanContext {
	var out []trace.SpanContext
	for _, l := range s.Links() {
		out = append(out, l.SpanContext)
	}
	return out
}

// checkLinked wants every span to have exactly one link, to one of conns,
// and returns, per span, the index in conns of the span it links to.
func checkLinked(t testing.TB, what string, spans, conns []sdktrace.ReadOnlySpan) []int {
	t.Helper()
	if len(spans) == 0 {
		t.Fatalf("%s: no RPC span", what)
	}
	var to []int
	for _, s := range spans {
		ls := links(s)
		if len(ls) != 1 {
			t.Fatalf("%s: span %s has %d links, want 1 (to its connection): %v", what, s.SpanContext().SpanID(), len(ls), ls)
		}
		i := indexOf(conns, ls[0])
		if i < 0 {
			t.Fatalf("%s: span %s links to %v, which is no connection span (%d of them)", what, s.SpanContext().SpanID(), ls[0], len(conns))
		}
		to = append(to, i)
	}
	return to
}

// indexOf returns the index of the span whose context is sc, -1 if none.
func indexOf(spans []sdktrace.ReadOnlySpan, sc trace.SpanContext) int {
	for i, s := range spans {
		if s.SpanContext().Equal(sc) {
			return i
		}
	}
	return -1
}

// waitFor polls cond every 10 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
