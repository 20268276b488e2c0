// Package conntrace is how mptcpx tells an instrumentation what happens to
// its connections: plain hooks, called by the dialer, the listener and the
// shared sampler, that know nothing of any telemetry backend. Package
// mptcpxotel implements them with OpenTelemetry, and mptcpx installs that
// implementation by default; a program adds its own (for logs, tests,
// policies or another backend) with mptcpx.WithHooks, as many as it
// likes: every installed Hooks follows every connection (Multiplex).
//
// # Interfaces, and why
//
// The hooks are two interfaces, Hooks and ConnHooks, rather than structs
// of optional func fields (the design of quic-go's logging package). A
// connection is followed for its whole life, and a struct of func fields
// costs a closure per hook per connection (bound methods of the
// implementation's per-connection state): some 130 bytes per connection
// with four hooks, a fifth of all mptcpx adds to an idle connection,
// against one interface value. Composition comes from Multiplex, which
// allocates only when more than one Hooks is installed. Hooks can be added
// without breaking anyone in two ways: an implementation embeds NopHooks or
// NopConnHooks, as gRPC's generated servers embed their Unimplemented
// types, and so gains every method added to the interfaces later with an
// empty body; and a new kind of call comes as an optional interface, which
// mptcpx looks for once per connection (as io.Copy looks for io.WriterTo).
//
// # Calls
//
// Hooks are called with none of mptcpx's locks held, so a hook may call any
// method of any connection, its own included: Close (a policy that closes
// connections that fell back to TCP, a proxy that closes the other leg),
// CloseWrite, Info, SetDeadline, Read and Write of another connection; all
// return, and nothing mptcpx does waits for a hook. The hooks of one
// connection are called one at a time, in the order of the readings they
// report, by whichever goroutine took the reading (the one that dialed,
// accepted or closed the connection, or the scheduler's): when two meet on
// one connection, the second leaves its call to the first, which makes it
// once the running hook returns. So the final Sampled and Closed follow
// every earlier hook, once, however the connection ends; a Close called from
// one of the connection's own hooks, or while one of them runs on another
// goroutine, returns before they are delivered. Hooks must be quick and must
// not block: the scheduler's goroutine serves every connection of the
// process. A Sample and everything it points to are valid only during the
// call; copy what must be kept. A hook that keeps the net.Conn it was given
// keeps it from being garbage-collected, so a connection the program drops
// without closing is then never ended.
package conntrace

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Role says which side of the handshake a connection is on.
type Role uint8

const (
	RoleClient Role = iota // opened by a Dialer
	RoleServer             // accepted by a Listener
)

func (r Role) String() string {
	if r == RoleServer {
		return "server"
	}
	return "client"
}

// Hooks is told of every connection a Dialer or Listener makes and returns
// the hooks that follow it.
type Hooks interface {
	// DialStart is called before a dial. The returned context is the one
	// the dial uses (a tracer may put its span in it). ConnHooks may be
	// nil to follow nothing.
	DialStart(ctx context.Context, start DialStart) (context.Context, ConnHooks)
	// Accepted is called for each connection a Listener accepts.
	Accepted(conn net.Conn, start time.Time) ConnHooks
}

// DialStart describes a dial about to begin.
type DialStart struct {
	Network, Address string
	Time             time.Time
}

// ConnHooks follows one connection.
type ConnHooks interface {
	// DialFailed ends a dial that opened nothing.
	DialFailed(err error, at time.Time)
	// Established is called once the connection exists, before its first
	// sample.
	Established(conn net.Conn, at time.Time)
	// Sampled is called for the first sample of the connection, taken at
	// once, for every later one that saw something change (a subflow, a
	// fallback, bytes moved), and for the final one (Sample.Final). A
	// periodic sample of an idle connection that found nothing new is not
	// delivered, unless a report is due (see Reporter). Never after Closed.
	Sampled(s *Sample)
	// Closed is called once, after the final sample, however the
	// connection ended (Sample.End of the final sample says how).
	Closed(at time.Time)
}

