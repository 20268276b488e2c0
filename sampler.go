package mptcpx

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// The sampler reads the MPTCP state of every live connection of the process
// on one schedule: a single goroutine and a single timer, however many
// connections there are. Connections are kept in a min-heap by the time
// their next sample is due; the goroutine sleeps until the earliest one,
// samples every connection due within the next slot (a sixteenth of its
// interval: it may be sampled that much early), and goes back to sleep. It
// so wakes up at most slotsPerInterval times per interval, however many
// connections there are, and each wake-up serves a batch of them back to
// back, on warm caches, instead of one context switch per connection. It
// exists only while connections do: it starts with the first one and
// returns when the last one is closed.
//
// A connection's first sample is taken at once, on the goroutine that
// dialed or accepted it, so that its initial subflow and a fallback at the
// handshake are seen at once. Its next one is due after a random part of
// its interval, so that connections opened together spread over the
// interval instead of sampling together, then every interval after that.
// Its final sample is taken as it ends (see follower): by Close, on the
// closing goroutine; by the sampler when it finds the socket closed
// underneath or the *Conn garbage-collected. After it the connection is
// never sampled again.

// slotsPerInterval is how many times per interval the sampler wakes up at
// most for connections of that interval. A connection may be sampled up to
// interval/slotsPerInterval ahead of its due time, so that one wake-up
// serves every connection due about then, and up to as much after it when
// it became due within a slot of the last wake-up (see run), so that
// connections coming and going do not add wake-ups. Measured on a 2-vCPU
// VM with 1,000 idle connections: 1,000 wake-ups per second cost more CPU
// than all their samples together; 16 cost less than 1 % of them.
const slotsPerInterval = 16

// slack is how far ahead of its due time t may be sampled.
func (t *follower) slack() time.Duration { return t.interval / slotsPerInterval }

// sampler is the process-wide scheduler.
type sampler struct {
	mu      sync.Mutex
	heap    []*follower // min-heap on due
	running bool
	wake    chan struct{} // nudges the goroutine when the heap's head changes
	epoch   time.Time     // due times are offsets from it (monotonic)
	wakeups uint64        // batches taken, for tests and benchmarks
	// urgent: a connection was made due now (dueNow), to be sampled
	// without waiting for the next slot.
	urgent bool
}

var defaultSampler = newSampler()

func newSampler() *sampler {
	return &sampler{wake: make(chan struct{}, 1), epoch: time.Now()}
}

// scratch is what one sample needs besides the connection's own state:
// the kernel reader's buffers, the snapshot and the change set. The sampler
// goroutine keeps one; samples taken elsewhere borrow one from a pool.
type scratch struct {
	reader mptcpinfo.Reader
	snap   mptcpinfo.Snapshot
	probe  mptcpinfo.Snapshot // the connection-level reading alone
	sample conntrace.Sample
	events []conntrace.PathEvent // the path events the sample takes
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// schedule places t, whose first sample was just taken, in the schedule:
// its next sample is due after a random part of its interval.
func (sm *sampler) schedule(t *follower) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	t.due = time.Since(sm.epoch) + rand.N(t.interval) + 1
	t.index = int32(len(sm.heap))
	sm.heap = append(sm.heap, t)
	sm.up(int(t.index))
	if !sm.running {
		sm.running = true
		go sm.run()
	} else if t.index == 0 {
		sm.nudge()
	}
}

// unschedule takes t out of the schedule, if it is in it.
func (sm *sampler) unschedule(t *follower) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if t.index >= 0 {
		sm.remove(int(t.index))
		if len(sm.heap) == 0 {
			sm.nudge()
		}
	}
}

// dueNow moves t's next sample to now.
func (sm *sampler) dueNow(t *follower) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if t.index >= 0 {
		t.due = time.Since(sm.epoch)
		sm.up(int(t.index))
		sm.urgent = true
		sm.nudge()
	}
}

func (sm *sampler) nudge() {
	select {
	case sm.wake <- struct{}{}:
	default:
	}
}

// run is the sampler goroutine.
func (sm *sampler) run() {
	g := goid()
	sc := new(scratch)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var batch []*follower
	lastBatch := time.Duration(math.MinInt64 / 2) // when the last batch began
	for {
		sm.mu.Lock()
		if len(sm.heap) == 0 {
			sm.running = false
			sm.mu.Unlock()
			return
		}
		// The next batch begins when the first connection is due, but not
		// within a slot of the last one: a connection that became due
		// meanwhile (a new one whose first periodic sample fell there, or
		// one due while the last batch ran) waits for the next slot, up to
		// a slot late, so that wake-ups stay a slot apart whatever comes
		// and goes. A connection made due now (dueNow) is taken at once.
		now := time.Since(sm.epoch)
		head := sm.heap[0]
		start := max(head.due, lastBatch+head.slack())
		if sm.urgent {
			start = now
		}
		if wait := start - now; wait > 0 {
			sm.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-sm.wake:
			}
			continue
		}
		// Take every connection due within its slot, each once: its next
		// due time is always beyond the slot, whatever its interval.
		sm.urgent = false
		lastBatch = now
		sm.wakeups++
		batch = batch[:0]
		for len(sm.heap) > 0 && sm.heap[0].due-now <= sm.heap[0].slack() {
			t := sm.heap[0]
			t.due += t.interval
			if t.due-now <= t.slack() {
				// Behind by more than an interval (a stalled process):
				// skip the missed samples rather than catch up in a
				// burst.
				t.due = now + max(t.interval, t.slack()+1)
			}
			sm.down(0)
			batch = append(batch, t)
		}
		sm.mu.Unlock()
		for i, t := range batch {
			t.sample(sc, g)
			batch[i] = nil
		}
	}
}

// sample takes a periodic sample of t, unless it has ended, on the
// goroutine whose id is g (the sampler's).
func (t *follower) sample(sc *scratch, g uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ended {
		t.hookG.Store(g)
		t.sampleLocked(sc, false)
	}
}

// The heap: a binary min-heap on follower.due, with each element's index kept
// in follower.index so that a connection leaves it in O(log n).

func (sm *sampler) less(i, j int) bool { return sm.heap[i].due < sm.heap[j].due }

func (sm *sampler) swap(i, j int) {
	h := sm.heap
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = int32(i), int32(j)
}

func (sm *sampler) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !sm.less(i, p) {
			return
		}
		sm.swap(i, p)
		i = p
	}
}

func (sm *sampler) down(i int) bool {
	start, n := i, len(sm.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && sm.less(r, l) {
			m = r
		}
		if !sm.less(m, i) {
			break
		}
		sm.swap(i, m)
		i = m
	}
	return i > start
}

func (sm *sampler) remove(i int) {
	last := len(sm.heap) - 1
	t := sm.heap[i]
	if i != last {
		sm.swap(i, last)
	}
	sm.heap[last] = nil
	sm.heap = sm.heap[:last]
	if i != last && !sm.down(i) {
		sm.up(i)
	}
	t.index = -1
}
