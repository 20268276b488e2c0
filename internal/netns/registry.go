package netns

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/pmevents"
)

// Target is a followed connection, as the watcher of its namespace sees it.
// Both methods are called on the watcher's goroutine and must not block.
type Target interface {
	// PathEvent hands over one event about the connection; e is reused
	// after the call.
	PathEvent(e *conntrace.PathEvent)
	// Resample says that events about the connection may have been missed
	// (the kernel dropped some, or they came before the watcher was open):
	// the connection's state must be read in full.
	Resample()
}

// Timing of the registry.
const (
	// Linger is how long the watcher of the process's own namespace stays
	// open after its last connection ended.
	Linger = 30 * time.Second
	// firstBackoff and maxBackoff bound the wait before a watcher that
	// failed is tried again; it doubles with each failure in a row.
	firstBackoff = time.Second
	maxBackoff   = 5 * time.Minute
	// maxIdle bounds the namespaces the registry remembers without a
	// connection in them (those whose watcher failed, waiting for their
	// backoff to expire): beyond, the oldest are forgotten.
	maxIdle = 64
)

// Registry holds the process's namespaces. The zero Registry is not
// usable; Default is the process's.
type Registry struct {
	mu    sync.Mutex
	byNS  map[uint64]*Namespace
	own   uint64 // the process's namespace cookie, once known
	lost  atomic.Uint64
	opens atomic.Uint64 // watchers opened, for tests
	// goroutines counts the openers and watchers running, so that Flush
	// can wait for them.
	goroutines sync.WaitGroup
	// linger is Linger, shorter in tests.
	linger time.Duration
	now    func() time.Time
}

// Default is the process's registry.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byNS: map[uint64]*Namespace{}, linger: Linger, now: time.Now}
}

// state is where a namespace's watcher stands.
type state uint8

const (
	stateNone    state = iota // no watcher, none tried or the last one closed
	stateOpening              // an opener goroutine is at work
	stateOpen                 // the watcher runs
	stateFailed               // the last attempt failed: retried at retryAt
)

// Namespace is one network namespace of followed connections.
type Namespace struct {
	cookie uint64
	reg    *Registry

	// Guarded by reg.mu.
	state   state
	w       *watcher
	err     error     // why the last attempt failed
	retryAt time.Time // when a failed watcher is tried again
	backoff time.Duration
	timer   *time.Timer // the linger or the retry, while one is pending
	timerID uint64      // counts the timers set: a callback acts only for the last (afterLocked)
	idleAt  time.Time   // when the last connection left, for maxIdle

	// opening is closed when the opener at work finishes (stateOpening).
	opening chan struct{}

	mu      sync.Mutex         // guards targets and recent
	targets map[uint32]*Handle // by connection token
	// recent keeps the last events that matched no followed connection:
	// a connection's first events may come before it is followed (its
	// token is known at its first sample), and are handed to it then.
	recent     [recentEvents]recentEvent
	recentNext int
}

// recentEvents is how many unmatched events a namespace keeps, and
// recentAge for how long.
const (
	recentEvents = 64
	recentAge    = 2 * time.Second
)

// recentEvent is an event that matched no followed connection.
type recentEvent struct {
	token uint32
	at    time.Time
	e     conntrace.PathEvent
}

// openWait bounds how long the first connection of a namespace waits for
// its watcher to open, so that the events of its first joins are received.
const openWait = 100 * time.Millisecond

// Handle is a connection's registration with its namespace.
type Handle struct {
	ns    *Namespace
	token uint32
	t     Target
	rc    syscall.RawConn // the connection's socket, to enter the namespace by
	// late: the namespace's watcher was not open when the connection
	// was registered, so that what the kernel announced about it before
	// was not received (nor kept for replay).
	late bool
}

// Follow registers t, the connection with the given token whose socket is
// rc, in the network namespace whose cookie is cookie (the socket's: see
// Cookie), with the watcher of that namespace, opening one if needed on a
// goroutine of its own. The first connection of a namespace waits for the
// opening, up to openWait, so that its first joins' events are received
// (the process's own namespace's watcher is opened ahead: see Warm); events
// that came for it before it was registered (its token is known at its
// first sample) are handed to it now. A watcher that opens later has its
// connections resampled, so that what happened before is not missed.
func (r *Registry) Follow(cookie uint64, rc syscall.RawConn, token uint32, t Target) *Handle {
	h, opening := r.follow(cookie, rc, token, t)
	if opening != nil {
		select {
		case <-opening:
		case <-time.After(openWait):
		}
	}
	h.ns.replay(token, t)
	return h
}

