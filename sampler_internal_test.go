package mptcpx

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// loopbackPair returns an MPTCP client connection on loopback.
func loopbackPair(t *testing.T) *net.TCPConn {
	t.Helper()
	c, _ := testenv.LoopbackMPTCP(t)
	return c
}

type nopHooks struct{ samples int }

type countHooks struct {
	nopHooks
	n atomic.Int64
}

func (h *countHooks) Sampled(*conntrace.Sample) { h.n.Add(1) }

func (h *nopHooks) DialFailed(error, time.Time)     {}
func (h *nopHooks) Established(net.Conn, time.Time) {}
func (h *nopHooks) Sampled(*conntrace.Sample)       { h.samples++ }
func (h *nopHooks) Closed(time.Time)                {}

// newTestFollower returns a follower of c on sampler sm, not yet scheduled.
func newTestFollower(sm *sampler, c *net.TCPConn, interval time.Duration, hooks conntrace.ConnHooks) *follower {
	rc, _ := c.SyscallConn()
	return &follower{sampler: sm, rc: rc, tc: *c, interval: interval, hooks: hooks, index: -1}
}

// TestSampleAllocs: sampling, change detection and the hand-off to hooks
// allocate nothing in steady state, whether the sample stops at the cheap
// reading (an idle connection) or takes the full one (a busy connection).
func TestSampleAllocs(t *testing.T) {
	c, s := testenv.LoopbackMPTCP(t)
	h := &nopHooks{}
	tr := newTestFollower(newSampler(), c, time.Second, h)
	sc := new(scratch)
	tr.sample(sc, 0)
	if n := testing.AllocsPerRun(500, func() { tr.sample(sc, 0) }); n != 0 {
		t.Fatalf("idle: %v allocations per sample", n)
	}
	go io.Copy(io.Discard, s)
	buf := make([]byte, 1)
	if n := testing.AllocsPerRun(500, func() { c.Write(buf); tr.sample(sc, 0) }); n != 0 {
		t.Fatalf("busy: %v allocations per sample", n)
	}
	// Not every one: before 6.5 the bytes count once acknowledged, and a
	// sample right after a write may come before the acknowledgement (90
	// of 500 in the 6.1 virtual machine).
	if h.samples < 10 {
		t.Fatalf("hooks saw %d samples of a busy connection, want the full readings to reach them", h.samples)
	}
	tr.mu.Lock()
	tr.endLocked(conntrace.EndClosedUnderneath, sc)
	tr.mu.Unlock()
	before := h.samples
	tr.sample(sc, 0)
	if h.samples != before {
		t.Fatal("sampled after the final sample")
	}
}

// TestIdleSamplesStopAtTheCheapReading: a periodic sample of an idle
// connection stops at mptcp_info, which did not move, and tells the hooks
// nothing; one in safetyNet takes the full reading anyway; bytes moved are
// seen at the next sample, and a busy connection is read in full at once.
func TestIdleSamplesStopAtTheCheapReading(t *testing.T) {
	c, s := testenv.LoopbackMPTCP(t)
	h := &nopHooks{}
	tr := newTestFollower(newSampler(), c, time.Second, h)
	sc := new(scratch)
	tr.mu.Lock()
	tr.sampleLocked(sc, true)
	tr.mu.Unlock()
	full := 0
	for range 3 * (safetyNet + 1) {
		before := tr.sinceFull
		tr.sample(sc, 0)
		if tr.sinceFull <= before {
			full++
		}
	}
	if full != 3 || h.samples != 1 {
		t.Fatalf("%d full readings in %d idle samples (want 3, one after every %d cheap ones), %d delivered to the hooks (want only the first)", full, 3*(safetyNet+1), safetyNet, h.samples)
	}
	go io.Copy(io.Discard, s)
	c.Write(make([]byte, 1000))
	time.Sleep(20 * time.Millisecond)
	before := h.samples
	tr.sample(sc, 0)
	if h.samples != before+1 || !tr.moving {
		t.Fatalf("bytes moved: %d samples delivered, moving %v", h.samples-before, tr.moving)
	}
}

// TestSchedulerSpreadsAndStops: connections registered together are spread
// over the interval, and the sampler goroutine ends with the last one.
func TestSchedulerSpreadsAndStops(t *testing.T) {
	c := loopbackPair(t)
	sm := newSampler()
	const n, interval = 1000, time.Hour
	ts := make([]*follower, n)
	for i := range ts {
		ts[i] = newTestFollower(sm, c, interval, nil)
		sm.schedule(ts[i])
	}
	sm.mu.Lock()
	running := sm.running
	// Due times are uniform over one interval from registration (a few
	// milliseconds after epoch, negligible against an hour): no tenth of
	// the interval may hold more than a fifth of the connections.
	var spread [10]int
	for _, tr := range sm.heap {
		spread[min(int(tr.due*10/interval), 9)]++
	}
	sm.mu.Unlock()
	if !running {
		t.Fatal("sampler goroutine not running with connections registered")
	}
	for i, k := range spread {
		if k > n/5 || k == 0 {
			t.Errorf("tenth %d of the interval holds %d of %d connections: %v", i, k, n, spread)
		}
	}
	for _, tr := range ts {
		sm.unschedule(tr)
	}
	waitStopped(t, sm)
}

