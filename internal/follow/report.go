package follow

import (
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// Reports. Hooks that implement conntrace.Reporter are asked once, when the
// connection is established, how often they want to hear of it; a
// connection whose hooks ask for nothing keeps f.report at zero and pays one
// comparison per sample. For the others, the first sample at or after each
// period (within a slot: the scheduler may take a sample a sixteenth of the
// interval early) is read in full, whatever the cheap reading or the
// namespace's dump would have found, and delivered with Sample.Report set.
// A report so costs what the safety-net reading costs, and resets its
// count: at the default interval (one second) a period of a minute or so
// replaces the safety net's full reading rather than adding one.

// reportPeriod asks hooks, once per connection and with no lock held, how
// often they want a report; 0 for never.
func reportPeriod(hooks conntrace.ConnHooks) time.Duration {
	if r, ok := hooks.(conntrace.Reporter); ok {
		return max(r.ReportPeriod(), 0)
	}
	return 0
}

// startReportsLocked schedules the reports of a connection just
// established: the first one period after now. f.mu is held.
func (f *Follower) startReportsLocked(period time.Duration) {
	if period > 0 {
		f.report = period
		f.nextReport = time.Since(f.sched.epoch) + period
	}
}

// reportDueLocked reports whether a report is due now (an offset from the
// scheduler's epoch, returned for reportedLocked). f.mu is held.
func (f *Follower) reportDueLocked() (now time.Duration, due bool) {
	if f.report == 0 {
		return 0, false
	}
	now = time.Since(f.sched.epoch)
	return now, now+f.slack() >= f.nextReport
}

// reportedLocked notes that a report was taken at now: the next one is due
// a period after the last one was, or a period after now when the samples
// came too late for that (an interval longer than the period, a stalled
// process), so that reports never come in a burst. f.mu is held.
func (f *Follower) reportedLocked(now time.Duration) {
	f.nextReport += f.report
	if f.nextReport <= now+f.slack() {
		f.nextReport = now + f.report
	}
}
