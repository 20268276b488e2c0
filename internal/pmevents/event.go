package pmevents

import (
	"net/netip"
	"syscall"
)

// Event is one decoded path-manager event. It is a fixed-size value with no
// pointers into the message it came from, so it can be copied, kept, and
// reused: Decode overwrites every field.
//
// Only the attributes the kernel sent are meaningful; Attrs says which
// those were (see Has), because 0 is a valid value for most of them (the
// initial subflow's address ids are 0, backup is usually 0). Which
// attributes each Kind carries is listed with the Kind constants.
type Event struct {
	// Kind is the event type (the generic netlink command).
	Kind Kind

	// Token identifies the connection: the local token of the MPTCP
	// socket, the value mptcp_info.token reports through
	// getsockopt(SOL_MPTCP, MPTCP_INFO). The listener events carry none.
	Token uint32

	// Family is the socket family the kernel reported: 2 (AF_INET) or 10
	// (AF_INET6). An IPv6 socket that carries IPv4 traffic reports
	// AF_INET6 with IPv4-mapped addresses (::ffff:a.b.c.d); they are
	// kept as sent.
	Family uint16

	// LocalID and RemoteID are the subflow's local and remote address ids
	// (loc_id, rem_id). For Announced and Removed, RemoteID is the id of
	// the address the peer announced or removed.
	LocalID, RemoteID uint8

	// Local is saddr4/saddr6 with sport; Remote is daddr4/daddr6 with
	// dport. Either part can be missing (see Has): an Announced event has
	// only Remote, the listener events only Local.
	Local, Remote netip.AddrPort

	// Backup is the backup flag the peer set for this subflow, in its
	// MP_JOIN or a later MP_PRIO: the kernel reports subflow->backup,
	// which since Linux 6.11 (and the stable kernels that took the fix)
	// holds the flag received, while the flag this end asked for
	// (request_bkup) is not reported. So a subflow opened from a local
	// backup endpoint has Backup false here and true at the peer.
	Backup bool

	// ServerSide reports that this end accepted the connection: the
	// server_side attribute or FlagServerSide in Flags, which the kernel
	// sends (on Created and Established) only on the server side.
	ServerSide bool

	// Error is the subflow socket's pending error (sk_err), an errno such
	// as ECONNRESET, as the kernel's 8-bit error attribute. 0 when absent.
	Error syscall.Errno

	// Flags holds MPTCP_PM_EV_FLAG_* bits: FlagDenyJoinID0 and
	// FlagServerSide.
	Flags uint16

	// IfIndex is the index of the device the subflow is bound to (if_idx),
	// sent only when the subflow is bound to one (SO_BINDTODEVICE, or an
	// endpoint with "dev").
	IfIndex int32

	// Timeout is the uAPI's timeout attribute; no event of 6.18 sends it.
	Timeout uint32

	// ResetReason and ResetFlags are the reason code and flags of the
	// MP_TCPRST option the peer sent with its reset (ResetUnspecified ...
	// ResetMiddlebox; ResetTransient). Sent on SubClosed only when the
	// peer's reset carried such an option.
	ResetReason, ResetFlags uint32

	// Attrs is the set of attributes present in the message.
	Attrs AttrSet
}

// Has reports whether the message carried attribute a.
func (e *Event) Has(a Attr) bool { return e.Attrs.Has(a) }
