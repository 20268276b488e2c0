package nsinfo

import (
	"time"

	"github.com/mptcpx/mptcpx/internal/mibstat"
	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/pathdiag"
)

// MinCounterRead is the shortest time between two readings of a
// namespace's counters for the blackhole rule (Handle.ActiveMPTCPOff).
// Metric collections read them besides, at their own pace.
const MinCounterRead = 200 * time.Millisecond

// offHold is how long a reading that showed active MPTCP off is taken to
// hold for later connections without a new reading: the kernel's period
// lasts blackhole_timeout (an hour by default) from the detection, but a
// write to net.mptcp.blackhole_timeout ends it at once, which no counter
// shows; a second later, a new reading decides.
const offHold = time.Second

// reading is what the blackhole rule keeps of one reading of the
// counters.
type reading struct {
	at                                    time.Time
	disabled, blackhole, drop             uint64
	addAddr, joinSynTx, joinSynAckRx      uint64
	capableTx, capableRx                  uint64
	hasDisabled, hasBlackhole, hasAddAddr bool
	valid                                 bool
}

// noteLocked keeps s, read at at, as the namespace's last reading, and
// notes when it shows active MPTCP turned off since the previous one (a
// blackhole detected, or a dial made without MP_CAPABLE because of it).
// ns.cmu is held.
func (ns *Namespace) noteLocked(at time.Time, s *mibstat.Snapshot) {
	r := reading{at: at, valid: true}
	r.disabled, r.hasDisabled = s.Get(mibstat.MPCapableSYNTXDisabled)
	r.blackhole, r.hasBlackhole = s.Get(mibstat.Blackhole)
	r.drop, _ = s.Get(mibstat.MPCapableSYNTXDrop)
	r.addAddr, r.hasAddAddr = s.Get(mibstat.AddAddr)
	r.joinSynTx, _ = s.Get(mibstat.MPJoinSynTx)
	r.joinSynAckRx, _ = s.Get(mibstat.MPJoinSynAckRx)
	r.capableTx, _ = s.Get(mibstat.MPCapableSYNTX)
	r.capableRx, _ = s.Get(mibstat.MPCapableSYNRX)
	ns.note(r)
}

// note keeps r as the last reading. ns.cmu is held.
func (ns *Namespace) note(r reading) {
	if ns.last.valid && offBetween(&ns.last, &r) {
		ns.offAt = r.at
	}
	ns.prev, ns.last = ns.last, r
}

// offBetween reports whether the counters show active MPTCP turned off
// between readings a and b: MPCapableSYNTXDisabled grew (dials were made
// without MP_CAPABLE because active MPTCP is off) or Blackhole grew (the
// kernel turned it off).
func offBetween(a, b *reading) bool {
	return b.hasDisabled && b.disabled != a.disabled || b.hasBlackhole && b.blackhole != a.blackhole
}

// readLocked reads the counters now into ns.snap and notes the reading.
// ns.cmu is held.
func (ns *Namespace) readLocked(now time.Time) bool {
	if ns.reader == nil || ns.reader.Read(&ns.snap) != nil {
		return false
	}
	ns.noteLocked(now, &ns.snap)
	return true
}

// openLocked opens the namespace's counter reader through the
// connection's socket when it has none yet (its first connection fell back
// before the namespace was read). ns.cmu is held.
func (h *Handle) openLocked() {
	ns := h.ns
	if ns.reader != nil || ns.readerErr != nil {
		return
	}
	var r *mibstat.Reader
	var oerr error
	err := netns.Do(h.rc, func() error {
		r, oerr = mibstat.Open()
		return nil
	})
	if err != nil {
		ns.readerErr = err
		return
	}
	ns.reader, ns.readerErr = r, oerr
	ns.readLocked(ns.reg.now())
}

