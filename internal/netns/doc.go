// Package netns runs code inside the network namespace of a socket.
//
// Much of what the kernel says about MPTCP is per network namespace: the
// path manager's limits and endpoints (generic netlink, family mptcp_pm),
// the sysctls under /proc/sys/net/mptcp, the MPTcpExt counters of
// /proc/net/netstat. A netlink socket talks to the namespace it was created
// in; a file under /proc/sys/net or /proc/thread-self/net shows the
// namespace of the thread that opened it. Namespaces belong to threads, not
// processes: reading them for a connection means running on an OS thread
// that is in the connection's namespace.
//
// Do does that for the socket behind a syscall.RawConn: it runs a function
// on a goroutine locked to its OS thread, in the socket's namespace, so
// that one visit can read everything (pmconfig.Read and mibstat.Open, for
// instance) at once. When the thread is already in that namespace (the
// common case: a process's connections live in its own namespace) nothing
// is switched and no privilege is needed. Otherwise the thread enters the
// namespace with setns(2) and leaves it afterwards, which needs privilege
// (see Do).
package netns
