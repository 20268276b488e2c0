package pmevents

import "strconv"

// Kind is the type of a path-manager event: the generic netlink command
// byte of the message (enum mptcp_event_type in
// include/uapi/linux/mptcp_pm.h). The numbers are fixed by the kernel's
// uAPI; gaps (4, 5, 8, 9, 12, 14) are numbers the kernel never assigned or
// retired. A Kind this package does not name still decodes: Event.Kind
// holds it and String prints "Kind(N)".
type Kind uint8

// The kinds the kernel sends on the mptcp_pm_events group. "Sends" below
// refers to net/mptcp/pm_netlink.c (mptcp_event, mptcp_event_created,
// mptcp_event_sub_established, mptcp_event_sub_closed,
// mptcp_event_addr_announced, mptcp_event_addr_removed,
// mptcp_event_pm_listener).
const (
	// Created: a new MPTCP connection exists, on the client when its SYN
	// has been answered with MP_CAPABLE, on the server when the third ACK
	// carried MP_CAPABLE. Sends token, family, the initial subflow's
	// saddr/daddr, sport, dport, loc_id and rem_id (both 0); on the server
	// side also server_side (1) and flags (FlagServerSide), and flags with
	// FlagDenyJoinID0 when the peer set that bit. A client-side event has
	// neither server_side nor flags (measured on 6.18).
	Created Kind = 1

	// Established: the connection is fully established (the peer's key
	// was confirmed, so subflows can now be added). Same attributes as
	// Created. It can come long after Created when the client sends
	// nothing.
	Established Kind = 2

	// Closed: the application closed (or disconnected) the MPTCP socket
	// (__mptcp_close and mptcp_disconnect call
	// mptcp_pm_connection_closed). The connection may still be finishing
	// its shutdown, and a connection the peer ended is not Closed until
	// the local socket is closed. Sends only the token.
	Closed Kind = 3

	// Announced: the peer announced an address (ADD_ADDR received). Sends
	// token, rem_id (the address id the peer chose), daddr4 or daddr6 and
	// dport (the announced port, or the connection's port when the
	// announcement had none). No family attribute, although the uAPI
	// comment lists one.
	Announced Kind = 6

	// Removed: the peer withdrew an address (RM_ADDR received; a peer
	// sends one also when it deletes a "subflow" endpoint). Sends token
	// and rem_id only.
	Removed Kind = 7

	// SubEstablished: a subflow finished its MP_JOIN handshake (not sent
	// for the initial subflow, which Created/Established describe). Sends
	// token, family, saddr/daddr, sport, dport, loc_id, rem_id, backup (the
	// peer's flag, see Event.Backup), if_idx when the subflow is bound to
	// a device (subflows from an endpoint with "dev" are), and error when
	// the subflow socket has one.
	SubEstablished Kind = 10

	// SubClosed: a subflow was closed (also the initial one), by the path
	// manager, by a reset, or with the connection. Same attributes as
	// SubEstablished; error carries the subflow's sk_err (only while the
	// connection is still TCP_ESTABLISHED: ECONNABORTED for a subflow
	// destroyed locally with `ss -K`, ECONNRESET for one the peer reset),
	// and when the peer's reset carried an MP_TCPRST option, reset_reason
	// and reset_flags carry its reason and transient bit
	// (mptcp_event_sub_closed). A subflow the path manager removes has
	// neither.
	SubClosed Kind = 11

	// SubPriority: the peer changed a subflow's backup priority (MP_PRIO
	// received). Same attributes as SubEstablished; backup is the new
	// value.
	SubPriority Kind = 13

	// ListenerCreated: an MPTCP listening socket was created, by an
	// application's listen(2) or by the path manager for a signal
	// endpoint with its own port. Sends family, sport and saddr4 or
	// saddr6; no token.
	ListenerCreated Kind = 15

	// ListenerClosed: an MPTCP listening socket was closed. Same
	// attributes as ListenerCreated.
	ListenerClosed Kind = 16
)

// String returns the kernel's name of k without the MPTCP_EVENT_ prefix,
// for example "SUB_CLOSED", or "Kind(N)" for a number it does not name.
func (k Kind) String() string {
	switch k {
	case Created:
		return "CREATED"
	case Established:
		return "ESTABLISHED"
	case Closed:
		return "CLOSED"
	case Announced:
		return "ANNOUNCED"
	case Removed:
		return "REMOVED"
	case SubEstablished:
		return "SUB_ESTABLISHED"
	case SubClosed:
		return "SUB_CLOSED"
	case SubPriority:
		return "SUB_PRIORITY"
	case ListenerCreated:
		return "LISTENER_CREATED"
	case ListenerClosed:
		return "LISTENER_CLOSED"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}
