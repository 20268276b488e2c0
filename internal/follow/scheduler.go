package follow

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// The Scheduler samples every live connection of the process on one
// schedule: a single goroutine and a single timer, however many connections
// there are. It sleeps until the earliest connection is due, samples every
// connection due within the next slot (a sixteenth of its interval: it may
// be sampled that much early), and goes back to sleep. It so wakes up at
// most slotsPerInterval times per interval, and each wake-up serves a batch
// of connections back to back, on warm caches, instead of one context
// switch per connection. It exists only while connections do: it starts
// with the first one and returns when the last one leaves.
//
// Connections of different intervals keep their own pace: they are kept in
// classes of similar intervals (their slot within a factor of two), each
// with a heap by due time and its own slot rhythm, so that a connection
// sampled every hour never delays one sampled every 100 ms.
//
// A connection's first sample is taken at once, on the goroutine that
// dialed or accepted it, so that its initial subflow and a fallback at the
// handshake are seen at once. Its next one is due after a random part of
// its interval, so that connections opened together spread over the
// interval instead of sampling together, then every interval after that.
//
// The goroutine outlives the last connection by Linger, so that a program
// that opens one short connection at a time does not start and stop it for
// each: it sleeps meanwhile, and is woken only when a new connection is due
// before the time it sleeps until.

// slotsPerInterval is how many times per interval the scheduler wakes up at
// most for connections of that interval. A connection may be sampled up to
// interval/slotsPerInterval ahead of its due time, so that one wake-up
// serves every connection due about then, and up to as much after it when
// it became due within a slot of its class's last batch (see run), so that
// connections coming and going do not add wake-ups. Measured on a 2-vCPU
// VM with 1,000 idle connections: 1,000 wake-ups per second cost more CPU
// than all their samples together; 16 cost less than 1 % of them.
const slotsPerInterval = 16

// slack is how far ahead of its due time f may be sampled.
func (f *Follower) slack() time.Duration { return f.interval / slotsPerInterval }

// classOf returns the class of connections sampled at interval: the
// bit length of its slot, so that slots within a class differ by less than
// a factor of two.
func classOf(interval time.Duration) uint8 {
	return uint8(bits.Len64(uint64(interval / slotsPerInterval)))
}

// Scheduler is the process-wide scheduler. Default is the process's.
type Scheduler struct {
	mu      sync.Mutex
	classes [65]class
	n       int // connections scheduled
	running bool
	// sleepUntil is when the sleeping goroutine wakes up by itself, by
	// timer (an offset from epoch; 0 while it works): a connection due
	// earlier resets the timer, without waking the goroutine before.
	sleepUntil time.Duration
	timer      *time.Timer
	wake       chan struct{} // nudges the goroutine
	linger     time.Duration // how long the goroutine outlives the last connection
	flush      bool          // set by Flush: an idle goroutine returns at once
	epoch      time.Time     // due times are offsets from it (monotonic)
	// urgent: a connection was made due now (dueNow), to be sampled
	// without waiting for the next slot.
	urgent bool

	stats stats

	// The scheduler goroutine's own: namespaces with idle connections
	// checked by dumps (dump_linux.go).
	dumps     map[uint64]*nsDump
	touched   []*nsDump
	lastSweep time.Duration
	// perNS counts the scheduled connections of each network namespace,
	// by cookie (guarded by mu): a dump that lists many more sockets than
	// that lists other processes'.
	perNS map[uint64]int

	// Parked connections (quiet.go): their readiness list, and how many
	// there are (guarded by mu).
	quiet  quietSet
	parked int
}

// class is the connections of intervals with slots of one bit length.
type class struct {
	heap      []*Follower   // min-heap on due
	lastBatch time.Duration // when the class's last batch began
	// Its parked connections (quiet.go): how many, the shortest interval
	// among them since there were none, and when they were last counted
	// as checked.
	parked    int
	parkedMin time.Duration
	quietTick time.Duration
}

// stats counts what the scheduler and the samples did, for tests and
// benchmarks (see Stats).
type stats struct {
	wakeups   atomic.Uint64 // batches taken
	samples   atomic.Uint64 // samples turned into a conntrace.Sample
	probes    atomic.Uint64 // cheap readings (MPTCP_INFO alone, or a check of the socket)
	fullReads atomic.Uint64 // full readings (MPTCP_FULL_INFO or the older options)
	covered   atomic.Uint64 // connections checked by a namespace's dump
	dumps     atomic.Uint64 // namespace dumps
	quiet     atomic.Uint64 // parked connections checked by the readiness list, per interval
	harvests  atomic.Uint64 // readiness lists drained
	parks     atomic.Uint64 // connections parked
}