func waitStopped(t *testing.T, sm *sampler) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sm.mu.Lock()
		running, left := sm.running, len(sm.heap)
		sm.mu.Unlock()
		if !running && left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sampler still running (%v) with %d connections after the last closed", running, left)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSchedulerSamplesPeriodically: a registered connection is sampled about
// once per interval by the shared goroutine (it keeps sending, so that every
// sample has news for the hooks).
func TestSchedulerSamplesPeriodically(t *testing.T) {
	c, s := testenv.LoopbackMPTCP(t)
	go io.Copy(io.Discard, s)
	sm := newSampler()
	h := &countHooks{}
	tr := newTestFollower(sm, c, 10*time.Millisecond, h)
	start := time.Now()
	sm.schedule(tr)
	for range 100 {
		c.Write([]byte("x"))
		time.Sleep(3 * time.Millisecond)
	}
	sm.unschedule(tr)
	elapsed := time.Since(start)
	n := h.n.Load()
	// About 30 intervals, more where sleeps overrun (a virtual machine).
	// A sample may come up to a slot early, never more often than that;
	// a loaded machine delays the timer, so the lower bound is loose.
	const interval = 10 * time.Millisecond
	most := int64(elapsed/(interval-interval/slotsPerInterval)) + 2
	if n < 5 || n > most {
		t.Fatalf("%d samples in %v (%d intervals), want 5 to %d", n, elapsed, elapsed/interval, most)
	}
	waitStopped(t, sm)
}

// TestSamplerOncePerWakeUp: whatever the interval, even one far below the
// floor WithInterval accepts, a connection is sampled at most once per
// wake-up of the sampler, and the sampler's memory does not grow.
func TestSamplerOncePerWakeUp(t *testing.T) {
	c := loopbackPair(t)
	sm := newSampler()
	const n = 50
	hooks := make([]*countHooks, n)
	ts := make([]*follower, n)
	for i := range ts {
		hooks[i] = &countHooks{}
		ts[i] = newTestFollower(sm, c, time.Nanosecond, hooks[i])
		sm.schedule(ts[i])
	}
	time.Sleep(200 * time.Millisecond)
	sm.mu.Lock()
	wakeups, heapLen := sm.wakeups, len(sm.heap)
	sm.mu.Unlock()
	for _, tr := range ts {
		sm.unschedule(tr)
	}
	waitStopped(t, sm)
	if heapLen != n {
		t.Errorf("%d entries in the sampler's heap for %d connections", heapLen, n)
	}
	for i, h := range hooks {
		if got := uint64(h.n.Load()); got > wakeups+1 {
			t.Fatalf("connection %d sampled %d times in %d wake-ups", i, got, wakeups)
		}
	}
	t.Logf("%d wake-ups in 200ms, %d samples of connection 0", wakeups, hooks[0].n.Load())
}

// TestSchedulerScales: with 100,000 connections (followers of one socket,
// so that the limit of open files does not apply) at a one-second interval,
// every one is sampled within its first interval and the sampler wakes up
// at most slotsPerInterval times per interval: the number of wake-ups does
// not grow with the number of connections, and the heap keeps up.
func TestSchedulerScales(t *testing.T) {
	c := loopbackPair(t)
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	const interval = time.Second
	sm := newSampler()
	ts := make([]*follower, n)
	start := time.Now()
	for i := range ts {
		ts[i] = newTestFollower(sm, c, interval, nil)
		sm.schedule(ts[i])
	}
	// Each is due within one interval of its registration; a loaded
	// machine (or -race) may take longer to get through them.
	deadline := start.Add(30 * interval)
	for pending := n; pending > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections not sampled after %v", pending, n, time.Since(start))
		}
		time.Sleep(interval / 10)
		pending = 0
		for _, tr := range ts {
			tr.mu.Lock()
			if tr.det.samples == 0 {
				pending++
			}
			tr.mu.Unlock()
		}
	}
	elapsed := time.Since(start)
	sm.mu.Lock()
	wakeups := sm.wakeups
	sm.mu.Unlock()
	if most := uint64(elapsed*slotsPerInterval/interval) + 2; wakeups > most {
		t.Errorf("%d wake-ups in %v for %d connections, want at most %d", wakeups, elapsed, n, most)
	}
	t.Logf("%d connections sampled in %v with %d wake-ups", n, elapsed.Round(time.Millisecond), wakeups)
	for _, tr := range ts {
		sm.unschedule(tr)
	}
	waitStopped(t, sm)
}
