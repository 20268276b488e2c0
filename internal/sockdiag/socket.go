package sockdiag

import (
	"errors"
	"fmt"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Socket is one MPTCP socket as a dump reports it. Dump hands the same
// *Socket to every call of its callback, overwritten for each socket: copy
// what must outlive the call.
type Socket struct {
	// Cookie is the kernel's socket cookie (idiag_cookie): the value
	// getsockopt(SO_COOKIE) returns for the same socket (see Cookie), unique
	// while the kernel runs and never reused.
	Cookie uint64
	// Family is the socket's address family: AF_INET (2) or AF_INET6 (10).
	// An IPv6 socket may carry an IPv4 connection (IPv4-mapped addresses).
	Family uint8
	// State is the TCP state of the MPTCP-level socket (1 ESTABLISHED,
	// 4 FIN_WAIT1, 7 CLOSE, 8 CLOSE_WAIT, ...), not of its subflows.
	State uint8
	// Info is the socket's struct mptcp_info. Only its first InfoLen bytes
	// come from the kernel; the rest is zero.
	Info mptcpinfo.Info
	// InfoLen is how many bytes of mptcp_info the kernel returned: the size
	// of its struct mptcp_info (40 on 5.9, 48 on 5.12, 80 on 6.5, 88 on 6.7,
	// 96 since 6.10), capped at mptcpinfo.SizeofInfo. 0 when the message
	// carried no INET_DIAG_INFO attribute.
	InfoLen int
}

// Has reports whether the kernel filled the mptcp_info field f, with the
// rule mptcpinfo.Snapshot.Has applies to a getsockopt answer: a field exists
// only when the returned length covers it. Fields that are not part of
// mptcp_info (subflow lists, tcp_info) are never present in a dump.
func (s *Socket) Has(f mptcpinfo.Field) bool {
	snap := mptcpinfo.Snapshot{InfoLen: s.InfoLen}
	return snap.Has(f)
}

var (
	// ErrUnsupported reports that this system cannot dump MPTCP sockets:
	// not Linux, a kernel without MPTCP, one older than 5.9 (no mptcp_diag,
	// no INET_DIAG_REQ_PROTOCOL), or one built without
	// CONFIG_INET_MPTCP_DIAG. It matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("sockdiag: no MPTCP socket dump here (needs Linux 5.9+ with CONFIG_MPTCP and CONFIG_INET_MPTCP_DIAG): %w", errors.ErrUnsupported)

	// ErrMalformed is wrapped by every error about the kernel's answer
	// itself: a message or attribute shorter than its header says, a
	// datagram larger than the receive buffer. The sockets that could be
	// decoded were delivered; the others were not.
	ErrMalformed = errors.New("sockdiag: malformed sock_diag answer")

	// ErrInterrupted reports a dump whose messages carried
	// NLM_F_DUMP_INTR: the kernel says the set of sockets changed while it
	// walked it. inet_diag does not set it today (its walk is not checked
	// for consistency at all, see the package documentation); it is
	// reported should a kernel start to.
	ErrInterrupted = errors.New("sockdiag: dump interrupted by concurrent changes (NLM_F_DUMP_INTR)")
)
