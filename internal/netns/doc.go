// Package netns keeps what the engine needs per network namespace, and runs
// code inside the network namespace of a socket.
//
// Much of what the kernel says about MPTCP is per network namespace: the
// path manager's events (the mptcp_pm_events group of generic netlink),
// its limits and endpoints (family mptcp_pm), the sysctls under
// /proc/sys/net/mptcp, the MPTcpExt counters of /proc/net/netstat. A
// netlink socket talks to the namespace it was created in; a file under
// /proc/sys/net or /proc/thread-self/net shows the namespace of the thread
// that opened it. Namespaces belong to threads, not processes: reading them
// for a connection means running on an OS thread that is in the
// connection's namespace.
//
// Do does that for the socket behind a syscall.RawConn: it runs a function
// on a goroutine locked to its OS thread, in the socket's namespace, so
// that one visit can read everything at once. When the thread is already
// in that namespace (the common case: a process's connections live in its
// own namespace) nothing is switched and no privilege is needed. Otherwise
// the thread enters the namespace with setns(2) and leaves it afterwards,
// which needs privilege (see Do).
//
// # The registry
//
// A Registry keeps, per namespace (known by its cookie, SO_NETNS_COOKIE:
// the same for every socket of a namespace, never reused while the kernel
// runs), the watcher of the kernel's MPTCP path-manager events there: one
// netlink socket and one goroutine for every followed connection of the
// namespace, opened when the first connection of the namespace is followed
// and closed after the last one. Nothing runs on a connection's dial or
// accept path but a map lookup: watchers are opened on goroutines of their
// own, and the watcher of the process's own namespace is kept for a while
// after its last connection (Linger), so that a program opening one short
// connection at a time (a health check, a command-line tool) opens it once.
//
// A watcher that cannot be opened, or whose socket fails, is retried with an
// exponential backoff: a transient error (the process out of descriptors,
// say) does not turn events off for good. Status reports what holds now for
// the process's own namespace.
package netns
