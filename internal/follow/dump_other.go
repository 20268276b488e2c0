//go:build !linux

package follow

import "time"

// Without sock_diag (every system but Linux), connections are sampled one
// by one.

type nsDump struct{}

func (sm *Scheduler) onGrid(*Follower) bool { return false }

func (f *Follower) gridDue(now time.Duration) time.Duration { return now + f.interval }

func (f *Follower) spread(now time.Duration) time.Duration { return now + f.interval }

func (sm *Scheduler) sampleBatch(batch []*Follower, sc *scratch, _ time.Duration) {
	for _, f := range batch {
		f.sample(sc, false)
	}
}

func (sm *Scheduler) closeDumps() {}
