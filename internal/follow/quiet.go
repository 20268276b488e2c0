package follow

import (
	"math"
	"time"
	"unsafe"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Quiet connections are parked: instead of one reading each per interval
// (or a place in their namespace's dump), the kernel tells which of them
// moved. Each parked socket is registered, edge-triggered, with one epoll
// instance of the scheduler (quiet_linux.go), which the scheduler's
// goroutine drains without waiting (epoll_wait with a zero timeout) once
// per interval at least; a parked connection found there is sampled at
// once, the others are answered for that interval by the list: one system
// call per interval for all of them, whatever their number, instead of one
// per connection.
//
// That answer is true because everything a sample reports of a connection
// with nothing in flight moves with something that either wakes the
// socket's wait queue, which is what epoll watches, or reaches this package
// another way:
//
//   - Bytes received, the peer's DATA_FIN or reset: the kernel wakes the
//     MPTCP socket's readers (mptcp_data_ready, sk_state_change,
//     sk_error_report): EPOLLIN, EPOLLRDHUP, EPOLLHUP, EPOLLERR.
//   - Bytes sent: the program writes through Conn (Write, ReadFrom and its
//     sendfile or splice, CloseWrite): Wrote takes the connection back to
//     its periodic samples. Since Linux 6.9 the kernel also wakes writers
//     (EPOLLOUT) when the peer acknowledges data (mptcp_write_space), which
//     catches writes Conn cannot see (net.Buffers' writev, the raw socket
//     of SyscallConn) too.
//   - Subflows and addresses: the path events, which a parked connection
//     must be receiving (events.go); an event, events lost or a watcher
//     that fails sample it at once as before.
//   - The end of the connection: Close, the garbage collector (Collected)
//     and a hangup, which epoll reports; a connection whose socket was
//     handed out (NetConn, File) is never parked, since it may be closed or
//     written to behind this package's back.
//
// What none of these announces (the path manager's limits changed for the
// namespace, a fallback without data, data below a receive low-water mark
// the program set, writes Conn cannot see before 6.9) is seen by the
// rotation reading: a parked connection is read anyway (the cheap reading)
// every QuietRotation intervals, and in full every safetyNet intervals, as
// an idle one was before. A connection with data in flight (write_seq past
// snd_una), one shutting down, waiting for a path event, or with a report
// due is not parked.

// QuietRotation is how many intervals a parked connection goes without a
// reading of its own.
const QuietRotation = 16

// wakeFlags are what the program's goroutines set to wake a parked
// connection: each sets its flag before it looks at flagParked, and park
// looks at them again after it set flagParked, so that one of the two sees
// the other.
const wakeFlags = flagWrote | flagUntracked

// dueFlags come with a call to dueNow, which takes a connection out of the
// park and makes it due at once: park, under the scheduler's lock, leaves
// a connection with one of them set alone.
const dueFlags = flagEventNews | flagDropped | flagPathsNews

// stillToPark is how many periodic samples in a row must find a connection
// idle before it is parked, or joins its namespace's grid (dump_linux.go):
// one that writes about once per interval, and now and then not between
// two samples, is not parked and woken each time, nor moved to the grid's
// tick and away, each move a sample earlier than its interval.
const stillToPark = 2

// stillLocked counts a periodic sample that found the connection idle, or
// not, and reports whether it has been idle for stillToPark samples in a
// row: then its next periodic sample may stop at its namespace's dump
// (idleHint), and it may be parked (quietLocked). f.mu is held.
func (f *Follower) stillLocked(idle bool) bool {
	if !idle {
		f.stillRun = 0
	} else if f.stillRun < stillToPark {
		f.stillRun++
	}
	still := f.stillRun >= stillToPark
	f.idleHint.Store(still)
	return still
}

// quietLocked notes, after a periodic sample found the connection idle
// with info as its mptcp_info, whether it may be parked, and until when.
// Idle already means MPTCP, waiting for no join or removal and not fallen
// back (the callers' conditions). f.mu is held.
func (f *Follower) quietLocked(info *mptcpinfo.Info, infoLen int) {
	const never = wakeFlags | dueFlags | flagEventsMissed | flagFinSent | flagEOFRead
	if f.stillRun < stillToPark || f.flags.Load()&never != 0 || f.copies.Load() > 0 || !f.wantEvents || !f.ev.active() ||
		infoLen < int(unsafe.Offsetof(info.SndUna))+8 || info.WriteSeq != info.SndUna {
		return
	}
	until := time.Duration(math.MaxInt64)
	if f.report > 0 {
		until = f.nextReport - f.slack()
	}
	f.quietUntil.Store(int64(until))
	f.quietHint.Store(true)
}

// parkQuiet parks the connections of a batch that their sample found
// quiet. It runs on the scheduler's goroutine, with no lock held.
func (sm *Scheduler) parkQuiet(batch []*Follower, now time.Duration) {
	for _, f := range batch {
		if f.quietHint.Load() {
			f.quietHint.Store(false) // taken: the next sample says again
			sm.park(f, now)
		}
	}
}

// park parks f: registered with the readiness list (once in its life), due
// only for its rotation reading or its report.
func (sm *Scheduler) park(f *Follower, now time.Duration) {
	if f.quietID == 0 && !sm.register(f) {
		return
	}
	sm.mu.Lock()
	if f.index < 0 || f.parked || f.flags.Load()&dueFlags != 0 {
		sm.mu.Unlock()
		return
	}
	c := &sm.classes[f.class]
	f.parked = true
	if c.parked++; c.parked == 1 || f.interval < c.parkedMin {
		c.parkedMin = f.interval
	}
	if c.parked == 1 {
		c.quietTick = now
	}
	sm.parked++
	f.flags.Or(flagParked)
	f.resume = f.due
	f.due = min(now+QuietRotation*f.interval, time.Duration(f.quietUntil.Load()))
	c.fix(int(f.index))
	sm.mu.Unlock()
	sm.stats.parks.Add(1)
	// A write, a handing out or an event that came after the sample that
	// found f quiet, and before f was marked parked, saw it not parked and
	// woke nothing: the flags and the copies tell (the writers set theirs
	// before they look at flagParked, and flagParked was set before this
	// look).
	if f.flags.Load()&wakeFlags != 0 || f.copies.Load() > 0 {
		sm.unpark(f)
	}
}

// unpark takes f back to the periodic schedule, at the pace it kept
// before it was parked: its next sample is due at most an interval from
// now, as it would have been had it not been parked, so that a connection
// that writes once per interval is sampled once per interval, not once
// after each write. (What the kernel announced is sampled at once:
// harvestLocked, dueNow.)
func (sm *Scheduler) unpark(f *Follower) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if f.parked {
		now := time.Since(sm.epoch)
		sm.leaveParkLocked(f)
		f.due = f.resume
		if f.due < now {
			f.due += (now - f.due + f.interval - 1) / f.interval * f.interval
		}
		c := &sm.classes[f.class]
		c.fix(int(f.index))
		sm.soonLocked(c, now)
	}
}

