package pathdiag

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Endpoint is one endpoint of the in-kernel path manager (`ip mptcp
// endpoint`), as far as the diagnosis needs it.
type Endpoint struct {
	Addr            netip.Addr
	Signal, Subflow bool
}

// Namespace is what the diagnosis knows of a connection's network
// namespace. The zero Namespace knows nothing.
type Namespace struct {
	// Entered: the namespace could be read at all (it is the process's
	// own, or the process may enter it). When false, nothing below is
	// known.
	Entered bool
	// PathManager is the namespace's path manager, from its sysctls;
	// PathManagerUnknown when they could not be read.
	PathManager conntrace.PathManager
	// Endpoints, when EndpointsKnown.
	Endpoints      []Endpoint
	EndpointsKnown bool
	// Limits of the in-kernel path manager, when LimitsKnown.
	SubflowsLimit, AddAddrAcceptedLimit uint32
	LimitsKnown                         bool
	// BlackholeDetection: the kernel turns active MPTCP off after a
	// blackhole (Linux 6.12+: the namespace has the Blackhole counter or
	// the blackhole_timeout sysctl).
	BlackholeDetection bool
	// SynRetransBeforeFallback is net.mptcp.syn_retrans_before_tcp_fallback
	// (Linux 6.18), or 2, the value 6.12 has built in, where the sysctl is
	// absent.
	SynRetransBeforeFallback int
}

// Bounds of what a Tracker remembers of one connection: in-kernel limits
// stop at 8 subflows and 8 announcements; the most recent failures are
// what the diagnosis names.
const (
	maxFailures  = 4
	maxAnnounced = 8
	maxJoined    = 4
)

// rejectWindow is how soon after its SUB_ESTABLISHED event a join's
// SUB_CLOSED without error must come for the join to count as refused by
// the peer: a refusal takes one round trip (the peer refuses the third ACK
// of the handshake, measured within a millisecond on the test bed); an
// administrator deleting the endpoint of a fresh subflow takes longer.
const rejectWindow = time.Second

// failure is a join that did not become a path.
type failure struct {
	join     conntrace.JoinFailure
	rejected bool
	seq      uint32 // order of arrival: the most recent is reported
}

// announced is an address the peer announced (ADD_ADDR) and has not
// withdrawn.
type announced struct {
	id   uint8
	addr netip.Addr
}

// joined is a SUB_ESTABLISHED event, kept for the SUB_CLOSED that may
// follow it within rejectWindow.
type joined struct {
	local, remote netip.Addr
	at            int64 // Unix nanoseconds
}

// Tracker follows one connection's paths and diagnoses them. The zero
// Tracker is ready. It lives as long as its connection, so it is small
// (about 140 bytes on 64-bit systems): what only some connections have
// (failed joins, announcements, joins' SUB_ESTABLISHED events) is made
// when the first of them comes, and the last diagnosis is kept packed.
// Nothing is allocated per sample.
type Tracker struct {
	failures *failures // made with the first failure
	ann      *[maxAnnounced]announced
	joins    *[maxJoined]joined
	nann     uint8
	njoins   uint8

	// Data moved (a sample counted bytes sent or received at the MPTCP
	// level), first at movedAt (Unix nanoseconds).
	movedAt int64
	moved   bool
	// waiting: an absence (rules 4 and 7) holds but has not held for
	// settle since data moved.
	waiting bool
	decided bool

	last packed
}

// failures are the joins that did not become paths.
type failures struct {
	f   [maxFailures]failure
	n   uint8
	seq uint32
}

// packed is a diagnosis as the Tracker keeps it.
type packed struct {
	limit                                                           conntrace.PathsLimit
	role                                                            conntrace.Role
	pm                                                              conntrace.PathManager
	fallback                                                        conntrace.FallbackReason
	unknown                                                         conntrace.PathsUnknown
	subflows, subflowsMax, extra, endpoints, announced, acc, accMax int16
	join                                                            *conntrace.JoinFailure // for the join limits
}

