package pmevents

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"

	"github.com/mdlayher/netlink"
)

// The tests build messages with mdlayher/netlink's AttributeEncoder, an
// encoder written independently of the decoder under test.

// payload returns a generic netlink payload: the genlmsghdr of kind
// (version 1, as the kernel's MPTCP_PM_VER) and the attributes put by fn.
func payload(t testing.TB, kind Kind, fn func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{byte(kind), 1, 0, 0}, attrs...)
}

// testFamily is a generic netlink family id for framed test messages
// (mptcp_pm happened to get 0x1c on the machine the seeds come from).
const testFamily = 0x1c

// frame wraps payloads into one datagram of netlink messages of type typ.
func frame(typ uint16, payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		h := make([]byte, netlinkHeaderLen)
		hostOrder.PutUint32(h[0:4], uint32(netlinkHeaderLen+len(p)))
		hostOrder.PutUint16(h[4:6], typ)
		b = append(b, h...)
		b = append(b, p...)
		for len(b)%netlinkAlign != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// be16 is a port in network byte order.
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// addrAttrs puts one side's address attribute (saddr or daddr, 4 or 6).
func addrAttr(ae *netlink.AttributeEncoder, local bool, a netip.Addr) {
	switch {
	case local && a.Is4():
		ae.Bytes(uint16(AttrSaddr4), a.AsSlice())
	case local:
		ae.Bytes(uint16(AttrSaddr6), a.AsSlice())
	case a.Is4():
		ae.Bytes(uint16(AttrDaddr4), a.AsSlice())
	default:
		ae.Bytes(uint16(AttrDaddr6), a.AsSlice())
	}
}

// Linux numbers, whatever the test runs on: the kernel sends them.
const (
	afInet     = 2   // AF_INET
	afInet6    = 10  // AF_INET6
	econnreset = 104 // ECONNRESET
)

// family returns AF_INET or AF_INET6 for a.
func family(a netip.Addr) uint16 {
	if a.Is4() {
		return afInet
	}
	return afInet6
}

// set builds an AttrSet.
func set(attrs ...Attr) AttrSet {
	var s AttrSet
	for _, a := range attrs {
		s = s.with(a)
	}
	return s
}

// addrSet returns the address attributes for the family of a.
func addrSet(a netip.Addr, local, remote bool) []Attr {
	var out []Attr
	if local {
		out = append(out, map[bool]Attr{true: AttrSaddr4, false: AttrSaddr6}[a.Is4()], AttrSport)
	}
	if remote {
		out = append(out, map[bool]Attr{true: AttrDaddr4, false: AttrDaddr6}[a.Is4()], AttrDport)
	}
	return out
}

// decodeCase is a message and the Event it must decode to.
type decodeCase struct {
	name string
	msg  []byte
	want Event
}

// kindCases returns one realistic message per event kind, with the
// attributes the kernel sends (observed on 6.18, see the Kind constants),
// for the addresses local and remote of one family.
func kindCases(t testing.TB, local, remote netip.AddrPort) []decodeCase {
	const token = 0xdeadbeef
	fam := family(local.Addr())

	// connection: CREATED and ESTABLISHED on the server side.
	connection := func(kind Kind) decodeCase {
		msg := payload(t, kind, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uint16(AttrToken), token)
			ae.Uint16(uint16(AttrFamily), fam)
			addrAttr(ae, true, local.Addr())
			addrAttr(ae, false, remote.Addr())
			ae.Bytes(uint16(AttrSport), be16(local.Port()))
			ae.Bytes(uint16(AttrDport), be16(remote.Port()))
			ae.Uint8(uint16(AttrLocalID), 0)
			ae.Uint8(uint16(AttrRemoteID), 0)
			ae.Uint16(uint16(AttrFlags), FlagServerSide)
			ae.Uint8(uint16(AttrServerSide), 1)
		})
		attrs := append([]Attr{AttrToken, AttrFamily, AttrLocalID, AttrRemoteID, AttrFlags, AttrServerSide}, addrSet(local.Addr(), true, true)...)
		return decodeCase{kind.String(), msg, Event{
			Kind: kind, Token: token, Family: fam, Local: local, Remote: remote,
			Flags: FlagServerSide, ServerSide: true, Attrs: set(attrs...),
		}}
	}

	// subflow: SUB_ESTABLISHED, SUB_CLOSED, SUB_PRIORITY, with extras.
	subflow := func(kind Kind, extra func(ae *netlink.AttributeEncoder), want Event, attrs ...Attr) decodeCase {
		msg := payload(t, kind, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uint16(AttrToken), token)
			ae.Uint16(uint16(AttrFamily), fam)
			addrAttr(ae, true, local.Addr())
			addrAttr(ae, false, remote.Addr())
			ae.Bytes(uint16(AttrSport), be16(local.Port()))
			ae.Bytes(uint16(AttrDport), be16(remote.Port()))
			ae.Uint8(uint16(AttrLocalID), 2)
			ae.Uint8(uint16(AttrRemoteID), 3)
			ae.Uint8(uint16(AttrBackup), 1)
			ae.Int32(uint16(AttrIfIndex), 11)
			if extra != nil {
				extra(ae)
			}
		})
		want.Kind, want.Token, want.Family = kind, token, fam
		want.Local, want.Remote = local, remote
		want.LocalID, want.RemoteID, want.Backup, want.IfIndex = 2, 3, true, 11
		attrs = append(attrs, AttrToken, AttrFamily, AttrLocalID, AttrRemoteID, AttrBackup, AttrIfIndex)
		want.Attrs = set(append(attrs, addrSet(local.Addr(), true, true)...)...)
		return decodeCase{kind.String(), msg, want}
	}

	listener := func(kind Kind) decodeCase {
		msg := payload(t, kind, func(ae *netlink.AttributeEncoder) {
			ae.Uint16(uint16(AttrFamily), fam)
			ae.Bytes(uint16(AttrSport), be16(local.Port()))
			addrAttr(ae, true, local.Addr())
		})
		return decodeCase{kind.String(), msg, Event{
			Kind: kind, Family: fam, Local: local,
			Attrs: set(append([]Attr{AttrFamily}, addrSet(local.Addr(), true, false)...)...),
		}}
	}

	return []decodeCase{
		connection(Created),
		connection(Established),
		{"CLOSED", payload(t, Closed, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uint16(AttrToken), token)
		}), Event{Kind: Closed, Token: token, Attrs: set(AttrToken)}},
		{"ANNOUNCED", payload(t, Announced, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uint16(AttrToken), token)
			ae.Uint8(uint16(AttrRemoteID), 7)
			ae.Bytes(uint16(AttrDport), be16(remote.Port()))
			addrAttr(ae, false, remote.Addr())
		}), Event{
			Kind: Announced, Token: token, RemoteID: 7, Remote: remote,
			Attrs: set(append([]Attr{AttrToken, AttrRemoteID}, addrSet(remote.Addr(), false, true)...)...),
		}},
		{"REMOVED", payload(t, Removed, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uint16(AttrToken), token)
			ae.Uint8(uint16(AttrRemoteID), 7)
		}), Event{Kind: Removed, Token: token, RemoteID: 7, Attrs: set(AttrToken, AttrRemoteID)}},
		subflow(SubEstablished, nil, Event{}),
		subflow(SubClosed, func(ae *netlink.AttributeEncoder) {
			ae.Uint8(uint16(AttrError), econnreset)
			ae.Uint32(uint16(AttrResetReason), ResetAdminProhibited)
			ae.Uint32(uint16(AttrResetFlags), ResetTransient)
		}, Event{Error: econnreset, ResetReason: ResetAdminProhibited, ResetFlags: ResetTransient},
			AttrError, AttrResetReason, AttrResetFlags),
		subflow(SubPriority, nil, Event{}),
		listener(ListenerCreated),
		listener(ListenerClosed),
	}
}