// leaveParkLocked takes f off the parked count. sm.mu is held.
func (sm *Scheduler) leaveParkLocked(f *Follower) {
	if !f.parked {
		return
	}
	f.parked = false
	f.flags.And(^uint32(flagParked))
	c := &sm.classes[f.class]
	if c.parked--; c.parked == 0 {
		c.parkedMin = 0
	}
	sm.parked--
}

// quietTickLocked drains the readiness list (the connections found there
// are due now) and counts the parked connections it answered for, once per
// interval of each class. It returns when the next drain is due. sm.mu is
// held, on the scheduler's goroutine.
func (sm *Scheduler) quietTickLocked(now time.Duration) (next time.Duration) {
	next = math.MaxInt64
	if sm.parked == 0 {
		return next
	}
	sm.harvestLocked(now)
	for i := range sm.classes {
		c := &sm.classes[i]
		if c.parked == 0 {
			continue
		}
		if now >= c.quietTick+c.parkedMin-c.parkedMin/slotsPerInterval {
			sm.stats.quiet.Add(uint64(c.parked))
			c.quietTick = now
		}
		next = min(next, c.quietTick+c.parkedMin)
	}
	return next
}

// Wrote tells that the program wrote to the connection: a parked one goes
// back to its periodic samples (within an interval), since nothing else
// may tell that it moved.
func (f *Follower) Wrote() {
	if f == nil {
		return
	}
	if f.flags.Load()&flagWrote == 0 {
		f.flags.Or(flagWrote)
	}
	if f.flags.Load()&flagParked != 0 {
		f.sched.unpark(f)
	}
}

// Copying tells that a copy into the connection (ReadFrom: sendfile,
// splice) begins (true) or ended (false): the connection is not parked
// meanwhile, since the kernel moves its bytes without a write of the
// program's.
func (f *Follower) Copying(on bool) {
	if f == nil {
		return
	}
	if on {
		f.copies.Add(1)
		if f.flags.Load()&flagParked != 0 {
			f.sched.unpark(f)
		}
		return
	}
	f.copies.Add(-1)
	f.Wrote()
}

// Untrack tells that the connection's socket was handed out (NetConn,
// File): it may be written to or closed where this package cannot see, so
// it is never parked again.
func (f *Follower) Untrack() {
	if f == nil {
		return
	}
	f.flags.Or(flagUntracked)
	if f.flags.Load()&flagParked != 0 {
		f.sched.unpark(f)
	}
}
