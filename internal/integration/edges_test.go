package integration_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// connectWith is connect with the Dialer's and the Listener's options
// given: the telemetry of tel, and opts.
func connectWith(t *testing.T, b *testbed.Bed, tel *telemetry, opts ...mptcpx.Option) (client, server *mptcpx.Conn) {
	t.Helper()
	opts = append([]mptcpx.Option{mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(tel.TP), mptcpxotel.WithMeterProvider(tel.MP))}, opts...)
	var ln net.Listener
	err := b.Server.Do(func() (err error) {
		ln, err = mptcpx.Listen("tcp", ":0", opts...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The listener stays open: the kernel hands it the MP_JOINs of the
	// other paths.
	t.Cleanup(func() { ln.Close() })
	var c net.Conn
	err = b.Client.Do(func() (err error) {
		c, err = mptcpx.NewDialer(nil, opts...).DialContext(context.Background(), "tcp", target(b, ln).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*mptcpx.Conn), accept(t, ln)
}

// TestJoinNeverCompletes: the server's answers to the client's second path
// are dropped (a blackhole route), so the join from that path stays in
// SYN_SENT until the kernel gives up. It is never a path: not added, not
// counted as a subflow, no RTT of 0; it is reported once as a failed join,
// with the SYN retransmissions the kernel made.
func TestJoinNeverCompletes(t *testing.T) {
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodProtocol {
		t.Skip("before 5.16 the kernel lists no subflows")
	}
	b := testbed.New(t, testbed.Config{Paths: 2})
	path1 := b.ClientAddr(1)
	if _, err := b.Server.Run("ip", "route", "add", "blackhole", path1.String()+"/32"); err != nil {
		t.Fatal(err)
	}
	// Give up after two SYN retransmissions (1 s, then 2 s), not six.
	if _, err := b.Client.Run("sysctl", "-qw", "net.ipv4.tcp_syn_retries=2"); err != nil {
		t.Fatal(err)
	}
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	c, s := connect(t, b, tel, ln)
	rcv := receive(s)
	snd := newSender(c, 1)
	if err := snd.send(1 << 16); err != nil {
		t.Fatal(err)
	}
	joining := func(s *mptcpinfo.Snapshot) bool {
		for _, sf := range s.Subflows {
			if sf.Local.Addr().Unmap() == path1 && sf.State() == 2 {
				return true
			}
		}
		return false
	}
	waitInfo(t, c, "a join from path 1 in SYN_SENT", joining)
	// While it is pending, it counts nowhere.
	time.Sleep(5 * interval)
	sm := tel.Metrics(t)
	if v := oteltest.Total(t, sm, "mptcp.subflow.active", roleClient); v != 1 {
		t.Errorf("mptcp.subflow.active{client} = %d with a join pending, want 1", v)
	}
	// Then the kernel gives up.
	waitInfo(t, c, "the join from path 1 given up", func(s *mptcpinfo.Snapshot) bool { return !joining(s) })
	time.Sleep(5 * interval)
	if err := snd.send(1 << 16); err != nil {
		t.Fatal(err)
	}
	halfClose(t, c, snd, rcv)
	c.Close()
	s.Close()

	span := tel.Span(t, roleClient)
	added := oteltest.SubflowEvents(t, span, "mptcp.subflow.added")
	if len(added) != 1 || added[0].Local.Addr() == path1 {
		t.Errorf("mptcp.subflow.added: %v, want the initial subflow only", added)
	}
	failed := oteltest.Events(span, "mptcp.subflow.join_failed")
	if len(failed) != 1 {
		t.Fatalf("%d mptcp.subflow.join_failed events, want 1; events %v", len(failed), span.Events())
	}
	if e := oteltest.SubflowEvent(t, failed[0]); e.Local.Addr() != path1 {
		t.Errorf("join_failed from %v, want path 1's address %v", e.Local, path1)
	}
	if v, _ := oteltest.Attr(failed[0].Attributes, "mptcp.subflow.state"); v.AsString() != "SYN-SENT" {
		t.Errorf("join_failed: mptcp.subflow.state = %q, want SYN-SENT", v.AsString())
	}
	if v, _ := oteltest.Attr(failed[0].Attributes, "mptcp.subflow.syn_retransmits"); v.AsInt64() < 1 {
		t.Errorf("join_failed: mptcp.subflow.syn_retransmits = %d, want the retransmissions", v.AsInt64())
	}
	if v, _ := oteltest.Attr(span.Attributes(), "mptcp.subflows.max"); v.AsInt64() != 1 {
		t.Errorf("mptcp.subflows.max = %d, want 1", v.AsInt64())
	}
	sm = tel.Metrics(t)
	if v := oteltest.Total(t, sm, "mptcp.subflow.opened", roleClient); v != 1 {
		t.Errorf("mptcp.subflow.opened{client} = %d, want 1", v)
	}
	if v := oteltest.Total(t, sm, "mptcp.subflow.join_failures", roleClient, attribute.String("network.local.address", path1.String())); v != 1 {
		t.Errorf("mptcp.subflow.join_failures{client,%v} = %d, want 1", path1, v)
	}
	if n := oteltest.HistCount(t, sm, "mptcp.subflow.rtt", roleClient, attribute.String("network.local.address", path1.String())); n != 0 {
		t.Errorf("mptcp.subflow.rtt recorded %d values for the join that never completed", n)
	}
	for _, m := range sm.Metrics {
		if m.Name != "mptcp.subflow.rtt" {
			continue
		}
		for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
			if v, ok := p.Min.Value(); ok && v <= 0 {
				t.Errorf("mptcp.subflow.rtt recorded %v s at %v", v, p.Attributes.ToSlice())
			}
		}
	}
	tel.CheckClosedGauges(t)
}

// TestHalfClosedKeepsPathBytes: both ends shut down their writing side,
// then close, with the default interval of one second. The kernel closes
// the subflows as soon as both sides are shut down, taking their counters
// with them; the bytes each path carried are still counted, on both sides.
func TestHalfClosedKeepsPathBytes(t *testing.T) {
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodProtocol {
		t.Skip("before 5.16 the kernel lists no subflows")
	}
	b := testbed.New(t, testbed.Config{Paths: 2, RateLimit: map[int]string{0: "40mbit"}})
	tel := newTelemetry(t)
	c, s := connectWith(t, b, tel)
	up := receive(s)
	snd := newSender(c, 7)
	if err := snd.send(1); err != nil {
		t.Fatal(err)
	}
	waitInfo(t, c, "2 established subflows", func(s *mptcpinfo.Snapshot) bool { return len(established(s)) == 2 })
	const size = 10 << 20
	if err := snd.send(size); err != nil {
		t.Fatal(err)
	}
	halfClose(t, c, snd, up) // the server read to the end
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the client read data, want the end of the stream")
	}
	// Both sides are shut down: the kernel closes the subflows now. Close
	// a little later, as a program busy elsewhere would.
	time.Sleep(200 * time.Millisecond)
	c.Close()
	s.Close()

	sm := tel.Metrics(t)
	for _, side := range []struct {
		role, dir attribute.KeyValue
	}{{roleClient, transmitDir}, {roleServer, receiveDir}} {
		conn := oteltest.Total(t, sm, "mptcp.io", side.role, side.dir)
		perPath := oteltest.ByKey(t, sm, "mptcp.subflow.io", "network.local.address", side.role, side.dir)
		var sum int64
		for _, n := range perPath {
			sum += n
		}
		t.Logf("%s %s: mptcp.io %d, mptcp.subflow.io by path %v", side.role.Value.AsString(), side.dir.Value.AsString(), conn, perPath)
		if conn != snd.sent() {
			t.Errorf("%s: mptcp.io = %d, want %d", side.role.Value.AsString(), conn, snd.sent())
		}
		if sum < conn {
			t.Errorf("%s: mptcp.subflow.io adds up to %d, want at least mptcp.io (%d)", side.role.Value.AsString(), sum, conn)
		}
		// The client's subflows leave from one address each; the server's
		// all arrive at the address the client dialed.
		if want := map[bool]int{true: 2, false: 1}[side.role == roleClient]; len(perPath) != want {
			t.Errorf("%s: mptcp.subflow.io at %d local addresses, want %d", side.role.Value.AsString(), len(perPath), want)
		}
	}
}
