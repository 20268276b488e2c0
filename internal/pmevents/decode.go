package pmevents

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
)

// Sizes of the headers in a generic netlink message: the netlink header
// (struct nlmsghdr), the generic netlink header (struct genlmsghdr: cmd,
// version, 2 reserved bytes) and an attribute header (struct nlattr: length
// including the header, then type). Netlink pads messages and attributes to
// multiples of 4 bytes (NLMSG_ALIGN, NLA_ALIGN).
const (
	netlinkHeaderLen = 16
	genlHeaderLen    = 4
	attrHeaderLen    = 4
	netlinkAlign     = 4
)

// attrTypeMask strips the two flag bits of nlattr.nla_type (NLA_F_NESTED,
// NLA_F_NET_BYTEORDER); the kernel sets neither on these attributes.
const attrTypeMask = 0x3fff

// hostOrder is the byte order of netlink's integer attributes and headers:
// the machine's own. Addresses and ports are big-endian.
var hostOrder = binary.NativeEndian

// align rounds n up to the netlink alignment.
func align(n int) int { return (n + netlinkAlign - 1) &^ (netlinkAlign - 1) }

// Decode decodes one generic netlink message of the mptcp_pm family into e:
// b starts at the generic netlink header (after struct nlmsghdr) and ends
// with the message's last attribute. Every field of e is overwritten.
//
// The event kind is the header's command byte. Attributes this package does
// not know (numbers above AttrServerSide) are skipped, so that a newer
// kernel's additions do not stop older readers. A known attribute must
// have exactly the width the kernel writes for it (see the Attr constants):
// anything else is reported as an error wrapping ErrMalformed rather than
// guessed at. Decode never panics and, on success, does not allocate.
func (e *Event) Decode(b []byte) error {
	*e = Event{}
	if len(b) < genlHeaderLen {
		return fmt.Errorf("%w: %d bytes, shorter than the generic netlink header", ErrMalformed, len(b))
	}
	e.Kind = Kind(b[0])

	// The address and the port of each side come in separate attributes,
	// in any order: collect them and join them at the end.
	var saddr, daddr netip.Addr
	var sport, dport uint16

	for off := genlHeaderLen; off < len(b); {
		rest := b[off:]
		if len(rest) < attrHeaderLen {
			return fmt.Errorf("%w: %d stray bytes at offset %d, shorter than an attribute header", ErrMalformed, len(rest), off)
		}
		n := int(hostOrder.Uint16(rest[0:2]))
		typ := hostOrder.Uint16(rest[2:4]) & attrTypeMask
		if n < attrHeaderLen || n > len(rest) {
			return fmt.Errorf("%w: attribute %d at offset %d says %d bytes, %d remain", ErrMalformed, typ, off, n, len(rest))
		}
		v := rest[attrHeaderLen:n]
		at := off
		// The last attribute may lack its padding.
		off += min(align(n), len(rest))

		if typ == 0 || typ > uint16(maxAttr) {
			continue
		}
		a := Attr(typ)
		if want := attrWidth[a]; len(v) != want {
			return fmt.Errorf("%w: attribute %v at offset %d has %d bytes, want %d", ErrMalformed, a, at, len(v), want)
		}
		e.Attrs = e.Attrs.with(a)
		switch a {
		case AttrToken:
			e.Token = hostOrder.Uint32(v)
		case AttrFamily:
			e.Family = hostOrder.Uint16(v)
		case AttrLocalID:
			e.LocalID = v[0]
		case AttrRemoteID:
			e.RemoteID = v[0]
		case AttrSaddr4:
			saddr = netip.AddrFrom4([4]byte(v))
		case AttrSaddr6:
			saddr = netip.AddrFrom16([16]byte(v))
		case AttrDaddr4:
			daddr = netip.AddrFrom4([4]byte(v))
		case AttrDaddr6:
			daddr = netip.AddrFrom16([16]byte(v))
		case AttrSport:
			sport = binary.BigEndian.Uint16(v)
		case AttrDport:
			dport = binary.BigEndian.Uint16(v)
		case AttrBackup:
			e.Backup = v[0] != 0
		case AttrError:
			e.Error = syscall.Errno(v[0])
		case AttrFlags:
			e.Flags = hostOrder.Uint16(v)
		case AttrTimeout:
			e.Timeout = hostOrder.Uint32(v)
		case AttrIfIndex:
			e.IfIndex = int32(hostOrder.Uint32(v))
		case AttrResetReason:
			e.ResetReason = hostOrder.Uint32(v)
		case AttrResetFlags:
			e.ResetFlags = hostOrder.Uint32(v)
		case AttrServerSide:
			e.ServerSide = v[0] != 0
		}
	}
	if e.Flags&FlagServerSide != 0 {
		e.ServerSide = true
	}
	e.Local = netip.AddrPortFrom(saddr, sport)
	e.Remote = netip.AddrPortFrom(daddr, dport)
	return nil
}

// attrWidth is the payload length the kernel writes for each attribute.
var attrWidth = [maxAttr + 1]int{
	AttrToken:       4,
	AttrFamily:      2,
	AttrLocalID:     1,
	AttrRemoteID:    1,
	AttrSaddr4:      4,
	AttrSaddr6:      16,
	AttrDaddr4:      4,
	AttrDaddr6:      16,
	AttrSport:       2,
	AttrDport:       2,
	AttrBackup:      1,
	AttrError:       1,
	AttrFlags:       2,
	AttrTimeout:     4,
	AttrIfIndex:     4,
	AttrResetReason: 4,
	AttrResetFlags:  4,
	AttrServerSide:  1,
}
