package conntrace

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// PathsLimit names what kept a connection from having more subflows than it
// has: the answer to "why does this connection use one path when the host
// has two?". It is computed per connection by mptcpx from what the kernel
// tells (mptcp_info, the path manager's events, the joins it saw fail) and
// from the configuration of the connection's network namespace (endpoints,
// limits, the path manager), and kept current while the connection lives.
//
// The values are listed in order of precedence: when several hold, the
// diagnosis names the first. Not MPTCP at all comes first (nothing else
// matters then); then what this side tried and saw fail, the nearest cause
// (a join the peer refused, a join that did not complete); then what this
// side's configuration forbids or lacks, from the most specific to the most
// general (a userspace path manager, the subflows limit, the limit on the
// addresses the peer announces, no endpoint at all).
type PathsLimit uint8

const (
	// PathsLimitNone: nothing limited the connection, or nothing is known
	// yet (a connection that has not carried data: the in-kernel path
	// manager opens subflows only once the first data is acknowledged).
	PathsLimitNone PathsLimit = iota
	// PathsLimitFallback: the connection is not MPTCP at all;
	// PathsDiagnosis.Fallback says why.
	PathsLimitFallback
	// PathsLimitJoinRejected: the peer refused a join (an MP_JOIN) of this
	// side: it answered the MP_JOIN SYN, then reset the subflow before it
	// became a path, as Linux does when its subflows limit is reached, or
	// it reset it with MP_TCPRST "administratively prohibited".
	PathsLimitJoinRejected
	// PathsLimitJoinFailed: a join was tried and did not complete (no
	// answer, refused with a TCP reset, reset with another reason), and
	// no subflow between the same addresses replaced it.
	PathsLimitJoinFailed
	// PathsLimitUserspacePM: the namespace's path manager is the
	// userspace one (net.mptcp.path_manager=userspace): a daemon decides
	// which subflows to open, and opened none. The in-kernel limits and
	// endpoints do not apply.
	PathsLimitUserspacePM
	// PathsLimitSubflowsMax: this side's subflows limit
	// (mptcpi_subflows_max, `ip mptcp limits`) is 0, or is reached while
	// an endpoint or an address the peer announced is left unused.
	PathsLimitSubflowsMax
	// PathsLimitAddAddrMax: the peer announced addresses (ADD_ADDR) that
	// this side ignored because its add_addr_accepted limit is reached.
	PathsLimitAddAddrMax
	// PathsLimitNoEndpoint: the in-kernel path manager of this side has
	// no endpoint that could open a path (a client no subflow endpoint, a
	// server no signal endpoint, other than the connection's own
	// address), and the peer announced no address that was used.
	PathsLimitNoEndpoint

	numPathsLimits
)

var pathsLimitNames = [numPathsLimits]string{
	PathsLimitNone:         "none",
	PathsLimitFallback:     "fallback",
	PathsLimitJoinRejected: "join_rejected",
	PathsLimitJoinFailed:   "join_failed",
	PathsLimitUserspacePM:  "userspace_pm",
	PathsLimitSubflowsMax:  "subflows_max",
	PathsLimitAddAddrMax:   "add_addr_max",
	PathsLimitNoEndpoint:   "no_endpoint",
}

// String returns the value's name in the telemetry (mptcp.paths.limit):
// "subflows_max", "no_endpoint", ..., and "none" for PathsLimitNone.
func (l PathsLimit) String() string {
	if l < numPathsLimits {
		return pathsLimitNames[l]
	}
	return fmt.Sprintf("PathsLimit(%d)", uint8(l))
}

// PathsLimits returns every PathsLimit but PathsLimitNone, in order of
// precedence.
func PathsLimits() []PathsLimit {
	out := make([]PathsLimit, 0, numPathsLimits-1)
	for l := PathsLimitFallback; l < numPathsLimits; l++ {
		out = append(out, l)
	}
	return out
}

// PathManager says which path manager decides the subflows of connections
// in a network namespace (sysctl net.mptcp.path_manager, or pm_type on
// kernels before 6.15).
type PathManager uint8

