package nsinfo

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/internal/mibstat"
	"github.com/mptcpx/mptcpx/internal/netns"
)

// Timing of the registry.
const (
	// MinRefresh is the shortest time between two readings of a
	// namespace's configuration.
	MinRefresh = time.Second
	// SlowRefresh is the age past which a configuration is read again at
	// a connection's next full reading.
	SlowRefresh = time.Minute
	// Linger is how long a namespace other than the process's own is kept
	// (its counter reader open, its configuration known) after its last
	// connection left.
	Linger = 30 * time.Second
	// maxNamespaces bounds the namespaces kept; beyond, new ones are not
	// followed (their connections are diagnosed from mptcp_info alone).
	maxNamespaces = 256
)

// Target is a connection whose diagnosis depends on its namespace's
// configuration. Reconsider is called, on the registry's goroutine, when
// the configuration was read (the first time, or changed): it must not
// block.
type Target interface {
	Reconsider()
}

// Registry holds the namespaces of the process's connections, by
// namespace cookie. Default is the process's.
type Registry struct {
	mu     sync.Mutex
	byNS   map[uint64]*Namespace
	own    uint64 // the process's namespace cookie, once known
	warmed atomic.Bool
	wg     sync.WaitGroup // loaders
	linger time.Duration
	now    func() time.Time
}

// Default is the process's registry.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byNS: map[uint64]*Namespace{}, linger: Linger, now: time.Now}
}

// Namespace is one network namespace.
type Namespace struct {
	reg    *Registry
	cookie uint64

	// Guarded by reg.mu.
	handles   map[*Handle]struct{}
	loading   bool
	lastLoad  time.Time // when the last reading of the configuration began
	again     bool      // a reading was asked for while one ran
	timer     *time.Timer
	forgotten bool
	// joins counts the connections that ever joined.
	joins int
	// Connections waiting for a reading of the counters (WantCounters),
	// and whether one is under way.
	counterWaiters map[*Handle]struct{}
	counterReading bool

	cfg    atomic.Pointer[Config] // nil until read
	loaded chan struct{}          // closed once cfg is set

	// The counters, guarded by cmu.
	cmu       sync.Mutex
	reader    *mibstat.Reader
	readerErr error
	snap      mibstat.Snapshot
	prev      reading // the reading before last
	last      reading // the last reading
	offAt     time.Time
	name      string // as the metrics name it
}

func newNamespace(r *Registry, cookie uint64) *Namespace {
	return &Namespace{reg: r, cookie: cookie, handles: map[*Handle]struct{}{}, loaded: make(chan struct{})}
}

// Handle is a connection's membership of its namespace.
type Handle struct {
	ns    *Namespace
	t     Target
	rc    syscall.RawConn
	first bool // the first connection of the namespace
}

// Join adds the connection whose socket is rc to its namespace, reading
// the namespace on a goroutine of its own when it is new (t.Reconsider is
// called once it is read). It returns nil when the socket's namespace
// cannot be told (no SO_NETNS_COOKIE: before Linux 5.14, or not Linux), or
// when the registry follows too many namespaces already.
func (r *Registry) Join(rc syscall.RawConn, t Target) *Handle {
	cookie, err := netns.Cookie(rc)
	if err != nil {
		return nil
	}
	return r.JoinCookie(cookie, rc, t)
}

// JoinCookie is Join for a socket whose namespace cookie the caller read
// already (SO_NETNS_COOKIE).
func (r *Registry) JoinCookie(cookie uint64, rc syscall.RawConn, t Target) *Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := r.byNS[cookie]
	if ns == nil {
		if len(r.byNS) >= maxNamespaces {
			return nil
		}
		ns = newNamespace(r, cookie)
		r.byNS[cookie] = ns
	}
	if ns.timer != nil {
		ns.timer.Stop()
		ns.timer = nil
	}
	ns.joins++
	h := &Handle{ns: ns, t: t, rc: rc, first: ns.joins == 1}
	ns.handles[h] = struct{}{}
	if ns.cfg.Load() == nil && !ns.loading {
		r.loadLocked(ns, rc)
	}
	return h
}

// Config returns what is known of the namespace's configuration, nil
// until it was read. It takes no lock and allocates nothing.
func (h *Handle) Config() *Config {
	if h == nil {
		return nil
	}
	return h.ns.cfg.Load()
}

// WaitConfig returns the namespace's configuration, waiting for its first
// reading when it is under way (a millisecond or so): for the rare
// decision that cannot wait for the connection's next sample (the
// fallback of a connection at its handshake). nil for a nil Handle.
func (h *Handle) WaitConfig() *Config {
	if h == nil {
		return nil
	}
	if c := h.ns.cfg.Load(); c != nil {
		return c
	}
	<-h.ns.loaded
	return h.ns.cfg.Load()
}

