// Package pathdiag decides, for one connection, what keeps it from having
// more subflows than it has (conntrace.PathsDiagnosis): the answer to "why
// does this connection use one path when the host has two?". It is pure
// logic: the follower (internal/follow) hands it each sample of the
// connection and what is known of the connection's network namespace
// (internal/nsinfo), and it reads nothing itself.
//
// # Sources
//
// Everything comes from what a sample already read, plus the namespace's
// configuration read once per namespace:
//
//   - mptcp_info of this side (one per sample): subflows (the path
//     manager's count of extra subflows, joins in progress included),
//     subflows_max, add_addr_accepted and its max, add_addr_signal_max
//     (the namespace's signal endpoints) and local_addr_max (its subflow
//     endpoints), local_addr_used (the subflow endpoints this connection
//     used). The kernel fills the limits for the in-kernel path manager
//     only: under the userspace one they read 0 (Linux 6.x,
//     mptcp_diag_fill_info). Its counts of endpoints and limits are read
//     live, so a configuration changed since the namespace was read shows
//     as a mismatch, and asks for a new reading (Diagnosis.Stale).
//   - the subflows of the sample (which are established, which are joins
//     in progress) and what the detector made of them: joins that never
//     completed (Sample.FailedJoins), subflows gone (Sample.Removed).
//   - the path manager's events, when the process receives them
//     (Sample.PathEvents): the addresses the peer announced (ANNOUNCED,
//     REMOVED), and SUB_ESTABLISHED / SUB_CLOSED with the socket error and
//     the peer's reset reason. Measured on 6.18: a join the peer refuses
//     (its subflows limit reached) shows on the joining side as
//     SUB_ESTABLISHED, then at once SUB_CLOSED without error nor reset:
//     the peer answers the MP_JOIN SYN and refuses at the third ACK, and
//     this side's kernel resets the subflow that never became fully
//     established. A join answered by a TCP reset shows as SUB_CLOSED
//     with ECONNREFUSED, a join that got no answer as a subflow in
//     SYN_SENT given up after its SYN retransmissions.
//   - the namespace (Namespace): its path manager (sysctl), its endpoints
//     with their addresses (to leave out the connection's own address and
//     the other address family), its limits.
//
// # Rules, in order of precedence
//
// The first that holds names the limit (conntrace.PathsLimit lists them in
// this order):
//
//  1. fallback: the connection is plain TCP (Sample.Fallback).
//  2. join_rejected: a join of this connection completed its handshake and
//     was closed without error within rejectWindow, having carried
//     nothing, or was reset with MP_TCPRST "administratively prohibited";
//     and no subflow between the same two addresses was established
//     since.
//  3. join_failed: a join never completed (given up in SYN_SENT or
//     SYN_RECV, or still in SYN_SENT after its SYN was sent again twice,
//     closed with a socket error or another reset reason), and no
//     subflow between the same addresses was established since. Without
//     path events, a connection that never had a second subflow while
//     local_addr_used exceeds subflows (an endpoint was used for a join
//     that is gone) is join_failed with an unknown cause.
//  4. userspace_pm: the namespace's path manager is not the in-kernel one,
//     and the connection has a single path.
//  5. subflows_max (in-kernel path manager): subflows_max is 0, or
//     subflows has reached it while an endpoint of this side or an address
//     the peer announced is unused.
//  6. add_addr_max (in-kernel path manager): addresses the peer announced
//     are unused and add_addr_accepted has reached its max.
//  7. no_endpoint (in-kernel path manager): a single path, no address the
//     peer announced was used (add_addr_accepted 0), and no endpoint of
//     this side could open one: for a client a subflow endpoint, for a
//     server a signal endpoint, other than the connection's own address
//     and of its family.
//
// Rules 4 and 7 state an absence, which holds only once the path managers
// had their chance: the in-kernel path manager opens subflows and
// announces addresses only once the connection is fully established (its
// first data acknowledged). They wait until data moved (mptcp_info's
// snd_una or rcv_nxt moved since the first reading); before, the previous
// diagnosis stands. A join in progress also holds the diagnosis back, and
// so does a namespace not read yet (the caller reads it and asks again).
//
// # What cannot be read
//
// Without the namespace's sysctls, the userspace path manager cannot be
// told from in-kernel limits of 0; with some limit above 0 the in-kernel
// path manager is certain. Without its endpoints, their count from
// mptcp_info still proves "none"; more than none is counted as usable.
// Without path events, announcements are not seen (add_addr_max cannot be
// told) and a refused join leaves only the local_addr_used trace. Each
// shows in Diagnosis.Unknown.
package pathdiag