// follow registers t; it returns, while the namespace's watcher is being
// opened, a channel closed when the opener is done.
func (r *Registry) follow(cookie uint64, rc syscall.RawConn, token uint32, t Target) (*Handle, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.byNS[cookie]
	if ns == nil {
		ns = &Namespace{cookie: cookie, reg: r, targets: map[uint32]*Handle{}}
		r.byNS[cookie] = ns
	}
	h := &Handle{ns: ns, token: token, t: t, rc: rc, late: ns.state != stateOpen}
	ns.mu.Lock()
	ns.targets[token] = h
	ns.mu.Unlock()
	switch ns.state {
	case stateOpen:
		// A pending linger is left to run: it finds connections and ends
		// (lingerLocked), which spares a program whose connections come one at
		// a time a timer stopped and made for each.
	case stateNone:
		r.openLocked(ns, rc)
	case stateFailed:
		if !r.now().Before(ns.retryAt) {
			ns.stopTimerLocked()
			r.openLocked(ns, rc)
		} else if ns.timer == nil {
			// Retried when the backoff expires, from this connection.
			r.retryLocked(ns, rc)
		}
	}
	if ns.state == stateOpening {
		return h, ns.opening
	}
	return h, nil
}

// record keeps e, about the connection with the given token that the
// process does not follow (yet). ns.mu is held.
func (ns *Namespace) recordLocked(token uint32, e *conntrace.PathEvent) {
	ns.recent[ns.recentNext%recentEvents] = recentEvent{token: token, at: e.Time, e: *e}
	ns.recentNext++
}

// replay hands t the recent events about its token, in the order they
// came, and forgets them.
func (ns *Namespace) replay(token uint32, t Target) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := min(ns.recentNext, recentEvents)
	for i := ns.recentNext - n; i < ns.recentNext; i++ {
		re := &ns.recent[i%recentEvents]
		if re.token == token && re.e.Kind != conntrace.PathEventNone && time.Since(re.at) < recentAge {
			t.PathEvent(&re.e)
			re.e.Kind = conntrace.PathEventNone
		}
	}
}

// Active reports whether the connection's events are being received now.
func (h *Handle) Active() bool {
	if h == nil {
		return false
	}
	r := h.ns.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	return h.ns.state == stateOpen
}

// Late reports whether the namespace's watcher was not open yet when the
// connection was registered: the events about it that came before were
// not received, and it had Resample called or will have once the watcher
// opens. false for a nil Handle.
func (h *Handle) Late() bool { return h != nil && h.late }

// Forget ends the registration. The watcher of a namespace left without
// connections is closed: at once, or after Linger for the process's own.
func (h *Handle) Forget() {
	if h == nil {
		return
	}
	ns, r := h.ns, h.ns.reg
	// Under the registry's lock from before the connection leaves to when
	// the namespace is noted idle: a linger timer firing in between would
	// find no connection, and the idle time of the time before.
	r.mu.Lock()
	defer r.mu.Unlock()
	ns.mu.Lock()
	if ns.targets[h.token] == h {
		delete(ns.targets, h.token)
	}
	empty := len(ns.targets) == 0
	ns.mu.Unlock()
	if empty {
		r.idleLocked(ns)
	}
}

// idleLocked acts on a namespace that has no connection left.
func (r *Registry) idleLocked(ns *Namespace) {
	if ns.connections() > 0 {
		return
	}
	ns.idleAt = r.now()
	switch ns.state {
	case stateOpen:
		if ns.cookie == r.own && r.linger > 0 {
			if ns.timer == nil {
				r.lingerLocked(ns, r.linger)
			}
			return
		}
		r.closeLocked(ns)
	case stateFailed:
		ns.stopTimerLocked() // no connection to retry for
		r.trimLocked()
	}
}

// lingerLocked has the watcher of ns closed once the namespace has stayed
// without connections for the linger time: it checks after d, and then
// again for what is left of the linger if connections came and went
// meanwhile (idleAt is when the last one left).
func (r *Registry) lingerLocked(ns *Namespace, d time.Duration) {
	r.afterLocked(ns, d, func() {
		if ns.state != stateOpen || ns.connections() > 0 {
			return // it lingers again once the last connection leaves
		}
		if rest := r.linger - r.now().Sub(ns.idleAt); rest > 0 {
			r.lingerLocked(ns, rest)
			return
		}
		r.closeLocked(ns)
	})
}

// afterLocked sets ns's timer: fn runs after d under r.mu, unless the timer
// was stopped or replaced meanwhile (a callback that fired as it was
// stopped finds another id and does nothing).
func (r *Registry) afterLocked(ns *Namespace, d time.Duration, fn func()) {
	ns.timerID++
	id := ns.timerID
	ns.timer = time.AfterFunc(d, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if ns.timerID != id {
			return
		}
		ns.timer = nil
		fn()
	})
}

