package pmevents

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
)

// seed returns the bytes of a captured seed.
func seed(t testing.TB, i int) []byte {
	b, err := hex.DecodeString(capturedSeeds[i].hex)
	if err != nil {
		t.Fatalf("seed %s: %v", capturedSeeds[i].name, err)
	}
	return b
}

// FuzzDecodeEvent feeds arbitrary bytes to the datagram walker and the
// decoder, as the Listener does with what it receives, and to the decoder
// directly. Nothing may panic; a decoding error must wrap ErrMalformed; a
// decoded Event must be consistent with its attribute set and survive a
// round trip through an independent encoder.
func FuzzDecodeEvent(f *testing.F) {
	for i := range capturedSeeds {
		f.Add(seed(f, i))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := datagram{b: b}
		for {
			_, payload, ok, err := d.next()
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("datagram error %v does not wrap ErrMalformed", err)
			}
			if !ok {
				break
			}
			checkDecode(t, payload)
		}
		checkDecode(t, b)
	})
}

// checkDecode decodes b and checks what it got.
func checkDecode(t *testing.T, b []byte) {
	var e Event
	if err := e.Decode(b); err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
		}
		return
	}
	if e.Attrs&^known != 0 {
		t.Fatalf("Attrs %v has attributes this package does not know", e.Attrs)
	}
	for _, z := range []struct {
		attr Attr
		zero bool
	}{
		{AttrToken, e.Token == 0}, {AttrFamily, e.Family == 0}, {AttrLocalID, e.LocalID == 0},
		{AttrRemoteID, e.RemoteID == 0}, {AttrBackup, !e.Backup}, {AttrError, e.Error == 0},
		{AttrFlags, e.Flags == 0}, {AttrTimeout, e.Timeout == 0}, {AttrIfIndex, e.IfIndex == 0},
		{AttrResetReason, e.ResetReason == 0}, {AttrResetFlags, e.ResetFlags == 0},
		{AttrSport, e.Local.Port() == 0}, {AttrDport, e.Remote.Port() == 0},
	} {
		if !e.Has(z.attr) && !z.zero {
			t.Fatalf("%v without the %v attribute has a value for it", describe(&e), z.attr)
		}
	}
	if e.Local.Addr().IsValid() != (e.Has(AttrSaddr4) || e.Has(AttrSaddr6)) ||
		e.Remote.Addr().IsValid() != (e.Has(AttrDaddr4) || e.Has(AttrDaddr6)) {
		t.Fatalf("%v: addresses do not match the attributes", describe(&e))
	}
	if e.Has(AttrSaddr4) && e.Has(AttrSaddr6) || e.Has(AttrDaddr4) && e.Has(AttrDaddr6) {
		return // the last one won: no single encoding gives e back
	}
	var again Event
	if err := again.Decode(encode(t, &e)); err != nil {
		t.Fatalf("re-encoded %v: %v", describe(&e), err)
	}
	if again != e {
		t.Fatalf("round trip changed\n  %v\nto\n  %v", describe(&e), describe(&again))
	}
}

// known is the set of attributes Decode understands.
const known = AttrSet(1<<(maxAttr+1) - 2)

// encode writes e as the kernel would: a generic netlink payload with the
// attributes in e.Attrs.
func encode(t *testing.T, e *Event) []byte {
	return payload(t, e.Kind, func(ae *netlink.AttributeEncoder) {
		for a := Attr(1); a <= maxAttr; a++ {
			if !e.Has(a) {
				continue
			}
			typ := uint16(a)
			switch a {
			case AttrToken:
				ae.Uint32(typ, e.Token)
			case AttrFamily:
				ae.Uint16(typ, e.Family)
			case AttrLocalID:
				ae.Uint8(typ, e.LocalID)
			case AttrRemoteID:
				ae.Uint8(typ, e.RemoteID)
			case AttrSaddr4, AttrSaddr6:
				ae.Bytes(typ, e.Local.Addr().AsSlice())
			case AttrDaddr4, AttrDaddr6:
				ae.Bytes(typ, e.Remote.Addr().AsSlice())
			case AttrSport:
				ae.Bytes(typ, be16(e.Local.Port()))
			case AttrDport:
				ae.Bytes(typ, be16(e.Remote.Port()))
			case AttrBackup:
				ae.Uint8(typ, boolByte(e.Backup))
			case AttrError:
				ae.Uint8(typ, uint8(e.Error))
			case AttrFlags:
				ae.Uint16(typ, e.Flags)
			case AttrTimeout:
				ae.Uint32(typ, e.Timeout)
			case AttrIfIndex:
				ae.Int32(typ, e.IfIndex)
			case AttrResetReason:
				ae.Uint32(typ, e.ResetReason)
			case AttrResetFlags:
				ae.Uint32(typ, e.ResetFlags)
			case AttrServerSide:
				ae.Uint8(typ, boolByte(e.ServerSide))
			}
		}
	})
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// TestDecodeCaptured decodes every captured seed: one message of the kind
// its name says, without error.
func TestDecodeCaptured(t *testing.T) {
	for i, s := range capturedSeeds {
		d := datagram{b: seed(t, i)}
		typ, p, ok, err := d.next()
		if err != nil || !ok || typ != testFamily {
			t.Fatalf("%s: datagram.next = %#x, %v, %v", s.name, typ, ok, err)
		}
		var e Event
		if err := e.Decode(p); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !strings.Contains(s.name, "/"+e.Kind.String()) {
			t.Errorf("%s decoded as %v", s.name, describe(&e))
		}
		if _, _, ok, err := d.next(); ok || err != nil {
			t.Errorf("%s: more than one message: %v, %v", s.name, ok, err)
		}
	}
}
