package pmconfig

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
)

// encodeEndpoint builds the attributes of a GET_ADDR reply for e as the
// kernel writes them (mptcp_nl_fill_addr: family, id, flags, device index
// when set, the address, the port when set). It is the tests' independent
// encoder.
func encodeEndpoint(t testing.TB, e Endpoint) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrAddr, func(nae *netlink.AttributeEncoder) error {
		family := uint16(familyInet)
		if e.Addr.Is6() {
			family = familyInet6
		}
		nae.Uint16(addrAttrFamily, family)
		nae.Uint8(addrAttrID, e.ID)
		nae.Uint32(addrAttrFlags, uint32(e.Flags))
		if e.IfIndex != 0 {
			nae.Int32(addrAttrIfIndex, e.IfIndex)
		}
		if e.Addr.Is4() {
			a := e.Addr.As4()
			nae.Bytes(addrAttrAddr4, a[:])
		} else {
			a := e.Addr.As16()
			nae.Bytes(addrAttrAddr6, a[:])
		}
		if e.Port != 0 {
			nae.Uint16(addrAttrPort, e.Port)
		}
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeLimits(t testing.TB, l Limits) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(attrRcvAddAddrs, l.AddAddrAccepted)
	ae.Uint32(attrSubflows, l.Subflows)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeEndpoint(t *testing.T) {
	for _, e := range []Endpoint{
		{ID: 1, Addr: netip.MustParseAddr("10.0.1.1"), Flags: Subflow},
		{ID: 2, Addr: netip.MustParseAddr("192.0.2.7"), Port: 10000, Flags: Signal},
		{ID: 255, Addr: netip.MustParseAddr("fd00::1"), IfIndex: 12, Flags: Subflow | Backup | Fullmesh},
		{ID: 9, Addr: netip.MustParseAddr("::ffff:10.1.1.1"), Flags: Implicit | Laminar | 1<<9},
	} {
		got, err := decodeEndpoint(encodeEndpoint(t, e))
		if err != nil || got != e {
			t.Errorf("decode(encode(%v)) = %v, %v", e, got, err)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	want := Limits{Subflows: 3, AddAddrAccepted: 8}
	got, err := decodeLimits(encodeLimits(t, want))
	if err != nil || got != want {
		t.Errorf("decode(encode(%+v)) = %+v, %v", want, got, err)
	}
}

// TestDecodeMalformed: replies the kernel never sends are refused with
// ErrMalformed, not guessed at.
func TestDecodeMalformed(t *testing.T) {
	attr := func(typ uint16, data ...byte) netlink.Attribute { return netlink.Attribute{Type: typ, Data: data} }
	nest := func(attrs ...netlink.Attribute) []byte {
		inner, err := netlink.MarshalAttributes(attrs)
		if err != nil {
			t.Fatal(err)
		}
		b, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: attrAddr | netlink.Nested, Data: inner}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v4 := []netlink.Attribute{attr(addrAttrFamily, 2, 0), attr(addrAttrID, 1), attr(addrAttrAddr4, 10, 0, 0, 1)}
	for name, b := range map[string][]byte{
		"empty":             nil,
		"truncated header":  {8, 0},
		"length past end":   {200, 0, 1, 0, 0, 0, 0, 0},
		"no address":        encodeLimits(t, Limits{}),
		"no id":             nest(v4[0], v4[2]),
		"short IPv4":        nest(v4[0], v4[1], attr(addrAttrAddr4, 10, 0, 0)),
		"short IPv6":        nest(attr(addrAttrFamily, 10, 0), v4[1], attr(addrAttrAddr6, 1, 2, 3)),
		"family mismatch":   nest(attr(addrAttrFamily, 10, 0), v4[1], v4[2]),
		"no family":         nest(v4[1], v4[2]),
		"both addresses":    nest(append(v4, attr(addrAttrAddr6, make([]byte, 16)...))...),
		"id twice":          nest(append(v4, v4[1])...),
		"wide id":           nest(v4[0], attr(addrAttrID, 1, 0), v4[2]),
		"short flags":       nest(append(v4, attr(addrAttrFlags, 1, 0))...),
		"short port":        nest(append(v4, attr(addrAttrPort, 1))...),
		"two address nests": append(nest(v4...), nest(v4...)...),
	} {
		if e, err := decodeEndpoint(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: decodeEndpoint = %v, %v; want ErrMalformed", name, e, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty":           nil,
		"no subflows":     {8, 0, attrRcvAddAddrs, 0, 1, 0, 0, 0},
		"short subflows":  {6, 0, attrSubflows, 0, 1, 0, 0, 0, 8, 0, attrRcvAddAddrs, 0, 1, 0, 0, 0},
		"length past end": {200, 0, 1, 0},
	} {
		if l, err := decodeLimits(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: decodeLimits = %+v, %v; want ErrMalformed", name, l, err)
		}
	}
}

func TestFlagsString(t *testing.T) {
	for f, want := range map[Flags]string{
		0:                "0",
		Signal:           "signal",
		Subflow | Backup: "subflow,backup",
		Signal | Subflow | Backup | Fullmesh | Implicit | Laminar: "signal,subflow,backup,fullmesh,implicit,laminar",
		Subflow | 1<<6 | 1<<31: "subflow,0x80000040",
		1 << 7:                 "0x80",
	} {
		if got := f.String(); got != want {
			t.Errorf("Flags(%#x).String() = %q, want %q", uint32(f), got, want)
		}
	}
}

func TestSysctls(t *testing.T) {
	s := Sysctls{"enabled": "1", "pm_type": "1", "blackhole_timeout": "3600", "add_addr_timeout": "x", "available_schedulers": "default bpf"}
	if v, ok := s.Enabled(); !v || !ok {
		t.Errorf("Enabled() = %v, %v", v, ok)
	}
	if pm, ok := s.PathManager(); pm != PathManagerUserspace || !ok {
		t.Errorf("PathManager() from pm_type 1 = %q, %v", pm, ok)
	}
	s["path_manager"] = "kernel"
	if pm, _ := s.PathManager(); pm != PathManagerKernel {
		t.Errorf("PathManager() = %q: path_manager must win over pm_type", pm)
	}
	if d, ok := s.BlackholeTimeout(); d.Seconds() != 3600 || !ok {
		t.Errorf("BlackholeTimeout() = %v, %v", d, ok)
	}
	if _, ok := s.AddAddrTimeout(); ok {
		t.Error("AddAddrTimeout() of a non-number reported present")
	}
	if _, ok := s.SynRetransBeforeTCPFallback(); ok {
		t.Error("SynRetransBeforeTCPFallback() of an absent file reported present")
	}
	if _, ok := (Sysctls(nil)).PathManager(); ok {
		t.Error("PathManager() of nil Sysctls reported present")
	}
	if pm, _ := (Sysctls{"pm_type": "7"}).PathManager(); pm != "pm_type=7" {
		t.Errorf("PathManager() of pm_type 7 = %q", pm)
	}
}

// TestConfigErr: the limits and the endpoints fail with the same error
// when the family is missing; Read reports it once.
func TestConfigErr(t *testing.T) {
	e1, e2 := errors.New("no family"), errors.New("no sysctls")
	c := Config{LimitsErr: e1, EndpointsErr: e1, SysctlsErr: e2}
	if got := c.err().Error(); got != "no family\nno sysctls" {
		t.Errorf("err() = %q", got)
	}
	if (&Config{}).err() != nil {
		t.Error("err() of a complete Config is not nil")
	}
}
