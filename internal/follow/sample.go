package follow

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
	"unsafe"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/detect"
	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// scratch is what one sample needs besides the connection's own state:
// the kernel reader's buffers, the snapshot and the change set. The
// scheduler's goroutine keeps one; samples taken elsewhere borrow one from
// a pool. The sample's hooks read it, so it stays with the goroutine until
// they returned.
type scratch struct {
	reader mptcpinfo.Reader
	snap   mptcpinfo.Snapshot
	probe  mptcpinfo.Snapshot // the connection-level reading alone
	sample conntrace.Sample
	events []conntrace.PathEvent // the path events the sample takes
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// safetyNet is how many periodic samples in a row may stop at the cheap
// reading (see sampleLocked) before one full reading is taken anyway: a
// change that left mptcp_info's fingerprint as it was (a collision of the
// 64-bit hash) or that no counter shows is seen then. What mptcp_info does
// not show of an idle connection (subflow round-trip times, congestion
// windows) moves only with data, which moves the fingerprint too.
const safetyNet = 64

// sample takes a sample of f, unless it has ended, and delivers it: a
// periodic one on the scheduler's goroutine, a full reading when full (see
// sampleLocked).
func (f *Follower) sample(sc *scratch, full bool) {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return
	}
	news, ended := f.sampleLocked(sc, full)
	at := time.Now()
	own := (news || ended) && f.postLocked(&sc.sample, news, ended, at)
	f.mu.Unlock()
	if own {
		f.deliver(&sc.sample, news, ended, at)
	}
}

// sampleLocked takes one sample of a live connection into sc.sample. It
// reports whether the sample has news for the hooks, and whether the
// connection ended (the socket was found closed, or the connection
// dropped): the sample is then its final one. f.mu is held.
//
// A periodic sample of an idle connection stops at a cheaper reading when
// it can: mptcp_info alone (one MPTCP_INFO getsockopt, Reader.ReadInfo),
// whose byte counters, sequence numbers and subflow counts move with every
// byte and every subflow. When its fingerprint is the one of the last full
// reading, nothing changed, and the hooks are not called. A full reading
// is taken instead for the first sample (full), after a sample that saw
// the connection move or a write through the Conn (a busy connection pays
// one reading per sample),
// while a join is in progress (its completion moves no counter), after a
// path event, when a report is due (report.go), and every safetyNet
// samples in any case. A connection that is plain TCP has nothing more to
// tell: its samples only check that the socket is still open.
func (f *Follower) sampleLocked(sc *scratch, full bool) (news, ended bool) {
	if f.flags.Load()&flagDropped != 0 {
		return f.endLocked(conntrace.EndDropped, sc)
	}
	if f.flags.Load()&flagEventNews != 0 && f.flags.And(^uint32(flagEventNews))&flagEventNews != 0 {
		full = true // what a path event announced moves no counter
	}
	now, report := f.reportDueLocked()
	if report {
		full = true // a report lists every subflow with its counters
	}
	if f.flags.Load()&flagPathsNews != 0 && f.flags.And(^uint32(flagPathsNews))&flagPathsNews != 0 {
		full = true // the namespace was read: diagnose again
	}
	stats := &f.sched.stats
	f.idleHint.Store(false)
	f.quietHint.Store(false)
	hasWrote := f.flags.Load()&flagWrote != 0
	if hasWrote {
		// Cleared before the reading: a write from now on is either in
		// the reading or noted again for the next one (quiet.go).
		f.flags.And(^uint32(flagWrote))
	}
	if f.flags.Load()&flagQuietRound != 0 && f.flags.And(^uint32(flagQuietRound))&flagQuietRound != 0 {
		// A parked connection's rotation reading: it went QuietRotation
		// intervals without one, which count toward its safety net.
		f.sinceFull = min(f.sinceFull+QuietRotation-1, safetyNet)
	}
	if !full && f.det.Fallback() != conntrace.FallbackNone {
		stats.probes.Add(1)
		if f.rc.Control(noop) != nil {
			return f.endLocked(conntrace.EndClosedUnderneath, sc)
		}
		return false, false
	}
	// The cheap reading is not tried when the program wrote since the last
	// sample: the connection moved, and the full reading would follow it.
	if !full && !f.moving && !hasWrote && f.det.Samples() > 0 && f.sinceFull < safetyNet && !f.det.Waiting() && !f.paths.tracker.Waiting() {
		stats.probes.Add(1)
		err := sc.reader.ReadInfo(f.rc, &sc.probe)
		switch {
		case err == nil && sc.probe.Method == mptcpinfo.MethodInfo && sc.probe.MPTCP && infoFingerprint(&sc.probe.Info) == f.fp:
			f.sinceFull++
			f.stillLocked(true)
			f.quietLocked(&sc.probe.Info, sc.probe.InfoLen)
			return false, false
		case errors.Is(err, net.ErrClosed):
			return f.endLocked(conntrace.EndClosedUnderneath, sc)
		}
	}
	stats.fullReads.Add(1)
	err := sc.reader.Read(f.rc, &sc.snap)
	switch {
	case err == nil:
		fp := infoFingerprint(&sc.snap.Info)
		f.moving = f.det.Samples() > 0 && fp != f.fp
		f.fp, f.sinceFull = fp, 0
		if f.det.Samples() == 0 {
			// Connections opened together would take their safety-net
			// readings together, every safetyNet samples: start each at
			// a random point of the cycle.
			f.sinceFull = uint8(rand.N(safetyNet))
		}
		if sc.snap.MPTCP && f.nsCookie.Load() == 0 {
			// The connection's network namespace, once: its path events
			// and its dumps are the namespace's (see dump_linux.go).
			if ns, err := netns.Cookie(f.rc); err == nil {
				f.nsCookie.Store(ns)
			}
		}
		if f.wantEvents && !f.eventsTried && sc.snap.MPTCP && sc.snap.Info.Token != 0 {
			f.eventsTried = true
			f.followEventsLocked(sc.snap.Info.Token)
		}
		f.reportLocked(sc, conntrace.EndNone, finalReading{read: true})
		// A report is news for the hooks, not a movement: it leaves the
		// count of idle samples as it would be without it.
		moved := hasNews(&sc.sample)
		if report {
			sc.sample.Report = true
			f.reportedLocked(now)
		}
		f.waitHint.Store(f.det.Waiting())
		idle := sc.snap.MPTCP && sc.snap.InfoLen > 0 && !f.moving && !hasWrote && !f.det.Waiting() &&
			f.det.Fallback() == conntrace.FallbackNone && !f.paths.tracker.Waiting() && f.det.Samples() > 1 && !moved
		if f.stillLocked(idle) {
			f.quietLocked(&sc.snap.Info, sc.snap.InfoLen)
		}
		return moved || report, false
	case errors.Is(err, net.ErrClosed):
		return f.endLocked(conntrace.EndClosedUnderneath, sc)
	}
	// Any other error is an answer this package cannot decode: the sample
	// is skipped, and the last state kept; a report due is skipped too,
	// rather than tried again at every sample.
	if report {
		f.reportedLocked(now)
	}
	return false, false
}