// TestDecodeKinds decodes one message of every kind, IPv4 and IPv6, both
// alone and framed in a netlink datagram.
func TestDecodeKinds(t *testing.T) {
	for _, fam := range []struct {
		name          string
		local, remote netip.AddrPort
	}{
		{"ipv4", netip.MustParseAddrPort("10.0.1.1:40000"), netip.MustParseAddrPort("10.0.0.2:5201")},
		{"ipv6", netip.MustParseAddrPort("[fd00:0:1::1]:40000"), netip.MustParseAddrPort("[fd00::2]:5201")},
	} {
		for _, tc := range kindCases(t, fam.local, fam.remote) {
			t.Run(fam.name+"/"+tc.name, func(t *testing.T) {
				var got Event
				if err := got.Decode(tc.msg); err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("decoded\n  %s\nwant\n  %s", describe(&got), describe(&tc.want))
				}
				// The same message framed as the kernel sends it.
				d := datagram{b: frame(testFamily, tc.msg)}
				typ, p, ok, err := d.next()
				if err != nil || !ok || typ != testFamily {
					t.Fatalf("datagram.next = %d, %v, %v", typ, ok, err)
				}
				if err := got.Decode(p); err != nil || got != tc.want {
					t.Errorf("framed: %v, %s", err, describe(&got))
				}
				if _, _, ok, err := d.next(); ok || err != nil {
					t.Errorf("datagram has a second message: %v, %v", ok, err)
				}
			})
		}
	}
}