// closeLocked closes the namespace's watcher and forgets the namespace.
func (r *Registry) closeLocked(ns *Namespace) {
	ns.stopTimerLocked()
	if ns.w != nil {
		ns.w.close()
		ns.w = nil
	}
	ns.state = stateNone
	if r.byNS[ns.cookie] == ns {
		delete(r.byNS, ns.cookie)
	}
}

func (ns *Namespace) stopTimerLocked() {
	if ns.timer != nil {
		ns.timer.Stop()
		ns.timer = nil
		ns.timerID++
	}
}

func (ns *Namespace) connections() int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return len(ns.targets)
}

// openLocked starts an opener goroutine for ns, entering the namespace of
// rc's socket (nil for the process's own namespace).
func (r *Registry) openLocked(ns *Namespace, rc syscall.RawConn) {
	ns.state = stateOpening
	ns.opening = make(chan struct{})
	r.goroutines.Add(1)
	go func() {
		defer r.goroutines.Done()
		w, err := openWatcher(ns.cookie, rc)
		r.opened(ns, w, err, rc)
	}()
}

// opened takes the result of an opener: the watcher runs, or the namespace
// waits for its backoff.
func (r *Registry) opened(ns *Namespace, w *watcher, err error, rc syscall.RawConn) {
	r.mu.Lock()
	if ns.opening != nil {
		close(ns.opening)
		ns.opening = nil
	}
	if ns.state != stateOpening || r.byNS[ns.cookie] != ns {
		r.mu.Unlock()
		if w != nil {
			w.close()
			w.wait()
		}
		return
	}
	if err != nil && errors.Is(err, net.ErrClosed) {
		// The connection whose socket led into the namespace closed
		// meanwhile: nothing is wrong with the namespace. Another of its
		// connections leads in, or the next one will.
		ns.state = stateNone
		if other := ns.anySocketBut(rc); other != nil {
			r.openLocked(ns, other)
		} else {
			r.idleLocked(ns)
		}
		r.mu.Unlock()
		return
	}
	if err != nil {
		r.failLocked(ns, fmt.Errorf("mptcpx: path events: open the watcher: %w", err), rc)
		r.mu.Unlock()
		return
	}
	ns.state, ns.w, ns.err, ns.backoff = stateOpen, w, nil, 0
	w.ns = ns
	r.opens.Add(1)
	r.goroutines.Add(1)
	go func() {
		defer r.goroutines.Done()
		w.run()
	}()
	r.idleLocked(ns)
	r.mu.Unlock()
	// Whatever the kernel announced before the watcher joined its group
	// was not received.
	ns.resampleAll()
}

// failLocked records a failure of ns's watcher (at its opening, or later
// on its socket) and arranges a retry after the backoff when the namespace
// still has connections, entering it through rc (or one of theirs).
func (r *Registry) failLocked(ns *Namespace, err error, rc syscall.RawConn) {
	ns.state, ns.err = stateFailed, err
	ns.backoff = min(max(2*ns.backoff, firstBackoff), maxBackoff)
	ns.retryAt = r.now().Add(ns.backoff)
	ns.stopTimerLocked()
	if ns.connections() > 0 {
		if rc == nil {
			rc = ns.anySocketBut(nil) // nil too: the process's own namespace needs none
		}
		r.retryLocked(ns, rc)
	} else {
		ns.idleAt = r.now()
		r.trimLocked()
	}
}

// retryLocked has ns's watcher opened again when its backoff expires,
// entering the namespace through rc (a socket of a connection of it; if
// that connection is gone by then, the next one retries).
func (r *Registry) retryLocked(ns *Namespace, rc syscall.RawConn) {
	r.afterLocked(ns, ns.retryAt.Sub(r.now()), func() {
		if ns.state == stateFailed && r.byNS[ns.cookie] == ns && ns.connections() > 0 {
			r.openLocked(ns, rc)
		}
	})
}

// trimLocked forgets the oldest namespaces without connections beyond
// maxIdle, so that short-lived namespaces whose watcher failed do not pile
// up.
func (r *Registry) trimLocked() {
	idle := 0
	var oldest *Namespace
	for _, ns := range r.byNS {
		if ns.state == stateFailed && ns.connections() == 0 {
			idle++
			if oldest == nil || ns.idleAt.Before(oldest.idleAt) {
				oldest = ns
			}
		}
	}
	if idle > maxIdle {
		r.closeLocked(oldest)
	}
}

