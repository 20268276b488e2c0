// Package pmevents receives the Linux kernel's MPTCP path-manager events:
// a connection was created, established or closed, a subflow was
// established, closed or changed priority, the peer announced or removed an
// address, an MPTCP listening socket was created or closed. They let a
// sampler react to changes at once instead of discovering them at its next
// poll.
//
// The kernel multicasts the events on the generic netlink family
// "mptcp_pm", group "mptcp_pm_events" (net/mptcp/pm_netlink.c: mptcp_event
// and its helpers, since Linux 5.12), to sockets of the network namespace
// where they happen; nothing is built or sent while no socket has joined
// (genl_has_listeners). This package uses github.com/mdlayher/genetlink to
// resolve the family and join the group, and decodes the event attributes
// itself (Event.Decode), without allocating.
//
//	l, err := pmevents.Open() // in the network namespace to watch
//	if err != nil {
//		return err // ErrUnsupported, ErrPermission: fall back to polling
//	}
//	defer l.Close()
//	for {
//		err := l.Receive(func(e *pmevents.Event) { ... }) // e is reused
//		switch {
//		case errors.Is(err, pmevents.ErrLost):
//			// events were dropped: resample everything
//		case errors.Is(err, net.ErrClosed):
//			return
//		}
//	}
//
// # Privilege
//
// Joining the group needs CAP_NET_ADMIN in the user namespace that owns the
// network namespace (since Linux 6.7 and the stable kernels that took that
// fix; before, anyone could join). Without
// it Open fails with ErrPermission, which wraps the EPERM the kernel
// returns for setsockopt(NETLINK_ADD_MEMBERSHIP). Probe tells in advance.
//
// # Loss
//
// The kernel queues events on the socket until its receive buffer is full
// and drops the rest; the next receive then fails with ENOBUFS, once, and
// the events queued before the drop are still there. Receive reports that
// as ErrLost and Stats counts it: the caller cannot know which events were
// lost and must rebuild its state from a full sample. DefaultReadBuffer
// says how many events fit.
//
// # What the kernel sends
//
// Observed on Linux 6.18 (the tests on the test bed check it):
//
//	CREATED, ESTABLISHED  token family saddr daddr sport dport loc_id rem_id
//	                      (+ server_side, flags on the server side)
//	CLOSED                token
//	ANNOUNCED             token rem_id daddr dport (no family)
//	REMOVED               token rem_id
//	SUB_ESTABLISHED,      token family saddr daddr sport dport loc_id rem_id backup
//	SUB_PRIORITY          (+ if_idx when bound to a device, error when set)
//	SUB_CLOSED            as SUB_ESTABLISHED (+ error, reset_reason, reset_flags)
//	LISTENER_CREATED,     family saddr sport
//	LISTENER_CLOSED
//
// The Kind and Attr constants and the Event fields say more about each.
//
// On kernels configured for the userspace path manager
// (net.mptcp.pm_type=1), a socket in the group is what tells the kernel
// that a path manager daemon is running (mptcp_userspace_pm_active): there,
// merely joining makes the kernel accept subflows and addresses it would
// otherwise refuse. With the default in-kernel path manager joining changes
// nothing but the cost of building the events.
package pmevents