func clamp16(n int) int16 { return int16(max(-1, min(n, 1<<15-1))) }

// pack keeps d in p, allocating only when d names another failed join
// than p.
func (p *packed) pack(d *conntrace.PathsDiagnosis) {
	join := p.join
	switch {
	case d.Limit != conntrace.PathsLimitJoinFailed && d.Limit != conntrace.PathsLimitJoinRejected:
		join = nil
	case join == nil || *join != d.Join:
		j := d.Join
		join = &j
	}
	*p = packed{limit: d.Limit, role: d.Role, pm: d.PathManager, fallback: d.Fallback, unknown: d.Unknown,
		subflows: clamp16(d.Subflows), subflowsMax: clamp16(d.SubflowsMax), extra: clamp16(d.Extra), endpoints: clamp16(d.Endpoints),
		announced: clamp16(d.Announced), acc: clamp16(d.AddAddrAccepted), accMax: clamp16(d.AddAddrAcceptedMax), join: join}
}

func (p *packed) unpack() conntrace.PathsDiagnosis {
	d := conntrace.PathsDiagnosis{Limit: p.limit, Role: p.role, PathManager: p.pm, Fallback: p.fallback, Unknown: p.unknown,
		Subflows: int(p.subflows), SubflowsMax: int(p.subflowsMax), Extra: int(p.extra), Endpoints: int(p.endpoints),
		Announced: int(p.announced), AddAddrAccepted: int(p.acc), AddAddrAcceptedMax: int(p.accMax)}
	if p.join != nil {
		d.Join = *p.join
	}
	return d
}

// undecided is the diagnosis of a connection nothing was decided for.
func undecided(role conntrace.Role) conntrace.PathsDiagnosis {
	return conntrace.PathsDiagnosis{Role: role, SubflowsMax: -1, Extra: -1, Endpoints: -1}
}

// Last returns the connection's last diagnosis; one of PathsLimitNone with
// unknown counts (-1) when none was decided.
func (t *Tracker) Last(role conntrace.Role) conntrace.PathsDiagnosis {
	if !t.decided {
		return undecided(role)
	}
	return t.last.unpack()
}

// Diagnosis is the result of one Update.
type Diagnosis struct {
	// Paths is the diagnosis now: the last one decided when this sample
	// decided nothing (a join in progress, the namespace not read yet).
	Paths conntrace.PathsDiagnosis
	// Changed: this sample changed its cause (the first one decided
	// included).
	Changed bool
	// Pending: the diagnosis waits for the namespace to be read.
	Pending bool
	// Stale: the namespace's configuration changed since it was read
	// (mptcp_info's counts of endpoints or limits disagree with it): read
	// it again.
	Stale bool
	// WantCounters: the diagnosis would use a newer reading of the
	// namespace's counters (Counters), its path events being incomplete.
	WantCounters bool
}

// Counters is how much the namespace's MPTcpExt counters grew since the
// connection began, for a connection whose own path events are not all
// known: the process receives none (no privilege), or its namespace's
// watcher opened after the connection began. They count every connection
// of the namespace, not this one's alone: a diagnosis made from them says
// so (PathsUnknownPathEvents) and may take another connection's
// announcement or join for this one's.
type Counters struct {
	Known bool
	// AddAddr: ADD_ADDR received (addresses the peers announced).
	AddAddr uint64
	// JoinSynTx: MP_JOIN SYNs sent (Linux 6.12+); JoinSynAckRx: their
	// SYN-ACKs received (the peer answered the join).
	JoinSynTx, JoinSynAckRx uint64
}

// Waiting reports whether a diagnosis waits for time to pass (see settle):
// the connection should be read in full until it is decided.
func (t *Tracker) Waiting() bool { return t.waiting }

