package mptcpxotel_test

import (
	"context"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/mibstat"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// TestPathsLimitSynthetic: the diagnosis of a connection's paths, driven
// with the samples the sampler would build: the span attribute
// mptcp.paths.limit kept current ("none" once a limit went away), one
// mptcp.paths.limit event per change, as a span event and as a log record
// whose body says it in words, and the connections counted by limit while
// they live and when they close.
func TestPathsLimitSynthetic(t *testing.T) {
	logs := &logRecords{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logs)))
	defer lp.Shutdown(context.Background())
	e := newEnv(t, mptcpxotel.WithLoggerProvider(lp))
	ct := dial(t, e.tracer, "10.0.0.1:5000", "10.0.0.2:443")
	s := newSynth()
	s.snap.Subflows = append(s.snap.Subflows, subflow(1, "10.0.0.1:5000", time.Millisecond))
	sm := s.next()
	sm.Added = []int{0}
	sm.SubflowDeltas = []conntrace.SubflowDelta{{}}
	ct.Sampled(sm)

	// A join that got no answer.
	sm = s.next()
	sm.SubflowDeltas = []conntrace.SubflowDelta{{}}
	sm.Paths = conntrace.PathsDiagnosis{Limit: conntrace.PathsLimitJoinFailed, Subflows: 1, SubflowsMax: 2, Endpoints: 1,
		PathManager: conntrace.PathManagerKernel,
		Join: conntrace.JoinFailure{Local: netip.MustParseAddrPort("10.0.1.1:40000"), Remote: netip.MustParseAddrPort("10.0.0.2:443"),
			Error: syscall.ETIMEDOUT, Timeout: true, State: 2, SynRetransmits: 2}}
	sm.PathsChanged = true
	failedAt := sm.Time
	ct.Sampled(sm)

	sm = s.next()
	sm.SubflowDeltas = []conntrace.SubflowDelta{{}}
	sm.Sent = 10 // news without a change of diagnosis
	ct.Sampled(sm)
	m := e.collect(t)
	if v := sum(t, m, "mptcp.connection.paths.limited", client, attribute.String("mptcp.paths.limit", "join_failed")); v != 1 {
		t.Errorf("mptcp.connection.paths.limited{join_failed} = %d while the connection lives, want 1", v)
	}

	// Then the join worked: nothing limits it any more.
	sm = s.next()
	sm.SubflowDeltas = []conntrace.SubflowDelta{{}}
	sm.Paths = conntrace.PathsDiagnosis{Subflows: 2, SubflowsMax: 2, Endpoints: 1}
	sm.PathsChanged = true
	ct.Sampled(sm)
	// And a subflows limit of 0 on the next connection's life... on this one.
	sm = s.next()
	sm.SubflowDeltas = []conntrace.SubflowDelta{{}}
	sm.Paths = conntrace.PathsDiagnosis{Limit: conntrace.PathsLimitSubflowsMax, Subflows: 1, SubflowsMax: 0, Endpoints: 1,
		PathManager: conntrace.PathManagerKernel, Unknown: conntrace.PathsUnknownPathEvents}
	sm.PathsChanged = true
	ct.Sampled(sm)
	ct.Closed(t0.Add(time.Second))

	span := e.spanOf(t, "client")
	wantAttrs(t, "span", span.Attributes(), attribute.String("mptcp.paths.limit", "subflows_max"))
	var ev []string
	for _, x := range span.Events() {
		if x.Name == "mptcp.paths.limit" {
			v, _ := attr(x.Attributes, "mptcp.paths.limit")
			ev = append(ev, v.AsString())
		}
	}
	if strings.Join(ev, " ") != "join_failed none subflows_max" {
		t.Fatalf("mptcp.paths.limit events %v, want join_failed none subflows_max", ev)
	}
	first := span.Events()[1]
	if !first.Time.Equal(failedAt) {
		t.Errorf("event at %v, want the sample's time %v", first.Time, failedAt)
	}
	wantAttrs(t, "join_failed event", first.Attributes,
		attribute.String("network.local.address", "10.0.1.1"),
		attribute.String("network.peer.address", "10.0.0.2"),
		attribute.String("error.type", "ETIMEDOUT"),
		attribute.String("mptcp.subflow.state", "SYN-SENT"),
		attribute.Int64("mptcp.subflow.syn_retransmits", 2),
		attribute.Int64("mptcp.paths.subflows", 1),
		attribute.Int64("mptcp.paths.subflows.limit", 2),
		attribute.Int64("mptcp.paths.endpoints", 1),
		attribute.String("mptcp.path_manager", "kernel"))
	wantAttrs(t, "subflows_max event", span.Events()[3].Attributes,
		attribute.Int64("mptcp.paths.subflows.limit", 0),
		attribute.String("mptcp.paths.unknown", "path_events"))

	recs := logs.named("mptcp.paths.limit")
	if len(recs) != 3 {
		t.Fatalf("%d mptcp.paths.limit log records, want 3", len(recs))
	}
	if body := recs[0].Body().AsString(); !strings.Contains(body, "a join did not complete from 10.0.1.1 to 10.0.0.2: no answer") {
		t.Errorf("log record body %q", body)
	}

	m = e.collect(t)
	for _, l := range conntrace.PathsLimits() {
		la := attribute.String("mptcp.paths.limit", l.String())
		if v := sum(t, m, "mptcp.connection.paths.limited", client, la); v != 0 {
			t.Errorf("mptcp.connection.paths.limited{%v} = %d after Close, want 0", l, v)
		}
		want := int64(0)
		if l == conntrace.PathsLimitSubflowsMax {
			want = 1
		}
		if v := sum(t, m, "mptcp.connection.paths.limited.closed", client, la); v != want {
			t.Errorf("mptcp.connection.paths.limited.closed{%v} = %d, want %d", l, v, want)
		}
	}
}