// End says how a connection's life ended, in its final Sample.
type End uint8

const (
	// EndNone: the connection has not ended (every sample but the final one).
	EndNone End = iota
	// EndClose: the program called Close. The final sample was read after
	// the descriptor was closed and before the kernel was told to close the
	// socket, so it holds every byte the program wrote.
	EndClose
	// EndClosedUnderneath: the socket was closed without Close (through
	// NetConn or a descriptor from File); the final sample is the last
	// reading taken before, with nothing new in it.
	EndClosedUnderneath
	// EndDropped: the program dropped the connection without closing it,
	// and the garbage collector collected it. The final sample is read
	// then; the runtime closes the socket afterwards, as it does for a
	// *net.TCPConn.
	EndDropped
)

func (e End) String() string {
	switch e {
	case EndClose:
		return "close"
	case EndClosedUnderneath:
		return "closed_underneath"
	case EndDropped:
		return "dropped"
	}
	return "none"
}

// FallbackReason says why a connection is plain TCP.
type FallbackReason uint8

const (
	FallbackNone FallbackReason = iota
	// FallbackNotNegotiated: MPTCP was asked for but the handshake ended
	// without it (the server did not answer MP_CAPABLE, or the client of
	// an MPTCP listener did not ask for it).
	FallbackNotNegotiated
	// FallbackMidConnection: the connection was MPTCP and fell back to
	// TCP later (for example a middlebox stripped options; the kernel
	// falls back on the remaining subflow).
	FallbackMidConnection
	// FallbackUnavailable: the local kernel could not open an MPTCP socket
	// (no CONFIG_MPTCP, or sysctl net.mptcp.enabled=0), so the connection
	// was made as plain TCP.
	FallbackUnavailable
	// FallbackBlackhole: a dialed connection that the kernel made without
	// MPTCP because of its blackhole detection (Linux 6.12+). Either the
	// connection's own SYNs carrying MP_CAPABLE went unanswered
	// net.mptcp.syn_retrans_before_tcp_fallback times (2 by default) and
	// the kernel sent the next one without it, which was answered
	// (MPTcpExtMPCapableSYNTXDrop): a middlebox drops MPTCP SYNs, so the
	// kernel also counted a blackhole (MPTcpExtBlackhole) and turned
	// active MPTCP off in the network namespace for
	// net.mptcp.blackhole_timeout (unless 0), doubled at each further
	// detection; or it was dialed while active MPTCP was so off, as the
	// namespace's counters show (MPTcpExtMPCapableSYNTXDisabled): no
	// MP_CAPABLE was even sent. Writing net.mptcp.blackhole_timeout (any
	// value) turns active MPTCP back on.
	FallbackBlackhole
)

func (r FallbackReason) String() string {
	switch r {
	case FallbackBlackhole:
		return "blackhole"
	case FallbackNotNegotiated:
		return "not_negotiated"
	case FallbackMidConnection:
		return "mid_connection"
	case FallbackUnavailable:
		return "mptcp_unavailable"
	}
	return "none"
}