// TestDecodeResetsEvent checks that Decode overwrites every field: an Event
// reused for a CLOSED event after a SUB_CLOSED one keeps nothing of it.
func TestDecodeResetsEvent(t *testing.T) {
	cases := kindCases(t, netip.MustParseAddrPort("10.0.1.1:1"), netip.MustParseAddrPort("10.0.0.2:2"))
	var e Event
	for _, tc := range cases {
		if err := e.Decode(tc.msg); err != nil {
			t.Fatal(err)
		}
		if e != tc.want {
			t.Errorf("%s after another event: %s", tc.name, describe(&e))
		}
	}
}

// TestDecodeSkipsUnknown checks that attributes this package does not know
// are skipped, whatever their length, and that the flag bits of the
// attribute type are ignored.
func TestDecodeSkipsUnknown(t *testing.T) {
	msg := payload(t, Closed, func(ae *netlink.AttributeEncoder) {
		ae.Bytes(19, []byte{1, 2, 3})       // the next number the kernel may use
		ae.Bytes(0, []byte{1})              // MPTCP_ATTR_UNSPEC
		ae.Bytes(0x3fff, make([]byte, 100)) // the highest type
		ae.Uint32(uint16(AttrToken)|0x4000, 42)
		ae.Bytes(200, nil)
	})
	var e Event
	if err := e.Decode(msg); err != nil {
		t.Fatal(err)
	}
	if want := (Event{Kind: Closed, Token: 42, Attrs: set(AttrToken)}); e != want {
		t.Errorf("got %s", describe(&e))
	}
}

// TestDecodeUnknownKind checks that a kind this package does not name
// still decodes.
func TestDecodeUnknownKind(t *testing.T) {
	msg := payload(t, 42, func(ae *netlink.AttributeEncoder) { ae.Uint32(uint16(AttrToken), 7) })
	var e Event
	if err := e.Decode(msg); err != nil {
		t.Fatal(err)
	}
	if e.Kind != 42 || e.Kind.String() != "Kind(42)" || e.Token != 7 {
		t.Errorf("got %s", describe(&e))
	}
}

// TestDecodeUnpaddedLast accepts a last attribute without its padding.
func TestDecodeUnpaddedLast(t *testing.T) {
	msg := payload(t, SubClosed, func(ae *netlink.AttributeEncoder) { ae.Uint8(uint16(AttrBackup), 1) })
	msg = msg[:len(msg)-3] // 4-byte header + 1 byte value, without 3 bytes of padding
	var e Event
	if err := e.Decode(msg); err != nil {
		t.Fatal(err)
	}
	if !e.Backup || !e.Has(AttrBackup) {
		t.Errorf("got %s", describe(&e))
	}
}

