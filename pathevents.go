package mptcpx

import "github.com/mptcpx/mptcpx/internal/netns"

// PathEvents reports whether this process receives the kernel's MPTCP
// path-manager events, which bring subflow changes, with their reasons, into
// the telemetry within milliseconds rather than at the next sampling
// interval: nil when it does, or would for its next connection; otherwise
// why it polls only. The error then matches os.ErrPermission when the
// process lacks CAP_NET_ADMIN (joining the events' group needs it, in the
// user namespace that owns the network namespace, since Linux 6.7), or
// errors.ErrUnsupported when the kernel has no MPTCP events (no MPTCP,
// before 5.12, or an operating system other than Linux). After a transient
// failure (the process out of descriptors, say), it returns that error
// until the next attempt, which comes with a connection after a backoff
// of a second, doubling up to five minutes. Polling works the same either
// way; WithoutPathEvents turns events off for a Dialer's or a Listener's
// connections.
//
// It asks about the process's own network namespace; connections in other
// namespaces get events where the process may enter them.
func PathEvents() error { return netns.Default.Status() }

// PathEventsLost returns how many times the kernel dropped path events
// because they came faster than the process read them (its socket's buffer
// overflowed). Each time, every connection concerned was read in full at
// once, so nothing was missed that polling would have seen.
func PathEventsLost() uint64 { return netns.Default.Lost() }
