package integration_test

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// TestReports: a connection over two paths, idle after its first bytes,
// reported to a logs backend while it lives. Each end has one
// mptcp.connection.established record at once, tied to its connection
// span, with the span's start attributes; then an mptcp.connection.report
// every second (the shortest report interval) although nothing moves, each
// tied to the span, with the connection's counters as the kernel has them
// and both paths' figures; none after Close. A connection whose reports are
// off (WithReportInterval(0)) has its established record and no report.
func TestReports(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 2})
	tel := newTelemetry(t)
	logs := newLogs(t)
	logOpts := func(report time.Duration) []mptcpx.Option {
		return []mptcpx.Option{
			mptcpx.WithTelemetry(mptcpxotel.WithLoggerProvider(logs.LP), mptcpxotel.WithReportInterval(report)),
			mptcpx.WithInterval(interval),
		}
	}
	c, s := connectWith(t, b, tel, logOpts(time.Second)...)
	quiet, quietServer := connectWith(t, b, tel, logOpts(0)...)
	go receive(s)
	go receive(quietServer)
	for _, conn := range []*mptcpx.Conn{c, quiet} {
		if _, err := conn.Write(make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	waitInfo(t, c, "2 established subflows", func(s *mptcpinfo.Snapshot) bool { return len(established(s)) == 2 })
	start := time.Now()
	spans := map[*mptcpx.Conn]string{}
	for _, conn := range []*mptcpx.Conn{c, s, quiet, quietServer} {
		sc := mptcpxotel.ConnSpanContext(conn)
		if !sc.IsValid() {
			t.Fatal("a live connection has no span context")
		}
		spans[conn] = sc.SpanID().String()
	}
	of := func(rs []sdklog.Record, conn *mptcpx.Conn) []sdklog.Record {
		var out []sdklog.Record
		for _, r := range rs {
			if r.SpanID().String() == spans[conn] {
				out = append(out, r)
			}
		}
		return out
	}
	// Three reports on each side of the reporting connection.
	err := testbed.WaitFor(waitTimeout, func() (bool, error) {
		rs := logs.named("mptcp.connection.report")
		return len(of(rs, c)) >= 3 && len(of(rs, s)) >= 3, nil
	})
	if err != nil {
		t.Fatalf("reports: %v", err)
	}
	t.Logf("3 reports of each side within %v", time.Since(start).Round(time.Millisecond))
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.Close()
	quiet.Close()
	quietServer.Close()
	closed := len(logs.named("mptcp.connection.report"))

	for _, side := range []struct {
		conn  *mptcpx.Conn
		role  attribute.KeyValue
		local func(int) string
	}{
		{c, roleClient, func(p int) string { return b.ClientAddr(p).String() }},
		{s, roleServer, func(p int) string { return b.ServerAddr(0).String() }},
	} {
		name := side.role.Value.AsString()
		est := of(logs.named("mptcp.connection.established"), side.conn)
		if len(est) != 1 {
			t.Fatalf("%s: %d mptcp.connection.established records, want 1", name, len(est))
		}
		wantAttrs := []attribute.KeyValue{side.role, attribute.String("network.transport", "tcp"), attribute.String("network.type", "ipv4"),
			attribute.String("network.local.address", addrPort(side.conn.LocalAddr()).Addr().String()),
			attribute.Int64("network.local.port", int64(addrPort(side.conn.LocalAddr()).Port())),
			attribute.String("network.peer.address", addrPort(side.conn.RemoteAddr()).Addr().String()),
			attribute.String("server.address", b.ServerAddr(0).String())}
		if kv := recordAttrs(est[0]); !hasAll(kv, wantAttrs) {
			t.Errorf("%s: mptcp.connection.established %v, want %v among them", name, kv, wantAttrs)
		}
		reports := of(logs.named("mptcp.connection.report"), side.conn)
		// Reports keep to a grid of one second from the connection's
		// start: one taken late (a loaded machine delays the sampler)
		// makes the next gap shorter, never a burst.
		for i := 1; i < len(reports); i++ {
			gap := reports[i].Timestamp().Sub(reports[i-1].Timestamp())
			if gap < time.Second/2 || gap > time.Second+2*interval+200*time.Millisecond {
				t.Errorf("%s: reports %d and %d %v apart, want about a second (the interval)", name, i-1, i, gap)
			}
		}
		if n := len(reports); n >= 3 {
			mean := reports[n-1].Timestamp().Sub(reports[0].Timestamp()) / time.Duration(n-1)
			if mean < time.Second-3*interval || mean > time.Second+3*interval {
				t.Errorf("%s: reports %v apart on average, want a second", name, mean)
			}
		}
		last := recordAttrs(reports[len(reports)-1])
		want := []attribute.KeyValue{side.role, attribute.Bool("mptcp.fallback", false),
			attribute.Int64("mptcp.subflows.active", 2), attribute.Int64("mptcp.subflows.max", 2)}
		if side.conn == c && info.Has(mptcpinfo.FieldBytes) { // mptcp_info's byte counters: 6.5+
			want = append(want, attribute.Int64("mptcp.bytes.sent", int64(info.Info.BytesSent)),
				attribute.Int64("mptcp.bytes.retransmitted", int64(info.Info.BytesRetrans)))
		}
		if !hasAll(last, want) {
			t.Errorf("%s: last report %v, want %v among its attributes", name, last, want)
		}
		list, _ := oteltest.Attr(last, "mptcp.subflows.list")
		var locals []string
		var sent int64
		for _, v := range list.AsSlice() {
			m := v.AsMap()
			a, _ := oteltest.Attr(m, "network.local.address")
			n, _ := oteltest.Attr(m, "mptcp.subflow.bytes.sent")
			_, rtt := oteltest.Attr(m, "mptcp.subflow.rtt")
			_, retrans := oteltest.Attr(m, "mptcp.subflow.bytes.retransmitted")
			if !rtt || !retrans {
				t.Errorf("%s: subflow %v in the report without its RTT or retransmissions", name, m)
			}
			locals = append(locals, a.AsString())
			sent += n.AsInt64()
		}
		if len(locals) != 2 || side.conn == c && (locals[0] != side.local(0) || locals[1] != side.local(1)) {
			t.Errorf("%s: the report lists subflows from %v, want one per path", name, locals)
		}
		if side.conn == c && sent < int64(info.Info.BytesSent) {
			t.Errorf("client: the subflows of the report sent %d bytes, the connection %d", sent, info.Info.BytesSent)
		}
	}
	if n := len(of(logs.named("mptcp.connection.established"), quiet)); n != 1 {
		t.Errorf("reports off: %d mptcp.connection.established records, want 1", n)
	}
	if n := len(of(logs.named("mptcp.connection.report"), quiet)) + len(of(logs.named("mptcp.connection.report"), quietServer)); n != 0 {
		t.Errorf("reports off: %d reports", n)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(logs.named("mptcp.connection.report")); n != closed {
		t.Errorf("%d reports after the connections closed", n-closed)
	}
	// The records are tied to spans that ended with their connections.
	ended := map[string]bool{}
	for _, role := range []attribute.KeyValue{roleClient, roleServer} {
		for _, sp := range tel.Spans(role) {
			ended[sp.SpanContext().SpanID().String()] = true
		}
	}
	for conn, id := range spans {
		if !ended[id] {
			t.Errorf("no ended span %s for the connection from %v", id, conn.LocalAddr())
		}
	}
}

// hasAll reports whether kv holds every one of want.
func hasAll(kv, want []attribute.KeyValue) bool {
	for _, w := range want {
		if v, ok := oteltest.Attr(kv, w.Key); !ok || v != w.Value {
			return false
		}
	}
	return true
}
