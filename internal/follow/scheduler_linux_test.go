package follow

import (
	"io"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestSchedulerSpreadsAndStops: connections registered together are spread
// over the interval, and the scheduler's goroutine ends with the last one.
func TestSchedulerSpreadsAndStops(t *testing.T) {
	c := loopbackPair(t)
	sm := NewScheduler()
	const n, interval = 1000, time.Hour
	ts := make([]*Follower, n)
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
	for _, tr := range sm.classes[classOf(interval)].heap {
		spread[min(int(tr.due*10/interval), 9)]++
	}
	sm.mu.Unlock()
	if !running {
		t.Fatal("scheduler's goroutine not running with connections registered")
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

func waitStopped(t *testing.T, sm *Scheduler) {
	t.Helper()
	sm.Flush()
	deadline := time.Now().Add(5 * time.Second)
	for {
		running, left := sm.Running()
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
	sm := NewScheduler()
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
// wake-up of the scheduler, and the scheduler's memory does not grow.
func TestSamplerOncePerWakeUp(t *testing.T) {
	c := loopbackPair(t)
	sm := NewScheduler()
	const n = 50
	hooks := make([]*countHooks, n)
	ts := make([]*Follower, n)
	for i := range ts {
		hooks[i] = &countHooks{}
		ts[i] = newTestFollower(sm, c, time.Nanosecond, hooks[i])
		sm.schedule(ts[i])
	}
	time.Sleep(200 * time.Millisecond)
	_, heapLen := sm.Running()
	wakeups := sm.Stats().Wakeups
	for _, tr := range ts {
		sm.unschedule(tr)
	}
	waitStopped(t, sm)
	if heapLen != n {
		t.Errorf("%d entries in the scheduler's heaps for %d connections", heapLen, n)
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
// every one is sampled within its first interval and the scheduler wakes up
// at most slotsPerInterval times per interval: the number of wake-ups does
// not grow with the number of connections, and the heap keeps up.
func TestSchedulerScales(t *testing.T) {
	c := loopbackPair(t)
	n := 100_000
	if testing.Short() || testenv.KernelMatrix() {
		// The kernel matrix's virtual machines emulate their CPU, 10 to
		// 50 times slower: there 100,000 samples take more than 30 s.
		n = 10_000
	}
	const interval = time.Second
	sm := NewScheduler()
	ts := make([]*Follower, n)
	start := time.Now()
	for i := range ts {
		ts[i] = newTestFollower(sm, c, interval, nil)
		sm.schedule(ts[i])
	}
	// Each is due within one interval of its registration; a loaded
	// machine (or -race) may take longer to get through them, and longer
	// to register them. The deadline counts from the last registration:
	// 30 intervals, and 10 s of the process's CPU time, so that a process
	// starved of CPU by others is not blamed for it (5 minutes at most).
	cpu0 := processCPU(t)
	deadline, hardDeadline := time.Now().Add(30*interval), time.Now().Add(5*time.Minute)
	for {
		time.Sleep(interval / 10)
		pending := 0
		for _, tr := range ts {
			tr.mu.Lock()
			if tr.det.Samples() == 0 {
				pending++
			}
			tr.mu.Unlock()
		}
		if pending == 0 {
			break
		}
		if now := time.Now(); now.After(deadline) && processCPU(t)-cpu0 > 10*time.Second || now.After(hardDeadline) {
			t.Fatalf("%d of %d connections not sampled after %v (%v of CPU time since the last was registered)", pending, n, time.Since(start), processCPU(t)-cpu0)
		}
	}
	elapsed := time.Since(start)
	wakeups := sm.Stats().Wakeups
	if most := uint64(elapsed*slotsPerInterval/interval) + 2; wakeups > most {
		t.Errorf("%d wake-ups in %v for %d connections, want at most %d", wakeups, elapsed, n, most)
	}
	t.Logf("%d connections sampled in %v with %d wake-ups", n, elapsed.Round(time.Millisecond), wakeups)
	for _, tr := range ts {
		sm.unschedule(tr)
	}
	waitStopped(t, sm)
}

// stampHooks records when each sample reached the hooks.
type stampHooks struct {
	nopHooks
	mu    sync.Mutex
	times []time.Time
}

func (h *stampHooks) Sampled(*conntrace.Sample) {
	h.mu.Lock()
	h.times = append(h.times, time.Now())
	h.mu.Unlock()
}

// TestMixedIntervalsKeepTheirPace: connections sampled every 10 s (and
// every hour) arriving while a busy connection is sampled every 100 ms do
// not stall it: its samples stay about an interval apart, never more than
// two.
func TestMixedIntervalsKeepTheirPace(t *testing.T) {
	c, s := testenv.LoopbackMPTCP(t)
	go io.Copy(io.Discard, s)
	sm := NewScheduler()
	const interval = 100 * time.Millisecond
	h := &stampHooks{}
	busy := newTestFollower(sm, c, interval, h)
	busy.sample(new(scratch), true)
	sm.schedule(busy)
	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				c.Write([]byte("x"))
			}
		}
	})
	// The machine's pace in the same window: on a loaded machine a timer
	// of the same interval goes longer without firing, and so may the
	// busy connection, slow ones or not.
	pace := testenv.StartPace(interval)
	var slow []*Follower
	for i := range 300 {
		every := 10 * time.Second
		if i%2 == 1 {
			every = time.Hour
		}
		f := newTestFollower(sm, c, every, nil)
		f.sample(new(scratch), true)
		sm.schedule(f)
		slow = append(slow, f)
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	writer.Wait()
	_, paceGap := pace.Stop()
	for _, f := range append(slow, busy) {
		sm.unschedule(f)
	}
	waitStopped(t, sm)
	h.mu.Lock()
	defer h.mu.Unlock()
	var worst time.Duration
	for i := 1; i < len(h.times); i++ {
		worst = max(worst, h.times[i].Sub(h.times[i-1]))
	}
	t.Logf("%d samples of the busy connection in %v, longest gap %v (a timer of the same interval: %v)", len(h.times), h.times[len(h.times)-1].Sub(h.times[0]), worst, paceGap)
	if worst > 2*max(interval, paceGap) {
		t.Errorf("the busy connection (interval %v) went %v without a sample while slower ones arrived (a timer of the same interval: %v)", interval, worst, paceGap)
	}
}

// TestEarlyPathEvent: an event that comes after the first sample and
// before the connection is scheduled (between its first reading and its
// place in the schedule) has it sampled at once, not after a random part of
// its interval.
func TestEarlyPathEvent(t *testing.T) {
	c, _ := testenv.LoopbackMPTCP(t)
	sm := NewScheduler()
	h := &countHooks{}
	f := newTestFollower(sm, c, time.Hour, h)
	f.sample(new(scratch), true)
	f.ev = &events{}
	f.PathEvent(&conntrace.PathEvent{Kind: conntrace.SubflowPriority})
	start := time.Now()
	sm.schedule(f)
	defer waitStopped(t, sm)
	defer sm.unschedule(f)
	for h.n.Load() < 2 {
		if time.Since(start) > callTimeout {
			t.Fatal("the event's sample did not come")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("sampled %v after being scheduled", time.Since(start))
}

// callTimeout bounds a wait for something that comes within milliseconds.
const callTimeout = 10 * time.Second

// processCPU returns the CPU time the process has used, user and system.
func processCPU(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
