package mptcpx

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// follower follows one connection for the sampler and the
// instrumentation, from the dial or accept to the connection's end. A nil
// *follower follows nothing.
//
// A connection ends exactly once, in endLocked, in one of three ways
// (conntrace.End): the program calls Close; the sampler finds the socket
// closed underneath (through NetConn or File); or the garbage collector
// finds the *Conn dropped without Close. Each takes a final sample, calls
// the Closed hook, leaves the sampler's schedule and lets go of the socket.
type follower struct {
	// Scheduling, guarded by sampler.mu.
	due      time.Duration // next sample, as an offset from sampler.epoch
	interval time.Duration
	index    int32 // position in the heap; -1 when not in it

	role conntrace.Role

	// Guarded by mu: whether the connection ended, and what the last full
	// reading found (see sampleLocked): how many periodic samples since
	// found nothing new, and whether the last one saw the connection move.
	ended     bool
	sinceFull uint8
	moving    bool

	// Whether the connection wants path events (see pathEvents), and
	// whether it was offered to a watcher yet (under mu).
	wantEvents  bool
	eventsTried bool

	// flags holds what goroutines tell each other: whether one of the
	// connection's hooks is running and whether Close was called meanwhile
	// (flagHookRunning, flagCloseAsked: see close), and flagDropped,
	// flagFinSent, flagEOFRead, flagEventNews.
	flags atomic.Uint32
	// fallback is the detector's conntrace.FallbackReason, for
	// Conn.FallbackReason from any goroutine.
	fallback atomic.Uint32
	// fp is the fingerprint of the last full reading's mptcp_info (under mu).
	fp uint32

	sampler *sampler
	hooks   conntrace.ConnHooks // nil: sample for nothing but Info

	mu  sync.Mutex      // serialises samples, hook calls and the end
	rc  syscall.RawConn // the socket, while the connection lives
	tc  net.TCPConn     // closes the socket when a Close is carried out here (a copy sharing the socket)
	det detector

	// hookG is the id of the goroutine that holds mu, when it may call
	// hooks (see close).
	hookG atomic.Uint64

	// The path events of the connection, once the watcher of its network
	// namespace follows it (set under mu before the watcher can deliver).
	ev *connEvents
}

// connEvents is what a connection followed by a path-event watcher needs:
// the watcher, the token it knows the connection by, and the events
// received for it since its last sample.
type connEvents struct {
	watcher *eventWatcher
	token   uint32
	mu      sync.Mutex
	q       *[]conntrace.PathEvent // made with the first event
}

// Bits of follower.flags.
const (
	flagHookRunning = 1 << iota // a hook of the connection runs
	flagCloseAsked              // a hook called Close
	flagDropped                 // the *Conn was collected without Close
	flagFinSent                 // the program shut down its writing side
	flagEOFRead                 // the program read the end of the stream
	flagEventNews               // path events wait, or were lost: read in full
	flagClosed                  // Close was called on the *Conn
)

func (cfg *config) newFollower(role conntrace.Role) *follower {
	return &follower{sampler: defaultSampler, index: -1, interval: cfg.interval, role: role, wantEvents: !cfg.noPathEvents}
}

// dialStart is called before a dial; the returned context is used for the dial.
func (cfg *config) dialStart(ctx context.Context, network, address string) (context.Context, *follower) {
	t := cfg.newFollower(conntrace.RoleClient)
	if cfg.tracer != nil {
		ctx, t.hooks = cfg.tracer.DialStart(ctx, conntrace.DialStart{Network: network, Address: address, Time: time.Now()})
	}
	return ctx, t
}

// accepted is called for each connection a Listener accepts; plain says
// whether the listener is known to be plain TCP.
func (cfg *config) accepted(c *Conn, plain bool) *follower {
	t := cfg.newFollower(conntrace.RoleServer)
	t.det.plainListener = plain
	if cfg.tracer != nil {
		t.hooks = cfg.tracer.Accepted(c, time.Now())
	}
	return t
}

func (t *follower) dialFailed(err error) {
	if t != nil && t.hooks != nil {
		t.hooks.DialFailed(err, time.Now())
	}
}

