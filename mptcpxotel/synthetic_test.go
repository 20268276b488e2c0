package mptcpxotel_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// These tests drive the hooks directly with the samples the sampler would
// build, for what a loopback connection does not do on its own: subflows
// joining and leaving, many of them, a fallback in the middle of a
// connection.

// fakeConn has only the addresses of a connection.
type fakeConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *fakeConn) LocalAddr() net.Addr  { return c.local }
func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }

func tcpAddr(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// synth builds samples of one connection.
type synth struct {
	snap   mptcpinfo.Snapshot
	sample conntrace.Sample
	n      int
}

func newSynth() *synth {
	s := &synth{}
	s.snap = mptcpinfo.Snapshot{
		Method: mptcpinfo.MethodFullInfo, Protocol: 262, MPTCP: true,
		InfoLen:    int(unsafe.Sizeof(mptcpinfo.Info{})),
		TCPInfoLen: int(unsafe.Sizeof(mptcpinfo.TCPInfo{})),
	}
	s.sample.Snapshot = &s.snap
	return s
}

// subflow returns a subflow from local to 127.0.0.1:443 with an RTT.
func subflow(id uint32, local string, rtt time.Duration) mptcpinfo.Subflow {
	sf := mptcpinfo.Subflow{ID: id, Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort("127.0.0.1:443")}
	sf.TCPInfo.RTT = uint32(rtt / time.Microsecond)
	return sf
}

// next resets the change set and advances the time for the next sample.
func (s *synth) next() *conntrace.Sample {
	s.sample.First = s.n == 0
	s.sample.Time = t0.Add(time.Duration(s.n) * time.Millisecond)
	s.n++
	s.sample.Added, s.sample.Removed, s.sample.SubflowDeltas = s.sample.Added[:0], s.sample.Removed[:0], s.sample.SubflowDeltas[:0]
	s.sample.Sent, s.sample.Received, s.sample.Retransmitted = 0, 0, 0
	s.sample.FallbackChanged, s.sample.PathsChanged = false, false
	s.snap.NumSubflows = len(s.snap.Subflows)
	return &s.sample
}

// dial starts a client connection through the hooks, as a Dialer would.
func dial(t testing.TB, tr *mptcpxotel.Tracer, local, peer string) conntrace.ConnHooks {
	t.Helper()
	_, ct := tr.DialStart(context.Background(), conntrace.DialStart{Network: "tcp", Address: peer, Time: t0})
	if ct == nil {
		t.Fatal("DialStart returned no ConnHooks")
	}
	ct.Established(&fakeConn{local: tcpAddr(local), remote: tcpAddr(peer)}, t0)
	return ct
}

// TestSubflowsSynthetic: two subflows on two local addresses, one leaving,
// then a fallback: the events with their attributes and timestamps, the
// split by local address, the end attributes.
func TestSubflowsSynthetic(t *testing.T) {
	e := newEnv(t)
	ct := dial(t, e.tracer, "127.0.0.1:5000", "127.0.0.1:443")
	s := newSynth()
	s.snap.Info.Token = 0xdeadbeef

	// First sample: the initial subflow.
	s.snap.Subflows = []mptcpinfo.Subflow{subflow(1, "127.0.0.1:5000", 2*time.Millisecond)}
	sm := s.next()
	sm.Added = append(sm.Added, 0)
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 100, Received: 10})
	sm.Sent, sm.Received, sm.SubflowsMax = 100, 10, 1
	ct.Sampled(sm)

	// A second subflow joins from another local address.
	s.snap.Subflows = append(s.snap.Subflows, subflow(2, "[::ffff:127.0.0.2]:6000", 4*time.Millisecond))
	sm = s.next()
	sm.Added = append(sm.Added, 1)
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 1000, Received: 20}, conntrace.SubflowDelta{Sent: 2000, Received: 30})
	sm.Sent, sm.Received, sm.Retransmitted, sm.SubflowsMax = 3000, 50, 7, 2
	ct.Sampled(sm)

	// The first one leaves.
	s.snap.Subflows = s.snap.Subflows[1:]
	s.snap.Info.BytesSent, s.snap.Info.BytesReceived, s.snap.Info.BytesRetrans = 3105, 66, 7
	sm = s.next()
	removedAt := sm.Time
	sm.Removed = append(sm.Removed, conntrace.RemovedSubflow{ID: 1,
		Local: netip.MustParseAddrPort("127.0.0.1:5000"), Remote: netip.MustParseAddrPort("127.0.0.1:443"),
		BytesSent: 1100, BytesReceived: 30, RTT: 1500 * time.Microsecond})
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 5, Received: 6})
	sm.Sent, sm.Received = 5, 6
	ct.Sampled(sm)

	// Mid-connection fallback: the kernel stops answering; final sample.
	s.snap = mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, Fallback: true, Subflows: s.snap.Subflows[:0]}
	sm = s.next()
	fellAt := sm.Time
	sm.Fallback, sm.FallbackChanged, sm.Final = conntrace.FallbackMidConnection, true, true
	ct.Sampled(sm)
	ct.Closed(t0.Add(time.Second))

	span := e.spanOf(t, "client")
	wantAttrs(t, "span", span.Attributes(),
		attribute.String("mptcp.token", "deadbeef"),
		attribute.Bool("mptcp.fallback", true),
		attribute.Int64("mptcp.subflows.max", 2),
		// The last counters read: the fallen-back socket has none.
		attribute.Int64("mptcp.bytes.sent", 3105),
		attribute.Int64("mptcp.bytes.received", 66),
		attribute.Int64("mptcp.bytes.retransmitted", 7),
		attribute.String("server.address", "127.0.0.1"),
		attribute.Int64("server.port", 443))
	if span.EndTime() != t0.Add(time.Second) || span.StartTime() != t0 {
		t.Errorf("span [%v, %v], want [%v, %v]", span.StartTime(), span.EndTime(), t0, t0.Add(time.Second))
	}
	ev := span.Events()
	names := []string{"mptcp.subflow.added", "mptcp.subflow.added", "mptcp.subflow.removed", "mptcp.fallback"}
	if len(ev) != len(names) {
		t.Fatalf("%d events, want %v", len(ev), names)
	}
	for i, n := range names {
		if ev[i].Name != n {
			t.Errorf("event %d: %s, want %s", i, ev[i].Name, n)
		}
	}
	wantAttrs(t, "second mptcp.subflow.added", ev[1].Attributes,
		attribute.Int64("mptcp.subflow.id", 2),
		attribute.String("network.local.address", "127.0.0.2"), // unmapped
		attribute.Int64("network.local.port", 6000),
		attribute.String("network.peer.address", "127.0.0.1"),
		attribute.Int64("network.peer.port", 443))
	wantAttrs(t, "mptcp.subflow.removed", ev[2].Attributes,
		attribute.Int64("mptcp.subflow.id", 1),
		attribute.Int64("mptcp.subflow.bytes.sent", 1100),
		attribute.Int64("mptcp.subflow.bytes.received", 30),
		attribute.Float64("mptcp.subflow.rtt", 0.0015),
		attribute.String("network.local.address", "127.0.0.1"),
		attribute.Int64("network.local.port", 5000))
	if !ev[2].Time.Equal(removedAt) {
		t.Errorf("mptcp.subflow.removed at %v, want the sample's time %v", ev[2].Time, removedAt)
	}
	wantAttrs(t, "mptcp.fallback", ev[3].Attributes, attribute.String("mptcp.fallback.reason", "mid_connection"))
	if !ev[3].Time.Equal(fellAt) {
		t.Errorf("mptcp.fallback at %v, want %v", ev[3].Time, fellAt)
	}

	m := e.collect(t)
	checkContract(t, m)
	checkFallbacks(t, m, client, "mid_connection")
	local2 := attribute.String("network.local.address", "127.0.0.2")
	for _, c := range []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{"mptcp.io", []attribute.KeyValue{client, transmit}, 3105},
		{"mptcp.io", []attribute.KeyValue{client, receive}, 66},
		{"mptcp.retransmitted", []attribute.KeyValue{client}, 7},
		{"mptcp.subflow.io", []attribute.KeyValue{client, transmit, loopback}, 1100},
		{"mptcp.subflow.io", []attribute.KeyValue{client, receive, loopback}, 30},
		{"mptcp.subflow.io", []attribute.KeyValue{client, transmit, local2}, 2005},
		{"mptcp.subflow.io", []attribute.KeyValue{client, receive, local2}, 36},
		{"mptcp.subflow.opened", []attribute.KeyValue{client}, 2},
		{"mptcp.subflow.closed", []attribute.KeyValue{client}, 2},
		{"mptcp.subflow.active", []attribute.KeyValue{client}, 0},
		{"mptcp.connection.active", []attribute.KeyValue{client}, 0},
	} {
		if v := sum(t, m, c.name, c.attrs...); v != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.attrs, v, c.want)
		}
	}
	// RTT: one value per subflow per sample, in seconds.
	if h := hist(t, m, "mptcp.subflow.rtt", client, loopback); h.Count != 2 || h.Sum != 0.004 {
		t.Errorf("mptcp.subflow.rtt{127.0.0.1}: %d values, sum %v; want 2, 0.004", h.Count, h.Sum)
	}
	if h := hist(t, m, "mptcp.subflow.rtt", client, local2); h.Count != 2 || h.Sum != 0.008 {
		t.Errorf("mptcp.subflow.rtt{127.0.0.2}: %d values, sum %v; want 2, 0.008", h.Count, h.Sum)
	}
	if h := hist(t, m, "mptcp.connection.duration", client, attribute.Bool("mptcp.fallback", true)); h.Count != 1 || h.Sum != 1 {
		t.Errorf("mptcp.connection.duration: %d values, sum %v; want 1, 1", h.Count, h.Sum)
	}
}

