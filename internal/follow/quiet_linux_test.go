package follow

import (
	"math"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// parkable returns a follower of a loopback connection in sm's schedule,
// with its first sample taken, and the peer's end. sm's goroutine is not
// started (the test drives the park by hand), and nothing runs behind the
// test's back.
func parkable(t *testing.T, sm *Scheduler) (*Follower, func([]byte) (int, error)) {
	t.Helper()
	c, s := testenv.LoopbackMPTCP(t)
	f := newTestFollower(sm, c, time.Second, nil)
	f.sample(new(scratch), true)
	f.quietUntil.Store(math.MaxInt64) // no report: as quietLocked notes it
	sm.mu.Lock()
	sm.running = true // no goroutine: schedule only places f
	sm.mu.Unlock()
	sm.schedule(f)
	t.Cleanup(func() {
		sm.unschedule(f)
		sm.mu.Lock()
		sm.quiet.closeLocked()
		sm.mu.Unlock()
	})
	return f, s.Write
}

// checkOrdered fails t unless the heap of class c is ordered on due times
// and every element knows its place; it returns the first due.
func (sm *Scheduler) checkOrdered(t *testing.T, c uint8, what string) *Follower {
	t.Helper()
	sm.mu.Lock()
	defer sm.mu.Unlock()
	h := sm.classes[c].heap
	for i := range h {
		if int(h[i].index) != i || i > 0 && h[i].due < h[(i-1)/2].due {
			t.Fatalf("%s: the heap is out of order at %d", what, i)
		}
	}
	return h[0]
}

func (sm *Scheduler) isParked(f *Follower) bool {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if f.parked != (f.flags.Load()&flagParked != 0) {
		panic("parked and flagParked disagree")
	}
	return f.parked
}

// TestParkWakes: a parked connection leaves the park, due within an
// interval, when the program writes to it (even a write that came between
// the sample that found it quiet and the parking), when its socket is
// handed out, and when the kernel wakes its socket (the peer's bytes); not
// otherwise. The counts of parked connections follow.
func TestParkWakes(t *testing.T) {
	sm := NewScheduler()
	f, peerWrite := parkable(t, sm)
	// Two more connections share the class's heap, whose order every
	// parking and waking must keep.
	parkable(t, sm)
	parkable(t, sm)
	now := func() time.Duration { return time.Since(sm.epoch) }
	ordered := func(what string) {
		t.Helper()
		sm.checkOrdered(t, f.class, what)
	}
	park := func() {
		t.Helper()
		sm.park(f, now())
		if !sm.isParked(f) {
			t.Fatal("not parked")
		}
		if sm.parked != 1 || sm.classes[f.class].parked != 1 {
			t.Fatalf("parked counts %d, %d, want 1", sm.parked, sm.classes[f.class].parked)
		}
		if f.quietID == 0 || sm.quiet.byID[f.quietID] != f {
			t.Fatal("not registered")
		}
		ordered("parked")
	}
	drain := func() {
		sm.mu.Lock()
		sm.harvestLocked(now())
		sm.mu.Unlock()
	}
	woken := func(what string) {
		t.Helper()
		if sm.isParked(f) {
			t.Fatalf("%s: still parked", what)
		}
		if sm.parked != 0 || sm.classes[f.class].parked != 0 {
			t.Fatalf("%s: parked counts %d, %d, want 0", what, sm.parked, sm.classes[f.class].parked)
		}
		if f.due > now()+f.interval {
			t.Fatalf("%s: due in %v, want within an interval", what, f.due-now())
		}
		ordered(what)
	}

	park()
	drain() // the registration lists the socket once (writable)
	park()
	drain()
	if !sm.isParked(f) {
		t.Fatal("a quiet socket woke the parked connection")
	}

	f.Wrote()
	woken("a write")
	f.sample(new(scratch), false) // clears the note of the write

	// A write noted after the sample that found the connection quiet, and
	// before it was parked: park sees it.
	f.Wrote()
	sm.park(f, now())
	woken("a write just before the parking")
	f.sample(new(scratch), false)

	park()
	if _, err := peerWrite([]byte{1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	drain()
	woken("the peer's byte")
	if f.due > now() {
		t.Fatalf("the kernel's wake-up: due in %v, want now", f.due-now())
	}

	park()
	f.Untrack()
	woken("NetConn")
	sm.park(f, now())
	woken("parked again after NetConn")
}

// TestParkKeepsTheHeap: waking a parked connection may move its due time
// later (back to its own pace, past connections due before it) and parking
// one may move it earlier (its report): the class's heap stays ordered
// either way. A connection already overdue when the kernel wakes it, or an
// event makes it due, keeps its place.
func TestParkKeepsTheHeap(t *testing.T) {
	sm := NewScheduler()
	f, peerWrite := parkable(t, sm)
	g, _ := parkable(t, sm)
	h, _ := parkable(t, sm)
	now := time.Since(sm.epoch)
	ordered := func(what string, first *Follower) {
		t.Helper()
		if sm.checkOrdered(t, f.class, what) != first {
			t.Fatalf("%s: the first due is not the earliest", what)
		}
	}
	sm.park(f, now)
	sm.mu.Lock()
	// f's rotation comes first; woken by a write, it is due 700 ms from
	// now, after g and h.
	f.due, f.resume = now+500*time.Millisecond, now-15*time.Second+700*time.Millisecond
	g.due, h.due = now+600*time.Millisecond, now+650*time.Millisecond
	for i := range sm.classes[f.class].heap {
		sm.classes[f.class].fix(i)
	}
	sm.mu.Unlock()
	ordered("set up", f)
	f.Wrote()
	ordered("woken by a write", g)

	// Parked with a report due before g: first again.
	f.sample(new(scratch), false)
	f.quietUntil.Store(int64(now + 100*time.Millisecond))
	sm.park(f, now)
	ordered("parked with a report due", f)

	// Its report overdue, not taken yet (its class waits a slot between
	// batches), and g and h due since: the kernel's wake-up, then an event,
	// make it due now, which is no later than it was.
	overdue := func() {
		sm.mu.Lock()
		now := time.Since(sm.epoch)
		f.due, g.due, h.due = now-300*time.Millisecond, now-200*time.Millisecond, now-100*time.Millisecond
		for i := range sm.classes[f.class].heap {
			sm.classes[f.class].fix(i)
		}
		sm.mu.Unlock()
	}
	overdue()
	if _, err := peerWrite([]byte{1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	sm.mu.Lock()
	sm.harvestLocked(time.Since(sm.epoch))
	sm.mu.Unlock()
	if sm.isParked(f) {
		t.Fatal("the peer's byte left it parked")
	}
	ordered("overdue, woken by the kernel", f)
	overdue()
	sm.dueNow(f)
	ordered("overdue, made due by an event", f)
}
