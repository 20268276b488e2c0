package pmevents

import "errors"

var (
	// ErrUnsupported reports that this system cannot deliver MPTCP
	// path-manager events: not Linux, a kernel without MPTCP (no mptcp_pm
	// generic netlink family), or a kernel older than 5.12 whose mptcp_pm
	// family has no mptcp_pm_events multicast group.
	ErrUnsupported = errors.New("pmevents: no MPTCP path-manager events here (needs Linux 5.12+ with CONFIG_MPTCP)")

	// ErrPermission reports that the kernel refused to let this process
	// join the mptcp_pm_events group: that needs CAP_NET_ADMIN in the user
	// namespace that owns the network namespace. genl_bind checks it for
	// groups registered with GENL_MCAST_CAP_NET_ADMIN, as mptcp_pm_events
	// is since Linux 6.7 (and the stable kernels that took that fix);
	// older kernels let any process join. The error also matches
	// os.ErrPermission and the EPERM the kernel returned.
	ErrPermission = errors.New("pmevents: joining mptcp_pm_events needs CAP_NET_ADMIN in the network namespace's user namespace")

	// ErrLost reports that the kernel dropped events because the socket's
	// receive buffer was full (it returned ENOBUFS). Which events, and how
	// many, the kernel does not say: a caller that keeps state from events
	// must rebuild it from a full sample. The Listener keeps working;
	// call Receive again.
	ErrLost = errors.New("pmevents: events lost, the receive buffer overflowed (ENOBUFS)")

	// ErrMalformed is wrapped by every decoding error: a message or
	// attribute shorter than its header says, or an attribute whose length
	// is not the width the kernel writes for it.
	ErrMalformed = errors.New("pmevents: malformed event message")
)
