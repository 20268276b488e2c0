package pmevents

import "fmt"

// datagram walks the netlink messages in one received datagram. The kernel
// sends each event in its own datagram (genlmsg_multicast_netns sends one
// skb per event), but netlink allows several messages per datagram, so the
// walk does not assume one. The caller skips messages whose type is not
// the family's id (control messages such as NLMSG_NOOP or NLMSG_DONE,
// which a socket that only listens is not sent anyway).
type datagram struct {
	b   []byte
	off int
}

// next returns the next message's type and its payload (what follows
// struct nlmsghdr), or ok false at the end. A message whose header is cut
// off or whose length is impossible ends the walk with an error wrapping
// ErrMalformed; the rest of the datagram cannot be framed.
func (d *datagram) next() (typ uint16, payload []byte, ok bool, err error) {
	rest := d.b[d.off:]
	if len(rest) == 0 {
		return 0, nil, false, nil
	}
	if len(rest) < netlinkHeaderLen {
		at := d.off
		d.off = len(d.b)
		return 0, nil, false, fmt.Errorf("%w: %d stray bytes at offset %d, shorter than a netlink header", ErrMalformed, len(rest), at)
	}
	n := hostOrder.Uint32(rest[0:4])
	if n < netlinkHeaderLen || n > uint32(len(rest)) {
		at := d.off
		d.off = len(d.b)
		return 0, nil, false, fmt.Errorf("%w: netlink message at offset %d says %d bytes, %d remain", ErrMalformed, at, n, len(rest))
	}
	typ = hostOrder.Uint16(rest[4:6])
	payload = rest[netlinkHeaderLen:n]
	d.off += min(align(int(n)), len(rest))
	return typ, payload, true, nil
}
