// Package sockdiag lists the MPTCP sockets of a network namespace, each with
// its socket cookie and its struct mptcp_info, in one request to the
// kernel's socket diagnostics (NETLINK_SOCK_DIAG, inet_diag answered by the
// mptcp_diag handler). A sampler that follows many mostly idle connections
// asks once per scheduling slot and per namespace, matches the answer to
// the connections it follows by cookie (Cookie reads SO_COOKIE), and reads
// in full only those whose mptcp_info moved, instead of one
// getsockopt(MPTCP_INFO) per connection.
//
//	d, err := sockdiag.Open() // or OpenIn(rc): the namespace of a socket
//	if err != nil {
//		return err // ErrUnsupported: keep probing each connection
//	}
//	defer d.Close()
//	n, err := d.Dump(func(s *sockdiag.Socket) { // s is reused: copy to keep
//		if c := byCookie[s.Cookie]; c != nil {
//			c.compare(&s.Info, s.InfoLen)
//		}
//	})
//
// A dump needs no privilege, and in steady state allocates nothing.
// README.md beside this file has the measured costs and when a dump pays
// off.
//
// # The request
//
// What the kernel needs (net/core/sock_diag.c, net/ipv4/inet_diag.c,
// net/mptcp/mptcp_diag.c):
//
//   - A SOCK_DIAG_BY_FAMILY request with NLM_F_DUMP and a struct
//     inet_diag_req_v2 whose sdiag_family is AF_INET or AF_INET6. sock_diag
//     hands a request to the handler of its family and has none for
//     AF_UNSPEC, and mptcp_diag lists only sockets of the family asked
//     for: Dump makes one request per family (DumpFamily makes one).
//   - The protocol, IPPROTO_MPTCP (262), in an INET_DIAG_REQ_PROTOCOL
//     attribute (a u32, Linux 5.9+), because sdiag_protocol is one byte.
//     The attribute takes precedence; sdiag_protocol is left 0, which no
//     handler serves, so that a kernel that ignores the attribute answers
//     ENOENT instead of dumping TCP sockets (262 & 0xff is IPPROTO_TCP)
//     whose tcp_info would be taken for mptcp_info.
//   - idiag_ext with the INET_DIAG_INFO bit, for struct mptcp_info.
//   - idiag_states: every state but LISTEN. mptcp_diag filters the
//     connection sockets by state; listeners are walked separately (Linux
//     5.19+, when LISTEN is asked for) and are never followed.
//
// No filter (bytecode, ports) makes the kernel's walk shorter: mptcp_diag
// walks its whole table whatever the request selects. The handler is the
// module mptcp_diag (CONFIG_INET_MPTCP_DIAG); inet_diag loads it on the
// first request for IPPROTO_MPTCP, whoever asks, where it is not built in.
//
// # The answer
//
// One message per socket: struct inet_diag_msg, whose idiag_cookie is the
// socket's cookie (sock_gen_cookie of the MPTCP-level socket, the value
// getsockopt(SO_COOKIE) returns on the connection's descriptor), and an
// INET_DIAG_INFO attribute of exactly the running kernel's
// sizeof(struct mptcp_info): 40 bytes on 5.9, 48 from 5.12, 80 on 6.5, 88
// on 6.7, 96 since 6.10. A field exists only when that length covers it,
// the rule of package mptcpinfo (Socket.Has). The kernel fills it with
// mptcp_diag_fill_info, the function getsockopt(MPTCP_INFO) also calls
// since 5.16, so the two agree (TestDumpAgreesWithGetsockopt); it takes
// the socket's locks per socket (5.9 to 5.18 and again since 6.5; 5.19 to
// 6.4 read without them). The answer ends with NLMSG_DONE, whose int is the
// dump's error: an unknown protocol (no mptcp_diag, no MPTCP) ends it with
// ENOENT, reported as ErrUnsupported. A request refused before the dump
// starts (a malformed one; EBUSY while another dump of the same socket is
// unread) gets NLMSG_ERROR instead.
//
// # Which sockets
//
// mptcp_diag walks the kernel's MPTCP token table, which holds every
// MPTCP socket that has a connection: a client from connect() on
// (SYN_SENT), an accepted socket, in every state until the kernel frees
// it. A socket the process still holds is listed whatever its state, so a
// followed connection is always there. Not listed: listeners (see above),
// sockets that never connected, and the plain TCP socket an MPTCP listener
// accepts from a client that did not ask for MPTCP. A connection that fell
// back to TCP stays listed on the side that opened it as MPTCP, with
// mptcpinfo.FlagFallback set, where getsockopt(SOL_MPTCP) fails
// (TestDumpFallback). A closed socket leaves the table when the kernel
// frees it: at once when both ends closed on loopback; a socket closed
// while its peer is still open lingers, orphaned, and stays listed under
// its cookie until the kernel gives up on it.
//
// The table is global: one for all network namespaces, sized at boot, one
// bucket per MB of memory up to 64K ("MPTCP token hash table entries" in
// the kernel log). Every request walks all its buckets and every MPTCP
// socket of every namespace, and keeps those of the request's namespace
// and family. That walk is the fixed cost of a dump: it grows with the
// machine's memory and with the MPTCP sockets of other namespaces, not
// only with those listed.
//
// The dump is not a snapshot. The kernel fills one datagram at a time and
// resumes from a position (bucket, rank in the bucket's chain): a socket
// inserted into or removed from that chain in between shifts the rest, so
// that a socket next to it can be skipped or listed twice, and the kernel
// does not flag it (no NLM_F_DUMP_INTR). A followed connection missing from
// a dump is not proof that it closed: read it individually.
//
// # Privilege and namespaces
//
// sock_diag asks no capability for a dump, and mptcp_diag fills
// INET_DIAG_INFO for anyone (CAP_NET_ADMIN only adds INET_DIAG_MARK):
// TestUnprivileged dumps as user 65534 without capabilities and gets every
// socket of a root-owned process with its mptcp_info.
//
// A netlink socket belongs to the network namespace of the thread that
// creates it, and a dump lists the sockets of that namespace. Open uses
// the calling thread's; OpenIn a given socket's, the way the project's
// path-event watchers reach a connection's namespace (locked thread,
// SIOCGSKNS, setns): a caller that groups its connections by namespace
// needs nothing else, and in the process's own namespace OpenIn needs no
// privilege. Entering another namespace does (CAP_NET_ADMIN there for
// SIOCGSKNS, CAP_SYS_ADMIN for setns).
//
// # Kernels
//
// mptcp_diag and INET_DIAG_REQ_PROTOCOL came in Linux 5.9, so a dump works
// from 5.9 on, with INET_DIAG_INFO from the start; before, Open fails with
// ErrUnsupported. The project's kernel matrix (scripts/kernel-matrix):
// Debian's 5.10 has no MPTCP at all (ENOENT: ErrUnsupported, TestWithoutMPTCP);
// 6.1 dumps with a 48-byte mptcp_info (no byte counters); 6.12 and 6.18
// with 96 bytes. Every test of the package passes on each.
//
// # Why not mdlayher/netlink
//
// netlink.Conn.Receive peeks at each datagram to allocate a buffer of its
// size and unpacks it into a new []netlink.Message whose Data are new
// slices: allocations per datagram and per socket, thousands per dump of a
// busy namespace, every slot. A dump needs much less: write one request,
// read datagrams into one 32 KiB buffer (the kernel fills each datagram to
// the largest read it has seen, capped just under 32 KiB: about 140
// sockets), decode in place. The Dumper does that with write(2) and
// recvfrom(2) on a blocking socket outside Go's network poller: the kernel
// builds the next datagram of a dump inside the read that takes the
// previous one (netlink_recvmsg runs the dump on), so a read never waits
// for the network; a receive timeout only guards against a broken kernel.
// MSG_TRUNC tells a datagram too large for the buffer (reported, never
// decoded cut off). Sequence numbers tell an earlier, abandoned answer
// (a callback that panicked) from the current one; it is drained first,
// since the kernel runs one dump per socket at a time.
package sockdiag
