package nsinfo

import (
	"testing"
	"time"
)

// TestOffRule: the blackhole rule on the namespace's readings. A dial from
// start to end is made plain TCP by the kernel's blackhole detection when
// MPCapableSYNTXDisabled or Blackhole grew between a reading before start
// and one after end; a reading is taken when none after end exists and the
// last is at least MinCounterRead old; otherwise a reading that showed
// active MPTCP off less than a second ago decides.
func TestOffRule(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	rd := func(ms int, disabled, blackhole uint64) reading {
		return reading{at: at(ms), disabled: disabled, blackhole: blackhole, hasDisabled: true, hasBlackhole: true, valid: true}
	}
	for _, tc := range []struct {
		name           string
		prev, last     reading
		offAt          time.Time
		start, end     int // the dial, in ms
		now            int
		next           reading // what a reading now finds
		want, wantRead bool
	}{
		{name: "disabled grew since a reading before the dial", last: rd(0, 5, 1), start: 1000, end: 1001, now: 1001,
			next: rd(1001, 6, 1), want: true, wantRead: true},
		{name: "blackhole grew", last: rd(0, 5, 1), start: 1000, end: 1001, now: 1001,
			next: rd(1001, 5, 2), want: true, wantRead: true},
		{name: "nothing grew: the peer did not answer in MPTCP", last: rd(0, 5, 1), start: 1000, end: 1001, now: 1001,
			next: rd(1001, 5, 1), want: false, wantRead: true},
		{name: "readings around the dial already taken", prev: rd(500, 5, 1), last: rd(1002, 6, 1), start: 1000, end: 1001, now: 1003,
			want: true},
		{name: "last reading too recent to read again, off shown 100 ms ago", prev: rd(0, 5, 1), last: rd(900, 6, 1), offAt: at(900),
			start: 950, end: 951, now: 1000, want: true},
		{name: "last reading too recent to read again, nothing shown", prev: rd(0, 5, 1), last: rd(900, 5, 1),
			start: 950, end: 951, now: 1000, want: false},
		{name: "no reading before the dial: the first connection of the namespace", start: 0, end: 1, now: 2,
			next: rd(2, 7, 1), want: false, wantRead: true},
		{name: "no reading before the dial, off shown just now", last: rd(1, 6, 1), prev: rd(0, 5, 1), offAt: at(1),
			start: 0, end: 2, now: 300, want: true, wantRead: true, next: rd(300, 7, 1)},
		{name: "off shown two seconds ago, no reading since", last: rd(0, 6, 1), prev: rd(-100, 5, 1), offAt: at(0),
			start: 2000, end: 2001, now: 2001, next: rd(2001, 6, 1), want: false, wantRead: true},
		{name: "kernel without the counters", last: reading{at: at(0), valid: true}, start: 1000, end: 1001, now: 1001,
			next: reading{at: at(1001), valid: true}, want: false, wantRead: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := &Namespace{prev: tc.prev, last: tc.last, offAt: tc.offAt}
			read := false
			got := ns.offLocked(at(tc.start), at(tc.end), at(tc.now), func(time.Time) bool {
				read = true
				ns.note(tc.next)
				return true
			})
			if got != tc.want || read != tc.wantRead {
				t.Errorf("off %v (read %v), want %v (read %v)", got, read, tc.want, tc.wantRead)
			}
		})
	}
}