// settle is how long after data first moved an absence is diagnosed (no
// endpoint, a userspace path manager that opens nothing): the path
// managers act once the connection is fully established, the peer's
// announcement or join arriving a round trip or two later.
func settle(snap *mptcpinfo.Snapshot) time.Duration {
	d := minSettle
	for i := range snap.Subflows {
		d = max(d, 4*snap.Subflows[i].RTT())
	}
	return d
}

// minSettle is settle on a fast path.
const minSettle = 250 * time.Millisecond

// Update takes one sample of the connection (its news: failed joins,
// removed subflows, path events), diagnoses its paths, and reports the
// diagnosis. ns is what is known of its namespace, nil when it has not
// been read yet; events says whether the process receives the
// connection's path events. The final sample changes a diagnosis already
// made in no way (a connection's diagnosis is the one of its life, not of
// its teardown, when joins still in progress are cut short); for a
// connection too short to have had one, it decides with what it read,
// without waiting for settle.
func (t *Tracker) Update(s *conntrace.Sample, ns *Namespace, events bool, ctr Counters) Diagnosis {
	last := t.Last(s.Role)
	if s.Final && t.decided || s.Snapshot == nil {
		return Diagnosis{Paths: last}
	}
	t.observe(s)
	d, decide, pending, stale := t.diagnose(s, ns, events, ctr)
	// The counters may tell what the events would have, once the path
	// managers had their chance (data moved): ask for them then.
	want := !events && ctr.Known && t.moved && d.PathManager == conntrace.PathManagerKernel &&
		(d.Limit == conntrace.PathsLimitNone || d.Limit == conntrace.PathsLimitNoEndpoint ||
			d.Limit == conntrace.PathsLimitJoinFailed && d.Join == (conntrace.JoinFailure{}))
	if !decide {
		return Diagnosis{Paths: last, Pending: pending, Stale: stale, WantCounters: want}
	}
	t.waiting = false
	changed := !d.SameCause(last)
	t.last.pack(&d)
	t.decided = true
	return Diagnosis{Paths: d, Changed: changed, Stale: stale, WantCounters: want}
}

