package follow

import (
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/nsinfo"
	"github.com/mptcpx/mptcpx/internal/pathdiag"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// The diagnosis of a connection's paths (package pathdiag) is recomputed
// at every full reading, from what the reading found and from what is known
// of the connection's network namespace (package nsinfo: its path
// manager's configuration, read once per namespace). A cheap periodic
// reading that found nothing new decides nothing new: mptcp_info, whose
// limits and counts of endpoints the diagnosis reads, is in its
// fingerprint, so a change of configuration that shows there brings a full
// reading. Nothing is read for it beyond what the sample reads, except
// for a client connection that fell back at its handshake, whose
// namespace's counters tell whether the kernel's blackhole detection made
// it plain TCP (see blackholeLocked).

// namespaceInfo is the registry of namespaces the engine uses; a variable
// for tests.
var namespaceInfo = nsinfo.Default

// noNamespace is what the diagnosis knows of a namespace that cannot be
// told (no SO_NETNS_COOKIE before Linux 5.14): nothing.
var noNamespace pathdiag.Namespace

// pathState is what a Follower keeps for its paths' diagnosis, guarded by
// the Follower's lock. It lives as long as the connection: what only some
// connections need is made when they need it.
type pathState struct {
	tracker   pathdiag.Tracker
	ns        *nsinfo.Handle
	dialStart int64         // a dialed connection's DialStart, Unix nanoseconds
	ctr       *counterState // when its path events were not all going to be received
	joined    bool          // Join was called
	// missed: path events about the connection may have been missed
	// (its namespace's watcher opened after it began, or the kernel
	// dropped some): the events it has are not all of them.
	missed bool
}

// counterState is what a connection whose path events are not all
// received keeps of its namespace's counters: their reading when it began,
// and the readings asked for since (at most maxCounterAsks, the last at
// askedAt).
type counterState struct {
	base    nsinfo.Baseline
	askedAt int64 // Unix nanoseconds
	asks    uint8
}

// pathsLocked diagnoses the connection's paths from the reading in sc and
// puts the diagnosis in sc.sample. It runs for every reading, after the
// detector, f.mu held.
func (f *Follower) pathsLocked(sc *scratch) {
	s, p := &sc.sample, &f.paths
	if !p.joined && f.rc != nil && !s.Final {
		p.joined = true
		if cookie := f.nsCookie.Load(); cookie != 0 {
			p.ns = namespaceInfo.JoinCookie(cookie, f.rc, f) // read by the sample already
		} else {
			p.ns = namespaceInfo.Join(f.rc, f)
		}
		if s.Snapshot != nil && s.Snapshot.MPTCP && (!f.ev.active() || f.ev.h.Late()) {
			// The addresses the peer announced may have come before
			// the connection's path events did (its namespace's
			// watcher was not open when it was registered), or may
			// never come: the counters then tell what the namespace
			// received.
			if base, ok := p.ns.Baseline(); ok {
				p.ctr = &counterState{base: base}
			}
		}
	}
	if s.FallbackChanged && s.First && f.role == conntrace.RoleClient && s.Fallback == conntrace.FallbackNotNegotiated &&
		s.Snapshot != nil && s.Snapshot.Protocol == mptcpinfo.IPPROTO_MPTCP {
		f.blackholeLocked(s)
	}
	cfg := p.ns.Config()
	ns := &noNamespace
	switch {
	case cfg != nil:
		ns = &cfg.Diag
	case p.ns != nil:
		ns = nil // being read: the diagnosis waits (Reconsider)
	}
	events := f.wantEvents && f.ev != nil && f.ev.h.Receiving() && !p.missed
	var ctr pathdiag.Counters
	if p.ctr != nil && !events {
		ctr = p.ns.Since(p.ctr.base)
	}
	d := p.tracker.Update(s, ns, events, ctr)
	if c := p.ctr; d.WantCounters && !s.Final && c != nil && c.asks < maxCounterAsks &&
		(c.asks == 0 || s.Time.Sub(time.Unix(0, c.askedAt)) >= counterAskGap) {
		c.asks++
		c.askedAt = s.Time.UnixNano()
		p.ns.WantCounters()
	}
	s.Paths, s.PathsChanged = d.Paths, d.Changed
	if cfg != nil && !s.Final && s.Fallback == conntrace.FallbackNone &&
		(d.Stale || s.Time.Sub(cfg.Read) > nsinfo.SlowRefresh || touchesConfig(s)) {
		p.ns.Refresh()
	}
}

// A connection whose path events are incomplete asks for a reading of its
// namespace's counters when its diagnosis would use it: when the
// diagnosis first may depend on the announcements the namespace received,
// and once more counterAskGap later (the peer announces its addresses a
// round trip or two after the connection is fully established, which may
// come after the first reading).
const (
	maxCounterAsks = 2
	counterAskGap  = time.Second
)

// touchesConfig reports whether the sample's path events may come from a
// change of the namespace's endpoints: a subflow closed, an address
// withdrawn.
func touchesConfig(s *conntrace.Sample) bool {
	for k := range s.PathEvents {
		if kind := s.PathEvents[k].Kind; kind == conntrace.SubflowClosed || kind == conntrace.AddressRemoved {
			return true
		}
	}
	return false
}

// blackholeLocked decides whether a client connection that fell back at
// its handshake (its first reading) was made plain TCP by the kernel's
// blackhole detection (Linux 6.12+), and makes its fallback
// conntrace.FallbackBlackhole if so. Two rules, the first exact:
//
//   - its own socket retransmitted the SYN at least
//     net.mptcp.syn_retrans_before_tcp_fallback times (2 by default): the
//     kernel sent the last SYN without MP_CAPABLE after the others went
//     unanswered, and, the plain SYN answered, concluded a blackhole and
//     turned active MPTCP off (pathdiag.SYNDropFallback);
//   - otherwise its namespace's counters show active MPTCP off when it
//     was dialed (nsinfo.Handle.ActiveMPTCPOff: one reading of the
//     counters, at most every 200 ms per namespace).
//
// This is the only place where a sample reads more than the connection's
// own state, and only for such connections.
func (f *Follower) blackholeLocked(s *conntrace.Sample) {
	p := &f.paths
	now := time.Now()
	off := false
	if r := s.Snapshot.Retransmits; r > 0 {
		var ns *pathdiag.Namespace
		if cfg := p.ns.WaitConfig(); cfg != nil {
			ns = &cfg.Diag
		}
		if off = pathdiag.SYNDropFallback(r, ns); off {
			p.ns.MarkOff(now)
		}
	}
	if !off && p.dialStart != 0 {
		off = p.ns.ActiveMPTCPOff(time.Unix(0, p.dialStart), now)
	}
	if off && f.det.Blackhole() {
		s.Fallback = conntrace.FallbackBlackhole
		f.fallback.Store(uint32(s.Fallback))
	}
}

// Reconsider has the connection read in full and diagnosed again: its
// namespace's configuration or counters were read (nsinfo.Target). At once,
// unless a join is in progress, or a join or a removal is held back for its
// path event: the detector counts the samples they wait for their event
// (heldSamples), and a sample taken for the namespace's sake would cut that
// wait short; the next periodic sample, taken in full while they wait,
// diagnoses again. It runs on the registry's goroutine.
func (f *Follower) Reconsider() {
	f.flags.Or(flagPathsNews)
	if !f.waitHint.Load() {
		f.sched.dueNow(f)
	}
}

// leavePaths ends the connection's membership of its namespace. f.mu is
// held.
func (f *Follower) leavePathsLocked() {
	f.paths.ns.Leave()
}

// PathsDiagnosis returns the connection's last diagnosis.
func (f *Follower) PathsDiagnosis() conntrace.PathsDiagnosis {
	if f == nil {
		return conntrace.PathsDiagnosis{SubflowsMax: -1, Extra: -1, Endpoints: -1}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paths.tracker.Last(f.role)
}
