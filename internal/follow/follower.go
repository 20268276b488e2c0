// Package follow follows connections for their whole life: one Follower per
// connection, sampled by the process's Scheduler and at the edges of the
// connection's life, whose readings the detector (internal/detect) turns
// into what changed, delivered to the connection's hooks (package
// conntrace).
//
// # Locks and hooks
//
// A Follower's lock guards its detector and its socket while a reading is
// taken and compared; it is never held while a hook runs. Hooks are
// delivered by whichever goroutine produced them (the dialing, accepting or
// closing one, or the scheduler's), after it released the lock, one
// connection's hooks one at a time and in the order their readings were
// taken: a goroutine that produces a sample while another delivers the
// connection's hooks queues a copy for it instead of waiting (deliver.go).
// A hook may so call any method of any connection, its own included,
// without deadlock: nothing it calls waits for a hook.
//
// # Ends
//
// A connection ends exactly once, in one of three ways (conntrace.End):
// the program calls Close; the scheduler finds the socket closed underneath
// (through NetConn or File); or the garbage collector finds the connection
// dropped without Close. Each takes a final sample, leaves the schedule,
// lets go of the socket, and has the final Sampled and Closed delivered
// after every earlier hook of the connection.
package follow

import (
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/detect"
)

// Config is what the options of a Dialer or a Listener set for its
// connections.
type Config struct {
	// Interval is how often a live connection is sampled.
	Interval time.Duration
	// Hooks are told of every connection; nil follows them for nothing
	// but Conn.Info.
	Hooks conntrace.Hooks
	// NoPathEvents leaves the kernel's path events out: connections are
	// sampled at their interval only.
	NoPathEvents bool
}

// Follower follows one connection. A nil *Follower follows nothing, and its
// methods do nothing.
type Follower struct {
	// Scheduling, guarded by Scheduler.mu.
	due      time.Duration // next sample, as an offset from the scheduler's epoch
	interval time.Duration
	index    int32 // position in its class's heap; -1 when not scheduled
	class    uint8 // the scheduler's class of its interval
	onGrid   bool  // due with its namespace's idle connections (dump_linux.go)
	atTick   bool  // taken at its namespace's grid tick (dump_linux.go)
	// parked: quiet, left to the kernel's readiness list, due only for its
	// rotation reading (quiet.go); quietID is its key there, 0 before it
	// was first parked.
	parked  bool
	quietID uint64
	resume  time.Duration // when parked, when it was due next
	// countedNS is the namespace it counts in (Scheduler.perNS).
	countedNS uint64

	role  conntrace.Role
	sched *Scheduler
	hooks conntrace.ConnHooks // nil: sample for nothing but Info

	// flags holds what goroutines tell each other without the lock: see
	// the flag constants.
	flags atomic.Uint32
	// fallback is the detector's conntrace.FallbackReason, for
	// FallbackReason from any goroutine.
	fallback atomic.Uint32
	// idleHint: the last stillToPark samples found the connection idle
	// (stillLocked), so that its next one may be answered by its
	// namespace's dump (dump_linux.go),
	// whose matching needs the cookies of its socket and namespace and its
	// address family (1 AF_INET, 2 AF_INET6), read once.
	idleHint atomic.Bool
	// waitHint: the last reading found a join in progress, or a join or a
	// removal held back for its path event (detect.Detector.Waiting;
	// paths.go: Reconsider waits then).
	waitHint atomic.Bool
	// quietHint: the last periodic sample found the connection idle, with
	// nothing in flight and its path events received: it may be parked
	// (quiet.go) until quietUntil (an offset from the scheduler's epoch:
	// its next report, or its rotation reading).
	quietHint  atomic.Bool
	quietUntil atomic.Int64
	// copies counts the copies into the connection under way (ReadFrom):
	// it is not parked meanwhile (quiet.go).
	copies               atomic.Int32
	sockCookie, nsCookie atomic.Uint64
	family               atomic.Uint32

	mu sync.Mutex // guards what follows
	// ended: no sample will be taken any more; the end is under way or
	// done. closing is closed once a Close has closed the socket.
	ended   bool
	closing chan struct{}
	// Delivery of hooks (deliver.go): whether a goroutine delivers them
	// now, and what waits for it.
	delivering bool
	queue      []delivery
	// What the last full reading found (see sampleLocked): its
	// fingerprint, how many periodic samples since found nothing new, and
	// whether the last one saw the connection move.
	fp        uint64
	sinceFull uint8
	moving    bool
	// stillRun counts the periodic samples in a row that found the
	// connection idle, parked time included (quiet.go).
	stillRun uint8
	// Reports (report.go): the period the hooks asked for (0: none), and
	// when the next one is due, as an offset from the scheduler's epoch.
	report, nextReport time.Duration
	// wantEvents: the connection wants path events; eventsTried: it was
	// offered to its namespace's watcher.
	wantEvents  bool
	eventsTried bool
	rc          syscall.RawConn // the socket, while the connection lives
	tc          net.TCPConn     // closes the socket for Close (a copy sharing it)
	det         detect.Detector
	ev          *events // path events, once the namespace's watcher follows it
	paths       pathState
}