// observe takes the sample's news into the Tracker.
func (t *Tracker) observe(s *conntrace.Sample) {
	snap := s.Snapshot
	if !t.moved && s.Sent|s.Received != 0 && snap.MPTCP {
		t.moved, t.movedAt = true, s.Time.UnixNano()
	}
	for k := range s.PathEvents {
		e := &s.PathEvents[k]
		switch e.Kind {
		case conntrace.AddressAnnounced:
			t.announce(e.AddressID, e.Remote.Addr().Unmap())
		case conntrace.AddressRemoved:
			t.withdraw(e.AddressID)
		case conntrace.SubflowEstablished:
			t.joinedAt(e.Local.Addr().Unmap(), e.Remote.Addr().Unmap(), e.Time)
		case conntrace.SubflowClosed:
			if e.SubflowID == 0 && (e.Error != 0 || e.Reset) {
				// A join no reading ever listed, closed with an
				// error: it never got past its SYN.
				f := conntrace.JoinFailure{Local: e.Local, Remote: e.Remote, Error: e.Error, Reset: e.Reset, ResetReason: e.ResetReason}
				f.Timeout = e.Error == syscall.ETIMEDOUT
				t.fail(f, e.Reset && e.ResetReason == resetAdminProhibited)
			}
		}
	}
	for k := range s.FailedJoins {
		if s.Final {
			break // joins cut short by the connection's end
		}
		fj := &s.FailedJoins[k]
		f := conntrace.JoinFailure{Local: fj.Local, Remote: fj.Remote, State: fj.State, SynRetransmits: fj.SynRetransmits}
		if e := closedEvent(s, fj.ID); e != nil {
			f.Error, f.Reset, f.ResetReason = e.Error, e.Reset, e.ResetReason
		}
		f.Timeout = f.Error == syscall.ETIMEDOUT || f.Error == 0 && !f.Reset && fj.State == tcpSynSent && fj.SynRetransmits > 0
		t.fail(f, f.Reset && f.ResetReason == resetAdminProhibited)
	}
	for k := range s.Removed {
		r := &s.Removed[k]
		switch {
		case r.Reset || r.Error != 0:
			if !r.New {
				continue // it was a path: lost, not a failed join
			}
			f := conntrace.JoinFailure{Local: r.Local, Remote: r.Remote, Error: r.Error, Reset: r.Reset, ResetReason: r.ResetReason}
			f.Timeout = r.Error == syscall.ETIMEDOUT
			t.fail(f, r.Reset && r.ResetReason == resetAdminProhibited)
		case r.BytesSent+r.Unsampled.Sent == 0 && r.BytesReceived+r.Unsampled.Received == 0:
			e := closedEvent(s, r.ID)
			if e == nil {
				continue // without SUB_CLOSED, nothing says it was refused
			}
			if at, ok := t.joinedSince(r.Local.Addr().Unmap(), r.Remote.Addr().Unmap()); ok && e.Time.Sub(at) < rejectWindow {
				t.fail(conntrace.JoinFailure{Local: r.Local, Remote: r.Remote}, true)
			}
		}
	}
	for i := range snap.Subflows {
		// A join still in SYN_SENT whose SYN went unanswered stuckRetrans
		// times has failed as far as paths go (the kernel goes on until
		// tcp_syn_retries, two minutes by default): a timeout so far,
		// forgotten if it completes after all.
		if sf := &snap.Subflows[i]; !s.Final && sf.State() == tcpSynSent && sf.TCPInfo.TotalRetrans >= stuckRetrans {
			t.fail(conntrace.JoinFailure{Local: sf.Local, Remote: sf.Remote, State: tcpSynSent,
				SynRetransmits: sf.TCPInfo.TotalRetrans, Timeout: true}, false)
		}
	}
	for _, i := range s.Added {
		sf := &snap.Subflows[i]
		t.succeeded(sf.Local.Addr().Unmap(), sf.Remote.Addr().Unmap())
	}
	for k := range s.Removed {
		if r := &s.Removed[k]; r.New && !r.Reset && r.Error == 0 && r.BytesSent+r.BytesReceived > 0 {
			// Came and went between two samples, having carried data:
			// it was a path.
			t.succeeded(r.Local.Addr().Unmap(), r.Remote.Addr().Unmap())
		}
	}
}

// stuckRetrans is how many retransmissions of a join's SYN make it a
// failed join while the kernel still tries: the SYN and two retransmissions
// went unanswered for 3 seconds (an initial RTO of 1 s, doubled).
const stuckRetrans = 2

// MP_TCPRST reason "administratively prohibited" (RFC 8684, 3.6).
const resetAdminProhibited = 3

// TCP states of a subflow (tcp_info.state).
const (
	tcpEstablished = 1
	tcpSynSent     = 2
	tcpSynRecv     = 3
	tcpTimeWait    = 6
	tcpClose       = 7
	tcpListen      = 10
)

// closedEvent returns the sample's SUB_CLOSED event about subflow id.
func closedEvent(s *conntrace.Sample, id uint32) *conntrace.PathEvent {
	if id == 0 {
		return nil
	}
	for k := range s.PathEvents {
		if e := &s.PathEvents[k]; e.Kind == conntrace.SubflowClosed && e.SubflowID == id {
			return e
		}
	}
	return nil
}

// fail records a join that did not become a path, in place of an earlier
// one between the same addresses. A later report of the same end completes
// the earlier one rather than erase what it knew: a join seen in SYN_SENT
// and given up is reported first with its state and SYN retransmissions,
// and its SUB_CLOSED event, when it comes a sample later (a watcher that
// was late, events replayed), knows only the addresses and the error.
func (t *Tracker) fail(f conntrace.JoinFailure, rejected bool) {
	if t.failures == nil {
		t.failures = new(failures)
	}
	fs := t.failures
	fs.seq++
	la, ra := f.Local.Addr().Unmap(), f.Remote.Addr().Unmap()
	i := 0
	for ; i < int(fs.n); i++ {
		j := &fs.f[i].join
		if j.Local.Addr().Unmap() == la && j.Remote.Addr().Unmap() == ra {
			break
		}
	}
	if i == int(fs.n) {
		if fs.n == maxFailures {
			i = fs.oldest()
		} else {
			fs.n++
		}
	} else {
		f = completed(f, fs.f[i].join)
	}
	fs.f[i] = failure{join: f, rejected: rejected, seq: fs.seq}
}

