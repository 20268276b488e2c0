package pathdiag

import (
	"net/netip"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mptcpx/mptcpx/internal/testenv"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Synthetic samples: one connection from 10.0.0.1 to 10.0.0.2, with a
// second path 10.0.1.1 -> 10.0.1.2.
var (
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	local0  = netip.MustParseAddrPort("10.0.0.1:40000")
	remote0 = netip.MustParseAddrPort("10.0.0.2:443")
	local1  = netip.MustParseAddrPort("10.0.1.1:40001")
	remote1 = netip.MustParseAddrPort("10.0.1.2:443")
)

// conn builds the samples of one connection.
type conn struct {
	snap   mptcpinfo.Snapshot
	s      conntrace.Sample
	tr     Tracker
	n      int
	moving bool // the next sample has bytes sent
}

func newConn(role conntrace.Role) *conn {
	c := &conn{}
	c.snap = mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, Protocol: 262, MPTCP: true,
		InfoLen: int(unsafe.Sizeof(mptcpinfo.Info{}))}
	c.snap.Info.SubflowsMax, c.snap.Info.AddAddrAcceptedMax = 2, 0 // a fresh namespace's limits
	c.snap.Subflows = []mptcpinfo.Subflow{subflow(1, local0, remote0, 1)}
	c.s.Role = role
	c.s.Snapshot = &c.snap
	return c
}

func subflow(id uint32, l, r netip.AddrPort, state uint8) mptcpinfo.Subflow {
	sf := mptcpinfo.Subflow{ID: id, Local: l, Remote: r}
	sf.TCPInfo.State = state
	sf.TCPInfo.RTT = 100
	return sf
}

// next readies the next sample, dt after the previous one.
func (c *conn) next(dt time.Duration) *conntrace.Sample {
	c.s.First = c.n == 0
	c.n++
	c.s.Time = t0.Add(time.Duration(c.n) * dt)
	c.s.Added, c.s.Removed, c.s.FailedJoins, c.s.PathEvents = nil, nil, nil, nil
	c.s.SubflowsMax = max(c.s.SubflowsMax, 1)
	c.s.Sent = 0
	if c.moving {
		c.s.Sent, c.moving = 100, false
	}
	return &c.s
}

// moveData makes the next sample show data sent.
func (c *conn) moveData() { c.moving = true }

// update takes one sample dt after the previous one.
func (c *conn) update(ns *Namespace, events bool, dt time.Duration) Diagnosis {
	return c.tr.Update(c.next(dt), ns, events, Counters{})
}

// settle takes samples until a diagnosis that waits for data to have moved
// long enough is decided: the first, data moving, then one a second later.
func (c *conn) settle(ns *Namespace, events bool) Diagnosis {
	c.update(ns, events, time.Millisecond)
	c.moveData()
	c.update(ns, events, time.Millisecond)
	return c.update(ns, events, time.Second)
}

func kernelNS(eps ...Endpoint) *Namespace {
	return &Namespace{Entered: true, PathManager: conntrace.PathManagerKernel, Endpoints: eps, EndpointsKnown: true,
		SubflowsLimit: 2, LimitsKnown: true, SynRetransBeforeFallback: 2, BlackholeDetection: true}
}

func endpoint(a string, signal, sf bool) Endpoint {
	return Endpoint{Addr: netip.MustParseAddr(a), Signal: signal, Subflow: sf}
}

func want(t *testing.T, d Diagnosis, limit conntrace.PathsLimit) {
	t.Helper()
	if d.Paths.Limit != limit {
		t.Fatalf("limit %v (%s), want %v", d.Paths.Limit, d.Paths, limit)
	}
}

func TestNoEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name  string
		role  conntrace.Role
		eps   []Endpoint
		limit conntrace.PathsLimit
		count int
	}{
		{"client without endpoints", conntrace.RoleClient, nil, conntrace.PathsLimitNoEndpoint, 0},
		{"client with a subflow endpoint", conntrace.RoleClient, []Endpoint{endpoint("10.0.1.1", false, true)}, conntrace.PathsLimitNone, 1},
		{"client whose only endpoint is its own address", conntrace.RoleClient, []Endpoint{endpoint("10.0.0.1", false, true)}, conntrace.PathsLimitNoEndpoint, 0},
		{"client whose only endpoint is IPv6", conntrace.RoleClient, []Endpoint{endpoint("fd00::1", false, true)}, conntrace.PathsLimitNoEndpoint, 0},
		{"client with a signal endpoint only", conntrace.RoleClient, []Endpoint{endpoint("10.0.1.1", true, false)}, conntrace.PathsLimitNoEndpoint, 0},
		{"server without endpoints", conntrace.RoleServer, nil, conntrace.PathsLimitNoEndpoint, 0},
		{"server with a signal endpoint", conntrace.RoleServer, []Endpoint{endpoint("10.0.1.1", true, false)}, conntrace.PathsLimitNone, 1},
		{"server with a subflow endpoint only", conntrace.RoleServer, []Endpoint{endpoint("10.0.1.1", false, true)}, conntrace.PathsLimitNoEndpoint, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConn(tc.role)
			for _, e := range tc.eps {
				// mptcp_info counts the namespace's endpoints of each kind.
				if e.Subflow {
					c.snap.Info.LocalAddrMax++
				}
				if e.Signal {
					c.snap.Info.AddAddrSignalMax++
				}
			}
			d := c.settle(kernelNS(tc.eps...), true)
			want(t, d, tc.limit)
			if d.Paths.Endpoints != tc.count || d.Stale {
				t.Errorf("endpoints %d (stale %v), want %d", d.Paths.Endpoints, d.Stale, tc.count)
			}
		})
	}
}

// TestAbsenceWaits: an absence (no endpoint, a userspace path manager) is
// diagnosed only once data moved and settle passed; the connection is to
// be read in full meanwhile (Waiting).
func TestAbsenceWaits(t *testing.T) {
	for _, ns := range []*Namespace{kernelNS(), {Entered: true, PathManager: conntrace.PathManagerUserspace}} {
		c := newConn(conntrace.RoleClient)
		if d := c.update(ns, true, time.Millisecond); d.Changed || d.Paths.Limit != conntrace.PathsLimitNone || c.tr.Waiting() {
			t.Fatalf("before data: %+v, waiting %v", d, c.tr.Waiting())
		}
		c.moveData()
		if d := c.update(ns, true, time.Millisecond); d.Paths.Limit != conntrace.PathsLimitNone || !c.tr.Waiting() {
			t.Fatalf("just after data: %v, waiting %v", d.Paths, c.tr.Waiting())
		}
		d := c.update(ns, true, minSettle)
		if !d.Changed || d.Paths.Limit == conntrace.PathsLimitNone || c.tr.Waiting() {
			t.Fatalf("settled: %+v, waiting %v", d, c.tr.Waiting())
		}
		if d := c.update(ns, true, time.Second); d.Changed {
			t.Fatalf("the same cause again reported as a change: %v", d.Paths)
		}
	}
}

func TestUserspacePM(t *testing.T) {
	ns := &Namespace{Entered: true, PathManager: conntrace.PathManagerUserspace}
	c := newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax = 0 // the kernel fills the limits for the in-kernel path manager only
	want(t, c.settle(ns, true), conntrace.PathsLimitUserspacePM)

	// A daemon that opened a subflow: nothing to say.
	c = newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax = 0
	c.snap.Subflows = append(c.snap.Subflows, subflow(2, local1, remote1, 1))
	c.snap.Info.ExtraSubflows = 1
	want(t, c.settle(ns, true), conntrace.PathsLimitNone)
}

// TestPathManagerUnknown: without the sysctls, limits of 0 cannot be told
// from a userspace path manager: what was read is a subflows limit of 0,
// and the diagnosis says what is unknown. A limit above 0 proves the
// in-kernel path manager.
func TestPathManagerUnknown(t *testing.T) {
	ns := &Namespace{Entered: true, SynRetransBeforeFallback: 2}
	c := newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax = 0
	d := c.settle(ns, true)
	want(t, d, conntrace.PathsLimitSubflowsMax)
	if d.Paths.Unknown&conntrace.PathsUnknownPathManager == 0 {
		t.Errorf("unknown %v, want path_manager", d.Paths.Unknown)
	}
	c = newConn(conntrace.RoleClient)
	d = c.settle(ns, true)
	want(t, d, conntrace.PathsLimitNoEndpoint)
	if d.Paths.PathManager != conntrace.PathManagerKernel {
		t.Errorf("path manager %v, want kernel (subflows_max 2 proves it)", d.Paths.PathManager)
	}
}

