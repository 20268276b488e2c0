package detect

import "net/netip"

// endpoint is one end of a subflow as the Detector keeps it: a
// netip.AddrPort in 20 bytes rather than 32, with an IPv4-mapped address
// kept as the IPv4 address it is (what the events and the telemetry use),
// and no IPv6 zone (the kernel's answers carry none).
type endpoint struct {
	ip   [16]byte
	port uint16
	v4   bool
}

func endpointOf(ap netip.AddrPort) endpoint {
	a := ap.Addr().Unmap()
	return endpoint{ip: a.As16(), port: ap.Port(), v4: a.Is4()}
}

func (e endpoint) addrPort() netip.AddrPort {
	if e == (endpoint{}) {
		return netip.AddrPort{}
	}
	a := netip.AddrFrom16(e.ip)
	if e.v4 {
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, e.port)
}
