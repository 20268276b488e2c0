package follow

import (
	"time"

	"golang.org/x/sys/unix"
)

// quietSet is the scheduler's readiness list of parked connections (see
// quiet.go): one epoll instance, made when the first connection is parked
// and closed when the scheduler's goroutine returns. A socket stays
// registered from its first parking until the kernel frees it (a closed
// descriptor leaves every epoll instance with its last reference), under a
// key of its own that is never used again, so that a late report about a
// connection gone is not taken for another's.
type quietSet struct {
	ep     int  // the epoll descriptor, when made
	made   bool // ep is open
	failed bool // epoll_create1 failed: nothing is parked
	nextID uint64
	evs    [256]unix.EpollEvent
	// byID: the registered connections that are still scheduled, by key
	// (guarded by Scheduler.mu).
	byID map[uint64]*Follower
}

// quietEvents: readable (bytes, the peer's DATA_FIN), writable again (the
// peer acknowledged data, Linux 6.9+), hung up or failed; edge-triggered,
// so that a connection is listed once per wake-up of its socket, not for
// as long as it stays readable or writable.
const quietEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// register adds f's socket to the readiness list. It runs on the
// scheduler's goroutine, with no lock held; false when f cannot be parked.
func (sm *Scheduler) register(f *Follower) bool {
	q := &sm.quiet
	if !q.made {
		if q.failed {
			return false
		}
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			q.failed = true
			return false
		}
		q.ep, q.made = ep, true
	}
	rc := f.rawConn()
	if rc == nil {
		return false
	}
	q.nextID++
	id := q.nextID
	ev := unix.EpollEvent{Events: quietEvents, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = unix.EpollCtl(q.ep, unix.EPOLL_CTL_ADD, int(fd), &ev) }); cerr != nil {
		return false // closed: it ends at its next sample
	}
	if err != nil {
		f.flags.Or(flagUntracked) // not a socket epoll takes: never again
		return false
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if f.index < 0 {
		return false // ended meanwhile: the kernel forgets the socket with it
	}
	if q.byID == nil {
		q.byID = map[uint64]*Follower{}
	}
	q.byID[id] = f
	f.quietID = id
	return true
}

// forgetLocked drops f's key, as f leaves the schedule. sm.mu is held.
func (q *quietSet) forgetLocked(f *Follower) {
	if f.quietID != 0 {
		delete(q.byID, f.quietID)
	}
}

// harvestLocked drains the readiness list: each parked connection listed
// is due now. sm.mu is held, on the scheduler's goroutine.
func (sm *Scheduler) harvestLocked(now time.Duration) {
	q := &sm.quiet
	if !q.made {
		return
	}
	for {
		n, err := unix.EpollWait(q.ep, q.evs[:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		sm.stats.harvests.Add(1)
		for i := range n {
			e := &q.evs[i]
			f := q.byID[uint64(uint32(e.Fd))|uint64(uint32(e.Pad))<<32]
			if f != nil && f.parked {
				sm.leaveParkLocked(f)
				sm.classes[f.class].dueBy(f, now)
			}
		}
		if n < len(q.evs) {
			return
		}
	}
}

// closeLocked closes the readiness list; the scheduler's goroutine
// returns, with no connection left.
func (q *quietSet) closeLocked() {
	if q.made {
		unix.Close(q.ep)
		q.made = false
	}
	q.failed = false
	clear(q.byID)
}
