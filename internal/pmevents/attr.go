package pmevents

import (
	"math/bits"
	"strconv"
	"strings"
)

// Attr is the number of an event attribute (enum mptcp_event_attr in
// include/uapi/linux/mptcp_pm.h, MPTCP_ATTR_*).
type Attr uint8

// The attributes of path-manager events. The type in brackets is the width
// the kernel writes (Documentation/netlink/specs/mptcp_pm.yaml, and the
// nla_put_* calls in net/mptcp/pm_netlink.c); integers are in host byte
// order, addresses and ports in network byte order.
const (
	AttrToken       Attr = 1  // [u32] the connection's local token (mptcp_info.token)
	AttrFamily      Attr = 2  // [u16] AF_INET or AF_INET6 of the (sub)flow socket
	AttrLocalID     Attr = 3  // [u8] local address id of the subflow (0: the initial address)
	AttrRemoteID    Attr = 4  // [u8] the peer's address id
	AttrSaddr4      Attr = 5  // [be32] local IPv4 address
	AttrSaddr6      Attr = 6  // [16 bytes] local IPv6 address
	AttrDaddr4      Attr = 7  // [be32] remote IPv4 address
	AttrDaddr6      Attr = 8  // [16 bytes] remote IPv6 address
	AttrSport       Attr = 9  // [be16] local port
	AttrDport       Attr = 10 // [be16] remote port
	AttrBackup      Attr = 11 // [u8] 1 when the peer marked the subflow backup (see Event.Backup)
	AttrError       Attr = 12 // [u8] the subflow socket's sk_err, an errno
	AttrFlags       Attr = 13 // [u16] MPTCP_PM_EV_FLAG_* bits (FlagDenyJoinID0, FlagServerSide)
	AttrTimeout     Attr = 14 // [u32] defined in the uAPI; no event sets it (pm_netlink.c through 6.18)
	AttrIfIndex     Attr = 15 // [s32] the device the subflow is bound to
	AttrResetReason Attr = 16 // [u32] MP_TCPRST reason the peer sent (ResetReason)
	AttrResetFlags  Attr = 17 // [u32] MP_TCPRST flags; bit 0: transient
	AttrServerSide  Attr = 18 // [u8] 1 on the side that accepted the connection

	// maxAttr is the highest attribute number this package decodes;
	// higher numbers are skipped.
	maxAttr = AttrServerSide
)

// The bits of AttrFlags (MPTCP_PM_EV_FLAG_* in include/uapi/linux/mptcp.h).
const (
	// FlagDenyJoinID0: the peer set the C bit in MP_CAPABLE: it accepts
	// no further subflow to the address and port of the initial subflow.
	FlagDenyJoinID0 uint16 = 1 << 0
	// FlagServerSide: this side accepted the connection (the same fact as
	// AttrServerSide, which the kernel plans to retire).
	FlagServerSide uint16 = 1 << 1
)

// ResetTransient is bit 0 of AttrResetFlags: the peer's MP_TCPRST said the
// condition is temporary (the T flag), so a new subflow may be tried later.
const ResetTransient uint32 = 1

// The MP_TCPRST reason codes (RFC 8684 section 3.6, MPTCP_RST_* in
// include/uapi/linux/mptcp.h) that AttrResetReason carries.
const (
	ResetUnspecified        uint32 = 0 // MPTCP_RST_EUNSPEC: unspecified error
	ResetMPTCPError         uint32 = 1 // MPTCP_RST_EMPTCP: MPTCP-specific error
	ResetLackOfResources    uint32 = 2 // MPTCP_RST_ERESOURCE
	ResetAdminProhibited    uint32 = 3 // MPTCP_RST_EPROHIBIT: administratively prohibited
	ResetTooMuchOutstanding uint32 = 4 // MPTCP_RST_EWQ2BIG: too much outstanding data
	ResetUnacceptablePerf   uint32 = 5 // MPTCP_RST_EBADPERF: unacceptable performance
	ResetMiddlebox          uint32 = 6 // MPTCP_RST_EMIDDLEBOX: middlebox interference
)

// AttrSet is a set of attributes: bit n set means attribute n was present.
type AttrSet uint32

// Has reports whether a is in the set.
func (s AttrSet) Has(a Attr) bool { return a < 32 && s&(1<<a) != 0 }

// with returns s with a added.
func (s AttrSet) with(a Attr) AttrSet { return s | 1<<a }

// Len returns the number of attributes in the set.
func (s AttrSet) Len() int { return bits.OnesCount32(uint32(s)) }

// String lists the attributes, for example "token,family,saddr4".
func (s AttrSet) String() string {
	var b strings.Builder
	for a := Attr(0); a < 32; a++ {
		if !s.Has(a) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
	return b.String()
}

// String returns the kernel's name of a without the MPTCP_ATTR_ prefix, in
// lower case, for example "reset_reason", or "attr(N)".
func (a Attr) String() string {
	if a >= 1 && a <= maxAttr {
		return attrNames[a]
	}
	return "attr(" + strconv.Itoa(int(a)) + ")"
}

var attrNames = [maxAttr + 1]string{
	AttrToken:       "token",
	AttrFamily:      "family",
	AttrLocalID:     "loc_id",
	AttrRemoteID:    "rem_id",
	AttrSaddr4:      "saddr4",
	AttrSaddr6:      "saddr6",
	AttrDaddr4:      "daddr4",
	AttrDaddr6:      "daddr6",
	AttrSport:       "sport",
	AttrDport:       "dport",
	AttrBackup:      "backup",
	AttrError:       "error",
	AttrFlags:       "flags",
	AttrTimeout:     "timeout",
	AttrIfIndex:     "if_idx",
	AttrResetReason: "reset_reason",
	AttrResetFlags:  "reset_flags",
	AttrServerSide:  "server_side",
}
