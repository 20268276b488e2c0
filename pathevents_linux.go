package mptcpx

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/pmevents"
)

// Path events. The kernel's MPTCP path manager announces every change of a
// connection's paths (a subflow established or closed, with its socket
// error and the peer's reset reason; an address announced or withdrawn by
// the peer) on the mptcp_pm_events generic-netlink group of the network
// namespace where it happens (internal/pmevents). Where this process may
// join that group, mptcpx listens: one socket and one goroutine per
// network namespace with followed connections, opened with the first of
// them and closed with the last. An event for a connection the process
// follows (matched by the connection's token, which the first sample
// reads) queues it for the connection and has the sampler take a full
// sample of it at once, so that changes reach the telemetry within
// milliseconds rather than at the next interval, through the same
// detector as every other sample. Events for other processes' connections
// cost a map lookup.
//
// Joining needs CAP_NET_ADMIN in the user namespace that owns the network
// namespace (Linux 6.7 and later); reaching a namespace other than the
// process's own needs the privilege to enter it. Without them, connections
// are polled as before, quietly: PathEvents says which mode is on.

// pathEvents is the process's registry of event watchers.
var pathEvents = &eventRegistry{watchers: map[uint64]*eventWatcher{}, refused: map[uint64]error{}}

// eventRegistry holds one watcher per network namespace.
type eventRegistry struct {
	mu       sync.Mutex
	watchers map[uint64]*eventWatcher // by network namespace cookie
	refused  map[uint64]error         // namespaces where events cannot be received, and why
	last     error                    // the last refusal, for PathEvents
	lost     atomic.Uint64            // overflows reported by the kernel, every watcher
}

// eventWatcher receives the events of one network namespace.
type eventWatcher struct {
	netns  uint64
	l      *pmevents.Listener
	ifSock int                   // a socket of the namespace, to name its devices
	handle func(*pmevents.Event) // w.deliver, bound once

	mu     sync.Mutex // guards tokens
	tokens map[uint32]*follower
}

// follow has the watcher of t's network namespace deliver the events of
// the connection whose token is token, starting one if needed, and sets
// t.ev; it leaves t.ev nil when events cannot be received there (t is then
// polled only). t.mu is held.
func (r *eventRegistry) follow(t *follower, token uint32) {
	netns, err := netnsCookie(t.rc)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.refused[netns]; ok {
		return
	}
	w := r.watchers[netns]
	if w == nil {
		l, ifSock, err := openInNamespaceOf(t.rc, netns)
		if err != nil {
			r.refused[netns], r.last = err, err
			return
		}
		w = &eventWatcher{netns: netns, l: l, ifSock: ifSock, tokens: map[uint32]*follower{}}
		w.handle = w.deliver
		r.watchers[netns] = w
		go w.run()
	}
	t.ev = &connEvents{watcher: w, token: token}
	w.mu.Lock()
	w.tokens[token] = t
	w.mu.Unlock()
}

// forget stops delivering t's events, and stops the watcher with the last
// connection of its namespace.
func (w *eventWatcher) forget(t *follower) {
	r := pathEvents
	r.mu.Lock()
	defer r.mu.Unlock()
	w.mu.Lock()
	if w.tokens[t.ev.token] == t {
		delete(w.tokens, t.ev.token)
	}
	empty := len(w.tokens) == 0
	w.mu.Unlock()
	if empty && r.watchers[w.netns] == w {
		delete(r.watchers, w.netns)
		w.close()
	}
}

// close closes the watcher's sockets; run returns.
func (w *eventWatcher) close() {
	w.l.Close()
	unix.Close(w.ifSock)
}

// run receives events until the watcher is closed.
func (w *eventWatcher) run() {
	for {
		err := w.l.Receive(w.handle)
		switch {
		case err == nil, errors.Is(err, pmevents.ErrMalformed) && !errors.Is(err, pmevents.ErrLost):
		case errors.Is(err, pmevents.ErrLost):
			// The kernel dropped events: which, it does not say. Every
			// connection of the namespace is read in full again.
			pathEvents.lost.Add(1)
			w.resampleAll()
		case errors.Is(err, net.ErrClosed):
			return
		default:
			// A socket that fails otherwise is given up: the namespace's
			// connections are polled, as without events.
			pathEvents.giveUp(w, err)
			return
		}
	}
}

// giveUp stops a watcher whose socket failed and remembers why.
func (r *eventRegistry) giveUp(w *eventWatcher, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watchers[w.netns] == w {
		delete(r.watchers, w.netns)
	}
	r.refused[w.netns], r.last = err, err
	w.close()
}

// resampleAll has every connection of the namespace read in full at once.
func (w *eventWatcher) resampleAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.tokens {
		t.resampleSoon()
	}
}

// deliver hands one event to the connection it is about, if the process
// follows it. It runs on the watcher's goroutine.
func (w *eventWatcher) deliver(e *pmevents.Event) {
	var kind conntrace.PathEventKind
	switch e.Kind {
	case pmevents.SubEstablished:
		kind = conntrace.SubflowEstablished
	case pmevents.SubClosed:
		kind = conntrace.SubflowClosed
	case pmevents.SubPriority:
		kind = conntrace.SubflowPriority
	case pmevents.Announced:
		kind = conntrace.AddressAnnounced
	case pmevents.Removed:
		kind = conntrace.AddressRemoved
	default:
		return // the connection's own creation and closing: the sampler knows
	}
	if h := testDeliverHook.Load(); h != nil {
		(*h)(w)
	}
	w.mu.Lock()
	t := w.tokens[e.Token]
	w.mu.Unlock()
	if t == nil {
		return // another process's connection
	}
	pe := conntrace.PathEvent{
		Kind: kind, Time: time.Now(),
		Local: e.Local, Remote: e.Remote,
		Backup: e.Backup, HasBackup: e.Has(pmevents.AttrBackup),
		IfIndex: e.IfIndex, Error: e.Error,
		Reset: e.Has(pmevents.AttrResetReason), ResetReason: e.ResetReason, ResetFlags: e.ResetFlags,
	}
	if kind == conntrace.AddressAnnounced || kind == conntrace.AddressRemoved {
		pe.AddressID = e.RemoteID
	}
	if e.IfIndex > 0 {
		pe.Interface = w.interfaceName(e.IfIndex)
	}
	t.pathEvent(&pe)
}

