package follow

import (
	"math/rand/v2"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/sockdiag"
)

// Idle connections of a network namespace are checked together, by one
// sock_diag dump of the namespace's MPTCP sockets with their mptcp_info
// (internal/sockdiag), instead of one getsockopt(MPTCP_INFO) each. The dump
// is matched to the followed connections by socket cookie; a connection
// whose mptcp_info fingerprint is the one of its last full reading is idle
// and done with, one whose fingerprint moved (or that the dump did not
// list) is sampled on its own as before. What the telemetry reports does
// not change: the dump carries the very mptcp_info getsockopt returns (the
// kernel fills both with mptcp_diag_fill_info), and the rules of the cheap
// reading (see sampleLocked) apply unchanged.
//
// A dump walks every MPTCP socket of the kernel (its token table is shared
// by all namespaces) and lists those of the namespace. It costs a fixed
// 50 to 100 µs plus, per socket listed, about half of what a getsockopt
// costs, so it pays off only with many idle connections due at once, and
// few other MPTCP sockets in the namespace. Two things make that so:
//
//   - Once a namespace has minDump idle connections or more, its idle
//     connections are due together: their next samples fall on the same
//     multiple of their interval (see gridDue), so that one dump per
//     interval checks them all. A connection that moves leaves the grid
//     with its full reading; one that falls idle joins it at its next due
//     time.
//   - A dump that lists many more sockets than the process follows there
//     (other processes' MPTCP sockets) costs more than the getsockopts it
//     replaces: the namespace then goes back to one reading per
//     connection, and tries the dump again later.
//
// Dumps, their namespaces' state (Scheduler.dumps) and the dumpers' sockets
// belong to the scheduler's goroutine, which alone uses them.

const (
	// minDump is how many idle connections of a namespace, due together,
	// make a dump worth its fixed cost.
	minDump = 64
	// maxListed bounds the sockets a dump may list per connection it
	// checks before the namespace goes back to per-connection readings:
	// measured, a dump stops paying off when the namespace holds about
	// half as many other sockets as followed ones.
	maxListed = 1.4
	// retryDump is how long a namespace whose dump did not pay off (or
	// could not be opened) waits before it is tried again.
	retryDump = time.Minute
)

// nsDump is what the scheduler keeps per network namespace with idle
// connections.
type nsDump struct {
	d *sockdiag.Dumper
	// grid: the namespace's idle connections are due together, and
	// checked by a dump.
	grid bool
	// idle counts the idle connections seen sampled one by one since
	// counting began, at countFrom; enough of them within an interval put
	// the namespace on the grid.
	idle      int
	countFrom time.Duration
	offUntil  time.Duration // after a failed or costly dump: no grid before
	dumpFrom  time.Duration // on the grid since an interval: dump from then
	lastUsed  time.Duration // for closing the dumpers of namespaces gone

	pending  []*Follower          // idle connections due in this batch
	byCookie map[uint64]*Follower // pending, by socket cookie, while dumping
	changed  []*Follower          // pending whose fingerprint moved
	families uint32               // 1: some pending are AF_INET, 2: AF_INET6
	visit    func(*sockdiag.Socket)
	matched  int // pending connections the dump listed
}

// dumpFor returns the state of the namespace whose cookie is cookie,
// making it.
func (sm *Scheduler) dumpFor(cookie uint64) *nsDump {
	nd := sm.dumps[cookie]
	if nd == nil {
		if sm.dumps == nil {
			sm.dumps = map[uint64]*nsDump{}
		}
		nd = &nsDump{byCookie: map[uint64]*Follower{}}
		nd.visit = nd.see
		sm.dumps[cookie] = nd
	}
	return nd
}

// gridDue returns when an idle connection on its namespace's grid is due
// next: the first multiple of its interval (since the scheduler's epoch)
// more than a slot after now.
func (f *Follower) gridDue(now time.Duration) time.Duration {
	g := (now/f.interval + 1) * f.interval
	if g-now <= f.slack() {
		g += f.interval
	}
	return g
}