// TestDecodeMalformed checks that truncated and wrongly sized attributes
// are errors wrapping ErrMalformed.
func TestDecodeMalformed(t *testing.T) {
	good := payload(t, SubEstablished, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uint16(AttrToken), 1)
		ae.Bytes(uint16(AttrSaddr6), make([]byte, 16))
	})
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"short genl header", []byte{10, 1, 0}},
		{"stray bytes", append(append([]byte(nil), good...), 1, 2)},
		{"attribute header cut", good[:genlHeaderLen+2]},
		{"attribute value cut", good[:len(good)-1]},
		{"attribute length below header", []byte{10, 1, 0, 0, 3, 0, 1, 0}},
		{"attribute length past end", []byte{10, 1, 0, 0, 12, 0, 1, 0, 1, 2, 3, 4}},
		{"token too short", payload(t, Closed, func(ae *netlink.AttributeEncoder) { ae.Uint16(uint16(AttrToken), 1) })},
		{"token too long", payload(t, Closed, func(ae *netlink.AttributeEncoder) { ae.Uint64(uint16(AttrToken), 1) })},
		{"saddr4 with 16 bytes", payload(t, Closed, func(ae *netlink.AttributeEncoder) { ae.Bytes(uint16(AttrSaddr4), make([]byte, 16)) })},
		{"saddr6 with 4 bytes", payload(t, Closed, func(ae *netlink.AttributeEncoder) { ae.Bytes(uint16(AttrSaddr6), make([]byte, 4)) })},
		{"empty backup", payload(t, Closed, func(ae *netlink.AttributeEncoder) { ae.Bytes(uint16(AttrBackup), nil) })},
		{"port as u32", payload(t, Closed, func(ae *netlink.AttributeEncoder) { ae.Uint32(uint16(AttrSport), 1) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Event
			err := e.Decode(tc.msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, want an error wrapping ErrMalformed", err)
			}
			t.Log(err)
		})
	}
}

// TestDatagramMalformed checks the framing of messages in a datagram.
func TestDatagramMalformed(t *testing.T) {
	msg := payload(t, Closed, func(ae *netlink.AttributeEncoder) { ae.Uint32(uint16(AttrToken), 1) })
	good := frame(testFamily, msg, msg)
	for _, tc := range []struct {
		name string
		b    []byte
		ok   int // messages read before the error
	}{
		{"header cut", good[:10], 0},
		{"length below header", func() []byte { b := frame(testFamily, msg); hostOrder.PutUint32(b, 15); return b }(), 0},
		{"length past end", func() []byte { b := frame(testFamily, msg); hostOrder.PutUint32(b, 1000); return b }(), 0},
		{"second message cut", good[:len(good)-4], 1},
		{"stray bytes", append(frame(testFamily, msg), 1, 2, 3), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := datagram{b: tc.b}
			n := 0
			for {
				_, _, ok, err := d.next()
				if err != nil {
					if !errors.Is(err, ErrMalformed) {
						t.Errorf("error %v does not wrap ErrMalformed", err)
					}
					break
				}
				if !ok {
					t.Fatalf("no error after %d messages", n)
				}
				n++
			}
			if n != tc.ok {
				t.Errorf("read %d messages before the error, want %d", n, tc.ok)
			}
			if _, _, ok, err := d.next(); ok || err != nil {
				t.Errorf("next after the error = %v, %v; want the end", ok, err)
			}
		})
	}
}

// TestDecodeAllocs checks that decoding allocates nothing.
func TestDecodeAllocs(t *testing.T) {
	cases := kindCases(t, netip.MustParseAddrPort("[fd00:0:1::1]:40000"), netip.MustParseAddrPort("[fd00::2]:5201"))
	var e Event
	for _, tc := range cases {
		if n := testenv.SteadyAllocs(100, func() {
			if err := e.Decode(tc.msg); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per Decode, want 0", tc.name, n)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		Created: "CREATED", Established: "ESTABLISHED", Closed: "CLOSED",
		Announced: "ANNOUNCED", Removed: "REMOVED", SubEstablished: "SUB_ESTABLISHED",
		SubClosed: "SUB_CLOSED", SubPriority: "SUB_PRIORITY",
		ListenerCreated: "LISTENER_CREATED", ListenerClosed: "LISTENER_CLOSED",
		0: "Kind(0)", 12: "Kind(12)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestAttrSetString(t *testing.T) {
	if got, want := set(AttrToken, AttrSaddr6, AttrServerSide).String(), "token,saddr6,server_side"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := set(AttrToken, AttrFamily).Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
	if AttrSet(1<<31).Has(31) != true || Attr(31).String() != "attr(31)" {
		t.Error("bit 31")
	}
}
