package mptcpxotel_test

import (
	"slices"
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

// contract is the metrics table of the telemetry contract.
var contract = []struct {
	name string
	kind kind
	unit string
}{
	{"mptcp.connection.active", upDown, "{connection}"},
	{"mptcp.connection.duration", histogram, "s"},
	{"mptcp.connection.fallbacks", counter, "{connection}"},
	{"mptcp.subflow.active", upDown, "{subflow}"},
	{"mptcp.subflow.opened", counter, "{subflow}"},
	{"mptcp.subflow.closed", counter, "{subflow}"},
	{"mptcp.io", counter, "By"},
	{"mptcp.retransmitted", counter, "By"},
	{"mptcp.subflow.io", counter, "By"},
	{"mptcp.subflow.rtt", histogram, "s"},
	{"mptcp.subflow.retransmitted", counter, "By"},
	{"mptcp.subflow.timeouts", counter, "{timeout}"},
	{"mptcp.subflow.spurious_retransmissions", counter, "{segment}"},
}

// checkContract checks that the metrics in sm are those of the contract,
// with their units and kinds (counters and up-down counters as cumulative
// int64 sums, monotonic or not; histograms of float64 seconds), and, unless
// some are listed as absent, that every one is there.
func checkContract(t testing.TB, sm metricdata.ScopeMetrics, absent ...string) {
	t.Helper()
	for _, c := range contract {
		m, ok := findMetric(sm, c.name)
		if ok == slices.Contains(absent, c.name) {
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
	if len(sm.Metrics) != len(contract)-len(absent) {
		t.Errorf("%d metrics, want %d", len(sm.Metrics), len(contract)-len(absent))
	}
}

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
