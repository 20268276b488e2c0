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
// # Which kernel prints what
//
// Measured on the kernels of the project's matrix:
//
//	6.1   56 counters
//	6.12  70: + MPJoinSynTx (and its CreatSkErr, BindErr, ConnectErr),
//	      AddAddrTx, AddAddrTxDrop, EchoAddTx, EchoAddTxDrop, RmAddrTx,
//	      RmAddrTxDrop, MPCurrEstab, MPCapableSYNTXDrop,
//	      MPCapableSYNTXDisabled, Blackhole
//	6.18  76: + MPJoinRejected, MPCapableDataFallback, MD5SigFallback,
//	      DssFallback, SimultConnectFallback, FallbackFailed, WinProbe;
//	      - RcvPruned
//
// Counters come and go: code must ask (Snapshot.Get reports presence)
// rather than assume. Debian's 5.10 has no MPTCP and no MPTcpExt section:
// Open fails with ErrNoMPTCP.
//
// # What moves where (measured on 6.18; the tests check every kernel)
//
// Each namespace counts what its own sockets do: a join moves MPJoinSynTx
// and MPJoinSynAckRx on the joining side, MPJoinSynRx and MPJoinAckRx on
// the other, and nothing in a third namespace (TestJoinCounters). Paths
// that are missing leave these traces:
//
//   - subflows limit of the peer: MPJoinRejected on the peer; on the
//     joining side MPJoinSynTx, MPJoinSynAckRx and MPRstTx
//     (TestJoinRejected).
//   - add_addr_accepted limit: AddAddr and EchoAddTx, no join; the peer
//     counts AddAddrTx and EchoAdd (TestAddAddrNotAccepted).
//   - userspace path manager without a daemon: AddAddr and AddAddrDrop for
//     every announcement, no echo (TestAddAddrDroppedUserspacePM). The
//     kernel decides "no daemon" machine-wide: a socket that joined
//     mptcp_pm_events in any namespace (a process of this library
//     receiving path events, for one) makes it echo the announcements
//     instead, and still open no subflow
//     (TestAddAddrUserspacePMListenerElsewhere).
//   - MP_CAPABLE SYNs dropped by a middlebox: the dial takes about 3 s
//     (syn_retrans_before_tcp_fallback 2) and falls back; MPCapableSYNTX,
//     MPCapableSYNTXDrop and Blackhole move on the client, nothing on the
//     server. Active MPTCP is then off in the namespace for
//     net.mptcp.blackhole_timeout: later dials are plain TCP at once and
//     count MPCapableSYNTXDisabled, even after the middlebox is gone, until
//     the period ends or someone writes the sysctl (TestBlackhole). The
//     sockets look like any other fallback: SO_PROTOCOL IPPROTO_MPTCP,
//     TCP_IS_MPTCP 0, MPTCP_INFO failing with EOPNOTSUPP (IPv4); nothing
//     but these counters tells why.
//
// # Cost
//
// The kernel prints the whole netstat file (TcpExt, IpExt and MPTcpExt)
// on every read: about 0.1 ms of system time on a 2-vCPU machine, against
// 2 to 3 µs for Parse. Read once per collection interval and namespace,
// not per connection.
package mibstat
