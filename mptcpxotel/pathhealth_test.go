package mptcpxotel_test

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestPathHealthSynthetic: each path's retransmitted bytes, timeouts and
// spurious retransmissions are counted on the series of its local address
// and backup flag, as its bytes are: a subflow whose SubflowEstablished
// event carried the flag counts on the series with mptcp.subflow.backup,
// and moves to the other flag's series when a SubflowPriority event
// changes it (what it counted stays); a subflow that left is credited what
// was read of it after its last sample, once; the removed event carries
// its retransmitted bytes.
func TestPathHealthSynthetic(t *testing.T) {
	e := newEnv(t)
	ct := dial(t, e.tracer, "127.0.0.1:5000", "127.0.0.1:443")
	s := newSynth()

	s.snap.Subflows = []mptcpinfo.Subflow{subflow(1, "127.0.0.1:5000", time.Millisecond)}
	sm := s.next()
	sm.Added = append(sm.Added, 0)
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 1000, Retransmitted: 100, Spurious: 2, Timeouts: 1})
	ct.Sampled(sm)

	// A join from 127.0.0.2 that the peer marked backup.
	s.snap.Subflows = append(s.snap.Subflows, subflow(2, "127.0.0.2:6000", time.Millisecond))
	sm = s.next()
	sm.Added = append(sm.Added, 1)
	sm.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowEstablished, SubflowID: 2, HasBackup: true, Backup: true,
		Local: s.snap.Subflows[1].Local, Remote: s.snap.Subflows[1].Remote}}
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{}, conntrace.SubflowDelta{Sent: 500, Retransmitted: 50})
	ct.Sampled(sm)

	// The peer makes it a regular path again.
	sm = s.next()
	sm.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowPriority, SubflowID: 2, HasBackup: true, Backup: false}}
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 10, Retransmitted: 3}, conntrace.SubflowDelta{Sent: 70, Retransmitted: 7, Spurious: 1})
	ct.Sampled(sm)

	// Subflow 1 leaves, with more read of it between samples.
	s.snap.Subflows = s.snap.Subflows[1:]
	sm = s.next()
	sm.PathEvents = nil
	sm.Removed = append(sm.Removed, conntrace.RemovedSubflow{ID: 1, Local: s.snap.Subflows[0].Local, BytesSent: 1010, BytesRetrans: 103,
		Unsampled: conntrace.SubflowDelta{Sent: 40, Retransmitted: 30, Spurious: 1, Timeouts: 2}})
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{})
	ct.Sampled(sm)
	sm = s.next()
	sm.Final = true
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{})
	ct.Sampled(sm)
	ct.Closed(t0.Add(time.Second))

	m := e.collect(t)
	checkContract(t, m)
	local2 := attribute.String("network.local.address", "127.0.0.2")
	backup, regular := attribute.Bool("mptcp.subflow.backup", true), attribute.Bool("mptcp.subflow.backup", false)
	for _, c := range []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{"mptcp.subflow.retransmitted", []attribute.KeyValue{client, loopback}, 133},
		{"mptcp.subflow.spurious_retransmissions", []attribute.KeyValue{client, loopback}, 3},
		{"mptcp.subflow.timeouts", []attribute.KeyValue{client, loopback}, 3},
		{"mptcp.subflow.retransmitted", []attribute.KeyValue{client, local2, backup}, 50},
		{"mptcp.subflow.retransmitted", []attribute.KeyValue{client, local2, regular}, 7},
		{"mptcp.subflow.spurious_retransmissions", []attribute.KeyValue{client, local2, regular}, 1},
		{"mptcp.subflow.timeouts", []attribute.KeyValue{client, local2, backup}, 0},
		{"mptcp.subflow.io", []attribute.KeyValue{client, transmit, loopback}, 1050},
		{"mptcp.subflow.io", []attribute.KeyValue{client, transmit, local2, backup}, 500},
		{"mptcp.subflow.io", []attribute.KeyValue{client, transmit, local2, regular}, 70},
	} {
		if v := sum(t, m, c.name, c.attrs...); v != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.attrs, v, c.want)
		}
	}
	if n := series(m, "mptcp.subflow.retransmitted"); n != 3 {
		t.Errorf("mptcp.subflow.retransmitted has %d series, want 3 (127.0.0.1; 127.0.0.2 backup and not)", n)
	}
	if h := hist(t, m, "mptcp.subflow.rtt", client, local2, backup); h.Count != 1 {
		t.Errorf("mptcp.subflow.rtt{127.0.0.2, backup}: %d values, want 1", h.Count)
	}

	removed := eventsNamed(e.spanOf(t, "client"), "mptcp.subflow.removed")
	if len(removed) != 1 {
		t.Fatalf("%d mptcp.subflow.removed events", len(removed))
	}
	wantAttrs(t, "mptcp.subflow.removed", removed[0].Attributes,
		attribute.Int64("mptcp.subflow.bytes.sent", 1050),
		attribute.Int64("mptcp.subflow.bytes.retransmitted", 133))
}

// TestPathHealthWithoutTimeouts: a kernel whose tcp_info has no
// total_rto (before 6.7) reports no mptcp.subflow.timeouts, rather than
// zeros that would read "none"; the other counters are there.
func TestPathHealthWithoutTimeouts(t *testing.T) {
	e := newEnv(t)
	ct := dial(t, e.tracer, "127.0.0.1:5000", "127.0.0.1:443")
	s := newSynth()
	s.snap.TCPInfoLen = 240 // 6.2 to 6.6
	s.snap.Subflows = []mptcpinfo.Subflow{subflow(1, "127.0.0.1:5000", time.Millisecond)}
	sm := s.next()
	sm.Added = append(sm.Added, 0)
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 1000, Retransmitted: 100})
	ct.Sampled(sm)
	m := e.collect(t)
	checkContract(t, m, "mptcp.connection.duration", "mptcp.subflow.timeouts")
	if v := sum(t, m, "mptcp.subflow.retransmitted", client, loopback); v != 100 {
		t.Errorf("mptcp.subflow.retransmitted = %d, want 100", v)
	}
	ct.Closed(t0.Add(time.Second))
}

// series returns how many points (series) the int64 sum name has.
func series(sm metricdata.ScopeMetrics, name string) int {
	m, ok := findMetric(sm, name)
	if !ok {
		return 0
	}
	d, _ := m.Data.(metricdata.Sum[int64])
	return len(d.DataPoints)
}
