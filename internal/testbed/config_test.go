package testbed

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil || c.Paths != 2 || !c.ClientEndpoints || c.ServerSignal || c.IPv6 {
		t.Errorf("zero Config -> %+v, %v; want 2 IPv4 paths with client endpoints", c, err)
	}
	c, err = Config{ServerSignal: true}.withDefaults()
	if err != nil || c.ClientEndpoints || !c.ServerSignal {
		t.Errorf("ServerSignal -> %+v, %v; want signal endpoints only", c, err)
	}
	for _, bad := range []Config{
		{Paths: -1},
		{Paths: MaxPaths + 1},
		{Paths: 2, RateLimit: map[int]string{2: "1mbit"}},
		{Paths: 2, RateLimit: map[int]string{-1: "1mbit"}},
		{Paths: 2, RateLimit: map[int]string{0: ""}},
		{Paths: 2, Loss: map[int]int{2: 5}},
		{Paths: 2, Loss: map[int]int{1: 0}},
		{Paths: 2, Loss: map[int]int{1: 100}},
	} {
		if _, err := bad.withDefaults(); err == nil || !strings.HasPrefix(err.Error(), "testbed: Config.") {
			t.Errorf("%+v accepted (%v)", bad, err)
		}
	}
}

func TestAddressPlan(t *testing.T) {
	v4 := &Bed{cfg: Config{Paths: 3}}
	v6 := &Bed{cfg: Config{Paths: 3, IPv6: true}}
	for _, tc := range []struct{ got, want netip.Addr }{
		{v4.ClientAddr(0), netip.MustParseAddr("10.0.0.1")},
		{v4.ServerAddr(2), netip.MustParseAddr("10.0.2.2")},
		{v6.ClientAddr(1), netip.MustParseAddr("fd00:0:1::1")},
		{v6.ServerAddr(0), netip.MustParseAddr("fd00::2")},
	} {
		if tc.got != tc.want {
			t.Errorf("address %s, want %s", tc.got, tc.want)
		}
	}
	defer func() {
		if v := recover(); v == nil {
			t.Error("ServerAddr of a path the bed lacks did not panic")
		}
	}()
	v4.ServerAddr(3)
}

func TestEndpointPathChecked(t *testing.T) {
	b := &Bed{cfg: Config{Paths: 2, ClientEndpoints: true}}
	for _, p := range []int{0, 2} {
		if err := b.AddEndpoint(p); err == nil {
			t.Errorf("AddEndpoint(%d) on a 2-path bed succeeded", p)
		}
		if err := b.DeleteEndpoint(p); err == nil {
			t.Errorf("DeleteEndpoint(%d) on a 2-path bed succeeded", p)
		}
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	if err := WaitFor(time.Minute, func() (bool, error) { n++; return n == 3, nil }); err != nil || n != 3 {
		t.Errorf("WaitFor = %v after %d calls, want nil after 3", err, n)
	}
	n = 0
	if err := WaitFor(0, func() (bool, error) { n++; return false, nil }); err == nil || n != 1 {
		t.Errorf("WaitFor(0) = %v after %d calls, want a timeout after 1", err, n)
	}
	errCond := errors.New("condition failed")
	if err := WaitFor(time.Minute, func() (bool, error) { return false, errCond }); err != errCond {
		t.Errorf("WaitFor = %v, want the condition's error", err)
	}
}
