package mptcpxotel_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

var (
	client   = attribute.String("mptcp.role", "client")
	server   = attribute.String("mptcp.role", "server")
	transmit = attribute.String("network.io.direction", "transmit")
	receive  = attribute.String("network.io.direction", "receive")
	loopback = attribute.String("network.local.address", "127.0.0.1")
)

// TestConnection follows one loopback MPTCP connection, both ends traced,
// through a transfer each way: every span attribute, span event and metric
// of the telemetry contract, the byte counts exact.
func TestConnection(t *testing.T) {
	testenv.RequireMPTCP(t)
	// mptcp_info has byte counters since 6.5, the kernels with MPTCP_FULL_INFO.
	byteCounters := mptcpinfo.KernelMethod() == mptcpinfo.MethodFullInfo
	e := newEnv(t)
	ln := listen(t, e.tracer)
	accepted := acceptOne(t, ln)

	ctx, parent := e.tp.Tracer("test").Start(context.Background(), "parent")
	nc, err := dialer(e.tracer).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.FailNow()
	}
	defer nc.Close()
	defer sc.Close()

	// While open: the gauges count both ends, the span is reachable.
	sm := e.collect(t)
	for _, role := range []attribute.KeyValue{client, server} {
		if v := sum(t, sm, "mptcp.connection.active", role); v != 1 {
			t.Errorf("mptcp.connection.active{%s} = %d while open, want 1", role.Value.String(), v)
		}
		if v := sum(t, sm, "mptcp.subflow.active", role); v != 1 {
			t.Errorf("mptcp.subflow.active{%s} = %d while open, want 1", role.Value.String(), v)
		}
	}

	// N bytes from client to server, M back.
	const n, m = 3<<20 + 7, 1<<20 + 13
	up, down := bytes.Repeat([]byte{'u'}, n), bytes.Repeat([]byte{'d'}, m)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, n)
		if _, err := io.ReadFull(sc, buf); err != nil {
			done <- err
			return
		}
		_, err := sc.Write(down)
		done <- err
	}()
	if _, err := nc.Write(up); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(nc, make([]byte, m)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	clientLocal, clientPeer := addrPort(t, nc.LocalAddr()), addrPort(t, nc.RemoteAddr())
	// tcp_info counts retransmission timeouts since 6.7: before, the
	// metric is absent, not zero.
	var absent []string
	if snap, err := nc.(*mptcpx.Conn).Info(); err != nil {
		t.Fatal(err)
	} else if !snap.Has(mptcpinfo.FieldTCPTotalRTO) {
		absent = append(absent, "mptcp.subflow.timeouts")
	}
	nc.Close()
	if _, err := io.ReadAll(sc); err != nil { // EOF: the client closed
		t.Fatal(err)
	}
	sc.Close()
	parent.End()

	cs, ss := e.spanOf(t, "client"), e.spanOf(t, "server")

	// Parents: the client's span is the dial context's child; the server's
	// is the root of its own trace.
	if cs.Parent().SpanID() != parent.SpanContext().SpanID() || cs.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("client span parent %v, want %v", cs.Parent().SpanID(), parent.SpanContext().SpanID())
	}
	if ss.Parent().IsValid() || ss.SpanContext().TraceID() == parent.SpanContext().TraceID() {
		t.Errorf("server span parent %v in trace %v: want a new root", ss.Parent(), ss.SpanContext().TraceID())
	}

	port := func(ap interface{ Port() uint16 }) int64 { return int64(ap.Port()) }
	wantAttrs(t, "client span", cs.Attributes(),
		attribute.String("network.transport", "tcp"),
		attribute.String("network.type", "ipv4"),
		attribute.String("network.local.address", "127.0.0.1"),
		attribute.Int64("network.local.port", port(clientLocal)),
		attribute.String("network.peer.address", "127.0.0.1"),
		attribute.Int64("network.peer.port", port(clientPeer)),
		attribute.String("server.address", "127.0.0.1"),
		attribute.Int64("server.port", port(clientPeer)),
		client,
		attribute.Bool("mptcp.fallback", false),
		attribute.Int64("mptcp.subflows.max", 1),
	)
	if byteCounters {
		wantAttrs(t, "client span", cs.Attributes(), attribute.Int64("mptcp.bytes.sent", n), attribute.Int64("mptcp.bytes.received", m))
	} else {
		noAttrs(t, "client span", cs.Attributes(), "mptcp.bytes.sent", "mptcp.bytes.received", "mptcp.bytes.retransmitted")
	}
	wantAttrs(t, "server span", ss.Attributes(),
		attribute.String("network.transport", "tcp"),
		attribute.String("network.type", "ipv4"),
		attribute.String("network.local.address", "127.0.0.1"),
		attribute.Int64("network.local.port", port(clientPeer)),
		attribute.String("network.peer.address", "127.0.0.1"),
		attribute.Int64("network.peer.port", port(clientLocal)),
		attribute.String("server.address", "127.0.0.1"),
		attribute.Int64("server.port", port(clientPeer)),
		server,
		attribute.Bool("mptcp.fallback", false),
		attribute.Int64("mptcp.subflows.max", 1),
	)
	if byteCounters {
		wantAttrs(t, "server span", ss.Attributes(), attribute.Int64("mptcp.bytes.sent", m), attribute.Int64("mptcp.bytes.received", n))
	}
	token := regexp.MustCompile(`^[0-9a-f]{8}$`)
	var retrans [2]int64
	for i, s := range []sdktrace.ReadOnlySpan{cs, ss} {
		if v, _ := attr(s.Attributes(), "mptcp.token"); !token.MatchString(v.AsString()) || v.AsString() == "00000000" {
			t.Errorf("span %d: mptcp.token %q, want 8 hex digits", i, v.String())
		}
		v, ok := attr(s.Attributes(), "mptcp.bytes.retransmitted")
		if byteCounters && (!ok || v.Type() != attribute.INT64 || v.AsInt64() < 0) {
			t.Errorf("span %d: mptcp.bytes.retransmitted %s", i, v.String())
		}
		retrans[i] = v.AsInt64()
		noAttrs(t, "connection span", s.Attributes(), "error.type", "mptcp.events.dropped")
		if s.Status().Code != codes.Unset {
			t.Errorf("span %d: status %v", i, s.Status())
		}
		if s.SpanKind() != trace.SpanKindInternal {
			t.Errorf("span %d: kind %v", i, s.SpanKind())
		}

		// One event: the initial subflow, id 1, during the span (and
		// what limits the connection's paths, which depends on the
		// host's configuration: see TestPathsLimitSynthetic).
		var ev []sdktrace.Event
		for _, e := range s.Events() {
			if e.Name != "mptcp.paths.limit" {
				ev = append(ev, e)
			}
		}
		if len(ev) != 1 || ev[0].Name != "mptcp.subflow.added" {
			t.Fatalf("span %d: events %+v, want one mptcp.subflow.added", i, ev)
		}
		if ev[0].Time.Before(s.StartTime()) || ev[0].Time.After(s.EndTime()) {
			t.Errorf("span %d: event at %v outside the span [%v, %v]", i, ev[0].Time, s.StartTime(), s.EndTime())
		}
		local, peer := clientLocal, clientPeer
		if i == 1 {
			local, peer = peer, local
		}
		wantAttrs(t, "mptcp.subflow.added", ev[0].Attributes,
			attribute.Int64("mptcp.subflow.id", 1),
			attribute.String("network.local.address", "127.0.0.1"),
			attribute.Int64("network.local.port", port(local)),
			attribute.String("network.peer.address", "127.0.0.1"),
			attribute.Int64("network.peer.port", port(peer)))
	}

	// Metrics, after both ends closed.
	sm = e.collect(t)
	checkContract(t, sm, absent...)
	for _, role := range []attribute.KeyValue{client, server} {
		name := role.Value.AsString()
		for _, c := range []struct {
			metric string
			want   int64
		}{
			{"mptcp.connection.active", 0},
			{"mptcp.subflow.active", 0},
			{"mptcp.subflow.opened", 1},
			{"mptcp.subflow.closed", 1},
		} {
			if v := sum(t, sm, c.metric, role); v != c.want {
				t.Errorf("%s{%s} = %d, want %d", c.metric, name, v, c.want)
			}
		}
		checkFallbacks(t, sm, role, "")
		d := hist(t, sm, "mptcp.connection.duration", role, attribute.Bool("mptcp.fallback", false))
		if d.Count != 1 || d.Sum <= 0 {
			t.Errorf("mptcp.connection.duration{%s}: count %d, sum %v", name, d.Count, d.Sum)
		}
		// One RTT per sample in which the subflow carried data: at least
		// one, since bytes moved both ways (a slow machine may see the
		// whole transfer between two samples).
		rtt := hist(t, sm, "mptcp.subflow.rtt", role, loopback)
		if rtt.Count < 1 || rtt.Sum <= 0 || rtt.Sum/float64(rtt.Count) > 1 {
			t.Errorf("mptcp.subflow.rtt{%s}: count %d, sum %v s", name, rtt.Count, rtt.Sum)
		}
	}
	// Exact byte counts, both ways, both ends.
	for _, c := range []struct {
		role, dir attribute.KeyValue
		want      int64
	}{
		{client, transmit, n}, {client, receive, m},
		{server, transmit, m}, {server, receive, n},
	} {
		// Exact on every kernel: before 6.5 mptcp.io comes from the MPTCP
		// sequence numbers, where the DATA_FIN takes one, and the library
		// leaves it out (the server read the end of the stream).
		if v := sum(t, sm, "mptcp.io", c.role, c.dir); v != c.want {
			t.Errorf("mptcp.io{%s,%s} = %d, want %d", c.role.Value.String(), c.dir.Value.String(), v, c.want)
		}
		// The one subflow carried it all, and maybe more: TCP counts
		// what MPTCP retransmits (even a retransmission TCP itself does not
		// see as one) as new bytes sent on the subflow, and received.
		if v := sum(t, sm, "mptcp.subflow.io", c.role, c.dir, loopback); v < c.want || v > 2*c.want {
			t.Errorf("mptcp.subflow.io{%s,%s,127.0.0.1} = %d, want %d or a little more", c.role.Value.String(), c.dir.Value.String(), v, c.want)
		}
	}
	if v := sum(t, sm, "mptcp.retransmitted", client); v != retrans[0] {
		t.Errorf("mptcp.retransmitted{client} = %d, the span says %d", v, retrans[0])
	}
	if v := sum(t, sm, "mptcp.retransmitted", server); v != retrans[1] {
		t.Errorf("mptcp.retransmitted{server} = %d, the span says %d", v, retrans[1])
	}
}