// Stats is what a Scheduler did since it was made.
type Stats struct {
	Wakeups   uint64 // batches of samples taken by the scheduler's goroutine
	Samples   uint64 // samples compared with the previous one (periodic, first, final)
	Probes    uint64 // cheap readings that ended a periodic sample (nothing moved)
	FullReads uint64 // full readings of a connection's state
	Covered   uint64 // periodic samples that a namespace's socket dump answered
	Dumps     uint64 // namespace socket dumps taken
	Quiet     uint64 // periodic samples of parked connections that the readiness list answered
	Harvests  uint64 // readiness lists drained (epoll_wait calls)
	Parks     uint64 // connections parked
}

// Stats returns what the scheduler did so far.
func (sm *Scheduler) Stats() Stats {
	return Stats{Wakeups: sm.stats.wakeups.Load(), Samples: sm.stats.samples.Load(),
		Probes: sm.stats.probes.Load(), FullReads: sm.stats.fullReads.Load(), Covered: sm.stats.covered.Load(), Dumps: sm.stats.dumps.Load(),
		Quiet: sm.stats.quiet.Load(), Harvests: sm.stats.harvests.Load(), Parks: sm.stats.parks.Load()}
}

// Default is the process's scheduler.
var Default = NewScheduler()

// Linger is how long the scheduler's goroutine outlives the last
// connection.
const Linger = 30 * time.Second

// NewScheduler returns a scheduler with no connection.
func NewScheduler() *Scheduler {
	sm := &Scheduler{wake: make(chan struct{}, 1), epoch: time.Now(), linger: Linger}
	for i := range sm.classes {
		sm.classes[i].lastBatch = math.MinInt64 / 2
	}
	return sm
}

// Flush has the scheduler's goroutine return at once when it has no
// connection left, instead of lingering, and waits until it did; with
// connections left, it returns at once. Tests call it before they count
// goroutines.
func (sm *Scheduler) Flush() {
	sm.mu.Lock()
	if sm.n > 0 || !sm.running {
		sm.mu.Unlock()
		return
	}
	sm.flush = true
	sm.nudge()
	sm.mu.Unlock()
	for {
		if running, n := sm.Running(); !running || n > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Running reports whether the scheduler's goroutine runs, and how many
// connections it follows.
func (sm *Scheduler) Running() (running bool, n int) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return sm.running, sm.n
}

// schedule places f, whose first sample was just taken, in the schedule:
// its next sample is due after a random part of its interval, or at once
// when a path event came meanwhile.
func (sm *Scheduler) schedule(f *Follower) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	now := time.Since(sm.epoch)
	f.due = now + rand.N(f.interval) + 1
	if f.flags.Load()&(flagEventNews|flagDropped) != 0 {
		f.due, sm.urgent = now, true
	}
	f.class = classOf(f.interval)
	if f.countedNS = f.nsCookie.Load(); f.countedNS != 0 {
		if sm.perNS == nil {
			sm.perNS = map[uint64]int{}
		}
		sm.perNS[f.countedNS]++
	}
	c := &sm.classes[f.class]
	f.index = int32(len(c.heap))
	c.heap = append(c.heap, f)
	c.up(int(f.index))
	sm.n++
	sm.flush = false
	switch {
	case !sm.running:
		sm.running = true
		go sm.run()
	case sm.urgent:
		sm.nudge()
	default:
		sm.soonLocked(c, now)
	}
}

// soonLocked has the sleeping goroutine wake up by the time class c's next
// batch begins, when that is earlier than it would. sm.mu is held.
func (sm *Scheduler) soonLocked(c *class, now time.Duration) {
	if sm.sleepUntil == 0 {
		return
	}
	if start := c.start(now, false); start < sm.sleepUntil {
		sm.sleepUntil = start
		sm.timer.Reset(max(start-now, 0))
	}
}

// unschedule takes f out of the schedule, if it is in it.
func (sm *Scheduler) unschedule(f *Follower) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if f.index >= 0 {
		sm.leaveParkLocked(f)
		sm.quiet.forgetLocked(f)
		sm.classes[f.class].remove(int(f.index))
		sm.n--
		if ns := f.countedNS; ns != 0 {
			if sm.perNS[ns]--; sm.perNS[ns] == 0 {
				delete(sm.perNS, ns)
			}
		}
	}
}

// dueNow moves f's next sample to now. A connection not scheduled yet is
// taken at once when it is (see schedule: the flags say why).
func (sm *Scheduler) dueNow(f *Follower) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if f.index >= 0 {
		sm.leaveParkLocked(f)
		sm.classes[f.class].dueBy(f, time.Since(sm.epoch))
		sm.urgent = true
		sm.nudge()
	}
}

func (sm *Scheduler) nudge() {
	select {
	case sm.wake <- struct{}{}:
	default:
	}
}

// start returns when class c's next batch begins: when its first
// connection is due, but not within a slot of its last batch. A connection
// that became due meanwhile (a new one whose first periodic sample fell
// there, or one due while the last batch ran) waits for the next slot, up
// to a slot late, so that wake-ups stay a slot apart whatever comes and
// goes. A connection made due now (dueNow) is taken at once.
func (c *class) start(now time.Duration, urgent bool) time.Duration {
	head := c.heap[0]
	if urgent && head.due <= now {
		return now
	}
	return max(head.due, c.lastBatch+head.slack())
}

