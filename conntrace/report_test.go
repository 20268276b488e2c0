package conntrace_test

import (
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// periodHooks asks for reports every period.
type periodHooks struct {
	conntrace.NopConnHooks
	period time.Duration
}

func (h periodHooks) ReportPeriod() time.Duration { return h.period }

// TestMultiplexReportPeriod: hooks combined by MultiplexConn report at the
// shortest positive period any of them asks for; hooks that ask for none
// (or for zero or less) do not count, and alone ask for nothing.
func TestMultiplexReportPeriod(t *testing.T) {
	nop := conntrace.NopConnHooks{}
	for _, c := range []struct {
		hooks []conntrace.ConnHooks
		want  time.Duration
	}{
		{[]conntrace.ConnHooks{nop, nop}, 0},
		{[]conntrace.ConnHooks{nop, periodHooks{period: time.Minute}}, time.Minute},
		{[]conntrace.ConnHooks{periodHooks{period: time.Minute}, periodHooks{period: 15 * time.Second}, nop}, 15 * time.Second},
		{[]conntrace.ConnHooks{periodHooks{period: -time.Second}, periodHooks{}, periodHooks{period: time.Hour}}, time.Hour},
		{[]conntrace.ConnHooks{periodHooks{}, periodHooks{period: -1}}, 0},
	} {
		m := conntrace.MultiplexConn(c.hooks...)
		r, ok := m.(conntrace.Reporter)
		if !ok {
			t.Fatalf("MultiplexConn of %d hooks is not a Reporter", len(c.hooks))
		}
		if got := r.ReportPeriod(); got != c.want {
			t.Errorf("ReportPeriod of %v = %v, want %v", c.hooks, got, c.want)
		}
	}
	// One hook is returned as it is: its own ReportPeriod, if any.
	if _, ok := conntrace.MultiplexConn(nop).(conntrace.Reporter); ok {
		t.Error("MultiplexConn of one hook without ReportPeriod has one")
	}
}