// TestNamespaceNotEntered: the namespace could not be entered; mptcp_info
// still proves "no endpoint" (local_addr_max 0), and cannot tell whether
// endpoints it counts are usable.
func TestNamespaceNotEntered(t *testing.T) {
	ns := &Namespace{SynRetransBeforeFallback: 2}
	c := newConn(conntrace.RoleClient)
	d := c.settle(ns, true)
	want(t, d, conntrace.PathsLimitNoEndpoint)
	if u := d.Paths.Unknown; u&conntrace.PathsUnknownNamespace == 0 || u&conntrace.PathsUnknownPathManager == 0 {
		t.Errorf("unknown %v, want namespace and path_manager", u)
	}
	c = newConn(conntrace.RoleClient)
	c.snap.Info.LocalAddrMax = 1
	want(t, c.settle(ns, true), conntrace.PathsLimitNone)
}

// TestPending: a namespace not read yet decides nothing, except what the
// connection itself shows (a fallback, a failed join).
func TestPending(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	c.moveData()
	if d := c.update(nil, true, time.Second); !d.Pending || d.Changed {
		t.Fatalf("%+v, want pending", d)
	}
	c.s.FailedJoins = nil
	s := c.next(time.Second)
	s.FailedJoins = []conntrace.FailedJoin{{ID: 2, Local: local1, Remote: remote1, State: tcpSynSent, SynRetransmits: 2}}
	if d := c.tr.Update(s, nil, true, Counters{}); d.Paths.Limit != conntrace.PathsLimitJoinFailed {
		t.Fatalf("%v, want join_failed without the namespace", d.Paths)
	}
}

func TestSubflowsMax(t *testing.T) {
	// Limit 0.
	c := newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax = 0
	c.snap.Info.LocalAddrMax = 1
	ns := kernelNS(endpoint("10.0.1.1", false, true))
	ns.SubflowsLimit = 0
	d := c.update(ns, true, time.Millisecond)
	want(t, d, conntrace.PathsLimitSubflowsMax)
	if d.Paths.Remedy() != "ip mptcp limits set subflows 2" {
		t.Errorf("remedy %q", d.Paths.Remedy())
	}

	// Reached, with an endpoint unused.
	c = newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax, c.snap.Info.ExtraSubflows = 1, 1
	c.snap.Info.LocalAddrMax, c.snap.Info.LocalAddrUsed = 2, 1
	c.snap.Subflows = append(c.snap.Subflows, subflow(2, local1, remote0, 1))
	ns = kernelNS(endpoint("10.0.1.1", false, true), endpoint("10.0.2.1", false, true))
	ns.SubflowsLimit = 1
	d = c.update(ns, true, time.Millisecond)
	want(t, d, conntrace.PathsLimitSubflowsMax)
	if d.Paths.Remedy() != "ip mptcp limits set subflows 2" {
		t.Errorf("remedy %q", d.Paths.Remedy())
	}

	// Reached, every endpoint in use: nothing more to open.
	c = newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax, c.snap.Info.ExtraSubflows = 1, 1
	c.snap.Info.LocalAddrMax, c.snap.Info.LocalAddrUsed = 1, 1
	c.snap.Subflows = append(c.snap.Subflows, subflow(2, local1, remote0, 1))
	ns = kernelNS(endpoint("10.0.1.1", false, true))
	ns.SubflowsLimit = 1
	want(t, c.settle(ns, true), conntrace.PathsLimitNone)

	// Reached, an announced address unused: the limit comes before
	// add_addr_accepted (the kernel checks both).
	c = newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax, c.snap.Info.ExtraSubflows, c.snap.Info.AddAddrAcceptedMax = 1, 1, 0
	c.snap.Subflows = append(c.snap.Subflows, subflow(2, local1, remote0, 1))
	s := c.next(time.Millisecond)
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.AddressAnnounced, AddressID: 1, Remote: netip.AddrPortFrom(remote1.Addr(), 0)}}
	ns = kernelNS(endpoint("10.0.1.1", false, true))
	ns.SubflowsLimit = 1
	c.snap.Info.LocalAddrMax, c.snap.Info.LocalAddrUsed = 1, 1
	d = c.tr.Update(s, ns, true, Counters{})
	want(t, d, conntrace.PathsLimitSubflowsMax)
	if d.Paths.Announced != 1 {
		t.Errorf("announced %d, want 1", d.Paths.Announced)
	}
}