// established starts following c, whose socket is tc: the Established hook,
// the first sample at once, then a place in the sampler's schedule.
func (t *follower) established(c *Conn, tc *net.TCPConn) {
	rc, err := tc.SyscallConn()
	if err == nil {
		t.rc, t.tc = rc, *tc
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hooks != nil {
		t.hookG.Store(goid())
	}
	asked := false
	if t.hooks != nil {
		t.enterHook()
		t.hooks.Established(c, time.Now())
		asked = t.leaveHook()
	}
	switch {
	case t.rc == nil:
		// Only a closed connection has no RawConn.
		t.endLocked(conntrace.EndClosedUnderneath, sc)
		return
	case asked:
		t.endLocked(conntrace.EndClose, sc)
		return
	}
	t.sampleLocked(sc, true)
	if t.ended {
		return
	}
	t.sampler.schedule(t)
	// The *Conn is the program's handle: once it is unreachable, the
	// connection ends. Nothing the follower holds points back to it.
	runtime.AddCleanup(c, (*follower).collected, t)
}

// collected is the cleanup of a *Conn that became unreachable. It only
// marks the follower: the sampler's goroutine ends it, so that cleanups,
// which the runtime runs one at a time, never wait on a hook.
func (t *follower) collected() {
	t.flags.Or(flagDropped)
	t.sampler.dueNow(t)
}

// sawEOF notes that the program read the end of the stream, and takes a
// reading of the subflows then. The peer has shut down its side: once this
// side does too, the kernel frees the subflows, and their counters with
// them. This reading, taken while they are still listed, keeps what each
// path carried, for the next sample to report (see detector.observe).
func (t *follower) sawEOF() {
	if t != nil && t.flags.Or(flagEOFRead)&flagEOFRead == 0 {
		t.observe()
	}
}

// shuttingDown takes a reading of the subflows before the program shuts
// down the writing side (see sawEOF).
func (t *follower) shuttingDown() {
	if t != nil && t.flags.Load()&flagFinSent == 0 {
		t.observe()
	}
}

// sentFIN notes that the program shut down the writing side.
func (t *follower) sentFIN() {
	if t != nil {
		t.flags.Or(flagFinSent)
	}
}

// observe reads a live connection's subflows on the calling goroutine and
// notes their counters for the next sample. It calls no hook: those run on
// the goroutines that own the connection's life (its dial, accept or
// close) and on the sampler's.
func (t *follower) observe() {
	sc := scratchPool.Get().(*scratch)
	t.mu.Lock()
	if !t.ended && t.flags.Load()&flagDropped == 0 && sc.reader.Read(t.rc, &sc.snap) == nil {
		t.det.observe(&sc.snap)
	}
	t.mu.Unlock()
	scratchPool.Put(sc)
}

// enterHook and leaveHook bracket every hook call, made by the goroutine
// that holds mu (t.hookG); leaveHook reports whether the hook called Close.
func (t *follower) enterHook() { t.flags.Or(flagHookRunning) }

func (t *follower) leaveHook() bool {
	return t.flags.And(^uint32(flagHookRunning|flagCloseAsked))&flagCloseAsked != 0
}

// close carries out Conn.Close. done is false when the follower has nothing
// to do (the connection already ended another way, or an earlier Close
// ended it): the caller then closes the socket itself and returns that
// error.
//
// A Close called by one of the connection's hooks only asks: the hook's
// caller holds mu, and ends the connection once the hook returns (waiting
// for mu would deadlock). It is told apart from a Close on another
// goroutine, which waits for the hook to return, by the goroutine's id,
// read only when a hook runs.
func (t *follower) close() (err error, done bool) {
	for {
		s := t.flags.Load()
		if s&flagHookRunning == 0 || t.hookG.Load() != goid() {
			break
		}
		if t.flags.CompareAndSwap(s, s|flagCloseAsked) {
			return nil, true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, false
	}
	if t.hooks != nil {
		t.hookG.Store(goid())
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	return t.endLocked(conntrace.EndClose, sc), true
}

// safetyNet is how many periodic samples in a row may stop at the cheap
// reading (see sampleLocked) before one full reading is taken anyway.
const safetyNet = 16

// sampleLocked takes one sample of a live connection and hands what changed
// to the hooks; a socket found closed ends the connection, and so does a
// Close called from the hook. t.mu is held.
//
// A periodic sample of an idle connection stops at a cheaper reading when
// it can: mptcp_info alone (one MPTCP_INFO getsockopt, Reader.ReadInfo),
// whose byte counters, sequence numbers and subflow counts move with every
// byte and every subflow. When its fingerprint is the one of the last full
// reading, nothing changed, and the hooks are not called. A full reading
// is taken instead for the first sample, at the end of the stream (full),
// after a sample that saw the connection move (a busy connection pays one
// reading per sample, as before), while a join is in progress (its
// completion moves no counter), and every safetyNet samples in any case. A
// connection that is plain TCP has nothing more to tell: its samples only
// check that the socket is still open.
func (t *follower) sampleLocked(sc *scratch, full bool) {
	if t.flags.Load()&flagDropped != 0 {
		t.endLocked(conntrace.EndDropped, sc)
		return
	}
	if t.flags.Load()&flagEventNews != 0 && t.flags.And(^uint32(flagEventNews))&flagEventNews != 0 {
		full = true // what a path event announced moves no counter
	}
	if !full && t.det.fallback != conntrace.FallbackNone {
		if t.rc.Control(noop) != nil {
			t.endLocked(conntrace.EndClosedUnderneath, sc)
		}
		return
	}
	if !full && !t.moving && t.det.samples > 0 && t.sinceFull < safetyNet && !t.det.joinPending() {
		err := sc.reader.ReadInfo(t.rc, &sc.probe)
		switch {
		case err == nil && sc.probe.Method == mptcpinfo.MethodInfo && sc.probe.MPTCP && infoFingerprint(&sc.probe.Info) == t.fp:
			t.sinceFull++
			return
		case errors.Is(err, net.ErrClosed):
			t.endLocked(conntrace.EndClosedUnderneath, sc)
			return
		}
	}
	err := sc.reader.Read(t.rc, &sc.snap)
	switch {
	case err == nil:
		fp := infoFingerprint(&sc.snap.Info)
		t.moving = t.det.samples > 0 && fp != t.fp
		t.fp, t.sinceFull = fp, 0
		if t.wantEvents && !t.eventsTried && sc.snap.MPTCP && sc.snap.Info.Token != 0 {
			t.eventsTried = true
			pathEvents.follow(t, sc.snap.Info.Token)
		}
		if t.report(sc, true, conntrace.EndNone) {
			t.endLocked(conntrace.EndClose, sc)
		}
	case errors.Is(err, net.ErrClosed):
		t.endLocked(conntrace.EndClosedUnderneath, sc)
	}
	// Any other error is an answer this package cannot decode: the sample
	// is skipped, and the last state kept.
}

func noop(uintptr) {}

// infoFingerprint sums up what of mptcp_info moves when the connection
// does: everything before last_data_sent (offset 84), whose three fields
// count milliseconds since the last activity and so change while idle. It
// is a 32-bit hash (FNV-1a over 64-bit words): a change that collided would
// be seen at the next full reading, at most safetyNet samples later.
func infoFingerprint(info *mptcpinfo.Info) uint32 {
	const prime = 0x100000001b3
	words := (*[10]uint64)(unsafe.Pointer(info))
	h := uint64(0xcbf29ce484222325)
	for _, w := range words {
		h = (h ^ w) * prime
	}
	tail := *(*uint32)(unsafe.Add(unsafe.Pointer(info), 80)) // subflows_total and the bytes beside it
	h = (h ^ uint64(tail)) * prime
	return uint32(h ^ h>>32)
}

// endLocked ends the connection: it leaves the schedule, takes the final
// sample (closing the socket on the way when the program called Close),
// calls Closed and lets go of the socket. It returns the error of closing
// the socket. t.mu is held.
func (t *follower) endLocked(how conntrace.End, sc *scratch) error {
	if t.ended {
		return nil
	}
	t.ended = true
	t.sampler.unschedule(t)
	if t.ev != nil {
		t.ev.watcher.forget(t)
	}
	var closeErr error
	read := false
	switch how {
	case conntrace.EndClose:
		var gone bool
		if read, gone, closeErr = closeAndRead(&t.tc, t.rc, sc); gone {
			how = conntrace.EndClosedUnderneath
		}
	case conntrace.EndDropped:
		read = sc.reader.Read(t.rc, &sc.snap) == nil
	}
	t.report(sc, read, how)
	if t.hooks != nil {
		t.enterHook()
		t.hooks.Closed(time.Now())
		t.leaveHook()
	}
	// Let go of the socket: a dropped connection's descriptor is now
	// unreachable, and the runtime closes it as it does for net's own.
	t.rc, t.tc = nil, net.TCPConn{}
	return closeErr
}

// report turns the reading in sc (or, when read is false, no reading: the
// connection ended without one) into a sample for the hooks. It reports
// whether Close was called from the hook.
func (t *follower) report(sc *scratch, read bool, end conntrace.End) (closeAsked bool) {
	sc.events = t.takeEvents(sc.events[:0])
	f := t.flags.Load()
	stream := streamState{finSent: f&flagFinSent != 0, eofRead: f&flagEOFRead != 0, final: end != conntrace.EndNone}
	if read {
		t.det.awaitEvents = t.ev != nil
		t.det.detect(&sc.snap, t.role, &sc.sample, stream, sc.events)
	} else {
		sc.snap = mptcpinfo.Snapshot{Subflows: sc.snap.Subflows[:0]}
		t.det.quietSample(&sc.snap, t.role, &sc.sample, sc.events)
	}
	if sc.sample.FallbackChanged {
		t.fallback.Store(uint32(sc.sample.Fallback))
	}
	sc.sample.Time = time.Now()
	sc.sample.Final = end != conntrace.EndNone
	sc.sample.End = end
	if t.hooks != nil && news(&sc.sample) {
		t.enterHook()
		t.hooks.Sampled(&sc.sample)
		closeAsked = t.leaveHook()
	}
	// Drop references into the connection's snapshot.
	sc.sample.Snapshot = nil
	return closeAsked
}

// news reports whether a sample has something to tell the hooks: it is
// the first or the final one, or something changed since the previous one.
func news(s *conntrace.Sample) bool {
	if s.First || s.Final || s.FallbackChanged || len(s.Added)+len(s.Removed)+len(s.FailedJoins)+len(s.PathEvents) > 0 ||
		s.Sent|s.Received|s.Retransmitted != 0 {
		return true
	}
	for _, d := range s.SubflowDeltas {
		if d.Sent|d.Received != 0 {
			return true
		}
	}
	return false
}

// maxQueuedEvents bounds the path events kept for a connection between two
// samples; beyond, they are dropped, and the sample that a queued event
// triggers reads the connection's state in full anyway.
const maxQueuedEvents = 32

// pathEvent queues e for the connection's next sample and has it taken at
// once. It runs on the watcher's goroutine.
func (t *follower) pathEvent(e *conntrace.PathEvent) {
	ev := t.ev
	ev.mu.Lock()
	if ev.q == nil {
		ev.q = new([]conntrace.PathEvent)
	}
	if len(*ev.q) < maxQueuedEvents {
		*ev.q = append(*ev.q, *e)
	}
	ev.mu.Unlock()
	t.resampleSoon()
}

// resampleSoon has a full sample of the connection taken at once.
func (t *follower) resampleSoon() {
	t.flags.Or(flagEventNews)
	t.sampler.dueNow(t)
}

// takeEvents appends the queued path events to dst and empties the queue.
// t.mu is held.
func (t *follower) takeEvents(dst []conntrace.PathEvent) []conntrace.PathEvent {
	ev := t.ev
	if ev == nil {
		return dst
	}
	ev.mu.Lock()
	if ev.q != nil {
		dst = append(dst, *ev.q...)
		*ev.q = (*ev.q)[:0]
	}
	ev.mu.Unlock()
	return dst
}

// goid returns the id of the calling goroutine, read from the header of
// its stack trace ("goroutine 42 [running]:"). It costs about a
// microsecond: it is read once per dial, accept and Close of a connection
// with hooks, and by Close when it finds a hook running, never per sample.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = b[min(len(b), len("goroutine ")):]
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
