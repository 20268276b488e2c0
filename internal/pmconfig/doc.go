// Package pmconfig reads the MPTCP path-manager configuration of a network
// namespace: what decides how many paths a connection may have before any
// packet is sent.
//
// Three sources, all per network namespace:
//
//   - The limits of the in-kernel path manager: how many extra subflows a
//     connection may have, and how many addresses announced by the peer
//     (ADD_ADDR) it accepts. Generic netlink family "mptcp_pm", command
//     MPTCP_PM_CMD_GET_LIMITS; `ip mptcp limits` shows the same.
//   - The endpoints: the local addresses the in-kernel path manager uses,
//     each with an id and flags (signal: announce it to the peer; subflow:
//     open a subflow from it; backup; fullmesh; implicit: created by the
//     kernel for an address it met; laminar, Linux 6.18). Command
//     MPTCP_PM_CMD_GET_ADDR as a dump; `ip mptcp endpoint` shows the same.
//   - The sysctls under /proc/sys/net/mptcp: enabled, the path manager
//     (path_manager, "kernel" or "userspace", on newer kernels; pm_type,
//     0 or 1, on all), blackhole_timeout, syn_retrans_before_tcp_fallback,
//     add_addr_timeout, ... Which files exist depends on the kernel
//     (measured: 6.1 has add_addr_timeout, allow_join_initial_addr_port,
//     checksum_enabled, enabled, pm_type and stale_loss_cnt; 6.12 adds
//     available_schedulers, blackhole_timeout, close_timeout and
//     scheduler; 6.18 adds available_path_managers, path_manager and
//     syn_retrans_before_tcp_fallback).
//
// Read reads them in the calling thread's network namespace; ReadIn in the
// namespace of a socket (see package netns, which also lets a caller read
// other per-namespace state in the same visit).
//
// # Privilege
//
// The kernel marks each generic netlink command with the capability it
// needs (GENL_UNS_ADMIN_PERM: CAP_NET_ADMIN in the user namespace that owns
// the network namespace). GET_LIMITS has never been marked: anyone may read
// the limits. GET_ADDR was not marked from Linux 5.7 to 6.6; converting the
// family to generated operations marked it by accident in 6.7, and "mptcp:
// no admin perm to list endpoints" removed the mark again in 6.12 (and in
// the stable kernels that took the fix). So on 6.7 to 6.11 an unprivileged
// process may get EPERM for the endpoints while the limits and the sysctls
// still read. The sysctl files are world-readable. Read reports each part
// that could not be read in Config (LimitsErr, EndpointsErr, SysctlsErr) and
// in its error, wrapping os.ErrPermission or errors.ErrUnsupported, so that
// a caller can use what was read and say what was not.
//
// Reading another namespace than the process's own needs privilege of its
// own (setns, see netns.Do).
package pmconfig
