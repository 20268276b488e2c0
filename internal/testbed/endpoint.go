package testbed

import (
	"fmt"
	"strings"
)

// The in-kernel path manager opens subflows from "endpoints": addresses
// registered with `ip mptcp endpoint`. A "subflow" endpoint on the client
// makes every new connection (and every existing one, when the endpoint is
// added later) open a subflow from that address to the peer address the
// connection was made to. A "signal" endpoint on the server makes the server
// announce the address (ADD_ADDR); a client that accepts announcements (the
// add_addr_accepted limit, which a bed sets to 8) opens a subflow to it.
// Deleting an endpoint closes the subflows that use it and, for a signal
// endpoint, announces the removal (RM_ADDR). Taking the link down does not:
// such subflows stay established until TCP gives up, so tests remove paths by
// deleting endpoints.

// AddEndpoint registers path's addresses as MPTCP endpoints with the id
// EndpointID(path): a "subflow" endpoint on Client when
// Config.ClientEndpoints, a "signal" endpoint on Server when
// Config.ServerSignal. Path must be 1 to Paths()-1.
func (b *Bed) AddEndpoint(path int) error {
	if err := b.checkEndpointPath(path); err != nil {
		return err
	}
	return b.applyEndpoints(endpointAddLines(b, path))
}

// DeleteEndpoint deletes the endpoints that AddEndpoint(path) registers, on
// the side or sides where they are configured. The kernel then closes the
// subflows that use them, usually within a second.
func (b *Bed) DeleteEndpoint(path int) error {
	if err := b.checkEndpointPath(path); err != nil {
		return err
	}
	var client, server []string
	line := fmt.Sprintf("mptcp endpoint delete id %d", EndpointID(path))
	if b.cfg.ClientEndpoints {
		client = append(client, line)
	}
	if b.cfg.ServerSignal {
		server = append(server, line)
	}
	return b.applyEndpoints(client, server)
}

func (b *Bed) checkEndpointPath(path int) error {
	if path < 1 || path >= b.cfg.Paths {
		return fmt.Errorf("testbed: no endpoint for path %d: endpoints exist for paths 1 to %d", path, b.cfg.Paths-1)
	}
	return nil
}

// endpointAddLines returns the `ip -batch` lines that add path's endpoints
// on the client and on the server.
func endpointAddLines(b *Bed, path int) (client, server []string) {
	id := EndpointID(path)
	if b.cfg.ClientEndpoints {
		client = append(client, fmt.Sprintf("mptcp endpoint add %s dev %s id %d subflow", b.ClientAddr(path), Iface(path), id))
	}
	if b.cfg.ServerSignal {
		server = append(server, fmt.Sprintf("mptcp endpoint add %s dev %s id %d signal", b.ServerAddr(path), Iface(path), id))
	}
	return client, server
}

func (b *Bed) applyEndpoints(client, server []string) error {
	if err := b.Client.ipBatch(client); err != nil {
		return err
	}
	return b.Server.ipBatch(server)
}

// ipBatch runs `ip -batch -` with lines in the namespace; nothing when lines
// is empty. ip stops at the first failing line and names it.
func (ns *NS) ipBatch(lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	_, err := ns.run(strings.Join(lines, "\n")+"\n", "ip", "-batch", "-")
	return err
}
