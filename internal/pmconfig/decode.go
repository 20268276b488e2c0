package pmconfig

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
)

// ErrMalformed is wrapped by every error about a reply the kernel would not
// send: an attribute of the wrong width, an address of the wrong family,
// truncated attributes.
var ErrMalformed = errors.New("pmconfig: malformed path-manager reply")

// Attribute numbers of the mptcp_pm family (include/uapi/linux/mptcp_pm.h,
// generated from Documentation/netlink/specs/mptcp_pm.yaml). The widths
// are those the kernel writes (mptcp_pm_nl_get_limits_doit and
// mptcp_nl_fill_addr): integers in host byte order, except the IPv4
// address, which is in network byte order. The port, though the spec says
// big-endian, is written with nla_put_u16(ntohs(port)): host order
// (TestEndpointsReadBack checks it on the running kernel).
const (
	// Top-level attributes (MPTCP_PM_ATTR_*).
	attrAddr         = 1 // nested address (MPTCP_PM_ATTR_ADDR; MPTCP_PM_ENDPOINT_ADDR has the same number)
	attrRcvAddAddrs  = 2 // u32: the add_addr_accepted limit
	attrSubflows     = 3 // u32: the subflows limit
	addrAttrFamily   = 1 // u16: AF_INET or AF_INET6 (MPTCP_PM_ADDR_ATTR_*)
	addrAttrID       = 2 // u8
	addrAttrAddr4    = 3 // 4 bytes, network order
	addrAttrAddr6    = 4 // 16 bytes
	addrAttrPort     = 5 // u16, host order
	addrAttrFlags    = 6 // u32: MPTCP_PM_ADDR_FLAG_*
	addrAttrIfIndex  = 7 // s32
	familyInet       = 2
	familyInet6      = 10
	maxKnownAddrAttr = addrAttrIfIndex
)

// decodeLimits decodes the attributes of a GET_LIMITS reply (the bytes
// after the generic netlink header). Both limits must be present: the
// kernel always sends them.
func decodeLimits(b []byte) (Limits, error) {
	var l Limits
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return l, fmt.Errorf("%w: limits: %w", ErrMalformed, err)
	}
	var seen int
	for ad.Next() {
		switch ad.Type() {
		case attrRcvAddAddrs:
			l.AddAddrAccepted = ad.Uint32()
			seen |= 1
		case attrSubflows:
			l.Subflows = ad.Uint32()
			seen |= 2
		}
	}
	if err := ad.Err(); err != nil {
		return Limits{}, fmt.Errorf("%w: limits: %w", ErrMalformed, err)
	}
	if seen != 3 {
		return Limits{}, fmt.Errorf("%w: limits: the reply lacks the subflows or the add_addr_accepted limit", ErrMalformed)
	}
	return l, nil
}

// decodeEndpoint decodes the attributes of one GET_ADDR reply: a single
// nested address attribute.
func decodeEndpoint(b []byte) (Endpoint, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%w: endpoint: %w", ErrMalformed, err)
	}
	var e Endpoint
	found := false
	for ad.Next() {
		if ad.Type() != attrAddr {
			continue
		}
		if found {
			return Endpoint{}, fmt.Errorf("%w: endpoint: two address attributes in one message", ErrMalformed)
		}
		found = true
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			e, err = decodeAddress(nad)
			return err
		})
	}
	if err := ad.Err(); err != nil {
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: endpoint: %w", ErrMalformed, err)
		}
		return Endpoint{}, err
	}
	if !found {
		return Endpoint{}, fmt.Errorf("%w: endpoint: no address attribute", ErrMalformed)
	}
	return e, nil
}

// decodeAddress decodes the attributes nested in MPTCP_PM_ATTR_ADDR. The
// kernel always writes the family, the id, the flags and the address of
// that family; the port and the device index may be absent (then 0).
func decodeAddress(ad *netlink.AttributeDecoder) (Endpoint, error) {
	var e Endpoint
	var family uint16
	var seen uint32
	for ad.Next() {
		t := ad.Type()
		if t <= maxKnownAddrAttr {
			if seen&(1<<t) != 0 {
				return Endpoint{}, fmt.Errorf("%w: endpoint: address attribute %d twice", ErrMalformed, t)
			}
			seen |= 1 << t
		}
		switch t {
		case addrAttrFamily:
			family = ad.Uint16()
		case addrAttrID:
			e.ID = ad.Uint8()
		case addrAttrAddr4:
			ad.Do(func(b []byte) error {
				if len(b) != 4 {
					return fmt.Errorf("%w: endpoint: IPv4 address of %d bytes", ErrMalformed, len(b))
				}
				e.Addr = netip.AddrFrom4([4]byte(b))
				return nil
			})
		case addrAttrAddr6:
			ad.Do(func(b []byte) error {
				if len(b) != 16 {
					return fmt.Errorf("%w: endpoint: IPv6 address of %d bytes", ErrMalformed, len(b))
				}
				e.Addr = netip.AddrFrom16([16]byte(b))
				return nil
			})
		case addrAttrPort:
			e.Port = ad.Uint16()
		case addrAttrFlags:
			e.Flags = Flags(ad.Uint32())
		case addrAttrIfIndex:
			e.IfIndex = ad.Int32()
		}
	}
	if err := ad.Err(); err != nil {
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: endpoint: %w", ErrMalformed, err)
		}
		return Endpoint{}, err
	}
	switch {
	case seen&(1<<addrAttrID) == 0:
		return Endpoint{}, fmt.Errorf("%w: endpoint without an id", ErrMalformed)
	case family == familyInet && seen&(1<<addrAttrAddr4) != 0 && seen&(1<<addrAttrAddr6) == 0:
	case family == familyInet6 && seen&(1<<addrAttrAddr6) != 0 && seen&(1<<addrAttrAddr4) == 0:
	default:
		return Endpoint{}, fmt.Errorf("%w: endpoint %d: family %d does not match its address attributes", ErrMalformed, e.ID, family)
	}
	return e, nil
}