// ActiveMPTCPOff reports whether the namespace's counters show that the
// kernel made the connection, dialed at start and established at end, in
// plain TCP because its blackhole detection had turned active MPTCP off
// (MPCapableSYNTXDisabled, Blackhole). The caller asks only for a client
// connection that fell back at its handshake without its SYN having been
// sent again (a connection that retransmitted its SYN is judged from its
// own socket: pathdiag.SYNDropFallback).
//
// The rule: the counters grew between a reading taken before start and
// one taken after end. The reading after is taken now, unless another was
// taken less than MinCounterRead ago; then, and when no reading precedes
// start (the namespace's first connection, when it was not read before),
// the verdict is that of the last reading that showed active MPTCP off,
// if it is less than a second old, and otherwise no. Races, each making a
// blackhole fallback look like an ordinary one or the reverse: another
// dial of the namespace, in the same interval, made without MP_CAPABLE
// while this one fell back for another reason (the counters are per
// namespace); a period of active MPTCP off that ended (by a write to
// net.mptcp.blackhole_timeout) within the second after the reading that
// saw it; a first connection of a namespace already in such a period.
func (h *Handle) ActiveMPTCPOff(start, end time.Time) bool {
	if h == nil {
		return false
	}
	ns := h.ns
	now := ns.reg.now()
	ns.cmu.Lock()
	defer ns.cmu.Unlock()
	h.openLocked()
	if ns.reader == nil {
		return false
	}
	return ns.offLocked(start, end, now, ns.readLocked)
}

// offLocked is ActiveMPTCPOff's rule on the namespace's readings; read
// takes a new reading. ns.cmu is held.
func (ns *Namespace) offLocked(start, end, now time.Time, read func(time.Time) bool) bool {
	held := !ns.offAt.IsZero() && now.Sub(ns.offAt) < offHold
	switch {
	case ns.last.valid && ns.last.at.Before(start):
		before := ns.last
		if now.Sub(ns.last.at) < MinCounterRead || !read(now) {
			return held
		}
		return offBetween(&before, &ns.last)
	case ns.prev.valid && ns.prev.at.Before(start) && ns.last.at.After(end):
		return offBetween(&ns.prev, &ns.last)
	}
	if !ns.last.valid || now.Sub(ns.last.at) >= MinCounterRead {
		read(now) // an earlier reading for the next connection
	}
	return held
}

// MarkOff notes that a connection of the namespace was just made plain
// TCP by the kernel's blackhole detection (pathdiag.SYNDropFallback): the
// kernel turned active MPTCP off at that moment. The counters are read
// then (at most once per MinCounterRead), as the reading before the
// next connections.
func (h *Handle) MarkOff(at time.Time) {
	if h == nil {
		return
	}
	ns := h.ns
	ns.cmu.Lock()
	defer ns.cmu.Unlock()
	h.openLocked()
	if ns.offAt.Before(at) {
		ns.offAt = at
	}
	if now := ns.reg.now(); ns.reader != nil && now.Sub(ns.last.at) >= MinCounterRead {
		ns.readLocked(now)
	}
}

// Collect reads the MPTcpExt counters of the process's own namespace and
// of every namespace with followed connections, and calls fn with each
// one's name (see Name) and reading, which is valid during the call only.
// It is what a metric reader's collection calls: the only place that reads
// counters at a regular pace. A namespace read less than MinCollectRead
// ago is not read again: collections that come faster (several readers, a
// test polling its metrics) report that reading. The process's own
// namespace is opened here when nothing opened it before.
func (r *Registry) Collect(fn func(name string, s *mibstat.Snapshot)) {
	r.ensureOwn()
	r.mu.Lock()
	list := make([]*Namespace, 0, len(r.byNS))
	for _, ns := range r.byNS {
		if len(ns.handles) > 0 || ns.cookie == r.own {
			list = append(list, ns)
		}
	}
	r.mu.Unlock()
	now := r.now()
	for _, ns := range list {
		ns.cmu.Lock()
		fresh := ns.last.valid && now.Sub(ns.last.at) < MinCollectRead && ns.snap.Len() > 0
		if (fresh || ns.readLocked(now)) && ns.name != "" {
			fn(ns.name, &ns.snap)
		}
		ns.cmu.Unlock()
	}
}

// MinCollectRead is the shortest time between two readings of a
// namespace's counters by collections.
const MinCollectRead = time.Second

// ensureOwn makes sure the process's own namespace is known and its
// counter reader open (a program that collects metrics before it built
// any Dialer or Listener).
func (r *Registry) ensureOwn() {
	r.mu.Lock()
	ns := r.byNS[r.own]
	if r.own == 0 || ns == nil {
		forgotten := r.own != 0 // by Flush; 0: never learnt, or it cannot be
		r.mu.Unlock()
		if forgotten {
			r.warmed.Store(false)
		}
		r.Warm()
		return
	}
	r.mu.Unlock()
	ns.cmu.Lock()
	defer ns.cmu.Unlock()
	if ns.reader == nil && ns.readerErr == nil {
		ns.reader, ns.readerErr = mibstat.Open()
		if ns.name == "" {
			ns.name = threadNamespaceName()
		}
	}
}