// completed returns f with what it lacks taken from old, an earlier report
// between the same addresses, when both tell the same end: both timeouts,
// or both resets, or the same error. A different end is another join's:
// f stands alone.
func completed(f, old conntrace.JoinFailure) conntrace.JoinFailure {
	if f.Timeout != old.Timeout || f.Reset != old.Reset || f.Error != 0 && old.Error != 0 && f.Error != old.Error {
		return f
	}
	if f.State == 0 {
		f.State, f.SynRetransmits = old.State, max(f.SynRetransmits, old.SynRetransmits)
	}
	if f.Error == 0 {
		f.Error = old.Error
	}
	if f.Reset && f.ResetReason == 0 {
		f.ResetReason = old.ResetReason
	}
	return f
}

func (fs *failures) oldest() int {
	o := 0
	for i := 1; i < int(fs.n); i++ {
		if fs.f[i].seq < fs.f[o].seq {
			o = i
		}
	}
	return o
}

// succeeded forgets the failures between local and remote: a subflow
// between them is established.
func (t *Tracker) succeeded(local, remote netip.Addr) {
	fs := t.failures
	if fs == nil {
		return
	}
	for i := 0; i < int(fs.n); {
		j := &fs.f[i].join
		if j.Local.Addr().Unmap() == local && j.Remote.Addr().Unmap() == remote {
			fs.n--
			fs.f[i] = fs.f[fs.n]
			fs.f[fs.n] = failure{}
			continue
		}
		i++
	}
}

// latestFailure returns the most recent failure, a refusal before any
// other failure.
func (t *Tracker) latestFailure() *failure {
	var best *failure
	if t.failures == nil {
		return nil
	}
	for i := 0; i < int(t.failures.n); i++ {
		f := &t.failures.f[i]
		if best == nil || f.rejected && !best.rejected || f.rejected == best.rejected && f.seq > best.seq {
			best = f
		}
	}
	return best
}

func (t *Tracker) announce(id uint8, addr netip.Addr) {
	if t.ann == nil {
		t.ann = new([maxAnnounced]announced)
	}
	for i := 0; i < int(t.nann); i++ {
		if t.ann[i].id == id {
			t.ann[i].addr = addr
			return
		}
	}
	if t.nann < maxAnnounced {
		t.ann[t.nann] = announced{id: id, addr: addr}
		t.nann++
	}
}

func (t *Tracker) withdraw(id uint8) {
	for i := 0; i < int(t.nann); i++ {
		if t.ann[i].id == id {
			t.nann--
			t.ann[i] = t.ann[t.nann]
			t.ann[t.nann] = announced{}
			return
		}
	}
}

func (t *Tracker) joinedAt(local, remote netip.Addr, at time.Time) {
	if t.joins == nil {
		t.joins = new([maxJoined]joined)
	}
	i := int(t.njoins)
	if i == maxJoined {
		// Replace the oldest.
		i = 0
		for k := 1; k < maxJoined; k++ {
			if t.joins[k].at < t.joins[i].at {
				i = k
			}
		}
	} else {
		t.njoins++
	}
	t.joins[i] = joined{local: local, remote: remote, at: at.UnixNano()}
}

// joinedSince returns when the last SUB_ESTABLISHED between local and
// remote came.
func (t *Tracker) joinedSince(local, remote netip.Addr) (time.Time, bool) {
	var at int64
	found := false
	for i := 0; i < int(t.njoins); i++ {
		if j := &t.joins[i]; j.local == local && j.remote == remote && (!found || j.at > at) {
			at, found = j.at, true
		}
	}
	return time.Unix(0, at), found
}

