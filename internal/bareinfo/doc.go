// Package bareinfo is the floor the benchmarks measure mptcpx against:
// getsockopt(SOL_MPTCP, MPTCP_FULL_INFO) as a program would issue it by
// hand, with room for a few subflows and no decoding at all. It declares
// the request itself rather than borrowing package mptcpinfo's mirrors, so
// the baseline shares nothing with what it is compared to.
package bareinfo