func TestAddAddrMax(t *testing.T) {
	// From the path events: the peer announced an address, the
	// add_addr_accepted limit (0) ignored it.
	c := newConn(conntrace.RoleClient)
	s := c.next(time.Millisecond)
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.AddressAnnounced, AddressID: 1, Remote: netip.AddrPortFrom(remote1.Addr(), 443)}}
	d := c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, d, conntrace.PathsLimitAddAddrMax)
	if d.Paths.Announced != 1 || d.Paths.Remedy() != "ip mptcp limits set subflows 2 add_addr_accepted 1" {
		t.Errorf("announced %d, remedy %q", d.Paths.Announced, d.Paths.Remedy())
	}
	// Withdrawn: nothing left unused.
	c.moveData()
	s = c.next(time.Millisecond)
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.AddressRemoved, AddressID: 1}}
	c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, c.update(kernelNS(), true, time.Second), conntrace.PathsLimitNoEndpoint)

	// An announced address in use is not unused.
	c = newConn(conntrace.RoleClient)
	c.snap.Info.AddAddrAccepted, c.snap.Info.AddAddrAcceptedMax, c.snap.Info.ExtraSubflows = 1, 1, 1
	c.snap.Subflows = append(c.snap.Subflows, subflow(2, local1, remote1, 1))
	s = c.next(time.Millisecond)
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.AddressAnnounced, AddressID: 1, Remote: remote1}}
	ns := kernelNS()
	ns.AddAddrAcceptedLimit = 1
	want(t, c.tr.Update(s, ns, true, Counters{}), conntrace.PathsLimitNone)

	// Without the path events, from the namespace's counters, which ask
	// to be read again while they may matter.
	c = newConn(conntrace.RoleClient)
	if d = c.tr.Update(c.next(time.Millisecond), kernelNS(), false, Counters{Known: true}); d.WantCounters {
		t.Errorf("before data moved: the counters asked for")
	}
	c.moveData()
	d = c.tr.Update(c.next(time.Millisecond), kernelNS(), false, Counters{Known: true})
	if !d.WantCounters {
		t.Errorf("without events nor announcements counted: want the counters read")
	}
	d = c.tr.Update(c.next(time.Millisecond), kernelNS(), false, Counters{Known: true, AddAddr: 2})
	want(t, d, conntrace.PathsLimitAddAddrMax)
	if d.Paths.Announced != 2 || d.Paths.Unknown&conntrace.PathsUnknownPathEvents == 0 || d.WantCounters {
		t.Errorf("announced %d, unknown %v, want counters %v", d.Paths.Announced, d.Paths.Unknown, d.WantCounters)
	}
}

func TestJoinRejected(t *testing.T) {
	for _, tc := range []struct {
		name      string
		closedIn  time.Duration
		bytes     uint64
		wantLimit conntrace.PathsLimit
	}{
		{"closed at once", time.Millisecond, 0, conntrace.PathsLimitJoinRejected},
		{"closed after two seconds", 2 * time.Second, 0, conntrace.PathsLimitNoEndpoint},
		{"closed after carrying data", time.Millisecond, 100, conntrace.PathsLimitNoEndpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConn(conntrace.RoleClient)
			c.update(kernelNS(), true, time.Millisecond)
			c.moveData()
			s := c.next(time.Millisecond)
			at := s.Time
			s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowEstablished, Time: at, Local: local1, Remote: remote0}}
			c.tr.Update(s, kernelNS(), true, Counters{})
			s = c.next(time.Millisecond)
			s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowClosed, Time: at.Add(tc.closedIn), SubflowID: 2, Local: local1, Remote: remote0}}
			s.Removed = []conntrace.RemovedSubflow{{ID: 2, Local: local1, Remote: remote0, New: true, BytesSent: tc.bytes}}
			c.tr.Update(s, kernelNS(), true, Counters{})
			d := c.update(kernelNS(), true, time.Second)
			want(t, d, tc.wantLimit)
			if tc.wantLimit == conntrace.PathsLimitJoinRejected && (d.Paths.Join.Local != local1 || d.Paths.Remedy() == "") {
				t.Errorf("join %+v, remedy %q", d.Paths.Join, d.Paths.Remedy())
			}
		})
	}

	// Reset by the peer with MP_TCPRST "administratively prohibited".
	c := newConn(conntrace.RoleClient)
	s := c.next(time.Millisecond)
	s.Removed = []conntrace.RemovedSubflow{{ID: 2, Local: local1, Remote: remote0, New: true, Error: syscall.ECONNRESET, Reset: true, ResetReason: 3}}
	want(t, c.tr.Update(s, kernelNS(), true, Counters{}), conntrace.PathsLimitJoinRejected)
}