// TestDialFailed dials a closed loopback port: the span ends with status
// Error and error.type ECONNREFUSED, and no connection is counted.
func TestDialFailed(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if c, err := dialer(e.tracer).Dial("tcp4", addr); err == nil {
		c.Close()
		t.Fatalf("dial %s: connected", addr)
	}
	spans := e.spans(t)
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Status().Code != codes.Error || s.Status().Description == "" {
		t.Errorf("status %+v, want Error with a description", s.Status())
	}
	_, port, _ := net.SplitHostPort(addr)
	wantAttrs(t, "failed dial span", s.Attributes(),
		attribute.String("error.type", "ECONNREFUSED"),
		attribute.String("network.transport", "tcp"),
		attribute.String("network.type", "ipv4"),
		attribute.String("server.address", "127.0.0.1"),
		attribute.Int64("server.port", int64(mustAtoi(t, port))),
		client)
	noAttrs(t, "failed dial span", s.Attributes(), "mptcp.token", "mptcp.fallback", "network.local.address")
	if sm := e.collect(t); slices.ContainsFunc(sm.Metrics, func(m metricdata.Metrics) bool { return !isNetns(m.Name) }) {
		t.Errorf("a failed dial recorded metrics: %+v", sm.Metrics)
	}
}

// TestDialErrorType: error.type names the cause inside the *net.OpError a
// dial returns, as the telemetry contract says. Name resolution goes to a
// resolver that fails at once, so nothing leaves the machine.
func TestDialErrorType(t *testing.T) {
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no name server in this test")
	}}
	for _, c := range []struct{ address, want string }{
		{"no-such-host.test:80", "*net.DNSError"},
		{"127.0.0.1:no-such-port", "*net.DNSError"},
		{"127.0.0.1", "*net.AddrError"},
		{"127.0.0.1:99999", "*net.AddrError"},
	} {
		e := newEnv(t)
		d := mptcpx.NewDialer(&net.Dialer{Resolver: noDNS}, mptcpx.WithoutTelemetry(), mptcpx.WithHooks(e.tracer))
		if conn, err := d.Dial("tcp", c.address); err == nil {
			conn.Close()
			t.Fatalf("dial %s: connected", c.address)
		}
		spans := e.spans(t)
		if len(spans) != 1 {
			t.Fatalf("dial %s: %d spans, want 1", c.address, len(spans))
		}
		wantAttrs(t, "dial "+c.address, spans[0].Attributes(), attribute.String("error.type", c.want))
	}
}
