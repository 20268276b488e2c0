package pmevents

// DefaultReadBuffer is the receive buffer size Open asks for (SO_RCVBUF),
// 1 MiB. The kernel charges each queued event at its skb's truesize and
// drops events once the charge exceeds the buffer (see ErrLost). Measured
// on 6.18 x86_64: 832 bytes per event (an event is built in a page-sized
// skb, nlmsg_new(NLMSG_DEFAULT_SIZE), which netlink_trim shrinks before
// queueing it), so the default, which the kernel doubles to 2 MiB, holds
// about 2500 events. A connection gives 3 (CREATED, ESTABLISHED, CLOSED)
// plus 2 per extra subflow: some 500 connections may come and go while the
// reader is descheduled.
//
// Open uses SO_RCVBUFFORCE, which lifts the net.core.rmem_max cap for a
// process with CAP_NET_ADMIN in the initial user namespace, and falls back
// to SO_RCVBUF, which the kernel caps at rmem_max (208 KiB by default:
// about 500 events), for example in a container whose user namespace owns
// its network namespace (joining the group needs CAP_NET_ADMIN only there).
// ReadBuffer reports the doubled figure.
const DefaultReadBuffer = 1 << 20

// Stats counts what a Listener has received since Open. Counters only
// grow.
type Stats struct {
	// Events is the number of events decoded and passed to callbacks.
	Events uint64
	// Overflows is the number of times the kernel reported ENOBUFS: each
	// is a gap of unknown size in the event stream (ErrLost).
	Overflows uint64
	// Malformed is the number of messages that failed to decode or
	// arrived truncated, and were skipped (ErrMalformed).
	Malformed uint64
	// Foreign is the number of datagrams ignored because a process, not
	// the kernel, sent them (anyone may send a unicast datagram to a
	// netlink socket; only the kernel's are events).
	Foreign uint64
}
