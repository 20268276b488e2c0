package testbed

import (
	"fmt"
	"net/netip"
)

// The address plan is the same in every bed (the namespaces are separate
// worlds): path i is the subnet 10.0.i.0/24 (IPv4 beds) or fd00:0:i::/64
// (IPv6 beds), the client end is host 1 and the server end host 2. Nothing
// outside the two namespaces can reach or is reached by these addresses.

// Iface is the name of path's veth interface, the same in both namespaces.
func Iface(path int) string { return fmt.Sprintf("mpx%d", path) }

// pathAddr returns the address of host on path.
func pathAddr(path int, v6 bool, host byte) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, byte(path), 15: host})
	}
	return netip.AddrFrom4([4]byte{10, 0, byte(path), host})
}

// EndpointID is the MPTCP endpoint id that a bed gives to the address of
// path (1 to MaxPaths-1): the path index. Path 0's address is the
// connection's initial address and has no endpoint (the kernel calls it id
// 0). The subflow that starts from a client endpoint has the endpoint's id
// as its local address id (SubflowInfo.LocalID).
func EndpointID(path int) int { return path }
