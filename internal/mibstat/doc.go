// Package mibstat reads the kernel's MPTCP counters of a network namespace:
// the MPTcpExt section of /proc/net/netstat (net/mptcp/mib.c), which counts
// what happened to every MPTCP handshake, join, address announcement and
// fallback in the namespace. Deltas between two readings tell why
// connections got fewer paths than the configuration allows: joins
// rejected (MPJoinRejected), announcements dropped (AddAddrDrop), MPTCP
// SYNs dropped by a middlebox (MPCapableSYNTXDrop, Blackhole) and active
// MPTCP turned off since (MPCapableSYNTXDisabled).
//
// The counters are per network namespace: /proc/net/netstat shows those of
// the namespace of the process's main thread, /proc/thread-self/net/netstat
// those of the calling thread's. Open opens the latter, in the calling
// thread's namespace (OpenIn: a socket's); the open file stays bound to that
// namespace, so the Reader can be read from any goroutine afterwards,
// without entering the namespace again and without privilege. The file is
// world-readable.
//
// Reading is meant to happen at every metric collection: Reader.Read reads
// the file with pread(2) into a buffer it keeps, and Parse writes the
// values into a Snapshot whose names it parsed once, so that steady-state
// reading does not allocate (BenchmarkRead, BenchmarkParse). Every counter
// the kernel prints is kept by name; the Counter constants give typed
// access to those that explain paths. A counter the running kernel does
// not print is absent, not zero.
//
// # Cost
//
// The kernel prints the whole netstat file (TcpExt, IpExt and MPTcpExt)
// on every read: about 0.1 ms of system time on a 2-vCPU machine, against
// 2 to 3 µs for Parse. Read once per collection interval and namespace,
// not per connection.
package mibstat
