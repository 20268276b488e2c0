package pmconfig

import (
	"fmt"
	"net/netip"
	"strings"
)

// Config is a network namespace's MPTCP path-manager configuration. A part
// that could not be read is left zero and its error field says why; the
// other parts are still valid.
type Config struct {
	// Limits of the in-kernel path manager, valid when LimitsErr is nil.
	Limits    Limits
	LimitsErr error

	// Endpoints in the kernel's order (by id), valid when EndpointsErr is
	// nil; empty when none is configured, which is the default: a fresh
	// namespace gives a connection one path until endpoints are added.
	Endpoints    []Endpoint
	EndpointsErr error

	// Sysctls under /proc/sys/net/mptcp, valid when SysctlsErr is nil.
	Sysctls    Sysctls
	SysctlsErr error
}

// Limits are the in-kernel path manager's per-connection limits
// (`ip mptcp limits`), the same for every connection of the namespace.
// A new namespace starts with subflows 2 and add_addr_accepted 0 (measured
// on 6.1, 6.12 and 6.18); the kernel refuses values above 8
// (MPTCP_PM_ADDR_MAX). The userspace path manager ignores them.
type Limits struct {
	// Subflows is the most subflows a connection may have beside the
	// initial one, whether it opens them (subflow endpoints, accepted
	// announcements) or the peer does (MP_JOIN requests the kernel
	// accepts). MPTCP_PM_ATTR_SUBFLOWS.
	Subflows uint32
	// AddAddrAccepted is the most addresses announced by the peer
	// (ADD_ADDR) that a connection uses to open subflows; further
	// announcements are acknowledged and ignored.
	// MPTCP_PM_ATTR_RCV_ADD_ADDRS.
	AddAddrAccepted uint32
}

// Endpoint is one local address the in-kernel path manager knows
// (`ip mptcp endpoint`).
type Endpoint struct {
	// ID identifies the endpoint in the namespace (1 to 255; the kernel
	// gives one when none is asked for). Subflows and announcements carry
	// it as their local address id.
	ID uint8
	// Addr is the address, IPv4 or IPv6 as configured.
	Addr netip.Addr
	// Port is the endpoint's own port, 0 when it has none (subflows then
	// use the connection's port; a signal endpoint with a port makes the
	// kernel listen on it).
	Port uint16
	// IfIndex is the device the endpoint is bound to, 0 when none.
	// Indexes are per network namespace.
	IfIndex int32
	// Flags say what the path manager does with the address.
	Flags Flags
}

func (e Endpoint) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "id %d %v", e.ID, e.Addr)
	if e.Port != 0 {
		fmt.Fprintf(&b, " port %d", e.Port)
	}
	if e.IfIndex != 0 {
		fmt.Fprintf(&b, " ifindex %d", e.IfIndex)
	}
	if e.Flags != 0 {
		fmt.Fprintf(&b, " %v", e.Flags)
	}
	return b.String()
}

// Flags are an endpoint's MPTCP_PM_ADDR_FLAG_* bits
// (include/uapi/linux/mptcp.h).
type Flags uint32

// The endpoint flags. Bits the kernel adds later are kept as read and
// printed in hexadecimal.
const (
	// Signal: announce the address to the peer (ADD_ADDR), within the
	// peer's add_addr_accepted limit.
	Signal Flags = 1 << 0
	// Subflow: open a subflow from this address to the peer, within the
	// subflows limit.
	Subflow Flags = 1 << 1
	// Backup: subflows from this address are backups (MP_PRIO), used
	// only when no other subflow is available.
	Backup Flags = 1 << 2
	// Fullmesh: open a subflow from this address to every address the
	// peer announced (Linux 5.15+).
	Fullmesh Flags = 1 << 3
	// Implicit: created by the kernel, not by the administrator, to give
	// an id to a local address that a subflow used without an endpoint
	// (Linux 5.18+).
	Implicit Flags = 1 << 4
	// Laminar: use this address for subflows to addresses the peer
	// announced, at most one each (Linux 6.18+).
	Laminar Flags = 1 << 5
)

var flagNames = [...]string{"signal", "subflow", "backup", "fullmesh", "implicit", "laminar"}

// String lists the flags as `ip mptcp endpoint` names them, for example
// "signal,backup"; unknown bits follow in hexadecimal.
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var b strings.Builder
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(name)
		}
	}
	if rest := f &^ (1<<len(flagNames) - 1); rest != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%#x", uint32(rest))
	}
	return b.String()
}