// Name returns how the metrics name the namespace: its name under
// /run/netns (as `ip netns list` shows it) when it has one, otherwise
// "net:[INODE]" as /proc/PID/ns/net links name it; "" until read.
func (ns *Namespace) Name() string {
	ns.cmu.Lock()
	defer ns.cmu.Unlock()
	return ns.name
}

// baselineAge is how old the namespace's last reading of its counters may
// be to serve as a connection's baseline (AddAddrBaseline): announcements
// the namespace received between that reading and the connection's start
// count as the connection's.
const baselineAge = time.Second

// Baseline is what a reading of a namespace's counters taken when a
// connection began says, to compare later readings with (Handle.Since).
type Baseline struct {
	addAddr, joinSynTx, joinSynAckRx uint64
}

func baselineOf(r *reading) Baseline {
	return Baseline{addAddr: r.addAddr, joinSynTx: r.joinSynTx, joinSynAckRx: r.joinSynAckRx}
}

// Baseline returns the namespace's counters as of the connection's start,
// for a connection whose own path events will not all be received: the
// last reading when it is less than baselineAge old, otherwise one taken
// now (at most one per namespace per second then: this runs at the
// connection's first reading). false when the namespace has no counters.
//
// The peer may announce its addresses as soon as the handshake is over
// (the server's path manager acts once it has the client's key, in the
// third ACK), before this reading. For the first connection of a namespace
// whose counters show no other MPTCP connection ever (at most one
// MP_CAPABLE SYN sent and none received, or the reverse: a namespace made
// for this connection, or a process's first connection in a fresh
// container), every count is this connection's: the baseline is zero.
func (h *Handle) Baseline() (Baseline, bool) {
	if h == nil {
		return Baseline{}, false
	}
	ns := h.ns
	now := ns.reg.now()
	ns.cmu.Lock()
	defer ns.cmu.Unlock()
	h.openLocked()
	if !ns.last.valid || now.Sub(ns.last.at) >= baselineAge {
		ns.readLocked(now)
	}
	l := ns.last
	if !l.valid || !l.hasAddAddr {
		return Baseline{}, false
	}
	if h.first && (l.capableTx <= 1 && l.capableRx == 0 || l.capableRx <= 1 && l.capableTx == 0) {
		return Baseline{}, true
	}
	return baselineOf(&l), true
}

// Since returns how much the namespace's counters grew from b to its last
// reading (no reading is taken: see WantCounters).
func (h *Handle) Since(b Baseline) pathdiag.Counters {
	if h == nil {
		return pathdiag.Counters{}
	}
	ns := h.ns
	ns.cmu.Lock()
	defer ns.cmu.Unlock()
	l := &ns.last
	if !l.valid {
		return pathdiag.Counters{}
	}
	return pathdiag.Counters{Known: true, AddAddr: l.addAddr - b.addAddr,
		JoinSynTx: l.joinSynTx - b.joinSynTx, JoinSynAckRx: l.joinSynAckRx - b.joinSynAckRx}
}

// WantCounters asks for a new reading of the namespace's counters, on a
// goroutine of the registry, after which the connection is diagnosed
// again (Target.Reconsider). Requests of the namespace's connections are
// served together, by one reading at most every MinCounterRead.
func (h *Handle) WantCounters() {
	if h == nil {
		return
	}
	ns, r := h.ns, h.ns.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if ns.forgotten {
		return
	}
	if ns.counterWaiters == nil {
		ns.counterWaiters = map[*Handle]struct{}{}
	}
	ns.counterWaiters[h] = struct{}{}
	if ns.counterReading {
		return
	}
	ns.counterReading = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ns.cmu.Lock()
		wait := MinCounterRead - r.now().Sub(ns.last.at)
		ns.cmu.Unlock()
		if wait > 0 {
			time.Sleep(wait)
		}
		ns.cmu.Lock()
		ns.readLocked(r.now())
		ns.cmu.Unlock()
		r.mu.Lock()
		ns.counterReading = false
		var targets []Target
		for w := range ns.counterWaiters {
			if _, live := ns.handles[w]; live {
				targets = append(targets, w.t)
			}
		}
		clear(ns.counterWaiters)
		r.mu.Unlock()
		for _, t := range targets {
			t.Reconsider()
		}
	}()
}