func TestJoinFailed(t *testing.T) {
	// Given up in SYN_SENT, the path manager's event with ETIMEDOUT.
	c := newConn(conntrace.RoleClient)
	s := c.next(time.Millisecond)
	s.FailedJoins = []conntrace.FailedJoin{{ID: 2, Local: local1, Remote: remote0, State: tcpSynSent, SynRetransmits: 2}}
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowClosed, SubflowID: 2, Local: local1, Remote: remote0, Error: syscall.ETIMEDOUT}}
	d := c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, d, conntrace.PathsLimitJoinFailed)
	if j := d.Paths.Join; !j.Timeout || j.Error != syscall.ETIMEDOUT || j.SynRetransmits != 2 || j.State != tcpSynSent {
		t.Errorf("join %+v", j)
	}

	// The event a sample later, unmatched (the join was forgotten):
	// it completes the failure, never erases its state.
	c = newConn(conntrace.RoleClient)
	s = c.next(time.Millisecond)
	s.FailedJoins = []conntrace.FailedJoin{{ID: 2, Local: local1, Remote: remote0, State: tcpSynSent, SynRetransmits: 1}}
	c.tr.Update(s, kernelNS(), true, Counters{})
	s = c.next(time.Millisecond)
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowClosed, Local: local1, Remote: remote0, Error: syscall.ETIMEDOUT}}
	d = c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, d, conntrace.PathsLimitJoinFailed)
	if j := d.Paths.Join; !j.Timeout || j.Error != syscall.ETIMEDOUT || j.SynRetransmits != 1 || j.State != tcpSynSent {
		t.Errorf("join completed by a later event: %+v", j)
	}
	// A different end between the same addresses is another join's.
	s = c.next(time.Millisecond)
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowClosed, Local: local1, Remote: remote0, Error: syscall.ECONNREFUSED}}
	d = c.tr.Update(s, kernelNS(), true, Counters{})
	if j := d.Paths.Join; j.Timeout || j.Error != syscall.ECONNREFUSED || j.State != 0 || j.SynRetransmits != 0 {
		t.Errorf("a refusal after a timeout: %+v", j)
	}

	// Refused by a TCP reset before any reading listed it.
	c = newConn(conntrace.RoleClient)
	s = c.next(time.Millisecond)
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.SubflowClosed, Local: local1, Remote: remote0, Error: syscall.ECONNREFUSED}}
	d = c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, d, conntrace.PathsLimitJoinFailed)
	if d.Paths.Join.Error != syscall.ECONNREFUSED || d.Paths.Join.Timeout {
		t.Errorf("join %+v", d.Paths.Join)
	}

	// A later subflow between the same addresses clears it.
	c.snap.Subflows = append(c.snap.Subflows, subflow(3, netip.AddrPortFrom(local1.Addr(), 40009), remote0, 1))
	c.snap.Info.ExtraSubflows = 1
	s = c.next(time.Millisecond)
	s.Added = []int{1}
	want(t, c.tr.Update(s, kernelNS(), true, Counters{}), conntrace.PathsLimitNone)

	// A refusal comes before any other failure; the most recent one is
	// reported.
	c = newConn(conntrace.RoleClient)
	s = c.next(time.Millisecond)
	s.Removed = []conntrace.RemovedSubflow{{ID: 2, Local: local1, Remote: remote0, New: true, Reset: true, ResetReason: 3}}
	s.FailedJoins = []conntrace.FailedJoin{{ID: 3, Local: netip.MustParseAddrPort("10.0.2.1:1"), Remote: remote0, State: tcpSynSent}}
	d = c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, d, conntrace.PathsLimitJoinRejected)
	s = c.next(time.Millisecond)
	s.FailedJoins = []conntrace.FailedJoin{{ID: 4, Local: netip.MustParseAddrPort("10.0.3.1:1"), Remote: remote0, State: tcpSynSent}}
	want(t, c.tr.Update(s, kernelNS(), true, Counters{}), conntrace.PathsLimitJoinRejected)
}