const (
	PathManagerUnknown   PathManager = iota // the sysctls could not be read
	PathManagerKernel                       // the in-kernel path manager: limits and endpoints
	PathManagerUserspace                    // a userspace daemon, through generic netlink
	PathManagerOther                        // another one the kernel has registered
)

func (p PathManager) String() string {
	switch p {
	case PathManagerKernel:
		return "kernel"
	case PathManagerUserspace:
		return "userspace"
	case PathManagerOther:
		return "other"
	}
	return "unknown"
}

// PathsUnknown lists, as bits, what mptcpx could not read for a diagnosis.
// A diagnosis made without some source says so rather than guessing: its
// Limit is what holds on what was read.
type PathsUnknown uint8

const (
	// PathsUnknownNamespace: the connection's network namespace could
	// not be entered (it is not the process's own, and the process lacks
	// CAP_SYS_ADMIN and CAP_NET_ADMIN over it): its endpoints and sysctls
	// are unknown; mptcp_info's limits are still read.
	PathsUnknownNamespace PathsUnknown = 1 << iota
	// PathsUnknownEndpoints: the namespace's endpoints could not be listed
	// (Linux 6.7 to 6.11 without "mptcp: no admin perm to list endpoints"
	// need CAP_NET_ADMIN for it), or changed since they were read.
	PathsUnknownEndpoints
	// PathsUnknownPathManager: the namespace's sysctls could not be read,
	// so the userspace path manager cannot be told from in-kernel limits
	// of 0 (both show as mptcpi_subflows_max 0).
	PathsUnknownPathManager
	// PathsUnknownPathEvents: the process does not receive the kernel's
	// path-manager events for this connection (it lacks CAP_NET_ADMIN
	// since Linux 6.7, or WithoutPathEvents), or not all of them (its
	// namespace's watcher opened after the connection began, as for the
	// first connection of a namespace, or the kernel dropped some): the
	// addresses the peer announced, joins refused right after their
	// handshake and the errors of failed joins may be unseen. The
	// namespace's counters then stand in for them, counting every
	// connection of the namespace.
	PathsUnknownPathEvents
	// PathsUnknownInfo: the kernel gives no mptcp_info for the socket
	// (before Linux 5.16): nothing of the limits is known.
	PathsUnknownInfo
)