// TestEventsLimit: a span holds at most 128 events; the others are counted
// in mptcp.events.dropped.
func TestEventsLimit(t *testing.T) {
	e := newEnv(t)
	ct := dial(t, e.tracer, "127.0.0.1:5000", "127.0.0.1:443")
	s := newSynth()
	const n = 100 // 100 subflows, each replacing the previous: 199 events
	for id := uint32(1); id <= n; id++ {
		s.snap.Subflows = []mptcpinfo.Subflow{subflow(id, "127.0.0.1:5000", time.Millisecond)}
		sm := s.next()
		sm.Added = append(sm.Added, 0)
		sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{})
		if id > 1 {
			sm.Removed = append(sm.Removed, conntrace.RemovedSubflow{ID: id - 1})
		}
		sm.SubflowsMax = 1
		ct.Sampled(sm)
	}
	ct.Closed(t0.Add(time.Second))
	span := e.spanOf(t, "client")
	if len(span.Events()) != 128 || span.DroppedEvents() != 0 {
		t.Errorf("%d events (%d dropped by the SDK), want 128", len(span.Events()), span.DroppedEvents())
	}
	wantAttrs(t, "span", span.Attributes(), attribute.Int64("mptcp.events.dropped", 2*n-1-128))
	m := e.collect(t)
	if v := sum(t, m, "mptcp.subflow.opened", client); v != n {
		t.Errorf("mptcp.subflow.opened = %d, want %d", v, n)
	}
	if v := sum(t, m, "mptcp.subflow.closed", client); v != n {
		t.Errorf("mptcp.subflow.closed = %d, want %d", v, n)
	}
	if v := sum(t, m, "mptcp.subflow.active", client); v != 0 {
		t.Errorf("mptcp.subflow.active = %d, want 0", v)
	}
}

