package netns

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/pmevents"
)

// watcher receives the path-manager events of one network namespace (see
// package pmevents) and hands those about followed connections to them, by
// token. Its goroutine (run) owns the device-naming socket: it alone uses
// it, and closes it when it returns, so that no descriptor number is used
// after it was closed and reused.
type watcher struct {
	ns     *Namespace // set before run starts
	l      *pmevents.Listener
	ifSock int                   // a socket of the namespace, to name its devices
	handle func(*pmevents.Event) // deliver, bound once
	pe     conntrace.PathEvent   // the event being delivered, reused
	closed atomic.Bool
	once   sync.Once
}

// openWatcher opens a watcher in the namespace whose cookie is cookie, the
// namespace of rc's socket: on the calling goroutine's thread when that is
// its namespace (the process's own, as a rule: then rc is not needed, and
// may have been closed meanwhile), else on a thread that enters it (Do).
func openWatcher(cookie uint64, rc syscall.RawConn) (*watcher, error) {
	w := &watcher{ifSock: -1}
	open := func() error {
		l, err := pmevents.Open()
		if err != nil {
			return err
		}
		// A kernel that refuses the filter sends every event, which
		// deliver sorts out.
		_ = l.SetKinds(watchedKinds()...)
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		}
		if err != nil {
			l.Close()
			return err
		}
		w.l, w.ifSock = l, fd
		return nil
	}
	var err error
	if here, herr := ThreadCookie(); herr == nil && here == cookie {
		err = open()
	} else if rc == nil {
		err = fmt.Errorf("mptcpx: path events: no socket leads into network namespace %d", cookie)
	} else {
		err = Do(rc, open)
	}
	if err != nil {
		return nil, err
	}
	w.handle = w.deliver
	return w, nil
}

// probe reports whether the calling thread's namespace delivers events to
// this process.
func probe() error { return pmevents.Probe() }

// close closes the watcher's netlink socket: run returns, and closes the
// device-naming socket on its way out (see wait). Idempotent.
func (w *watcher) close() {
	w.closed.Store(true)
	w.l.Close()
}

// wait lets go of the device-naming socket of a closed watcher: run does
// on its way out, and whoever closes a watcher that never ran.
func (w *watcher) wait() {
	w.once.Do(func() { unix.Close(w.ifSock) })
}

func (w *watcher) setReadBuffer(bytes int) error { return w.l.SetReadBuffer(bytes) }

// run receives events until the watcher is closed, or its socket fails.
func (w *watcher) run() {
	defer w.wait()
	for {
		err := w.l.Receive(w.handle)
		switch {
		case err == nil:
		case errors.Is(err, pmevents.ErrLost):
			// The kernel dropped events: which, it does not say. Every
			// connection of the namespace is read in full again.
			w.ns.reg.lost.Add(1)
			w.ns.resampleAll()
		case errors.Is(err, pmevents.ErrMalformed):
			// One undecodable message: the next ones are read.
		case errors.Is(err, net.ErrClosed) || w.closed.Load():
			return
		default:
			w.ns.reg.watcherFailed(w, err)
			return
		}
	}
}

// pathKinds are the events about paths, which the watcher delivers, and
// the path event each is. The others, each connection's Created,
// Established and Closed (what the sampler reads anyway) and the
// listeners', are dropped by the kernel before they reach the watcher's
// socket (Listener.SetKinds, with watchedKinds): three of them per
// connection end, each a wake-up of the watcher's goroutine and a read,
// were about 4% of a short-lived connection's CPU time (perf), and the
// namespace's other programs' connections sent them too.
var pathKinds = [...]struct {
	ev   pmevents.Kind
	kind conntrace.PathEventKind
}{
	{pmevents.SubEstablished, conntrace.SubflowEstablished},
	{pmevents.SubClosed, conntrace.SubflowClosed},
	{pmevents.SubPriority, conntrace.SubflowPriority},
	{pmevents.Announced, conntrace.AddressAnnounced},
	{pmevents.Removed, conntrace.AddressRemoved},
}

// watchedKinds lists the kinds of pathKinds, for the socket filter.
func watchedKinds() []pmevents.Kind {
	kinds := make([]pmevents.Kind, len(pathKinds))
	for i, p := range pathKinds {
		kinds[i] = p.ev
	}
	return kinds
}

// pathKind names the path event of a watched kind.
func pathKind(k pmevents.Kind) (conntrace.PathEventKind, bool) {
	for _, p := range pathKinds {
		if p.ev == k {
			return p.kind, true
		}
	}
	return 0, false
}

// deliver hands one event to the connection it is about, if the process
// follows it. It runs on the watcher's goroutine.
func (w *watcher) deliver(e *pmevents.Event) {
	kind, ok := pathKind(e.Kind)
	if !ok {
		return // the socket filter let nothing else through, as a rule
	}
	if h := TestDeliverHook.Load(); h != nil {
		(*h)(w.ns.cookie)
	}
	w.pe = conntrace.PathEvent{
		Kind: kind, Time: time.Now(),
		Local: e.Local, Remote: e.Remote,
		Backup: e.Backup, HasBackup: e.Has(pmevents.AttrBackup),
		IfIndex: e.IfIndex, Error: e.Error,
		Reset: e.Has(pmevents.AttrResetReason), ResetReason: e.ResetReason, ResetFlags: e.ResetFlags,
	}
	if kind == conntrace.AddressAnnounced || kind == conntrace.AddressRemoved {
		w.pe.AddressID = e.RemoteID
	}
	if e.IfIndex > 0 {
		w.pe.Interface = w.interfaceName(e.IfIndex)
	}
	t := w.ns.target(e.Token, &w.pe)
	if t == nil {
		return // another process's connection, or one not followed yet
	}
	t.PathEvent(&w.pe)
}

// interfaceName names the device with index i in the watcher's network
// namespace (ioctl SIOCGIFNAME on a socket of that namespace: indexes mean
// nothing elsewhere), "" when there is none.
func (w *watcher) interfaceName(i int32) string {
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

// TestDeliverHook, when set by a test, runs before each subflow or address
// event is delivered, with the cookie of the namespace of the watcher that
// delivers it: a test blocks a watcher with it to make the kernel drop
// events.
var TestDeliverHook atomic.Pointer[func(cookie uint64)]
