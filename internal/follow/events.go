package follow

import (
	"sync"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/netns"
)

// events is what a connection followed by its namespace's path-event
// watcher keeps: its registration, and the events received for it since its
// last sample.
type events struct {
	h  *netns.Handle
	mu sync.Mutex
	q  []conntrace.PathEvent
}

// maxQueuedEvents bounds the path events kept for a connection between two
// samples; beyond, they are dropped, and the sample that a queued event
// triggers reads the connection's state in full anyway.
const maxQueuedEvents = 32

// namespaces is the registry connections follow path events through; a
// variable so that tests can give the engine a registry of their own.
var namespaces = netns.Default

// followEventsLocked has the watcher of the connection's namespace deliver
// the events of the connection whose token is token. f.mu is held.
func (f *Follower) followEventsLocked(token uint32) {
	ns := f.nsCookie.Load()
	if ns == 0 {
		return // the namespace could not be told: polled only
	}
	ev := &events{}
	f.ev = ev
	ev.h = namespaces.Follow(ns, f.rc, token, f)
}

// PathEvent queues e for the connection's next sample and has it taken at
// once. It runs on the watcher's goroutine (netns.Target).
func (f *Follower) PathEvent(e *conntrace.PathEvent) {
	ev := f.ev
	ev.mu.Lock()
	if len(ev.q) < maxQueuedEvents {
		ev.q = append(ev.q, *e)
	}
	ev.mu.Unlock()
	f.flags.Or(flagEventNews)
	f.sched.dueNow(f)
}

// Resample has a full sample of the connection taken at once, because
// events about it may have been missed (netns.Target): that sample reports
// what it finds without waiting for events (see detect.Detector.AwaitEvents).
func (f *Follower) Resample() {
	f.flags.Or(flagEventNews | flagEventsMissed)
	f.sched.dueNow(f)
}

// takeEvents appends the queued path events to dst and empties the queue.
// f.mu is held.
func (f *Follower) takeEvents(dst []conntrace.PathEvent) []conntrace.PathEvent {
	ev := f.ev
	if ev == nil {
		return dst
	}
	ev.mu.Lock()
	dst = append(dst, ev.q...)
	ev.q = ev.q[:0]
	ev.mu.Unlock()
	return dst
}

// active reports whether the connection's path events are received now.
func (ev *events) active() bool { return ev != nil && ev.h.Active() }

// forget ends the connection's registration.
func (ev *events) forget() {
	if ev != nil {
		ev.h.Forget()
	}
}