// watcherFailed takes a watcher whose socket failed: its connections are
// polled until a new one opens, after the backoff.
func (r *Registry) watcherFailed(w *watcher, err error) {
	r.mu.Lock()
	ns := w.ns
	if ns.w != w {
		r.mu.Unlock()
		return
	}
	ns.w = nil
	w.close()
	r.failLocked(ns, fmt.Errorf("mptcpx: path events: receive: %w", err), ns.anySocketBut(nil))
	r.mu.Unlock()
	// Events may be missed until a new watcher opens: every connection is
	// read now, and until then none waits for an event (a quiet one is not
	// left to the kernel's readiness list, which announces no path).
	ns.resampleAll()
}

// anySocketBut returns the socket of one of the namespace's connections
// other than not, to enter the namespace with; nil when it has none.
func (ns *Namespace) anySocketBut(not syscall.RawConn) syscall.RawConn {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for _, h := range ns.targets {
		if h.rc != not {
			return h.rc
		}
	}
	return nil
}

// resampleAll has every connection of the namespace read in full.
func (ns *Namespace) resampleAll() {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for _, h := range ns.targets {
		h.t.Resample()
	}
}

// target returns the connection with the given token, nil if the process
// does not follow it; e is then kept for a while (see replay).
func (ns *Namespace) target(token uint32, e *conntrace.PathEvent) Target {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if h := ns.targets[token]; h != nil {
		return h.t
	}
	ns.recordLocked(token, e)
	return nil
}

// Watching reports whether the registry has an open watcher for the
// namespace whose cookie is cookie: events of that namespace's connections
// are received from now on.
func (r *Registry) Watching(cookie uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.byNS[cookie]
	return ns != nil && ns.state == stateOpen
}

// Lost returns how many times the kernel dropped events (every watcher).
func (r *Registry) Lost() uint64 { return r.lost.Load() }

// Status reports whether the process receives path events in its own
// network namespace: nil when it does, or would for its next connection;
// otherwise why not (the error of the last attempt, while it waits for its
// backoff, or what a probe finds now).
func (r *Registry) Status() error {
	own, _ := r.ownCookie() // 0 before Linux 5.14: no watcher is known by it
	r.mu.Lock()
	if ns := r.byNS[own]; ns != nil && own != 0 {
		switch ns.state {
		case stateOpen, stateOpening:
			r.mu.Unlock()
			return nil
		case stateFailed:
			err, wait := ns.err, ns.retryAt.Sub(r.now())
			r.mu.Unlock()
			if wait > 0 {
				return fmt.Errorf("%w (tried again in %v)", err, wait.Round(time.Millisecond))
			}
			return fmt.Errorf("%w (tried again with the next connection)", err)
		}
	}
	r.mu.Unlock()
	err := probe()
	if errors.Is(err, pmevents.ErrUnsupported) {
		err = fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
	}
	return err
}

// ownCookie returns the cookie of the process's network namespace (that of
// the calling thread, read once).
func (r *Registry) ownCookie() (uint64, error) {
	r.mu.Lock()
	own := r.own
	r.mu.Unlock()
	if own != 0 {
		return own, nil
	}
	own, err := ThreadCookie()
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.own = own
	r.mu.Unlock()
	return own, nil
}

// Warm opens the watcher of the process's own network namespace ahead, on
// a goroutine of its own, so that it is there when the first connection
// comes (it then lingers after the last one: see Linger). Dialers and
// Listeners that want path events call it when they are built.
func (r *Registry) Warm() {
	own, err := r.ownCookie()
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.byNS[own]
	if ns == nil {
		ns = &Namespace{cookie: own, reg: r, targets: map[uint32]*Handle{}}
		r.byNS[own] = ns
	}
	if ns.state == stateNone {
		r.openLocked(ns, nil)
	}
}

// Flush closes every watcher whose namespace has no connection left,
// without waiting for the linger, forgets failures, and waits until the
// goroutines of closed watchers and openers have returned. Tests call it
// before they count goroutines and descriptors.
func (r *Registry) Flush() {
	for deadline := time.Now().Add(5 * time.Second); ; {
		r.mu.Lock()
		opening, busy := false, false
		for _, ns := range r.byNS {
			switch {
			case ns.connections() > 0:
				busy = true
			case ns.state == stateOpening:
				opening = true // closed once open
			default:
				r.closeLocked(ns)
			}
		}
		r.mu.Unlock()
		if busy {
			return // connections still followed: their watchers stay
		}
		if !opening || time.Now().After(deadline) {
			r.goroutines.Wait()
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// SetReadBuffer sets the receive buffer of the watcher of the namespace
// whose cookie is cookie: tests shrink it to make the kernel drop events.
func (r *Registry) SetReadBuffer(cookie uint64, bytes int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.byNS[cookie]
	if ns == nil || ns.w == nil {
		return fmt.Errorf("mptcpx: no path-event watcher in network namespace %d", cookie)
	}
	return ns.w.setReadBuffer(bytes)
}