// ownEnds returns the ends of the connection's own subflow: the first one
// listed (the lowest id), its initial subflow while that lives.
func ownEnds(snap *mptcpinfo.Snapshot) (local, remote netip.Addr) {
	var first *mptcpinfo.Subflow
	for i := range snap.Subflows {
		if sf := &snap.Subflows[i]; first == nil || sf.ID < first.ID {
			first = sf
		}
	}
	if first == nil {
		return netip.Addr{}, netip.Addr{}
	}
	return first.Local.Addr().Unmap(), first.Remote.Addr().Unmap()
}

// unusedAnnounced counts the addresses the peer announced that no subflow
// of snap uses.
func (t *Tracker) unusedAnnounced(snap *mptcpinfo.Snapshot) int {
	n := 0
	for i := 0; i < int(t.nann); i++ {
		a := t.ann[i].addr
		used := false
		for k := range snap.Subflows {
			if snap.Subflows[k].Remote.Addr().Unmap() == a {
				used = true
				break
			}
		}
		if !used {
			n++
		}
	}
	return n
}

// failedJoin reports whether the subflow id is one of the sample's failed
// joins.
func failedJoin(s *conntrace.Sample, id uint32) bool {
	for k := range s.FailedJoins {
		if s.FailedJoins[k].ID == id {
			return true
		}
	}
	return false
}

