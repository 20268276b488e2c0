package follow

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// reportHooks asks for a report every period and checks the reports it
// gets: never the first or the final sample, always a full reading.
type reportHooks struct {
	nopHooks
	period  time.Duration
	asked   atomic.Int32 // ReportPeriod calls
	reports atomic.Int32
	other   atomic.Int32 // samples that are not reports
	bad     atomic.Value // a report that broke the rules, described
}

func (h *reportHooks) ReportPeriod() time.Duration {
	h.asked.Add(1)
	return h.period
}

func (h *reportHooks) Sampled(s *conntrace.Sample) {
	if !s.Report {
		h.other.Add(1)
		return
	}
	h.reports.Add(1)
	switch {
	case s.First || s.Final:
		h.bad.Store("a report in the first or the final sample")
	case len(s.Snapshot.Subflows) == 0 || s.Snapshot.TCPInfoLen == 0:
		h.bad.Store("a report without the subflows' tcp_info")
	}
}

func (h *reportHooks) check(t *testing.T) {
	t.Helper()
	if bad := h.bad.Load(); bad != nil {
		t.Error(bad)
	}
}

// TestReports: hooks that ask for reports get one at each period of an
// idle connection, a full reading delivered although nothing changed, and
// no other sample; hooks that do not ask get nothing from the same idle
// samples.
func TestReports(t *testing.T) {
	c, _ := testenv.LoopbackMPTCP(t)
	const interval, period = 5 * time.Millisecond, 40 * time.Millisecond
	h := &reportHooks{period: period}
	f := newTestFollower(NewScheduler(), c, interval, h)
	sc := new(scratch)
	f.sample(sc, true)
	f.mu.Lock()
	f.startReportsLocked(reportPeriod(h))
	next := f.nextReport
	f.mu.Unlock()
	before := f.sched.Stats()
	start := time.Now()
	// What the reports should be, from the times of the samples: one at
	// the first sample of each period, the periods on a grid from the
	// start (a loaded machine spaces the samples out, and a sample can
	// report only once).
	want := int32(0)
	for time.Since(start) < 10*period {
		time.Sleep(interval)
		now := time.Since(f.sched.epoch)
		f.sample(sc, false)
		if now+f.slack() >= next {
			want++
			if next += period; next <= now+f.slack() {
				next = now + period
			}
		}
	}
	elapsed := time.Since(start)
	h.check(t)
	st := f.sched.Stats()
	t.Logf("%d reports in %v at a period of %v; %d samples, %d full readings", h.reports.Load(), elapsed.Round(time.Millisecond), period, st.Samples-before.Samples, st.FullReads-before.FullReads)
	if got := h.reports.Load(); got < want-1 || got > want+1 || got < 1 {
		t.Errorf("%d reports in %v, want %d (one per %v at the times the samples came)", got, elapsed, want, period)
	}
	if n := h.other.Load(); n != 1 {
		t.Errorf("%d samples besides the reports, want the first only (the connection is idle)", n)
	}
	if n := h.asked.Load(); n != 1 {
		t.Errorf("ReportPeriod asked %d times, want once", n)
	}
	// Hooks that ask for no report: the idle samples tell them nothing.
	quiet := &reportHooks{}
	f = newTestFollower(NewScheduler(), c, interval, quiet)
	f.sample(sc, true)
	f.mu.Lock()
	f.startReportsLocked(reportPeriod(quiet))
	f.mu.Unlock()
	for range 20 {
		f.sample(sc, false)
	}
	if quiet.reports.Load() != 0 || quiet.other.Load() != 1 || f.report != 0 {
		t.Errorf("hooks without a period: %d reports, %d other samples (want the first only)", quiet.reports.Load(), quiet.other.Load())
	}
}

// TestReportAllocs: a report, a full reading delivered to the hooks,
// allocates nothing in steady state.
func TestReportAllocs(t *testing.T) {
	c, _ := testenv.LoopbackMPTCP(t)
	h := &reportHooks{period: time.Hour}
	f := newTestFollower(NewScheduler(), c, time.Second, h)
	sc := new(scratch)
	f.sample(sc, true)
	f.mu.Lock()
	f.startReportsLocked(reportPeriod(h))
	f.mu.Unlock()
	due := func() {
		f.mu.Lock()
		f.nextReport = 0
		f.mu.Unlock()
		f.sample(sc, false)
	}
	due()
	before := h.reports.Load()
	if n := testenv.SteadyAllocs(200, due); n != 0 {
		t.Fatalf("%v allocations per report", n)
	}
	if got := h.reports.Load() - before; got < 200 {
		t.Fatalf("%d reports delivered in 201 samples that were due one", got)
	}
	h.check(t)
}

// TestReportsOnTheGrid: among idle connections checked by their
// namespace's dump, those whose hooks ask for reports are read in full at
// each period and reported, while the dumps go on for the others.
func TestReportsOnTheGrid(t *testing.T) {
	const n = 2 * minDump
	clients := bedConns(t, n)
	sm := NewScheduler()
	const interval = 50 * time.Millisecond
	const period = 4 * interval
	fs := make([]*Follower, n)
	var reporting []*reportHooks
	for i, c := range clients {
		h := &reportHooks{}
		if i%8 == 0 {
			h.period = period
			reporting = append(reporting, h)
		}
		fs[i] = newTestFollower(sm, c, interval, h)
		fs[i].sample(new(scratch), true)
		fs[i].mu.Lock()
		fs[i].startReportsLocked(reportPeriod(h))
		fs[i].mu.Unlock()
		sm.schedule(fs[i])
	}
	defer func() {
		for _, f := range fs {
			sm.unschedule(f)
		}
		waitStopped(t, sm)
	}()
	deadline := time.Now().Add(callTimeout)
	for sm.Stats().Dumps < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no dumps after %v: %+v", callTimeout, sm.Stats())
		}
		time.Sleep(interval)
	}
	counts := func() (sum int32) {
		for _, h := range reporting {
			sum += h.reports.Load()
		}
		return sum
	}
	// The machine's pace in the same window: a loaded machine delays the
	// scheduler's wake-ups as it delays this baseline's.
	pace := testenv.StartPace(interval)
	before, stBefore, start := counts(), sm.Stats(), time.Now()
	time.Sleep(4 * period)
	got, st, elapsed := counts()-before, sm.Stats(), time.Since(start)
	wakeups, _ := pace.Stop()
	periods := min(int(elapsed/period), int(time.Duration(wakeups)*interval/period))
	want := int32(len(reporting) * periods)
	t.Logf("%d reports of %d connections in %v at a period of %v (the baseline woke %d times at %v: %d periods); %d dumps covering %d checks",
		got, len(reporting), elapsed.Round(time.Millisecond), period, wakeups, interval, periods, st.Dumps-stBefore.Dumps, st.Covered-stBefore.Covered)
	if got < want-2*int32(len(reporting)) || got > int32(len(reporting)*(int(elapsed/period)+1)) {
		t.Errorf("%d reports, want about %d", got, want)
	}
	if dumps := st.Dumps - stBefore.Dumps; dumps < uint64(min(8, wakeups/2)) {
		t.Errorf("%d dumps in %v (the baseline woke %d times): the reports should not take the namespace off its dumps", dumps, elapsed, wakeups)
	}
	for i, h := range reporting {
		h.check(t)
		if h.other.Load() != 1 {
			t.Errorf("reporting connection %d: %d samples besides the reports, want the first only", i, h.other.Load())
		}
	}
}
