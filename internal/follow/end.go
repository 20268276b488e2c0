package follow

import (
	"net"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// endLocked ends the connection where it was found ended (dropped, or
// closed underneath): it leaves the schedule, takes the final sample into
// sc.sample (read for a dropped connection, whose socket is still open;
// from what was last read otherwise) and lets go of the socket: a dropped
// connection's descriptor is then unreachable, and the runtime closes it as
// it does for net's own. It returns what sampleLocked returns: the final
// sample always has news, and the connection ended. f.mu is held.
func (f *Follower) endLocked(how conntrace.End, sc *scratch) (news, ended bool) {
	f.ended = true
	f.leaveLocked()
	var fin finalReading
	if how == conntrace.EndDropped {
		fin = dropReading(f.rc, sc)
	}
	f.reportLocked(sc, how, fin)
	f.rc, f.tc = nil, net.TCPConn{}
	return true, true
}

// leaveLocked takes the connection out of the schedule and of its
// namespace's path events. f.mu is held.
func (f *Follower) leaveLocked() {
	f.sched.unschedule(f)
	f.ev.forget()
	f.leavePathsLocked()
}

// Collected is the cleanup of a connection that became unreachable. It
// only marks the Follower: the scheduler's goroutine ends it, so that
// cleanups, which the runtime runs one at a time, never wait on a hook.
func (f *Follower) Collected() {
	f.flags.Or(flagDropped)
	f.sched.dueNow(f)
}

// Close carries out Conn.Close: it closes the socket, takes the final
// sample and has it delivered with Closed. done is false when the Follower
// had nothing to do (the connection already ended another way): the caller
// then closes the socket itself and returns that error. A Close that comes
// while another is under way waits until the first closed the socket, and
// reports done false.
//
// No lock is held while the socket is closed: a close that lingers
// (SO_LINGER with unsent data) blocks the caller only. The final sample is
// delivered by the caller, or, when another goroutine is delivering the
// connection's hooks at the time (one of them called Close, say), queued
// for it: Close does not wait for hooks.
func (f *Follower) Close() (err error, done bool) {
	if f == nil {
		return nil, false
	}
	f.flags.Or(flagClosed)
	f.mu.Lock()
	if f.ended {
		closing := f.closing
		f.mu.Unlock()
		if closing != nil {
			<-closing
		}
		return nil, false
	}
	f.ended = true
	f.closing = make(chan struct{})
	f.leaveLocked()
	tc, rc := f.tc, f.rc
	dup, gone := dupLocked(rc)
	f.mu.Unlock()

	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var fin finalReading
	if gone {
		fin.closeErr = tc.Close()
	} else {
		fin = closeAndRead(&tc, rc, dup, sc)
	}
	how := conntrace.EndClose
	if gone {
		how = conntrace.EndClosedUnderneath
	}
	f.mu.Lock()
	f.reportLocked(sc, how, fin)
	f.rc, f.tc = nil, net.TCPConn{}
	at := time.Now()
	own := f.postLocked(&sc.sample, true, true, at)
	f.mu.Unlock()
	err = fin.finish(dup)
	close(f.closing)
	if own {
		f.deliver(&sc.sample, true, true, at)
	}
	return err, true
}