// TestPeerAttributes: with WithPeerAttributes every metric carries the
// connection's peer; a closed connection's series is reported once more,
// with its final values, then dropped.
func TestPeerAttributes(t *testing.T) {
	e := newEnv(t, mptcpxotel.WithPeerAttributes())
	a := dial(t, e.tracer, "127.0.0.1:5000", "127.0.0.1:443")
	b := dial(t, e.tracer, "127.0.0.1:5001", "127.0.0.2:8443")
	for i, ct := range []conntrace.ConnHooks{a, b} {
		s := newSynth()
		s.snap.Subflows = []mptcpinfo.Subflow{subflow(1, "127.0.0.1:5000", time.Millisecond)}
		sm := s.next()
		sm.Added = append(sm.Added, 0)
		sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: uint64(10 * (i + 1))})
		sm.Sent = uint64(10 * (i + 1))
		ct.Sampled(sm)
	}
	peerA := []attribute.KeyValue{attribute.String("network.peer.address", "127.0.0.1"), attribute.Int64("network.peer.port", 443)}
	peerB := []attribute.KeyValue{attribute.String("network.peer.address", "127.0.0.2"), attribute.Int64("network.peer.port", 8443)}
	with := func(kv ...attribute.KeyValue) []attribute.KeyValue { return kv }

	m := e.collect(t)
	checkContract(t, m, "mptcp.connection.duration")
	if v := sum(t, m, "mptcp.io", append(with(client, transmit), peerA...)...); v != 10 {
		t.Errorf("mptcp.io{peer A} = %d, want 10", v)
	}
	if v := sum(t, m, "mptcp.subflow.io", append(with(client, transmit, loopback), peerB...)...); v != 20 {
		t.Errorf("mptcp.subflow.io{peer B} = %d, want 20", v)
	}
	if v := sum(t, m, "mptcp.connection.active", append(with(client), peerB...)...); v != 1 {
		t.Errorf("mptcp.connection.active{peer B} = %d, want 1", v)
	}

	b.Closed(t0.Add(time.Second))
	m = e.collect(t)
	if v := sum(t, m, "mptcp.connection.active", append(with(client), peerB...)...); v != 0 {
		t.Errorf("mptcp.connection.active{peer B} = %d after Close, want 0", v)
	}
	hist(t, m, "mptcp.connection.duration", append(with(client, attribute.Bool("mptcp.fallback", false)), peerB...)...)
	m = e.collect(t)
	if v := sum(t, m, "mptcp.io", append(with(client, transmit), peerA...)...); v != 10 {
		t.Errorf("mptcp.io{peer A} = %d, want 10", v)
	}
	io, _ := findMetric(m, "mptcp.io")
	for _, p := range io.Data.(metricdata.Sum[int64]).DataPoints {
		if v, _ := p.Attributes.Value("network.peer.address"); v.AsString() == "127.0.0.2" {
			t.Errorf("the closed connection's series is still reported: %s", p.Attributes.Encoded(attribute.DefaultEncoder()))
		}
	}
	a.Closed(t0.Add(time.Second))
}