// run is the scheduler's goroutine.
func (sm *Scheduler) run() {
	sc := new(scratch)
	sm.mu.Lock()
	timer := time.NewTimer(time.Hour)
	sm.timer = timer
	sm.mu.Unlock()
	defer timer.Stop()
	var batch []*Follower
	for {
		sm.mu.Lock()
		now := time.Since(sm.epoch)
		if sm.n == 0 {
			// No connection: wait for one for the linger time, then return.
			if !sm.flush {
				sm.sleepUntil = now + sm.linger
				timer.Reset(sm.linger)
				sm.mu.Unlock()
				select {
				case <-timer.C:
				case <-sm.wake:
				}
				sm.mu.Lock()
			}
			if sm.n == 0 && (sm.flush || time.Since(sm.epoch) >= sm.sleepUntil) {
				// What the goroutine kept for itself is let go of before
				// the next goroutine may start (schedule, under mu).
				sm.closeDumps()
				sm.quiet.closeLocked()
				sm.running, sm.sleepUntil, sm.flush = false, 0, false
				sm.mu.Unlock()
				return
			}
			sm.sleepUntil = 0
			sm.mu.Unlock()
			continue
		}
		// Parked connections found moving are due now.
		next := sm.quietTickLocked(now)
		batch = batch[:0]
		for i := range sm.classes {
			c := &sm.classes[i]
			if len(c.heap) == 0 {
				continue
			}
			start := c.start(now, sm.urgent)
			if start > now {
				next = min(next, start)
				continue
			}
			// Take every connection of the class due within its slot,
			// each once: its next due time is always beyond the slot.
			c.lastBatch = now
			for len(c.heap) > 0 && c.heap[0].due-now <= c.heap[0].slack() {
				f := c.heap[0]
				rotation := f.parked
				if rotation {
					// Its rotation reading (quiet.go): on its own, not
					// by its namespace's dump, which would list every
					// socket of the namespace for a few.
					sm.leaveParkLocked(f)
					f.flags.Or(flagQuietRound)
				}
				grid := !rotation && sm.onGrid(f)
				switch {
				case grid:
					// Idle, due with its namespace's other idle
					// connections (dump_linux.go).
					f.due = f.gridDue(now)
				case f.onGrid && !rotation:
					f.due = f.spread(now) // leaves the grid
				default:
					f.due += f.interval
					if f.due-now <= f.slack() {
						// Behind by more than an interval (a stalled
						// process): skip the missed samples rather than
						// catch up in a burst.
						f.due = now + max(f.interval, f.slack()+1)
					}
				}
				// At its grid tick: the previous due time was on the
				// grid too (a connection that joins the grid is read on
				// its own one more time).
				f.atTick = grid && f.onGrid
				f.onGrid = grid
				c.down(0)
				batch = append(batch, f)
			}
			if len(c.heap) > 0 {
				next = min(next, c.start(now, false))
			}
		}
		sm.urgent = false
		if len(batch) == 0 {
			sm.sleepUntil = next
			timer.Reset(next - now)
			sm.mu.Unlock()
			select {
			case <-timer.C:
			case <-sm.wake:
			}
			sm.mu.Lock()
			sm.sleepUntil = 0
			sm.mu.Unlock()
			continue
		}
		sm.stats.wakeups.Add(1)
		sm.mu.Unlock()
		sm.sampleBatch(batch, sc, now)
		sm.parkQuiet(batch, now)
		clear(batch)
	}
}

// The heap of a class: a binary min-heap on Follower.due, with each
// element's index kept in Follower.index so that a connection leaves it in
// O(log n).

func (c *class) less(i, j int) bool { return c.heap[i].due < c.heap[j].due }

func (c *class) swap(i, j int) {
	h := c.heap
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = int32(i), int32(j)
}

func (c *class) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !c.less(i, p) {
			return
		}
		c.swap(i, p)
		i = p
	}
}

func (c *class) down(i int) bool {
	start, n := i, len(c.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && c.less(r, l) {
			m = r
		}
		if !c.less(m, i) {
			break
		}
		c.swap(i, m)
		i = m
	}
	return i > start
}

// fix restores the heap's order after the due time of its i-th element
// changed either way.
func (c *class) fix(i int) {
	if !c.down(i) {
		c.up(i)
	}
}

// dueBy makes f, in the heap, due at t at the latest. A connection may
// already be due before t, not taken yet (its class waits a slot between
// batches): its place is kept, and the heap, which only moves it up, stays
// ordered.
func (c *class) dueBy(f *Follower, t time.Duration) {
	f.due = min(f.due, t)
	c.up(int(f.index))
}

func (c *class) remove(i int) {
	last := len(c.heap) - 1
	f := c.heap[i]
	if i != last {
		c.swap(i, last)
	}
	c.heap[last] = nil
	c.heap = c.heap[:last]
	if i != last {
		c.fix(i)
	}
	f.index = -1
}
