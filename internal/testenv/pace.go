package testenv

import "time"

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
	wakeups int           // written by run only, read after done
	longest time.Duration // written by run only, read after done
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
			p.longest = max(p.longest, time.Since(last))
			return
		case <-time.After(p.period):
		}
		now := time.Now()
		p.longest = max(p.longest, now.Sub(last))
		last = now
		p.wakeups++
	}
}

// Stop ends the baseline and returns how many times it woke up and the
// longest time it went without waking.
func (p *Pace) Stop() (wakeups int, longest time.Duration) {
	close(p.stop)
	<-p.done
	return p.wakeups, p.longest
}