// onGrid reports whether f, taken from the schedule, is due next on its
// namespace's grid.
func (sm *Scheduler) onGrid(f *Follower) bool {
	if !f.idleHint.Load() {
		return false
	}
	nd := sm.dumps[f.nsCookie.Load()]
	return nd != nil && nd.grid
}

// sampleBatch samples the connections of a batch: idle connections of
// namespaces on the grid by one dump each, the others one by one. It runs
// on the scheduler's goroutine, with no lock held.
func (sm *Scheduler) sampleBatch(batch []*Follower, sc *scratch, now time.Duration) {
	touched := sm.touched[:0]
	for _, f := range batch {
		if f.idleHint.Load() {
			if nd := sm.idleDump(f, now); nd != nil && f.atTick {
				if len(nd.pending) == 0 {
					touched = append(touched, nd)
				}
				nd.pending = append(nd.pending, f)
				continue
			}
		}
		f.sample(sc, false)
	}
	for _, nd := range touched {
		if len(nd.pending) >= minDump && now >= nd.dumpFrom && nd.open(nd.pending[0], now) {
			sm.dump(nd.pending[0].nsCookie.Load(), nd, sc, now)
		} else {
			for _, f := range nd.pending {
				f.sample(sc, false)
			}
		}
		clear(nd.pending)
		nd.pending = nd.pending[:0]
	}
	clear(touched)
	sm.touched = touched[:0]
	sm.sweepDumps(now)
}

// idleDump returns the namespace state of f, an idle connection, when f is
// to be checked by its namespace's dump; nil when it is sampled on its own.
// It counts idle connections, and puts a namespace with enough of them on
// the grid.
func (sm *Scheduler) idleDump(f *Follower, now time.Duration) *nsDump {
	cookie := f.dumpCookies()
	if cookie == 0 {
		return nil
	}
	nd := sm.dumpFor(cookie)
	nd.lastUsed = now
	if nd.grid {
		return nd
	}
	if now < nd.offUntil {
		return nil
	}
	if now-nd.countFrom > f.interval {
		nd.idle, nd.countFrom = 0, now
	}
	if nd.idle++; nd.idle >= minDump {
		// Once every idle connection of the namespace had its turn (one
		// interval), they are due together, and known: dumps begin.
		nd.grid, nd.dumpFrom = true, now+f.interval+f.slack()
	}
	return nil
}

// open opens the namespace's dumper, through the socket of f, if it is not
// open yet. A namespace where it cannot be opened is left off the grid for
// a while.
func (nd *nsDump) open(f *Follower, now time.Duration) bool {
	if nd.d != nil {
		return true
	}
	var err error
	if rc := f.rawConn(); rc != nil {
		nd.d, err = sockdiag.OpenIn(rc)
	}
	if nd.d == nil || err != nil {
		nd.off(now)
		return false
	}
	return true
}

// off takes the namespace off the grid for retryDump. Its connections go
// back to their own pace as they are sampled one by one.
func (nd *nsDump) off(now time.Duration) {
	nd.grid, nd.idle, nd.offUntil = false, 0, now+retryDump
}

// dump checks the pending connections of the namespace whose cookie is ns
// with one dump.
func (sm *Scheduler) dump(ns uint64, nd *nsDump, sc *scratch, now time.Duration) {
	nd.families, nd.matched = 0, 0
	for _, f := range nd.pending {
		nd.byCookie[f.sockCookie.Load()] = f
		nd.families |= f.family.Load()
	}
	nd.changed = nd.changed[:0]
	var listed int
	var err error
	switch nd.families {
	case 1:
		listed, err = nd.d.DumpFamily(unix.AF_INET, nd.visit)
	case 2:
		listed, err = nd.d.DumpFamily(unix.AF_INET6, nd.visit)
	default:
		listed, err = nd.d.Dump(nd.visit)
	}
	sm.stats.dumps.Add(1)
	sm.stats.covered.Add(uint64(nd.matched - len(nd.changed)))
	// Connections the dump did not list (it is not a snapshot: a socket
	// next to one that closed meanwhile may be skipped), or after an
	// error, are read one by one, and so are those that moved.
	for _, f := range nd.byCookie {
		f.sample(sc, false)
	}
	clear(nd.byCookie)
	for i, f := range nd.changed {
		f.sample(sc, true)
		nd.changed[i] = nil
	}
	sm.mu.Lock()
	own := sm.perNS[ns]
	sm.mu.Unlock()
	if err != nil || float64(listed) > maxListed*float64(own)+minDump {
		// Too many sockets of others, or a dumper that fails: back to
		// one reading per connection for a while.
		nd.off(now)
		if err != nil {
			nd.d.Close()
			nd.d = nil
		}
	}
}

