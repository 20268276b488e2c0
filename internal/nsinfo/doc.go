// Package nsinfo keeps, per network namespace, what the path diagnosis and
// the metrics need to know of it beyond its connections: the path
// manager's configuration (package pmconfig: endpoints, limits, sysctls)
// and its MPTcpExt counters (package mibstat). The cost is per namespace,
// not per connection.
//
// # Configuration
//
// A namespace's configuration is read once, when its first connection
// joins (Registry.Join), on a goroutine of its own: nothing runs on a
// connection's path but a map lookup. (The process's own namespace is
// learnt, and its counters read once, when the first Dialer or Listener is
// built: Registry.Warm.) The kernel
// sends no event when endpoints, limits or sysctls change (measured on
// 6.18: `ip mptcp limits set`, `ip mptcp endpoint add|flush` and a write
// to net.mptcp.path_manager send nothing on mptcp_pm_events), so the
// configuration is read again:
//
//   - when a diagnosis finds it out of date: mptcp_info's counts of
//     endpoints and limits, which the kernel reads from the namespace at
//     every call, disagree with it (Handle.Refresh, from the follower);
//   - when the connection's path events report a subflow closed or an
//     address withdrawn (an endpoint may have been deleted);
//   - slowly: at a connection's full reading once it is older than
//     SlowRefresh.
//
// Readings are at most one per MinRefresh per namespace; a reading that
// changed what the diagnosis uses has every connection of the namespace
// diagnosed again (Target.Reconsider). Reading another namespace than the
// process's own needs privilege (netns.Do); without it the Config says so
// (pathdiag.Namespace.Entered false) and the diagnosis works from
// mptcp_info alone.
//
// # Counters
//
// The MPTcpExt counters are read on two occasions only, never by a
// periodic sample: when a metric reader collects (Registry.Collect, for the
// process's own namespace and those with followed connections), and for a
// client connection that fell back to TCP at its handshake, to tell
// whether the kernel's blackhole detection made it plain TCP
// (Handle.ActiveMPTCPOff), at most once per MinCounterRead per namespace.
// Each reading of a namespace costs 0.1 to 0.2 ms of kernel time (the
// kernel prints the whole netstat file). The Reader stays open, bound to its
// namespace, while the namespace has connections, and Linger after (the
// process's own: until Flush).
package nsinfo
