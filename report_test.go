package mptcpx_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// reporter is a program's hooks that ask for a report of every dialed
// connection every period (conntrace.Reporter).
type reporter struct {
	conntrace.NopHooks
	period                 time.Duration
	asked, reports, others atomic.Int32
	closed, late           atomic.Bool // late: a sample after Closed
}

func (r *reporter) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, reporterConn{r: r}
}

type reporterConn struct {
	conntrace.NopConnHooks
	r *reporter
}

func (c reporterConn) ReportPeriod() time.Duration {
	c.r.asked.Add(1)
	return c.r.period
}

func (c reporterConn) Sampled(s *conntrace.Sample) {
	if c.r.closed.Load() {
		c.r.late.Store(true)
	}
	if s.Report {
		c.r.reports.Add(1)
	} else {
		c.r.others.Add(1)
	}
}

func (c reporterConn) Closed(time.Time) { c.r.closed.Store(true) }

// TestHooksReport: a program's hooks that implement conntrace.Reporter are
// asked once for a period, and hear of an idle connection at each one,
// although nothing changed; nothing after Closed.
func TestHooksReport(t *testing.T) {
	testenv.RequireMPTCP(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithoutTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sink(t, ln)
	r := &reporter{period: 100 * time.Millisecond}
	c, err := mptcpx.Dial("tcp", ln.Addr().String(), mptcpx.WithoutTelemetry(), mptcpx.WithHooks(r), mptcpx.WithInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(time.Second)
	c.Close()
	elapsed := time.Since(start)
	if n := r.asked.Load(); n != 1 {
		t.Errorf("ReportPeriod asked %d times, want once", n)
	}
	if got, want := r.reports.Load(), int32(elapsed/r.period); got < want-2 || got > want {
		t.Errorf("%d reports in %v at a period of %v, want about %d", got, elapsed, r.period, want)
	}
	if r.others.Load() != 2 {
		t.Errorf("%d samples besides the reports, want the first and the final", r.others.Load())
	}
	if r.late.Load() {
		t.Error("a sample after Closed")
	}
}