// Refresh asks for a new reading of the namespace's configuration: at
// once, or when MinRefresh has passed since the last one began. Each
// connection of the namespace is diagnosed again if what it uses changed.
func (h *Handle) Refresh() {
	if h == nil {
		return
	}
	ns, r := h.ns, h.ns.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if ns.forgotten {
		return
	}
	if ns.loading {
		ns.again = true
		return
	}
	if wait := ns.lastLoad.Add(MinRefresh).Sub(r.now()); wait > 0 {
		if ns.timer == nil && len(ns.handles) > 0 {
			ns.timer = time.AfterFunc(wait, func() { r.refreshAfterWait(ns) })
		}
		return
	}
	r.loadLocked(ns, h.rc)
}

// refreshAfterWait reads a namespace whose reading waited for MinRefresh.
func (r *Registry) refreshAfterWait(ns *Namespace) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns.timer = nil
	if ns.forgotten || ns.loading {
		return
	}
	if rc := ns.anySocketLocked(); rc != nil {
		r.loadLocked(ns, rc)
	}
}

// Leave ends the connection's membership. A namespace left without
// connections is forgotten after Linger (the process's own is kept).
func (h *Handle) Leave() {
	if h == nil {
		return
	}
	ns, r := h.ns, h.ns.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(ns.handles, h)
	if len(ns.handles) > 0 || ns.cookie == r.own || ns.forgotten {
		return
	}
	if ns.timer != nil {
		ns.timer.Stop()
	}
	ns.timer = time.AfterFunc(r.linger, func() { r.expire(ns) })
}

// expire forgets a namespace that stayed without connections for Linger.
func (r *Registry) expire(ns *Namespace) {
	r.mu.Lock()
	ns.timer = nil
	if len(ns.handles) > 0 || ns.loading || ns.forgotten {
		r.mu.Unlock()
		return
	}
	r.forgetLocked(ns)
	r.mu.Unlock()
	ns.closeReader()
}

// forgetLocked takes ns out of the registry. r.mu is held; the caller
// closes its reader afterwards.
func (r *Registry) forgetLocked(ns *Namespace) {
	ns.forgotten = true
	if ns.timer != nil {
		ns.timer.Stop()
		ns.timer = nil
	}
	if r.byNS[ns.cookie] == ns {
		delete(r.byNS, ns.cookie)
	}
}

func (ns *Namespace) closeReader() {
	ns.cmu.Lock()
	defer ns.cmu.Unlock()
	if ns.reader != nil {
		ns.reader.Close()
		ns.reader = nil
	}
}

// anySocketLocked returns the socket of one of the namespace's
// connections, to enter the namespace with; nil when it has none.
func (ns *Namespace) anySocketLocked() syscall.RawConn {
	for h := range ns.handles {
		return h.rc
	}
	return nil
}

// Warm learns the process's own namespace and takes a first reading of its
// counters, once (about 0.2 ms): so that a connection that fell back at
// its handshake has an earlier reading to compare with (see
// ActiveMPTCPOff). Dialers and Listeners call it when they are built. It
// works on a goroutine of its own, whose thread is in the process's
// namespace whatever namespace the caller's locked thread is in, and
// waits for it: nothing of it is left running when it returns (its
// configuration is read when the namespace's first connection joins).
func (r *Registry) Warm() {
	if r.warmed.Swap(true) {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		own, err := netns.ThreadCookie()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.own = own
		ns := r.byNS[own]
		if ns == nil {
			ns = newNamespace(r, own)
			r.byNS[own] = ns
		}
		r.mu.Unlock()
		ns.cmu.Lock()
		defer ns.cmu.Unlock()
		if ns.reader == nil && ns.readerErr == nil {
			ns.reader, ns.readerErr = mibstat.Open()
			ns.name = threadNamespaceName()
			ns.readLocked(r.now())
		}
	}()
	<-done
}

// Own returns the process's own namespace, nil until Warm learnt it.
func (r *Registry) Own() *Namespace {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byNS[r.own]
}

// Flush forgets every namespace without connections, the process's own
// included, closing their counter readers, and waits for the readings
// under way. Tests call it before they count goroutines and descriptors;
// the next Dialer or Listener warms the process's namespace again.
func (r *Registry) Flush() {
	r.wg.Wait()
	r.mu.Lock()
	var closing []*Namespace
	for _, ns := range r.byNS {
		if len(ns.handles) == 0 {
			r.forgetLocked(ns)
			closing = append(closing, ns)
		}
	}
	r.warmed.Store(false)
	r.mu.Unlock()
	for _, ns := range closing {
		ns.closeReader()
	}
	r.wg.Wait()
}

// Len returns how many namespaces the registry keeps, for tests.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byNS)
}