// interfaceName names the device with index i in the watcher's network
// namespace (ioctl SIOCGIFNAME on a socket of that namespace: indexes mean
// nothing elsewhere), "" when there is none.
func (w *eventWatcher) interfaceName(i int32) string {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return ""
	}
	ifr.SetUint32(uint32(i))
	if unix.IoctlIfreq(w.ifSock, unix.SIOCGIFNAME, ifr) != nil {
		return ""
	}
	return ifr.Name()
}

// testDeliverHook, when set by a test, runs before each subflow or address
// event is delivered, with the watcher that delivers it: a test blocks a
// watcher with it to make the kernel drop events.
var testDeliverHook atomic.Pointer[func(*eventWatcher)]

// netnsCookie returns the cookie of the network namespace of the socket
// behind rc (SO_NETNS_COOKIE, Linux 5.14+): the same for every socket of a
// namespace, never reused while the kernel runs.
func netnsCookie(rc syscall.RawConn) (uint64, error) {
	var cookie uint64
	var serr error
	err := rc.Control(func(fd uintptr) {
		v, err := unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
		cookie, serr = v, err
	})
	if err == nil {
		err = serr
	}
	return cookie, err
}

// openInNamespaceOf opens a path-event listener, and a socket to name
// devices with, in the network namespace of the socket behind rc, whose
// cookie is netns. It does so on a thread of its own: in the process's
// namespace when that is the socket's, or entered for the time of the open
// (setns through the namespace descriptor that ioctl(SIOCGSKNS) gives for
// the socket; both need privilege).
func openInNamespaceOf(rc syscall.RawConn, netns uint64) (*pmevents.Listener, int, error) {
	type result struct {
		l      *pmevents.Listener
		ifSock int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		var clean bool
		r.l, r.ifSock, r.err, clean = openOnThisThread(rc, netns)
		if clean {
			runtime.UnlockOSThread()
		} // else the thread stays in a namespace not its own, and exits with the goroutine
		done <- r
	}()
	r := <-done
	return r.l, r.ifSock, r.err
}

// openOnThisThread is openInNamespaceOf on a locked thread. clean reports
// whether the thread is back in the namespace it started in.
func openOnThisThread(rc syscall.RawConn, netns uint64) (l *pmevents.Listener, ifSock int, err error, clean bool) {
	here, err := threadNetnsCookie()
	if err != nil {
		return nil, -1, err, true
	}
	if here == netns {
		l, ifSock, err := openHere()
		return l, ifSock, err, true
	}
	target := -1
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		target, ierr = unix.IoctlRetInt(int(fd), unix.SIOCGSKNS)
	}); err != nil {
		return nil, -1, err, true
	}
	if ierr != nil {
		return nil, -1, fmt.Errorf("mptcpx: path events: reach the connection's network namespace: %w", ierr), true
	}
	defer unix.Close(target)
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, err, true
	}
	defer unix.Close(home)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return nil, -1, fmt.Errorf("mptcpx: path events: enter the connection's network namespace: %w", err), true
	}
	l, ifSock, err = openHere()
	return l, ifSock, err, unix.Setns(home, unix.CLONE_NEWNET) == nil
}

// openHere opens the listener and the device-naming socket in the calling
// thread's network namespace.
func openHere() (*pmevents.Listener, int, error) {
	l, err := pmevents.Open()
	if err != nil {
		return nil, -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		l.Close()
		return nil, -1, err
	}
	return l, fd, nil
}

// threadNetnsCookie returns the cookie of the calling thread's network
// namespace, from a socket opened there.
func threadNetnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
}

// PathEvents reports whether this process receives the kernel's MPTCP
// path-manager events, which bring subflow changes, with their reasons, into
// the telemetry within milliseconds rather than at the next sampling
// interval: nil when it does, or would for its next connection; otherwise
// why it polls only. The error then matches os.ErrPermission when the
// process lacks CAP_NET_ADMIN (joining the events' group needs it, in the
// user namespace that owns the network namespace, since Linux 6.7), or
// errors.ErrUnsupported when the kernel has no MPTCP events (no MPTCP, or
// before 5.12). Polling works the same either way; WithoutPathEvents turns
// events off for a Dialer's or a Listener's connections.
//
// It asks about the process's own network namespace; connections in other
// namespaces get events where the process may enter them.
func PathEvents() error {
	r := pathEvents
	r.mu.Lock()
	running := len(r.watchers) > 0
	r.mu.Unlock()
	if running {
		return nil
	}
	err := pmevents.Probe()
	if errors.Is(err, pmevents.ErrUnsupported) {
		err = fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
	}
	return err
}

// PathEventsLost returns how many times the kernel dropped path events
// because they came faster than the process read them (its socket's buffer
// overflowed). Each time, every connection concerned was read in full at
// once, so nothing was missed that polling would have seen.
func PathEventsLost() uint64 { return pathEvents.lost.Load() }