// see is the dump's callback: one listed socket.
func (nd *nsDump) see(s *sockdiag.Socket) {
	f := nd.byCookie[s.Cookie]
	if f == nil {
		return // another process's socket, or a connection not due now
	}
	delete(nd.byCookie, s.Cookie)
	nd.matched++
	if !f.idleIn(s) {
		nd.changed = append(nd.changed, f)
	}
}

// sweepDumps closes the dumpers of namespaces that had no idle connection
// for twice the linger time.
func (sm *Scheduler) sweepDumps(now time.Duration) {
	if now-sm.lastSweep < sm.linger {
		return
	}
	sm.lastSweep = now
	for cookie, nd := range sm.dumps {
		if now-nd.lastUsed > 2*sm.linger {
			nd.close()
			delete(sm.dumps, cookie)
		}
	}
}

// closeDumps closes every dumper; the scheduler's goroutine returns.
func (sm *Scheduler) closeDumps() {
	for cookie, nd := range sm.dumps {
		nd.close()
		delete(sm.dumps, cookie)
	}
}

func (nd *nsDump) close() {
	if nd.d != nil {
		nd.d.Close()
		nd.d = nil
	}
}

// idleIn checks f against its socket as a dump listed it: it reports true
// when f is idle (the mptcp_info fingerprint is that of its last full
// reading, and nothing else asks for a full reading), and counts the check
// as a cheap reading would (see sampleLocked); false when f must be sampled
// in full, which it then is at the tick too: a connection due its
// safety-net reading or a report stays on the grid.
func (f *Follower) idleIn(s *sockdiag.Socket) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.quietHint.Store(false)
	if f.ended {
		return true
	}
	if f.flags.Load()&(flagDropped|flagEventNews|flagPathsNews|flagWrote) != 0 || f.moving || f.sinceFull >= safetyNet ||
		f.det.Waiting() || f.paths.tracker.Waiting() || f.det.Fallback() != conntrace.FallbackNone ||
		s.InfoLen == 0 || infoFingerprint(&s.Info) != f.fp {
		return false
	}
	if _, due := f.reportDueLocked(); due {
		return false // read in full for its report
	}
	f.sinceFull++
	f.quietLocked(&s.Info, s.InfoLen)
	return true
}

// dumpCookies returns the cookie of f's network namespace (read with its
// first sample), reading the socket's cookie and its address family once
// (two getsockopts in the connection's life, paid only by connections that
// fall idle); 0 when they cannot be read.
func (f *Follower) dumpCookies() uint64 {
	ns := f.nsCookie.Load()
	if ns == 0 || f.sockCookie.Load() != 0 {
		return ns
	}
	rc := f.rawConn()
	if rc == nil {
		return 0
	}
	sock, err := sockdiag.Cookie(rc)
	if err != nil {
		return 0
	}
	var family int
	var ferr error
	if err := rc.Control(func(fd uintptr) { family, ferr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN) }); err != nil || ferr != nil {
		return 0
	}
	switch family {
	case unix.AF_INET:
		f.family.Store(1)
	case unix.AF_INET6:
		f.family.Store(2)
	}
	f.sockCookie.Store(sock)
	return ns
}

// rawConn returns the connection's socket, nil once it ended.
func (f *Follower) rawConn() syscall.RawConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rc
}

// spread returns when a connection that leaves the grid is due: an
// interval on, less a random part of a quarter of it, so that connections
// leaving together do not stay together, and none is sampled much before
// its interval (a busy connection that leaves would pay, on average, the
// part taken off in samples).
func (f *Follower) spread(now time.Duration) time.Duration {
	return now + f.interval - rand.N(f.interval/4+1)
}
