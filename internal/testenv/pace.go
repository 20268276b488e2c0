package testenv

import (
	"sync/atomic"
	"testing"
	"time"
)

// Pace is a baseline for tests that count what a timer-driven loop did in
// a window: a goroutine that sleeps a period at a time and counts its
// wake-ups. On a quiet machine it wakes about once per period; on a loaded
// one (a starved process, a one-CPU emulated VM) it falls behind as the
// loop under test does, so a test can ask the loop to keep the pace the
// machine gave this baseline rather than the pace of the wall clock.
type Pace struct {
	period  time.Duration
	stop    chan struct{}
	done    chan struct{}
	wakeups atomic.Int64
	longest atomic.Int64 // nanoseconds
}

// StartPace starts a baseline that sleeps period at a time.
func StartPace(period time.Duration) *Pace {
	p := &Pace{period: period, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *Pace) run() {
	defer close(p.done)
	last := time.Now()
	for {
		select {
		case <-p.stop:
			p.note(time.Since(last))
			return
		case <-time.After(p.period):
		}
		now := time.Now()
		p.note(now.Sub(last))
		last = now
		p.wakeups.Add(1)
	}
}

func (p *Pace) note(gap time.Duration) {
	if int64(gap) > p.longest.Load() {
		p.longest.Store(int64(gap))
	}
}

// Stop ends the baseline and returns how many times it woke up and the
// longest time it went without waking.
func (p *Pace) Stop() (wakeups int, longest time.Duration) {
	close(p.stop)
	<-p.done
	return int(p.wakeups.Load()), time.Duration(p.longest.Load())
}

// Periods returns how many whole periods of the baseline fit in the
// wake-ups it had, scaled to a coarser period: the number of times a loop
// of that period could have run at the pace the machine gave.
func Periods(wakeups int, base, period time.Duration) int {
	return int(time.Duration(wakeups) * base / period)
}

// SteadyAllocs returns the fewest allocations per call of f that
// testing.AllocsPerRun measured in up to five rounds of runs calls, stopping
// at the first round that saw none. AllocsPerRun counts every allocation
// of the process while it runs: on a loaded machine a round lasts longer
// and catches the sporadic work of other goroutines (a namespace's path
// event watcher receiving the events of other programs' connections), which
// a second round does not; an allocation made by f itself shows in every
// round.
func SteadyAllocs(runs int, f func()) float64 {
	fewest := testing.AllocsPerRun(runs, f)
	for round := 1; round < 5 && fewest != 0; round++ {
		fewest = min(fewest, testing.AllocsPerRun(runs, f))
	}
	return fewest
}