// diagnose applies the rules (see the package documentation) to the
// connection as of sample s. decide is false when the sample decides
// nothing (the previous diagnosis stands); pending when that is because
// the namespace has not been read.
func (t *Tracker) diagnose(s *conntrace.Sample, ns *Namespace, events bool, ctr Counters) (d conntrace.PathsDiagnosis, decide, pending, stale bool) {
	d = conntrace.PathsDiagnosis{Role: s.Role, SubflowsMax: -1, Extra: -1, Endpoints: -1}
	if s.Fallback != conntrace.FallbackNone {
		d.Limit, d.Fallback = conntrace.PathsLimitFallback, s.Fallback
		return d, true, false, false
	}
	snap := s.Snapshot
	if !snap.MPTCP {
		return d, false, false, false // nothing known about the socket yet
	}
	estab, joining := 0, false
	for i := range snap.Subflows {
		switch st := snap.Subflows[i].State(); st {
		case tcpSynSent, tcpSynRecv:
			joining = true
		case tcpListen:
		case tcpTimeWait, tcpClose:
			if s.Final && !failedJoin(s, snap.Subflows[i].ID) {
				// Closed by the connection's end, a path of its life;
				// not a join the kernel gave up and still lists.
				estab++
			}
		default:
			estab++
		}
	}
	if s.Final && estab == 0 {
		// Shut down both ways, the connection lists no subflow any
		// more: the most it had at once.
		estab = s.SubflowsMax
	}
	d.Subflows = estab
	if !events {
		d.Unknown |= conntrace.PathsUnknownPathEvents
	}
	if f := t.latestFailure(); f != nil {
		d.Limit, d.Join = conntrace.PathsLimitJoinFailed, f.join
		if f.rejected {
			d.Limit = conntrace.PathsLimitJoinRejected
		}
		t.fillInfo(&d, snap)
		return d, true, false, false
	}
	if snap.InfoLen == 0 {
		d.Unknown |= conntrace.PathsUnknownInfo
		return d, true, false, false
	}
	if ns == nil {
		// The namespace is being read; its reader asks again.
		return d, false, true, false
	}
	info := &snap.Info
	t.fillInfo(&d, snap)
	if !ns.Entered {
		d.Unknown |= conntrace.PathsUnknownNamespace
	}
	pm := ns.PathManager
	if !ns.Entered {
		pm = conntrace.PathManagerUnknown
	}
	anyLimit := info.SubflowsMax|info.AddAddrAcceptedMax|info.AddAddrSignalMax|info.LocalAddrMax != 0
	if pm == conntrace.PathManagerUnknown {
		d.Unknown |= conntrace.PathsUnknownPathManager
		if anyLimit {
			// Only the in-kernel path manager fills the limits in.
			pm = conntrace.PathManagerKernel
		}
	}
	d.PathManager = pm
	hasLocal := snap.Has(mptcpinfo.FieldLocalAddrUsed)
	single := estab <= 1 && !joining && info.ExtraSubflows == 0

	// Without path events, a join refused right after its handshake (or
	// failed unseen between two samples) leaves one trace: the endpoint
	// it used stays counted in local_addr_used while subflows went back
	// down, on a connection that never had a second subflow.
	if !events && pm == conntrace.PathManagerKernel && hasLocal && !joining && s.SubflowsMax <= 1 && info.LocalAddrUsed > info.ExtraSubflows {
		d.Limit = conntrace.PathsLimitJoinFailed
		if ctr.Known && ctr.JoinSynAckRx > 0 {
			// The namespace's joins were answered (a SYN-ACK with
			// MP_JOIN), and this one's is gone: refused after its
			// handshake, as Linux refuses beyond its subflows limit.
			d.Limit = conntrace.PathsLimitJoinRejected
		}
		return d, true, false, false
	}
	if joining {
		return d, false, false, false
	}
	switch pm {
	case conntrace.PathManagerUserspace, conntrace.PathManagerOther:
		if !single {
			return d, true, false, false
		}
		if !t.settled(s) {
			return d, false, false, false
		}
		d.Limit = conntrace.PathsLimitUserspacePM
		return d, true, false, false
	case conntrace.PathManagerUnknown:
		// Every limit reads 0: a userspace path manager, or in-kernel
		// limits of 0. What was read is a subflows limit of 0.
		d.Limit = conntrace.PathsLimitSubflowsMax
		return d, true, false, false
	}

	// The in-kernel path manager.
	usable, unused, endpointsKnown, stale := t.endpoints(s.Role, ns, snap)
	if ns.LimitsKnown && (ns.SubflowsLimit != uint32(info.SubflowsMax) || ns.AddAddrAcceptedLimit != uint32(info.AddAddrAcceptedMax)) {
		stale = true
	}
	if endpointsKnown {
		d.Endpoints = usable
	} else if ns.Entered {
		d.Unknown |= conntrace.PathsUnknownEndpoints
	}
	d.Announced = t.unusedAnnounced(snap)
	if !events && d.Announced == 0 && ctr.Known && ctr.AddAddr > uint64(info.AddAddrAccepted) {
		// Announcements the namespace received that this connection
		// did not use, as far as the counters tell.
		d.Announced = int(min(ctr.AddAddr-uint64(info.AddAddrAccepted), 255))
	}
	switch {
	case info.SubflowsMax == 0:
		d.Limit = conntrace.PathsLimitSubflowsMax
	case info.ExtraSubflows >= info.SubflowsMax && (unused > 0 || d.Announced > 0):
		d.Limit = conntrace.PathsLimitSubflowsMax
	case d.Announced > 0 && info.AddAddrAccepted >= info.AddAddrAcceptedMax:
		d.Limit = conntrace.PathsLimitAddAddrMax
	case single && info.AddAddrAccepted == 0 && usable == 0 && hasLocal:
		if !t.settled(s) {
			return d, false, false, stale
		}
		d.Limit = conntrace.PathsLimitNoEndpoint
	}
	return d, true, false, stale
}

// settled reports whether data moved at least settle ago (or at all, at
// the final sample), and otherwise notes that a diagnosis waits for it.
func (t *Tracker) settled(s *conntrace.Sample) bool {
	if t.moved && (s.Final || s.Time.Sub(time.Unix(0, t.movedAt)) >= settle(s.Snapshot)) {
		return true
	}
	t.waiting = t.moved
	return false
}