// Sample is one reading of a connection's MPTCP state and what changed since
// the previous one. The sampler reuses it: its slices are valid only during
// the hook call.
type Sample struct {
	Time  time.Time
	Role  Role
	First bool // the first sample, taken when the connection was established
	Final bool // the last sample, taken as the connection ends
	End   End  // in the final sample: how the connection ended

	// Snapshot is the kernel's answer. Subflow ids are the kernel's; on
	// kernels that report none (5.16 to 6.4) the sampler numbers subflows
	// itself, 1, 2, 3, ... in the order it first saw them.
	Snapshot *mptcpinfo.Snapshot

	// Added lists, as indexes into Snapshot.Subflows, the subflows
	// established since the previous sample (the initial one included). A
	// join in progress (SYN_SENT) is added once the kernel completes it.
	Added []int
	// Removed lists the subflows that disappeared since the previous
	// sample, with the last counters that were read for them. Where the
	// process receives path events, a subflow found gone before the
	// event that says why (RemovedSubflow.Error) is listed with that
	// event, up to three samples later.
	Removed []RemovedSubflow
	// FailedJoins lists the joins that disappeared without ever being
	// established, and, in the final sample, those still in progress: the
	// kernel tried to open a subflow and it never became a path.
	FailedJoins []FailedJoin
	// PathEvents lists, in the order they came, what the kernel's path
	// manager announced about the connection since the previous sample:
	// only when the process receives those events (see mptcpx.PathEvents);
	// each such event also triggers a sample at once.
	PathEvents []PathEvent

	// Fallback is the connection's fallback state; FallbackChanged is true
	// in the one sample that first saw it.
	Fallback        FallbackReason
	FallbackChanged bool

	// Sent, Received and Retransmitted are the bytes since the previous
	// sample at the MPTCP level: from mptcp_info's byte counters where the
	// kernel has them (6.5+), else from its sequence numbers (snd_una and
	// rcv_nxt, 5.16+), else from the subflows. Zero in the first sample of
	// a connection the sampler could not read before.
	Sent, Received, Retransmitted uint64
	// Unsent, in the final sample, is how many bytes the program wrote
	// that the kernel had not sent yet (on 5.16 to 6.4: not yet
	// acknowledged) when the connection ended: bytes still queued. After an
	// orderly close the kernel goes on sending them, and Sent includes
	// them, so that over a connection's life Sent adds up to every byte the
	// program wrote. After an abortive one (SO_LINGER with a zero timeout,
	// a reset by the peer, a peer that stopped answering) the kernel
	// discards them: UnsentDiscarded is set, and Sent leaves them out.
	Unsent          uint64
	UnsentDiscarded bool
	// SubflowDeltas[i] are the bytes Snapshot.Subflows[i] carried since the
	// previous sample (all of them for an added subflow).
	SubflowDeltas []SubflowDelta
	// SubflowsMax is the largest number of subflows seen at once so far.
	SubflowsMax int

	// Report is set when the connection's hooks asked for periodic reports
	// (Reporter) and one is due: the sample is a full reading (Snapshot
	// lists every subflow with its tcp_info), delivered even when nothing
	// changed. Never set in the first or the final sample.
	Report bool

	// Paths is the diagnosis of the connection's paths: what keeps it from
	// having more subflows, as of this sample (see PathsDiagnosis). It is
	// recomputed at every full reading from what the sample read and the
	// configuration of the connection's network namespace, and kept
	// unchanged by the final sample. PathsChanged is true in the samples
	// where its cause changed (PathsDiagnosis.SameCause), the first
	// diagnosis included.
	Paths        PathsDiagnosis
	PathsChanged bool
}

// SubflowDelta is what one subflow carried between two samples, and what
// its TCP loss recovery did meanwhile (from its tcp_info; zero where the
// kernel does not report it).
type SubflowDelta struct {
	// Sent counts every byte the subflow sent, its retransmissions
	// included (tcp_info.bytes_sent); Received every byte it received.
	Sent, Received uint64
	// Retransmitted is the bytes the subflow sent again
	// (tcp_info.bytes_retrans): TCP's own retransmissions on this path,
	// part of Sent. MPTCP's re-injections of data on another subflow are
	// not among them: they count in Sample.Retransmitted.
	Retransmitted uint64
	// Timeouts is the retransmission timeouts of the subflow
	// (tcp_info.total_rto, Linux 6.7+): losses that its fast recovery
	// could not repair, or a path that stopped answering.
	Timeouts uint32
	// Spurious is the segments the peer reported receiving twice with
	// D-SACK (tcp_info.dsack_dups): retransmissions that were not needed,
	// the data had arrived (a path that reorders or delays, not one that
	// loses).
	Spurious uint32
}