// TestNamespaceCounters: the MPTcpExt counters of the process's namespace,
// named by mptcp.netns, with the values the kernel prints.
func TestNamespaceCounters(t *testing.T) {
	testenv.RequireMPTCP(t)
	r, err := mibstat.Open()
	if err != nil {
		t.Fatalf("MPTCP without MPTcpExt counters: %v", err)
	}
	defer r.Close()
	e := newEnv(t)
	m := e.collect(t)
	var before mibstat.Snapshot
	if err := r.Read(&before); err != nil {
		t.Fatal(err)
	}
	name := ""
	if mt, ok := findMetric(m, "mptcp.netns.join.attempts"); ok {
		for _, p := range mt.Data.(metricdata.Sum[int64]).DataPoints {
			v, _ := p.Attributes.Value("mptcp.netns")
			name = v.AsString()
		}
	}
	if !strings.HasPrefix(name, "net:[") {
		t.Fatalf("mptcp.netns = %q, want net:[INODE] for the process's own namespace", name)
	}
	ns := attribute.String("mptcp.netns", name)
	rx, _ := before.Get(mibstat.MPJoinSynRx)
	if v := sum(t, m, "mptcp.netns.join.attempts", ns, attribute.String("network.io.direction", "receive")); uint64(v) > rx {
		t.Errorf("mptcp.netns.join.attempts{receive} = %d, more than MPJoinSynRx read after (%d)", v, rx)
	}
	fb, _ := before.Get(mibstat.MPCapableFallbackSYNACK)
	if v := sum(t, m, "mptcp.netns.fallbacks", ns, attribute.String("mptcp.netns.fallback.cause", "syn_ack_without_mptcp")); uint64(v) > fb {
		t.Errorf("mptcp.netns.fallbacks{syn_ack_without_mptcp} = %d, more than MPCapableFallbackSYNACK read after (%d)", v, fb)
	}
	if before.Has(mibstat.Blackhole) {
		if _, ok := findMetric(m, "mptcp.netns.blackhole.detections"); !ok {
			t.Error("no mptcp.netns.blackhole.detections on a kernel that counts Blackhole")
		}
	}
}

// TestEveryPathsLimitCounted: the metrics by mptcp.paths.limit have a
// series for every value conntrace has.
func TestEveryPathsLimitCounted(t *testing.T) {
	if n := len(conntrace.PathsLimits()) + 1; int(mptcpxotel.NumPathsLimits) != n {
		t.Fatalf("series for %d values, conntrace has %d", mptcpxotel.NumPathsLimits, n)
	}
}