// TestJoinGoneWithoutEvents: without path events, an endpoint counted in
// local_addr_used with no subflow left (a join that did not last) is a
// failed join of unknown cause; the namespace's counters tell a join
// answered by the peer (refused after its handshake) from one that was
// not.
func TestJoinGoneWithoutEvents(t *testing.T) {
	for _, tc := range []struct {
		ctr   Counters
		limit conntrace.PathsLimit
	}{
		{Counters{}, conntrace.PathsLimitJoinFailed},
		{Counters{Known: true, JoinSynTx: 1}, conntrace.PathsLimitJoinFailed},
		{Counters{Known: true, JoinSynTx: 1, JoinSynAckRx: 1}, conntrace.PathsLimitJoinRejected},
	} {
		c := newConn(conntrace.RoleClient)
		c.snap.Info.LocalAddrMax, c.snap.Info.LocalAddrUsed = 1, 1
		d := c.tr.Update(c.next(time.Millisecond), kernelNS(endpoint("10.0.1.1", false, true)), false, tc.ctr)
		want(t, d, tc.limit)
		if d.Paths.Unknown&conntrace.PathsUnknownPathEvents == 0 {
			t.Errorf("unknown %v, want path_events", d.Paths.Unknown)
		}
	}
	// With the events, the same counts say nothing (the events would
	// have told).
	c := newConn(conntrace.RoleClient)
	c.snap.Info.LocalAddrMax, c.snap.Info.LocalAddrUsed = 1, 1
	want(t, c.settle(kernelNS(endpoint("10.0.1.1", false, true)), true), conntrace.PathsLimitNone)
}

// TestPrecedence: when several limits hold, the first in
// conntrace.PathsLimit's order is named.
func TestPrecedence(t *testing.T) {
	failed := []conntrace.FailedJoin{{ID: 2, Local: local1, Remote: remote0, State: tcpSynSent, SynRetransmits: 1}}
	// Fallback before a failed join.
	c := newConn(conntrace.RoleClient)
	s := c.next(time.Millisecond)
	s.FailedJoins = failed
	c.tr.Update(s, kernelNS(), true, Counters{})
	s = c.next(time.Millisecond)
	s.Fallback = conntrace.FallbackMidConnection
	want(t, c.tr.Update(s, kernelNS(), true, Counters{}), conntrace.PathsLimitFallback)

	// A failed join before a subflows limit of 0 and no endpoint.
	c = newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax = 0
	s = c.next(time.Millisecond)
	s.FailedJoins = failed
	want(t, c.tr.Update(s, kernelNS(), true, Counters{}), conntrace.PathsLimitJoinFailed)

	// A userspace path manager before its limits of 0.
	c = newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax = 0
	want(t, c.settle(&Namespace{Entered: true, PathManager: conntrace.PathManagerUserspace}, true), conntrace.PathsLimitUserspacePM)

	// A subflows limit of 0 before no endpoint.
	c = newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax = 0
	want(t, c.settle(kernelNS(), true), conntrace.PathsLimitSubflowsMax)

	// add_addr_max before no endpoint.
	c = newConn(conntrace.RoleClient)
	s = c.next(time.Millisecond)
	s.PathEvents = []conntrace.PathEvent{{Kind: conntrace.AddressAnnounced, AddressID: 1, Remote: remote1}}
	c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, c.settle(kernelNS(), true), conntrace.PathsLimitAddAddrMax)
}

