package mptcpxotel_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// checkFallback checks the span and the metrics of a connection of role
// that fell back to TCP at the handshake.
func checkFallback(t *testing.T, e *env, role attribute.KeyValue) {
	t.Helper()
	s := e.spanOf(t, role.Value.AsString())
	ev := eventsNamed(s, "mptcp.fallback")
	if len(ev) != 1 {
		t.Fatalf("%d mptcp.fallback events, want 1; events %+v", len(ev), s.Events())
	}
	wantAttrs(t, "mptcp.fallback event", ev[0].Attributes, attribute.String("mptcp.fallback.reason", "not_negotiated"))
	if n := len(eventsNamed(s, "mptcp.subflow.added")); n != 0 {
		t.Errorf("%d mptcp.subflow.added events on a plain TCP connection", n)
	}
	wantAttrs(t, "span", s.Attributes(), attribute.Bool("mptcp.fallback", true), attribute.Int64("mptcp.subflows.max", 0))
	noAttrs(t, "span", s.Attributes(), "mptcp.token")

	sm := e.collect(t)
	// No subflow, so nothing by local address.
	checkContract(t, sm, "mptcp.subflow.io", "mptcp.subflow.rtt", "mptcp.subflow.retransmitted", "mptcp.subflow.timeouts", "mptcp.subflow.spurious_retransmissions")
	checkFallbacks(t, sm, role, "not_negotiated")
	if v := sum(t, sm, "mptcp.connection.active", role); v != 0 {
		t.Errorf("mptcp.connection.active = %d after close, want 0", v)
	}
	if v := sum(t, sm, "mptcp.subflow.opened", role); v != 0 {
		t.Errorf("mptcp.subflow.opened = %d, want 0", v)
	}
	if d := hist(t, sm, "mptcp.connection.duration", role, attribute.Bool("mptcp.fallback", true)); d.Count != 1 {
		t.Errorf("mptcp.connection.duration{fallback=true}: count %d, want 1", d.Count)
	}
}

// checkFallbacks checks that mptcp.connection.fallbacks counts one
// connection of role, under reason, and none under the other reasons
// (every reason has its series from the start); reason "" wants none at
// all.
func checkFallbacks(t testing.TB, sm metricdata.ScopeMetrics, role attribute.KeyValue, reason string) {
	t.Helper()
	for _, r := range []string{"not_negotiated", "mid_connection", "mptcp_unavailable"} {
		want := int64(0)
		if r == reason {
			want = 1
		}
		if v := sum(t, sm, "mptcp.connection.fallbacks", role, attribute.String("mptcp.fallback.reason", r)); v != want {
			t.Errorf("mptcp.connection.fallbacks{%s,%s} = %d, want %d", role.Value.AsString(), r, v, want)
		}
	}
}

func eventsNamed(s trace.ReadOnlySpan, name string) []trace.Event {
	var out []trace.Event
	for _, ev := range s.Events() {
		if ev.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// TestFallbackClient dials a plain TCP listener: the server does not answer
// MP_CAPABLE, the client's connection is plain TCP.
func TestFallbackClient(t *testing.T) {
	testenv.RequireMPTCP(t)
	e := newEnv(t)
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := acceptOne(t, ln)
	c, err := dialer(e.tracer).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if sc := <-accepted; sc != nil {
		defer sc.Close()
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	checkFallback(t, e, client)
}

// TestFallbackServer accepts a client that does not ask for MPTCP.
func TestFallbackServer(t *testing.T) {
	e := newEnv(t)
	ln := listen(t, e.tracer)
	accepted := acceptOne(t, ln)
	var d net.Dialer
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-accepted
	if sc == nil {
		t.FailNow()
	}
	sc.Close()
	checkFallback(t, e, server)
}
