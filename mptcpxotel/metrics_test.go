package mptcpxotel_test

import (
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// kind is an instrument kind as the telemetry contract names it.
type kind string

const (
	counter   kind = "Counter"
	upDown    kind = "UpDownCounter"
	histogram kind = "Histogram"
)

// contract is the metrics table of the telemetry contract. The metrics of
// the namespaces' counters (netns) are there when the kernel prints their
// counters: on Linux with MPTCP, some from 6.12 or 6.18 on only.
var contract = []struct {
	name  string
	kind  kind
	unit  string
	netns bool
}{
	{"mptcp.connection.active", upDown, "{connection}", false},
	{"mptcp.connection.duration", histogram, "s", false},
	{"mptcp.connection.fallbacks", counter, "{connection}", false},
	{"mptcp.subflow.active", upDown, "{subflow}", false},
	{"mptcp.subflow.opened", counter, "{subflow}", false},
	{"mptcp.subflow.closed", counter, "{subflow}", false},
	{"mptcp.io", counter, "By", false},
	{"mptcp.retransmitted", counter, "By", false},
	{"mptcp.subflow.io", counter, "By", false},
	{"mptcp.subflow.rtt", histogram, "s", false},
	{"mptcp.subflow.retransmitted", counter, "By", false},
	{"mptcp.subflow.timeouts", counter, "{timeout}", false},
	{"mptcp.subflow.spurious_retransmissions", counter, "{segment}", false},
	{"mptcp.connection.paths.limited", upDown, "{connection}", false},
	{"mptcp.connection.paths.limited.closed", counter, "{connection}", false},
	{"mptcp.netns.join.attempts", counter, "{join}", true},
	{"mptcp.netns.join.failures", counter, "{join}", true},
	{"mptcp.netns.add_addr", counter, "{address}", true},
	{"mptcp.netns.add_addr.dropped", counter, "{address}", true},
	{"mptcp.netns.fallbacks", counter, "{connection}", true},
	{"mptcp.netns.blackhole.detections", counter, "{detection}", true},
}

// checkContract checks that the metrics in sm are those of the contract,
// with their units and kinds (counters and up-down counters as cumulative
// int64 sums, monotonic or not; histograms of float64 seconds), and, unless
// some are listed as absent, that every one is there.
func checkContract(t testing.TB, sm metricdata.ScopeMetrics, absent ...string) {
	t.Helper()
	present := 0
	for _, c := range contract {
		m, ok := findMetric(sm, c.name)
		if ok {
			present++
		}
		if ok == slices.Contains(absent, c.name) && !c.netns {
			t.Errorf("metric %s: present %v", c.name, ok)
		}
		if !ok {
			continue
		}
		if m.Unit != c.unit {
			t.Errorf("%s: unit %q, want %q", c.name, m.Unit, c.unit)
		}
		if m.Description == "" {
			t.Errorf("%s: no description", c.name)
		}
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			if c.kind == histogram || d.IsMonotonic != (c.kind == counter) || d.Temporality != metricdata.CumulativeTemporality {
				t.Errorf("%s: int64 sum, monotonic %v, %v: want a %s", c.name, d.IsMonotonic, d.Temporality, c.kind)
			}
		case metricdata.Histogram[float64]:
			if c.kind != histogram {
				t.Errorf("%s: a histogram, want a %s", c.name, c.kind)
			}
		default:
			t.Errorf("%s: data %T, want a %s", c.name, m.Data, c.kind)
		}
	}
	if len(sm.Metrics) != present {
		t.Errorf("%d metrics, %d of them in the contract", len(sm.Metrics), present)
	}
}

// isNetns reports whether a metric is one of the namespaces' counters,
// which a process reports whatever its connections do.
func isNetns(name string) bool { return strings.HasPrefix(name, "mptcp.netns.") }

func findMetric(sm metricdata.ScopeMetrics, name string) (metricdata.Metrics, bool) {
	for _, m := range sm.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return metricdata.Metrics{}, false
}

// sum returns the value of the int64 sum name at exactly the attribute set
// attrs; it fails t when there is no such point.
func sum(t testing.TB, sm metricdata.ScopeMetrics, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := findMetric(sm, name)
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	d, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: %T, not an int64 sum", name, m.Data)
	}
	want := attribute.NewSet(attrs...)
	for _, p := range d.DataPoints {
		if p.Attributes.Equals(&want) {
			return p.Value
		}
	}
	t.Fatalf("%s: no point at %s; points: %v", name, want.Encoded(attribute.DefaultEncoder()), points(d.DataPoints))
	return 0
}

func points(ps []metricdata.DataPoint[int64]) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Attributes.Encoded(attribute.DefaultEncoder()))
	}
	return out
}

// hist returns the point of the float64 histogram name at exactly attrs.
func hist(t testing.TB, sm metricdata.ScopeMetrics, name string, attrs ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	m, ok := findMetric(sm, name)
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	d, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: %T, not a float64 histogram", name, m.Data)
	}
	want := attribute.NewSet(attrs...)
	for _, p := range d.DataPoints {
		if p.Attributes.Equals(&want) {
			return p
		}
	}
	t.Fatalf("%s: no point at %s", name, want.Encoded(attribute.DefaultEncoder()))
	return metricdata.HistogramDataPoint[float64]{}
}