// TestJoinInProgressHolds: while a join is in progress, nothing new is
// decided.
func TestJoinInProgressHolds(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	c.snap.Info.LocalAddrMax = 0
	c.snap.Subflows = append(c.snap.Subflows, subflow(2, local1, remote0, tcpSynSent))
	c.snap.Info.ExtraSubflows = 1
	if d := c.settle(kernelNS(), true); d.Changed || d.Paths.Limit != conntrace.PathsLimitNone {
		t.Fatalf("%v while a join is in progress", d.Paths)
	}
}

// TestFinalDecidesOnce: the final sample of a connection too short for a
// diagnosis decides one, without waiting for settle and without the joins
// its end cut short.
func TestFinalDecidesOnce(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	c.update(kernelNS(), true, time.Millisecond)
	c.moveData()
	if d := c.update(kernelNS(), true, time.Millisecond); d.Paths.Limit != conntrace.PathsLimitNone {
		t.Fatalf("%v before settle", d.Paths)
	}
	s := c.next(time.Millisecond)
	s.Final = true
	s.FailedJoins = []conntrace.FailedJoin{{ID: 2, Local: local1, Remote: remote0, State: tcpSynSent}}
	d := c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, d, conntrace.PathsLimitNoEndpoint)
	if !d.Changed {
		t.Error("the final decision is not reported as a change")
	}
}

// TestFinalChangesNothing: the final sample keeps the diagnosis of the
// connection's life.
func TestFinalChangesNothing(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	want(t, c.settle(kernelNS(), true), conntrace.PathsLimitNoEndpoint)
	s := c.next(time.Millisecond)
	s.Final = true
	s.Fallback = conntrace.FallbackMidConnection
	s.FailedJoins = []conntrace.FailedJoin{{ID: 2, Local: local1, Remote: remote0, State: tcpSynSent}}
	d := c.tr.Update(s, kernelNS(), true, Counters{})
	want(t, d, conntrace.PathsLimitNoEndpoint)
	if d.Changed {
		t.Error("the final sample changed the diagnosis")
	}
}

// TestFinalCountsPathsNotGivenUpJoins: at the connection's end, a subflow
// closed with it counts as a path of its life, a join the kernel gave up
// and still lists (closed too, reported failed) does not.
func TestFinalCountsPathsNotGivenUpJoins(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	c.update(kernelNS(), true, time.Millisecond)
	c.moveData()
	c.update(kernelNS(), true, time.Millisecond) // before settle: the end decides
	s := c.next(time.Millisecond)
	s.Final = true
	join := subflow(2, local1, remote0, tcpClose)
	join.TCPInfo.RTT = 0
	c.snap.Subflows = []mptcpinfo.Subflow{subflow(1, local0, remote0, tcpClose), join}
	s.FailedJoins = []conntrace.FailedJoin{{ID: 2, Local: local1, Remote: remote0, State: tcpSynSent}}
	d := c.tr.Update(s, kernelNS(), true, Counters{})
	if d.Paths.Subflows != 1 {
		t.Errorf("mptcp.paths.subflows = %d at the end, want 1 (%s)", d.Paths.Subflows, d.Paths)
	}
}

// TestStale: mptcp_info's live counts of endpoints and limits disagree
// with the namespace as read: read it again, and decide from mptcp_info
// meanwhile.
func TestStale(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	c.snap.Info.LocalAddrMax = 1 // an endpoint added since the namespace was read
	d := c.settle(kernelNS(), true)
	if !d.Stale || d.Paths.Limit != conntrace.PathsLimitNone {
		t.Fatalf("%+v: want stale, and the live endpoint counted", d)
	}
	c = newConn(conntrace.RoleClient)
	c.snap.Info.SubflowsMax = 4 // the limits changed
	if d := c.settle(kernelNS(), true); !d.Stale {
		t.Fatalf("%+v: want stale", d)
	}
}

func TestFallback(t *testing.T) {
	c := newConn(conntrace.RoleServer)
	s := c.next(time.Millisecond)
	s.Fallback, s.FallbackChanged = conntrace.FallbackNotNegotiated, true
	c.snap.MPTCP, c.snap.InfoLen = false, 0
	d := c.tr.Update(s, nil, false, Counters{})
	want(t, d, conntrace.PathsLimitFallback)
	if !d.Changed || d.Paths.Fallback != conntrace.FallbackNotNegotiated || d.Paths.Unknown != 0 {
		t.Errorf("%+v", d)
	}
}

