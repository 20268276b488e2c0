package follow

import (
	"slices"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// Hooks are delivered without any lock held. The goroutine that takes a
// sample decides under the Follower's lock whether it delivers the sample
// itself: it does when no other goroutine is delivering the connection's
// hooks (it then sets delivering, and clears it once nothing is left), and
// otherwise queues a copy for the goroutine that is. The queue keeps the
// order in which the readings were taken under the lock, so the hooks see
// the connection's samples in order, and Closed last.
//
// The common case, a periodic sample of a connection whose hooks nobody
// else is delivering, copies and allocates nothing: the hooks read the
// sample in the scratch space of the goroutine that took it. A copy is made
// only when two goroutines meet on one connection (a Close while the
// scheduler delivers a sample of it, or a hook that closes its own
// connection), and that copy is the only allocation.

// delivery is a hook call waiting for the goroutine that delivers the
// connection's hooks.
type delivery struct {
	sample *conntrace.Sample // Sampled with it; nil: Closed
	at     time.Time         // Closed's time
}

// postLocked hands the sample in s (when news says it has something to
// tell) and, when ended, Closed at time at, to the connection's hooks. It
// reports whether the caller delivers them itself, once it released the
// lock (see deliver); otherwise they were queued for the goroutine that
// delivers now. f.mu is held.
func (f *Follower) postLocked(s *conntrace.Sample, news, ended bool, at time.Time) (own bool) {
	if f.hooks == nil {
		return false
	}
	if !f.delivering {
		f.delivering = true
		return true
	}
	if news {
		f.queue = append(f.queue, delivery{sample: cloneSample(s)})
	}
	if ended {
		f.queue = append(f.queue, delivery{at: at})
	}
	return false
}

// deliver is the delivery that postLocked gave the caller: Sampled with s
// when news, Closed when ended, then whatever others queued meanwhile. No
// lock is held.
func (f *Follower) deliver(s *conntrace.Sample, news, ended bool, at time.Time) {
	if news {
		f.hooks.Sampled(s)
	}
	if ended {
		f.hooks.Closed(at)
	}
	for {
		f.mu.Lock()
		if len(f.queue) == 0 {
			f.delivering, f.queue = false, nil
			f.mu.Unlock()
			return
		}
		d := f.queue[0]
		f.queue[0] = delivery{}
		f.queue = f.queue[1:]
		f.mu.Unlock()
		if d.sample != nil {
			f.hooks.Sampled(d.sample)
		} else {
			f.hooks.Closed(d.at)
		}
	}
}

// hasNews reports whether a sample has something to tell the hooks: it is
// the first or the final one, or a report (report.go), or something changed
// since the previous one.
func hasNews(s *conntrace.Sample) bool {
	if s.First || s.Final || s.FallbackChanged || s.Report || s.PathsChanged || len(s.Added)+len(s.Removed)+len(s.FailedJoins)+len(s.PathEvents) > 0 ||
		s.Sent|s.Received|s.Retransmitted != 0 {
		return true
	}
	for _, d := range s.SubflowDeltas {
		// A D-SACK may come with nothing else moving: every delta the
		// detector counted is delivered, or it would be lost.
		if d.Sent|d.Received|d.Retransmitted != 0 || d.Timeouts|d.Spurious != 0 {
			return true
		}
	}
	return false
}

// cloneSample copies s and everything it points to, for a delivery that
// outlives the scratch space s lives in.
func cloneSample(s *conntrace.Sample) *conntrace.Sample {
	c := *s
	if s.Snapshot != nil {
		snap := *s.Snapshot
		snap.Subflows = slices.Clone(s.Snapshot.Subflows)
		c.Snapshot = &snap
	}
	c.Added = slices.Clone(s.Added)
	c.Removed = slices.Clone(s.Removed)
	c.FailedJoins = slices.Clone(s.FailedJoins)
	c.PathEvents = slices.Clone(s.PathEvents)
	c.SubflowDeltas = slices.Clone(s.SubflowDeltas)
	return &c
}
