package mptcpxotel

import (
	"net"
	"net/netip"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// addrPortOf returns the address and port of a TCP endpoint, with an
// IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket
// reports for an IPv4 peer) unmapped to plain IPv4.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case nil:
		return ap
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// networkType returns network.type for an address: "ipv4" or "ipv6".
func networkType(a netip.Addr) (attribute.KeyValue, bool) {
	switch {
	case a.Is4():
		return semconv.NetworkTypeIPv4, true
	case a.Is6():
		return semconv.NetworkTypeIPv6, true
	}
	return attribute.KeyValue{}, false
}

// appendLocal appends network.local.address and network.local.port.
func appendLocal(kv []attribute.KeyValue, ap netip.AddrPort) []attribute.KeyValue {
	if !ap.Addr().IsValid() {
		return kv
	}
	return append(kv, semconv.NetworkLocalAddress(ap.Addr().String()), semconv.NetworkLocalPort(int(ap.Port())))
}

// appendPeer appends network.peer.address and network.peer.port.
func appendPeer(kv []attribute.KeyValue, ap netip.AddrPort) []attribute.KeyValue {
	if !ap.Addr().IsValid() {
		return kv
	}
	return append(kv, semconv.NetworkPeerAddress(ap.Addr().String()), semconv.NetworkPeerPort(int(ap.Port())))
}

// appendServer appends server.address and server.port for a "host:port"
// dial target, and network.type when the host is an IP address.
func appendServer(kv []attribute.KeyValue, address string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return kv
	}
	kv = append(kv, semconv.ServerAddress(host))
	if p, err := strconv.ParseUint(port, 10, 16); err == nil {
		kv = append(kv, semconv.ServerPort(int(p)))
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if t, ok := networkType(ip.Unmap()); ok {
			kv = append(kv, t)
		}
	}
	return kv
}

// unmap returns ap with an IPv4-mapped address unmapped.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