func TestSYNDropFallback(t *testing.T) {
	ns := &Namespace{BlackholeDetection: true, SynRetransBeforeFallback: 2}
	for _, tc := range []struct {
		retrans uint32
		ns      *Namespace
		want    bool
	}{
		{0, ns, false},
		{1, ns, false}, // one SYN lost, the next still carried MP_CAPABLE
		{2, ns, true},
		{3, ns, true},
		{1, &Namespace{BlackholeDetection: true, SynRetransBeforeFallback: 0}, true},
		{3, &Namespace{SynRetransBeforeFallback: 2}, false}, // before 6.12: no such fallback
		{3, nil, false},
	} {
		if got := SYNDropFallback(tc.retrans, tc.ns); got != tc.want {
			t.Errorf("SYNDropFallback(%d, %+v) = %v, want %v", tc.retrans, tc.ns, got, tc.want)
		}
	}
}

// TestUpdateAllocs: the diagnosis allocates nothing.
func TestUpdateAllocs(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	ns := kernelNS(endpoint("10.0.1.1", false, true))
	c.snap.Info.LocalAddrMax = 1
	c.settle(ns, true)
	ev := []conntrace.PathEvent{{Kind: conntrace.AddressAnnounced, AddressID: 1, Remote: remote1}}
	if n := testenv.SteadyAllocs(100, func() {
		s := c.next(time.Millisecond)
		s.PathEvents = ev
		c.tr.Update(s, ns, true, Counters{})
	}); n != 0 {
		t.Fatalf("%v allocations per Update", n)
	}
}

// TestBounded: a connection with more failures, announcements and joins
// than a Tracker keeps still reports the most recent, without growing.
func TestBounded(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	for i := range 3 * maxFailures {
		s := c.next(time.Millisecond)
		l := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 9, byte(i)}), 1)
		s.PathEvents = []conntrace.PathEvent{
			{Kind: conntrace.SubflowEstablished, Time: s.Time, Local: l, Remote: remote0},
			{Kind: conntrace.AddressAnnounced, AddressID: uint8(i), Remote: l},
		}
		s.FailedJoins = []conntrace.FailedJoin{{ID: uint32(i + 2), Local: l, Remote: remote0, State: tcpSynSent}}
		d := c.tr.Update(s, kernelNS(), true, Counters{})
		if d.Paths.Join.Local != l {
			t.Fatalf("failure %d: reported %v", i, d.Paths.Join.Local)
		}
	}
	if c.tr.failures.n != maxFailures || c.tr.nann != maxAnnounced || c.tr.njoins != maxJoined {
		t.Fatalf("kept %d failures, %d announcements, %d joins", c.tr.failures.n, c.tr.nann, c.tr.njoins)
	}
}

// TestStuckJoin: a join still in SYN_SENT after two retransmissions of its
// SYN is a failed join (a timeout so far); one that completes after all is
// forgotten.
func TestStuckJoin(t *testing.T) {
	c := newConn(conntrace.RoleClient)
	c.snap.Info.LocalAddrMax, c.snap.Info.LocalAddrUsed, c.snap.Info.ExtraSubflows = 1, 1, 1
	ns := kernelNS(endpoint("10.0.1.1", false, true))
	join := subflow(2, local1, remote0, tcpSynSent)
	join.TCPInfo.TotalRetrans = 1
	c.snap.Subflows = append(c.snap.Subflows, join)
	if d := c.update(ns, true, time.Second); d.Changed || d.Paths.Limit != conntrace.PathsLimitNone {
		t.Fatalf("one retransmission: %v", d.Paths)
	}
	c.snap.Subflows[1].TCPInfo.TotalRetrans = 2
	d := c.update(ns, true, time.Second)
	want(t, d, conntrace.PathsLimitJoinFailed)
	if j := d.Paths.Join; !j.Timeout || j.SynRetransmits != 2 || j.Local != local1 {
		t.Errorf("join %+v", j)
	}
	c.snap.Subflows[1].TCPInfo.State = tcpEstablished
	s := c.next(time.Second)
	s.Added = []int{1}
	want(t, c.tr.Update(s, ns, true, Counters{}), conntrace.PathsLimitNone)
}