// fillInfo copies mptcp_info's counts into d.
func (t *Tracker) fillInfo(d *conntrace.PathsDiagnosis, snap *mptcpinfo.Snapshot) {
	if snap.InfoLen == 0 {
		return
	}
	info := &snap.Info
	d.SubflowsMax, d.Extra = int(info.SubflowsMax), int(info.ExtraSubflows)
	d.AddAddrAccepted, d.AddAddrAcceptedMax = int(info.AddAddrAccepted), int(info.AddAddrAcceptedMax)
}

// endpoints counts the endpoints of this side's namespace that could open
// a path for the connection (usable: a client's subflow endpoints, a
// server's signal endpoints, other than the connection's own address and
// of its address family) and those of them no subflow uses yet (unused).
// known says whether the namespace's list was used; otherwise the counts
// come from mptcp_info (local_addr_max and add_addr_signal_max, which the
// kernel reads from the namespace at every call), where more than none may
// include the connection's own address. stale: the list and mptcp_info
// disagree, the list is out of date.
func (t *Tracker) endpoints(role conntrace.Role, ns *Namespace, snap *mptcpinfo.Snapshot) (usable, unused int, known, stale bool) {
	info := &snap.Info
	live, used := int(info.LocalAddrMax), int(info.LocalAddrUsed)
	if role == conntrace.RoleServer {
		live, used = int(info.AddAddrSignalMax), int(info.AddAddrSignal)
	}
	if ns.EndpointsKnown {
		listed := 0
		for _, e := range ns.Endpoints {
			if t.flagged(role, e) {
				listed++
			}
		}
		if listed == live || !snap.Has(mptcpinfo.FieldLocalAddrUsed) {
			own, _ := ownEnds(snap)
			for _, e := range ns.Endpoints {
				if !t.flagged(role, e) || !fits(e.Addr, own) {
					continue
				}
				usable++
				if !inUse(snap, e.Addr) {
					unused++
				}
			}
			return usable, unused, true, false
		}
		stale = true
	}
	return live, max(0, live-used), false, stale
}

func (t *Tracker) flagged(role conntrace.Role, e Endpoint) bool {
	if role == conntrace.RoleServer {
		return e.Signal
	}
	return e.Subflow
}

// fits reports whether an endpoint's address can carry a subflow of the
// connection whose own address is own: not that address, and of its
// family (an IPv4 connection, IPv4-mapped on an IPv6 socket included,
// takes IPv4 endpoints only).
func fits(a, own netip.Addr) bool {
	a = a.Unmap()
	if !own.IsValid() {
		return true
	}
	return a != own && a.Is4() == own.Is4()
}

// inUse reports whether a subflow of snap has local address a.
func inUse(snap *mptcpinfo.Snapshot, a netip.Addr) bool {
	a = a.Unmap()
	for i := range snap.Subflows {
		if snap.Subflows[i].Local.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// SYNDropFallback reports whether a client connection that fell back to
// plain TCP at its handshake, whose socket retransmitted its SYN
// retransmits times before the SYN-ACK came (mptcpinfo.Snapshot.Retransmits
// at its first reading), did so because its kernel gave up on MPTCP: since
// Linux 6.12, after net.mptcp.syn_retrans_before_tcp_fallback unanswered
// SYNs carrying MP_CAPABLE (2 by default; at the first timeout with 0), the
// kernel sends the next SYN without it, counts MPCapableSYNTXDrop, and,
// when that plain SYN is answered, concludes that a middlebox drops MPTCP
// SYNs (Blackhole). A connection whose SYN was retransmitted fewer times
// still asked for MPTCP in every SYN: its peer answered without MPTCP.
func SYNDropFallback(retransmits uint32, ns *Namespace) bool {
	if ns == nil || !ns.BlackholeDetection {
		return false
	}
	return retransmits >= uint32(max(1, ns.SynRetransBeforeFallback))
}