// RemovedSubflow is a subflow that is gone, with what was last read of it.
type RemovedSubflow struct {
	ID                       uint32
	Local, Remote            netip.AddrPort
	BytesSent, BytesReceived uint64
	// BytesRetrans is the bytes it had retransmitted (tcp_info.bytes_retrans).
	BytesRetrans uint64
	RTT          time.Duration
	// Unsampled is what the subflow carried after its last reported
	// counters: as read between samples (when the program read the end of
	// the stream or shut down its side), or, without such a reading, as far
	// as the connection-level counters prove it, when it is the only
	// subflow the sample that found it gone found gone (several gone at
	// once share bytes that no counter splits; the connection-level
	// counters say nothing of a subflow's own retransmissions, which only
	// such a reading credits). Not included in BytesSent, BytesReceived
	// and BytesRetrans.
	Unsampled SubflowDelta
	// New is set for a subflow that no sample saw: it came and went
	// between two samples, and was never reported added. Report it added
	// too.
	New bool
	// Error, Reset, ResetReason and ResetFlags are what the kernel's path
	// manager said when the subflow closed (see PathEvent); zero without
	// path events.
	Error                   syscall.Errno
	Reset                   bool
	ResetReason, ResetFlags uint32
}

// PathEventKind says what the kernel's path manager announced.
type PathEventKind uint8

const (
	PathEventNone PathEventKind = iota
	// SubflowEstablished: a subflow was established (MPTCP_EVENT_SUB_ESTABLISHED).
	SubflowEstablished
	// SubflowClosed: a subflow was closed (MPTCP_EVENT_SUB_CLOSED), with
	// its socket error and the peer's reset reason when there were any.
	SubflowClosed
	// SubflowPriority: a subflow's backup flag changed (MPTCP_EVENT_SUB_PRIORITY).
	SubflowPriority
	// AddressAnnounced: the peer announced an address it can be reached at
	// (ADD_ADDR, MPTCP_EVENT_ANNOUNCED).
	AddressAnnounced
	// AddressRemoved: the peer withdrew an address (REMOVE_ADDR,
	// MPTCP_EVENT_REMOVED).
	AddressRemoved
)

func (k PathEventKind) String() string {
	switch k {
	case SubflowEstablished:
		return "subflow_established"
	case SubflowClosed:
		return "subflow_closed"
	case SubflowPriority:
		return "subflow_priority"
	case AddressAnnounced:
		return "address_announced"
	case AddressRemoved:
		return "address_removed"
	}
	return "none"
}

// PathEvent is one event of the kernel's path manager about a connection.
type PathEvent struct {
	Kind PathEventKind
	// Time is when the event was received.
	Time time.Time
	// SubflowID is the subflow a subflow event is about, numbered as the
	// Sample numbers subflows; 0 when none matched.
	SubflowID uint32
	// Local and Remote are a subflow event's ends. For AddressAnnounced,
	// Remote is the address announced (its port 0 when the peer gave none).
	Local, Remote netip.AddrPort
	// AddressID is the peer's id of the address an address event is about.
	AddressID uint8
	// Backup is the subflow's backup flag, as the peer set it; HasBackup
	// says whether the event carried it.
	Backup, HasBackup bool
	// IfIndex is the index of the device the subflow is bound to, and
	// Interface its name in the connection's network namespace; 0 and ""
	// when the event carried none.
	IfIndex   int32
	Interface string
	// Error is a closed subflow's socket error (ECONNRESET, ETIMEDOUT,
	// ...); 0 when there was none.
	Error syscall.Errno
	// Reset is set when the peer closed the subflow with an MP_TCPRST
	// option, whose reason code (RFC 8684, 3.6) and flags follow.
	Reset                   bool
	ResetReason, ResetFlags uint32
}

// FailedJoin is a subflow that was never established, as last read.
type FailedJoin struct {
	ID            uint32
	Local, Remote netip.AddrPort
	// State is the subflow's TCP state when last read: 2 (SYN_SENT, the
	// peer never answered the MP_JOIN) or 3 (SYN_RECV).
	State uint8
	// SynRetransmits is how many times the kernel had sent the SYN again
	// (tcp_info.total_retrans) when last read.
	SynRetransmits uint32
}