// Bits of Follower.flags.
const (
	flagDropped      = 1 << iota // the connection was collected without Close
	flagFinSent                  // the program shut down its writing side
	flagEOFRead                  // the program read the end of the stream
	flagEventNews                // path events wait, or were lost: read in full
	flagEventsMissed             // path events may have been missed: wait for none
	flagClosed                   // Close was called
	flagPathsNews                // the namespace's configuration was read: diagnose again
	flagWrote                    // the program wrote since the last sample began (quiet.go)
	flagParked                   // parked: a write must wake it (quiet.go)
	flagUntracked                // the socket was handed out (NetConn, File): never parked
	flagQuietRound               // the sample is a parked connection's rotation reading
)

// New returns a Follower of a connection of the given role, on the
// process's scheduler.
func New(cfg *Config, role conntrace.Role) *Follower {
	return &Follower{sched: Default, index: -1, interval: cfg.Interval, role: role, wantEvents: !cfg.NoPathEvents}
}

// DialStart tells the hooks of cfg that a dial begins, and returns the
// context for the dial and the dialed connection's Follower.
func DialStart(ctx context.Context, cfg *Config, network, address string) (context.Context, *Follower) {
	f := New(cfg, conntrace.RoleClient)
	start := time.Now()
	f.paths.dialStart = start.UnixNano()
	if cfg.Hooks != nil {
		ctx, f.hooks = cfg.Hooks.DialStart(ctx, conntrace.DialStart{Network: network, Address: address, Time: start})
	}
	return ctx, f
}

// Accepted returns the Follower of conn, accepted by a listener; plain says
// whether the listener is known to be plain TCP.
func Accepted(cfg *Config, conn net.Conn, plain bool) *Follower {
	f := New(cfg, conntrace.RoleServer)
	f.det.PlainListener = plain
	if cfg.Hooks != nil {
		f.hooks = cfg.Hooks.Accepted(conn, time.Now())
	}
	return f
}

// DialFailed ends a dial that opened nothing.
func (f *Follower) DialFailed(err error) {
	if f != nil && f.hooks != nil {
		f.hooks.DialFailed(err, time.Now())
	}
}

// Established starts following conn, whose socket is tc: the first sample
// at once, a place in the schedule, then the Established hook and the
// first Sampled. It reports whether the connection lives on (false when its
// socket was found closed already).
func (f *Follower) Established(conn net.Conn, tc *net.TCPConn) bool {
	rc, err := tc.SyscallConn()
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	period := reportPeriod(f.hooks)
	f.mu.Lock()
	if err == nil {
		f.rc, f.tc = rc, *tc
	}
	own := f.hooks != nil
	f.delivering = own // nothing can be delivered before Established
	var news, ended bool
	if f.rc == nil {
		news, ended = f.endLocked(conntrace.EndClosedUnderneath, sc)
	} else {
		news, ended = f.sampleLocked(sc, true)
		f.startReportsLocked(period)
	}
	f.mu.Unlock()
	if !ended {
		f.sched.schedule(f)
		if f.flags.Load()&flagPathsNews != 0 {
			f.sched.dueNow(f) // the namespace was read meanwhile
		}
	}
	if own {
		f.hooks.Established(conn, time.Now())
		f.deliver(&sc.sample, news, ended, time.Now())
	}
	return !ended
}

// Hooks returns the hooks that follow the connection; nil when none do.
func (f *Follower) Hooks() conntrace.ConnHooks {
	if f == nil {
		return nil
	}
	return f.hooks
}

// FallbackReason returns the fallback reason the detector last found.
func (f *Follower) FallbackReason() conntrace.FallbackReason {
	if f == nil {
		return conntrace.FallbackNone
	}
	return conntrace.FallbackReason(f.fallback.Load())
}

// CloseCalled reports whether Close was called.
func (f *Follower) CloseCalled() bool {
	return f != nil && f.flags.Load()&flagClosed != 0
}

// EOFRead reports whether the program read the end of the stream (SawEOF).
func (f *Follower) EOFRead() bool {
	return f != nil && f.flags.Load()&flagEOFRead != 0
}

// Settle lets go of what the engine keeps after the last connection on
// purpose: the scheduler's goroutine and the watchers of path events, which
// linger so that short connections one after another do not start and stop
// them each time. Connections dropped without Close end when the garbage
// collector finds them: Settle collects, for up to five seconds, until none
// is followed. Tests call it before they count goroutines and descriptors.
func Settle() {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if _, n := Default.Running(); n == 0 {
			break
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	Default.Flush()
	namespaces.Flush()
	namespaceInfo.Flush()
}
