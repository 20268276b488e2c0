// Package mptcpinfo reads what the Linux kernel knows about a Multipath TCP
// connection: the connection-level struct mptcp_info and, for every subflow,
// its id, addresses and struct tcp_info. It decodes the socket options of
// SOL_MPTCP (include/uapi/linux/mptcp.h), which golang.org/x/sys/unix does
// not define, and it is usable on its own with any net.Conn that has a
// SyscallConn method.
//
//	var r mptcpinfo.Reader       // reusable; not for concurrent use
//	var s mptcpinfo.Snapshot     // reusable; Read overwrites it
//	rc, _ := conn.(*net.TCPConn).SyscallConn()
//	if err := r.Read(rc, &s); err == nil && s.MPTCP {
//		for _, sf := range s.Subflows {
//			fmt.Println(sf.ID, sf.Local, sf.Remote, sf.RTT())
//		}
//	}
//
// # The kernel-version ladder
//
// The options and their structures grew with the kernel, so the package
// probes once per process (KernelMethod) which rung the running kernel
// reaches, and each Snapshot records the rung that produced it (Method) and
// how many bytes of each structure the kernel filled (InfoLen, TCPInfoLen;
// ask with Has), so that "this kernel does not report it" is never mistaken
// for zero:
//
//   - 6.5 and later: MPTCP_FULL_INFO returns everything in one call, under
//     one socket lock. mptcp_info is 80 bytes on 6.5 (byte counters), 88 on
//     6.7 (subflows_total) and 96 since 6.10 (last_data_*); tcp_info is 248
//     bytes on 6.7 and 280 on 6.18.
//   - 5.16 to 6.4: MPTCP_INFO, MPTCP_TCPINFO and MPTCP_SUBFLOW_ADDRS, matched
//     by position (see Reader). Subflow ids are not reported (Subflow.ID is
//     0) and mptcp_info has no byte counters before 6.5.
//   - 5.6 to 5.15: no SOL_MPTCP getsockopt at all. Only SO_PROTOCOL tells
//     whether the socket was opened as MPTCP (MethodProtocol).
//
// # Fallback to TCP
//
// A connection opened as MPTCP may end up plain TCP: the peer did not answer
// the MP_CAPABLE handshake, or the connection fell back later. Since 5.16 the
// kernel then rejects every SOL_MPTCP option, with EOPNOTSUPP on an IPv4
// socket and ENOPROTOOPT on an IPv6 one; the Reader turns that into a
// Snapshot with Fallback set, after SO_PROTOCOL confirmed the socket was
// opened as MPTCP. A socket accepted by an MPTCP listener from a client that
// did not ask for MPTCP is a plain TCP socket (SO_PROTOCOL IPPROTO_TCP):
// Protocol tells it. The FlagFallback bit of mptcp_info is honoured when a
// kernel reports it. Kernels before 5.16 reject SOL_MPTCP on every socket, so
// there the error means nothing and Fallback is never set.
//
// # Memory and cost
//
// MPTCP_FULL_INFO carries the raw addresses of two arrays the kernel writes
// into. The Reader keeps them in memory it maps outside the Go heap (an
// anonymous mmap, which the garbage collector never moves), owned by the
// Reader and kept alive across the call; no stack memory is ever handed to
// the kernel. Buffers grow when the kernel
// reports more subflows than they hold, and the call is repeated, so no
// subflow is silently missing; in steady state a Read allocates nothing.
//
// On operating systems other than Linux the types exist and Read returns
// ErrNotSupported.
package mptcpinfo
