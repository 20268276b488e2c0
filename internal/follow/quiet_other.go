//go:build !linux

package follow

import "time"

// Without epoll (every system but Linux), nothing is parked: connections
// are sampled at their interval.

type quietSet struct{}

func (sm *Scheduler) register(*Follower) bool { return false }

func (q *quietSet) forgetLocked(*Follower) {}

func (sm *Scheduler) harvestLocked(time.Duration) {}

func (q *quietSet) closeLocked() {}