// TestPeerAttributesShareSeries: connections to the same peer share one
// series, whose cumulative values never go down when one of them closes;
// the closed connections' bytes stay in it.
func TestPeerAttributesShareSeries(t *testing.T) {
	e := newEnv(t, mptcpxotel.WithPeerAttributes())
	peer := []attribute.KeyValue{client, transmit, attribute.String("network.peer.address", "127.0.0.1"), attribute.Int64("network.peer.port", 443)}
	a := dial(t, e.tracer, "127.0.0.1:5000", "127.0.0.1:443")
	b := dial(t, e.tracer, "127.0.0.1:5001", "127.0.0.1:443")
	for i, ct := range []conntrace.ConnHooks{a, b} {
		s := newSynth()
		s.snap.Subflows = []mptcpinfo.Subflow{subflow(1, "127.0.0.1:5000", time.Millisecond)}
		sm := s.next()
		sm.Added = append(sm.Added, 0)
		sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: uint64(50000 * (i + 2))})
		sm.Sent = uint64(50000 * (i + 2))
		ct.Sampled(sm)
	}
	m := e.collect(t)
	if v := sum(t, m, "mptcp.io", peer...); v != 250000 {
		t.Fatalf("mptcp.io{peer} = %d with both connections open, want 250000", v)
	}
	b.Closed(t0.Add(time.Second))
	for range 3 {
		m = e.collect(t)
		if v := sum(t, m, "mptcp.io", peer...); v != 250000 {
			t.Fatalf("mptcp.io{peer} = %d after one of the two closed, want 250000 (cumulative values never go down)", v)
		}
		if v := sum(t, m, "mptcp.connection.active", client, peer[2], peer[3]); v != 1 {
			t.Fatalf("mptcp.connection.active{peer} = %d, want 1", v)
		}
	}
	a.Closed(t0.Add(time.Second))
	m = e.collect(t)
	if v := sum(t, m, "mptcp.io", peer...); v != 250000 {
		t.Fatalf("mptcp.io{peer} = %d after both closed, want 250000", v)
	}
	m = e.collect(t)
	if mm, ok := findMetric(m, "mptcp.io"); ok {
		want := attribute.NewSet(peer...)
		for _, p := range mm.Data.(metricdata.Sum[int64]).DataPoints {
			if p.Attributes.Equals(&want) {
				t.Errorf("mptcp.io{peer} still reported after every connection closed and the final values went out once")
			}
		}
	}
}

// TestPeerAttributesWithoutReader: with no metric reader, closed
// connections leave nothing behind, however many distinct peers there were.
func TestPeerAttributesWithoutReader(t *testing.T) {
	tr := mptcpxotel.NewTracer(mptcpxotel.WithPeerAttributes(),
		mptcpxotel.WithTracerProvider(tracenoop.NewTracerProvider()),
		mptcpxotel.WithMeterProvider(sdkmetric.NewMeterProvider()))
	churn := func(n, from int) {
		s := newSynth()
		s.snap.Subflows = []mptcpinfo.Subflow{subflow(1, "127.0.0.1:5000", time.Millisecond)}
		for i := range n {
			ct := dial(t, tr, "127.0.0.1:5000", fmt.Sprintf("10.%d.%d.%d:443", (from+i)>>16&255, (from+i)>>8&255, (from+i)&255))
			sm := s.next()
			sm.Added = append(sm.Added, 0)
			sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 10})
			ct.Sampled(sm)
			ct.Closed(t0)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	churn(1000, 0)
	before := heap()
	const n = 20000
	churn(n, 1000)
	after := heap()
	runtime.KeepAlive(tr)
	if grown := int64(after) - int64(before); grown > n*64 {
		t.Errorf("heap grew by %d bytes over %d closed connections to distinct peers (%d per connection), want no growth", grown, n, grown/n)
	}
}