func noop(uintptr) {}

// infoFingerprint sums up what of mptcp_info moves when the connection
// does: everything before last_data_sent (offset 84), whose three fields
// count milliseconds since the last activity and so change while idle. It
// is a 64-bit hash (FNV-1a over 64-bit words): a change that collided, one
// in 2^64, would be seen at the next full reading, at most safetyNet
// samples later.
func infoFingerprint(info *mptcpinfo.Info) uint64 {
	const prime = 0x100000001b3
	words := (*[10]uint64)(unsafe.Pointer(info))
	h := uint64(0xcbf29ce484222325)
	for _, w := range words {
		h = (h ^ w) * prime
	}
	tail := *(*uint32)(unsafe.Add(unsafe.Pointer(info), 80)) // subflows_total and the bytes beside it
	return (h ^ uint64(tail)) * prime
}

// reportLocked turns the reading in sc (or, when fin.read is false, no
// reading: the connection ended without one) into the sample in sc.sample.
// For a final reading, fin also says what the socket told besides it:
// whether the close discards the bytes still queued, and whether the peer's
// DATA_FIN had arrived. f.mu is held.
func (f *Follower) reportLocked(sc *scratch, end conntrace.End, fin finalReading) {
	sc.events = f.takeEvents(sc.events[:0])
	fl := f.flags.Load()
	stream := detect.Stream{FinSent: fl&flagFinSent != 0, EOFRead: fl&flagEOFRead != 0, Final: end != conntrace.EndNone,
		Abortive: fin.abortive, NoPeerFIN: fin.noPeerFIN}
	if fin.read {
		missed := fl&flagEventsMissed != 0 && f.flags.And(^uint32(flagEventsMissed))&flagEventsMissed != 0
		f.paths.missed = f.paths.missed || missed
		f.det.AwaitEvents = !missed && f.ev.active()
		f.det.Detect(&sc.snap, f.role, &sc.sample, stream, sc.events)
	} else {
		sc.snap = mptcpinfo.Snapshot{Subflows: sc.snap.Subflows[:0]}
		f.det.Unread(&sc.snap, f.role, &sc.sample, sc.events)
	}
	if sc.sample.FallbackChanged {
		f.fallback.Store(uint32(sc.sample.Fallback))
	}
	sc.sample.Time = time.Now()
	sc.sample.Final = end != conntrace.EndNone
	sc.sample.End = end
	sc.sample.Report = false // set by sampleLocked when one is due
	f.pathsLocked(sc)
	f.sched.stats.samples.Add(1)
}

// SawEOF notes that the program read the end of the stream, and takes a
// reading of the subflows then. The peer has shut down its side: once this
// side does too, the kernel frees the subflows, and their counters with
// them. This reading, taken while they are still listed, keeps what each
// path carried, for the next sample to report (see detect.Detector.Observe).
func (f *Follower) SawEOF() {
	if f != nil && f.flags.Or(flagEOFRead)&flagEOFRead == 0 {
		f.observe()
	}
}

// ShutdownWrite runs shutdown, which shuts down the writing side of the
// connection, with a reading of the subflows first (see SawEOF). The
// program's DATA_FIN is noted before the kernel sends it, so that no sample
// taken meanwhile counts it as a byte; a shutdown that fails takes the note
// back.
func (f *Follower) ShutdownWrite(shutdown func() error) error {
	if f == nil {
		return shutdown()
	}
	if f.flags.Load()&flagFinSent == 0 {
		f.observe()
	}
	was := f.flags.Or(flagFinSent)
	err := shutdown()
	if err != nil && was&flagFinSent == 0 {
		f.flags.And(^uint32(flagFinSent))
	}
	f.Wrote() // the DATA_FIN: a parked connection is sampled again
	return err
}

// observe reads a live connection's subflows on the calling goroutine and
// notes their counters for the next sample. It calls no hook.
func (f *Follower) observe() {
	sc := scratchPool.Get().(*scratch)
	f.mu.Lock()
	if !f.ended && f.flags.Load()&flagDropped == 0 && sc.reader.Read(f.rc, &sc.snap) == nil {
		f.det.Observe(&sc.snap)
	}
	f.mu.Unlock()
	scratchPool.Put(sc)
}
