// Package sockdiag dumps the MPTCP sockets of a network namespace, with
// each socket's struct mptcp_info, in one request to the kernel's
// NETLINK_SOCK_DIAG interface (inet_diag with the mptcp_diag handler),
// for a sampler that wants to know which of many idle connections moved
// without one getsockopt per connection.
package sockdiag
