package pmconfig

import (
	"errors"
	"net/netip"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to both decoders. Nothing may panic; an
// error must wrap ErrMalformed; what decodes must encode back to something
// that decodes to the same value.
func FuzzDecode(f *testing.F) {
	for _, e := range []Endpoint{
		{ID: 1, Addr: netip.MustParseAddr("10.0.1.1"), Flags: Subflow, IfIndex: 11},
		{ID: 7, Addr: netip.MustParseAddr("fd00::7"), Port: 10000, Flags: Signal | Backup},
	} {
		f.Add(encodeEndpoint(f, e))
	}
	f.Add(encodeLimits(f, Limits{Subflows: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := decodeEndpoint(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decodeEndpoint error %v does not wrap ErrMalformed", err)
			}
		} else if again, err := decodeEndpoint(encodeEndpoint(t, e)); err != nil || again != e {
			t.Fatalf("%v: round trip gave %v, %v", e, again, err)
		}
		if l, err := decodeLimits(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decodeLimits error %v does not wrap ErrMalformed", err)
			}
		} else if again, err := decodeLimits(encodeLimits(t, l)); err != nil || again != l {
			t.Fatalf("%+v: round trip gave %+v, %v", l, again, err)
		}
	})
}
