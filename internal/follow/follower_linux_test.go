package follow

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

// newTestFollower returns a Follower of c on scheduler sm, not yet
// scheduled. It stays out of the registry of namespaces (many tests leave
// their followers without ending them); a test that ends its follower may
// set paths.joined back to false to have it join.
func newTestFollower(sm *Scheduler, c *net.TCPConn, interval time.Duration, hooks conntrace.ConnHooks) *Follower {
	rc, _ := c.SyscallConn()
	return &Follower{sched: sm, rc: rc, tc: *c, interval: interval, hooks: hooks, index: -1, paths: pathState{joined: true}}
}

// TestSampleAllocs: sampling, change detection and the hand-off to hooks
// allocate nothing in steady state, whether the sample stops at the cheap
// reading (an idle connection) or takes the full one (a busy connection).
func TestSampleAllocs(t *testing.T) {
	// In a namespace of its own: AllocsPerRun counts the whole process's
	// allocations, and the namespace's path event watcher, opened for this
	// connection, would receive the events of every other program's
	// connections in a shared one. Its peer, in the bed's other namespace,
	// reads and discards what it is sent.
	c := bedConns(t, 1)[0]
	h := &nopHooks{}
	tr := newTestFollower(NewScheduler(), c, time.Second, h)
	tr.paths.joined = false // the diagnosis of its paths with its namespace's configuration
	sc := new(scratch)
	tr.sample(sc, false)
	waitNamespaceRead(t, tr)
	tr.sample(sc, true)
	if n := testenv.SteadyAllocs(500, func() { tr.sample(sc, false) }); n != 0 {
		t.Fatalf("idle: %v allocations per sample", n)
	}
	buf := make([]byte, 1)
	if n := testenv.SteadyAllocs(500, func() { c.Write(buf); tr.sample(sc, false) }); n != 0 {
		t.Fatalf("busy: %v allocations per sample", n)
	}
	if n := testenv.SteadyAllocs(100, func() { tr.sample(sc, true) }); n != 0 {
		t.Fatalf("full readings: %v allocations per sample", n)
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
	tr.sample(sc, false)
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
	tr := newTestFollower(NewScheduler(), c, time.Second, h)
	sc := new(scratch)
	tr.sample(sc, true)
	full := 0
	for range 3 * (safetyNet + 1) {
		before := tr.sinceFull
		tr.sample(sc, false)
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
	tr.sample(sc, false)
	if h.samples != before+1 || !tr.moving {
		t.Fatalf("bytes moved: %d samples delivered, moving %v", h.samples-before, tr.moving)
	}
}

// waitNamespaceRead waits until the registry of namespaces has read the
// namespace of f's connection, which f joined at its first full reading.
func waitNamespaceRead(t *testing.T, f *Follower) {
	t.Helper()
	if f.paths.ns == nil {
		t.Fatal("the follower did not join its namespace")
	}
	if f.paths.ns.WaitConfig() == nil {
		t.Fatal("the namespace's configuration was not read")
	}
}

// TestIdleHintNeedsTwoIdleSamples: a connection goes to its namespace's
// grid (idleHint) only after two periodic samples in a row found it idle,
// so that one that writes about once per interval, and now and then not
// between two samples, is not moved to the grid's tick and back, each move
// a sample before its interval; a write or bytes moving take it off.
func TestIdleHintNeedsTwoIdleSamples(t *testing.T) {
	c, s := testenv.LoopbackMPTCP(t)
	f := newTestFollower(NewScheduler(), c, time.Second, nil)
	sc := new(scratch)
	f.sample(sc, true)
	step := func(what string, want bool) {
		t.Helper()
		f.sample(sc, false)
		if got := f.idleHint.Load(); got != want {
			t.Fatalf("%s: idleHint %v, want %v", what, got, want)
		}
	}
	step("one idle sample", false)
	step("two idle samples", true)
	step("three", true)
	// A report is due: its full reading is news for the hooks, not a
	// movement, and leaves the connection on the grid.
	f.report, f.nextReport = time.Hour, 0
	step("a report", true)
	if !sc.sample.Report {
		t.Fatal("no report was taken")
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	f.Wrote()
	time.Sleep(20 * time.Millisecond) // acknowledged: the next samples find it still
	step("after a write", false)
	// The paths' diagnosis waits a while after the first bytes moved
	// (pathdiag's settle), and the connection is read in full meanwhile.
	for f.paths.tracker.Waiting() {
		time.Sleep(50 * time.Millisecond)
		step("the paths' diagnosis waits", false)
	}
	step("one idle sample after it", false)
	step("two", true)
	if _, err := s.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	step("bytes received", false)
}