// String lists the bits, for example "namespace,path_events"; "" for none.
func (u PathsUnknown) String() string {
	var parts []string
	for i, name := range [...]string{"namespace", "endpoints", "path_manager", "path_events", "mptcp_info"} {
		if u&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	return strings.Join(parts, ",")
}

// JoinFailure is a join (a subflow the kernel tried to add with MP_JOIN)
// that never became a path, as the kernel reported it.
type JoinFailure struct {
	// Local and Remote are its ends; the ports are 0 when unknown.
	Local, Remote netip.AddrPort
	// Error is the subflow's socket error as the path manager's
	// SUB_CLOSED event carried it (ETIMEDOUT: the peer never answered;
	// ECONNREFUSED: a TCP reset answered the MP_JOIN SYN; ...), 0 when
	// there was none or no event was received.
	Error syscall.Errno
	// Reset is set when the peer reset the subflow with an MP_TCPRST
	// option, whose reason code (RFC 8684, 3.6) is ResetReason.
	Reset       bool
	ResetReason uint32
	// State is the subflow's TCP state when last read (2 SYN_SENT, 3
	// SYN_RECV), 0 when no reading listed it.
	State uint8
	// SynRetransmits is how many times the kernel had sent the SYN again
	// when last read.
	SynRetransmits uint32
	// Timeout is set when the join was given up without any answer (its
	// SYN was retransmitted and it never left SYN_SENT, or ETIMEDOUT).
	Timeout bool
}

// PathsDiagnosis says why a connection has the subflows it has: Limit, and
// what the kernel showed to decide it. It holds no pointer to mptcpx's
// state: a copy may be kept.
type PathsDiagnosis struct {
	// Limit is what limited the connection; PathsLimitNone when nothing
	// did.
	Limit PathsLimit
	// Role is the side the diagnosis is made on: each side of a connection
	// explains its own part (a client names its missing subflow endpoint,
	// the server its limit that refused the client's join).
	Role Role
	// Subflows is how many subflows the connection had established at the
	// last reading, the initial one included.
	Subflows int
	// SubflowsMax is this side's limit on extra subflows
	// (mptcpi_subflows_max), and Extra how many extra subflows this side's
	// path manager counts now (mptcpi_subflows, joins in progress
	// included); -1 when the kernel gives no mptcp_info.
	SubflowsMax, Extra int
	// Endpoints is how many endpoints of this side's namespace could open
	// a path: a client's subflow endpoints, a server's signal endpoints,
	// other than the connection's own address and of its address family;
	// -1 when unknown (see Unknown).
	Endpoints int
	// Announced is how many addresses the peer announced (ADD_ADDR) that
	// no subflow of the connection uses, and AddAddrAccepted and
	// AddAddrAcceptedMax how many announced addresses this side used and
	// may use (mptcpi_add_addr_accepted, mptcpi_add_addr_accepted_max).
	Announced                           int
	AddAddrAccepted, AddAddrAcceptedMax int
	// PathManager is the namespace's path manager.
	PathManager PathManager
	// Join is, for PathsLimitJoinFailed and PathsLimitJoinRejected, the
	// most recent join that failed; zero otherwise.
	Join JoinFailure
	// Fallback is, for PathsLimitFallback, why the connection is plain
	// TCP.
	Fallback FallbackReason
	// Unknown lists what could not be read.
	Unknown PathsUnknown
}

// SameCause reports whether d and o name the same limit for the same
// reason: the same Limit, fallback reason and failed join; any two
// diagnoses of PathsLimitNone are the same. Counts that move with every
// subflow (Subflows, Extra, ...) and what could not be read (Unknown) are
// not compared: a change of cause is what the telemetry reports.
func (d PathsDiagnosis) SameCause(o PathsDiagnosis) bool {
	if d.Limit == PathsLimitNone && o.Limit == PathsLimitNone {
		return true
	}
	return d.Limit == o.Limit && d.Fallback == o.Fallback && d.Join == o.Join
}

// String says in words what limited the connection, for a person: for
// example "one path: this host has no MPTCP subflow endpoint to open
// another from (the in-kernel path manager opens subflows only from
// endpoints)". Remedy gives the command that changes it.
func (d PathsDiagnosis) String() string {
	var b strings.Builder
	switch d.Subflows {
	case 0:
	case 1:
		b.WriteString("one path: ")
	default:
		fmt.Fprintf(&b, "%d paths: ", d.Subflows)
	}
	switch d.Limit {
	case PathsLimitNone:
		b.Reset()
		b.WriteString("nothing limits the connection's paths")
	case PathsLimitFallback:
		b.Reset()
		b.WriteString("not MPTCP: ")
		b.WriteString(d.fallbackWords())
	case PathsLimitJoinRejected:
		if !d.Join.Local.IsValid() {
			b.WriteString("the peer refused a join of this side (the namespace's counters show a join answered, and the connection's is gone)")
			break
		}
		fmt.Fprintf(&b, "the peer refused the join from %s to %s", d.Join.Local.Addr().Unmap(), d.Join.Remote.Addr().Unmap())
		if d.Join.Reset {
			fmt.Fprintf(&b, " (MP_TCPRST %s)", ResetReasonName(d.Join.ResetReason))
		} else {
			b.WriteString(" (it answered the MP_JOIN, then reset the subflow: its subflows limit is reached, most likely)")
		}
	case PathsLimitJoinFailed:
		b.WriteString("a join did not complete")
		if d.Join.Local.IsValid() {
			fmt.Fprintf(&b, " from %s to %s", d.Join.Local.Addr().Unmap(), d.Join.Remote.Addr().Unmap())
		}
		b.WriteString(d.joinCause())
	case PathsLimitUserspacePM:
		if d.PathManager == PathManagerOther {
			b.WriteString("a path manager other than the in-kernel one decides for this network namespace (net.mptcp.path_manager), and opened no subflow")
			break
		}
		b.WriteString("a userspace path manager decides for this network namespace (net.mptcp.path_manager=userspace), and opened no subflow")
	case PathsLimitSubflowsMax:
		if d.SubflowsMax == 0 {
			b.WriteString("this side allows no subflow beside the first (its subflows limit, mptcpi_subflows_max, is 0)")
		} else {
			fmt.Fprintf(&b, "this side's subflows limit (%d) is reached", d.SubflowsMax)
			switch {
			case d.Announced > 0:
				fmt.Fprintf(&b, " while %d address(es) the peer announced stay unused", d.Announced)
			case d.Endpoints > 0:
				b.WriteString(" while endpoints stay unused")
			}
		}
		if d.SubflowsMax == 0 && d.Unknown&PathsUnknownPathManager != 0 {
			b.WriteString("; the path manager could not be read: a userspace one also shows a limit of 0")
		}
	case PathsLimitAddAddrMax:
		fmt.Fprintf(&b, "the peer announced %d address(es) that this side ignored: its add_addr_accepted limit (%d) is reached", d.Announced, d.AddAddrAcceptedMax)
	case PathsLimitNoEndpoint:
		if d.Role == RoleServer {
			b.WriteString("this side has no MPTCP signal endpoint to announce another address from, and the peer opened no other path")
		} else {
			b.WriteString("this side has no MPTCP subflow endpoint to open another path from (the in-kernel path manager opens subflows only from endpoints), and the peer announced no address that was used")
		}
	default:
		b.WriteString(d.Limit.String())
	}
	if u := d.Unknown &^ PathsUnknownPathEvents; u != 0 {
		fmt.Fprintf(&b, " [not read: %s]", u)
	}
	if d.Unknown&PathsUnknownPathEvents != 0 && d.Limit != PathsLimitNone && d.Limit != PathsLimitFallback {
		b.WriteString(" [path events not all received: the peer's announcements and the causes of failed joins may be unseen]")
	}
	return b.String()
}

func (d PathsDiagnosis) fallbackWords() string {
	switch d.Fallback {
	case FallbackNotNegotiated:
		if d.Role == RoleServer {
			return "the client did not ask for MPTCP"
		}
		return "the peer did not answer in MPTCP"
	case FallbackMidConnection:
		return "the connection was MPTCP and fell back to TCP (a middlebox on the path)"
	case FallbackUnavailable:
		return "this host could not open an MPTCP socket (net.mptcp.enabled=0, or no MPTCP in the kernel)"
	case FallbackBlackhole:
		return "a middlebox drops SYNs carrying MP_CAPABLE while plain SYNs pass: the kernel's blackhole detection made the connection plain TCP, and turned active MPTCP off in this network namespace for net.mptcp.blackhole_timeout (unless 0), every dial meanwhile plain TCP (MPTcpExtBlackhole, MPTcpExtMPCapableSYNTXDisabled)"
	}
	return d.Fallback.String()
}

func (d PathsDiagnosis) joinCause() string {
	j := d.Join
	switch {
	case j.Reset:
		return fmt.Sprintf(": the peer reset it (MP_TCPRST %s)", ResetReasonName(j.ResetReason))
	case j.Error == syscall.ECONNREFUSED:
		return ": a TCP reset answered its MP_JOIN SYN (a firewall, or the peer refused it)"
	case j.Timeout:
		s := ": no answer to its MP_JOIN SYN"
		if j.SynRetransmits > 0 {
			s += fmt.Sprintf(" after %d retransmission(s)", j.SynRetransmits)
		}
		return s + " (a firewall or a route drops it)"
	case j.Error != 0:
		return fmt.Sprintf(": %v", j.Error)
	case d.Unknown&PathsUnknownPathEvents != 0:
		return ": an endpoint of this side was used for a join that did not last, cause unknown"
	}
	return ""
}

// Remedy returns the command that changes what d names, as a person would
// type it on the host of this side of the connection (or of the peer, as
// it says), for example "ip mptcp endpoint add ADDR dev IF subflow": ADDR
// and IF stand for another address of the host and its interface. "" for
// PathsLimitNone.
func (d PathsDiagnosis) Remedy() string {
	switch d.Limit {
	case PathsLimitFallback:
		switch d.Fallback {
		case FallbackUnavailable:
			return "sysctl -w net.mptcp.enabled=1"
		case FallbackBlackhole:
			return "see it: nstat -az MPTcpExtBlackhole MPTcpExtMPCapableSYNTXDisabled; turn active MPTCP back on: sysctl -w net.mptcp.blackhole_timeout=3600 (writing it, any value, ends the period); and find the middlebox that drops MPTCP SYNs"
		case FallbackNotNegotiated:
			if d.Role == RoleServer {
				return "dial with MPTCP on the client (mptcpx.Dial, net.Dialer.SetMultipathTCP(true), mptcpize run)"
			}
			return "listen with MPTCP on the server (mptcpx.Listen; net.Listen does since Go 1.24), and check that no middlebox strips the MPTCP option"
		case FallbackMidConnection:
			return "find the middlebox on the path that strips or rewrites MPTCP options"
		}
	case PathsLimitJoinRejected:
		return "on the peer: ip mptcp limits set subflows 8 (its subflows limit refuses the join)"
	case PathsLimitJoinFailed:
		if d.Join.Local.IsValid() && d.Join.Remote.IsValid() {
			l, r := d.Join.Local.Addr().Unmap(), d.Join.Remote.Addr().Unmap()
			return fmt.Sprintf("check the path: ip route get %s from %s; ping -I %s %s (a firewall must let MP_JOIN SYNs through)", r, l, l, r)
		}
		return "check the paths of this side's endpoints: ip mptcp endpoint show; nstat -az MPTcpExtMPJoinSynTx MPTcpExtMPJoinSynAckRx MPTcpExtMPRstTx"
	case PathsLimitUserspacePM:
		return "run a path manager daemon (mptcpd), or let the kernel decide: sysctl -w net.mptcp.path_manager=kernel (net.mptcp.pm_type=0 before Linux 6.15)"
	case PathsLimitSubflowsMax:
		if d.SubflowsMax == 0 && d.Unknown&PathsUnknownPathManager != 0 {
			return "ip mptcp limits show; sysctl net.mptcp.path_manager; then ip mptcp limits set subflows 2"
		}
		return fmt.Sprintf("ip mptcp limits set subflows %d", max(2, min(8, d.SubflowsMax+max(1, d.Announced))))
	case PathsLimitAddAddrMax:
		n := min(8, d.AddAddrAcceptedMax+max(1, d.Announced))
		return fmt.Sprintf("ip mptcp limits set subflows %d add_addr_accepted %d", max(n, d.SubflowsMax), n)
	case PathsLimitNoEndpoint:
		if d.Role == RoleServer {
			return "ip mptcp endpoint add ADDR dev IF signal"
		}
		return "ip mptcp endpoint add ADDR dev IF subflow"
	}
	return ""
}

// ResetReasonName names an MP_TCPRST reason code (RFC 8684, 3.6), as the
// telemetry does (mptcp.subflow.reset.reason): "unspecified",
// "mptcp_error", "lack_of_resources", "administratively_prohibited",
// "too_much_outstanding_data", "unacceptable_performance",
// "middlebox_interference", or the number.
func ResetReasonName(code uint32) string {
	switch code {
	case 0:
		return "unspecified"
	case 1:
		return "mptcp_error"
	case 2:
		return "lack_of_resources"
	case 3:
		return "administratively_prohibited"
	case 4:
		return "too_much_outstanding_data"
	case 5:
		return "unacceptable_performance"
	case 6:
		return "middlebox_interference"
	}
	return fmt.Sprint(code)
}
